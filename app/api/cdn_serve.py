"""Serving stored files and their transforms at /api/v1/cdn/file/<path> and /cdn/<path>."""
import time

from flask import Blueprint, current_app, request, send_file

from ..files import imaging, intake, variants
from ..accounts.auth import caller_for_token, request_token
from ..errors import APIError
from ..extensions import db, redis
from ..messaging.messages import can_see
from ..models import Channel, FileRef, StoredFile
from ..openapi import doc
from ..files.store import get_storage
from ..urls import signature_valid
from .responses import ok

bp = Blueprint("cdn_serve", __name__)

YEAR = 365 * 24 * 3600
TRANSFORM_PARAMS = {"size": "int", "width": "int", "height": "int", "format": "str", "quality": "str"}


def _not_found():
    return APIError(404, "File not found", "UNKNOWN_FILE")


def _check_access(ref: FileRef) -> bool:
    """Attachments of a private channel only for those who see the channel or hold a signed
    link from a message they loaded; True when private."""
    if not ref.channel_id:
        return False
    channel = db.session.get(Channel, ref.channel_id)
    if channel is None:
        raise _not_found()
    if not channel.is_private:
        return False
    if signature_valid(ref.path, request.args.get("exp"), request.args.get("sig")):
        return True
    user = caller_for_token(request_token())
    if user is None or not can_see(user, channel):
        raise _not_found()  # like the channel itself: outsiders cannot tell it exists
    return True


@bp.get("/api/v1/cdn/file/<path:file_path>")
@bp.get("/cdn/<path:file_path>")
@doc("Serve a stored file; images accept size, width/height, format and quality transforms",
     TRANSFORM_PARAMS, auth=None,
     responses={200: "The file", 202: "Transform in progress: retry", 206: "Partial content", 304: "Not modified",
                404: "Unknown file, or a private channel's attachment"})
def serve(file_path: str):
    # The path never reaches the filesystem: it must match the only shape we create, then a
    # reference row, and the bytes are found by the row's digest.
    found = intake.lookup(file_path)
    if found is None:
        raise _not_found()
    ref, stored = found
    private = _check_access(ref)
    transform = imaging.parse_transform(request.args)
    if transform is not None and not stored.is_image:
        raise APIError(400, "Transforms apply to images only", "NOT_AN_IMAGE")
    if transform is not None:
        name = variants.transform_name(stored, transform)
    elif stored.needs_clean:
        name = variants.clean_name(stored)
    else:
        return _send(get_storage().blob_path(stored.sha256), stored.sha256, stored.mime_type, ref, private)
    path = _wait_for_variant(stored, name)
    if path is None:
        response = ok(202, message="The image is being prepared; retry shortly", retry_after=1)
        response.headers["Retry-After"] = "1"
        response.headers["Cache-Control"] = "no-store"
        return response
    ext = name.rsplit(".", 1)[1]
    return _send(path, f"{stored.sha256[:32]}-{name}", imaging.MIME[ext], ref, private)


def _wait_for_variant(stored: StoredFile, name: str) -> str | None:
    """The variant's path once it exists; enqueue it once and wait up to the time budget."""
    storage = get_storage()
    if storage.variant_stat(stored.sha256, name) is not None:
        return storage.variant_path(stored.sha256, name)
    failure = redis.get(variants.failed_key(stored.sha256, name))
    if failure is not None:
        raise APIError(500, "The image could not be transformed", "TRANSFORM_FAILED")
    if redis.set(variants.pending_key(stored.sha256, name), 1, nx=True, ex=120):
        current_app.extensions["celery"].send_task("cdn.transform", args=[stored.sha256, name])
    deadline = time.monotonic() + current_app.config["CDN_TRANSFORM_WAIT_SECONDS"]
    delay = 0.01
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
        if storage.variant_stat(stored.sha256, name) is not None:
            return storage.variant_path(stored.sha256, name)
        if redis.get(variants.failed_key(stored.sha256, name)) is not None:
            raise APIError(500, "The image could not be transformed", "TRANSFORM_FAILED")
    return None


def _send(path: str, etag: str, mime_type: str, ref: FileRef, private: bool):
    """The file with validators, ranges and headers that keep browsers from running it."""
    image = mime_type.startswith("image/")
    try:
        response = send_file(path, mimetype=mime_type, conditional=True, etag=etag, max_age=YEAR,
                             as_attachment=not image, download_name=ref.filename or None)
    except FileNotFoundError:
        raise _not_found() from None
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    # Content-addressed: the bytes behind a path never change.
    response.cache_control.public = not private
    response.cache_control.private = private or None
    response.cache_control.immutable = True
    return response
