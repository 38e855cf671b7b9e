"""Serving stored files and their transforms at /api/v1/cdn/file/<path> and /cdn/<path>.

The first path lives under the cdn blueprint's prefix, so the view is routed on that
blueprint; this module's own blueprint owns the /cdn prefix.
"""
from flask import Blueprint, request, send_file

from ..accounts.auth import caller_for_token, request_token
from ..errors import APIError
from ..files import imaging, intake, variants
from ..files.store import get_storage
from ..messaging.messages import can_see, channel_row
from ..models import FileRef
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from ..urls import signature_valid
from .cdn import bp as cdn_bp
from .responses import ok

bp = Blueprint("cdn_serve", __name__, url_prefix="/cdn")

YEAR = 365 * 24 * 3600


class Transform(Fields):
    """The image transforms of the query string (imaging.parse_transform applies them)."""

    size: Integer(choices=imaging.SIZES, description="A square box; not with width or height") = None
    width: Integer(1, imaging.MAX_DIMENSION) = None
    height: Integer(1, imaging.MAX_DIMENSION) = None
    format: Text(choices=tuple(imaging.FORMATS), fold_case=True, blank_is_absent=True) = None
    quality: Text(choices=imaging.PUBLIC_QUALITIES, fold_case=True, blank_is_absent=True) = "high"
    exp: Text(max_len=2048, description="A signed link's expiry (private channels' attachments)") = None
    sig: Text(max_len=2048, description="A signed link's signature") = None


def _not_found():
    return APIError(404, "File not found", "UNKNOWN_FILE")


def _check_access(ref: FileRef) -> bool:
    """Attachments of a private channel only for those who see the channel or hold a signed
    link from a message they loaded; True when private."""
    if not ref.channel_id:
        return False
    channel = channel_row(ref.channel_id)
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


@endpoint("Serve a stored file; images accept size, width/height, format and quality transforms", Transform,
          {200: ("The file", "application/octet-stream"), 202: "Transform in progress: retry",
           206: ("Partial content", "application/octet-stream"), 304: ("Not modified", None),
           400: "NOT_AN_IMAGE: transforms apply to images only", 404: "Unknown file, or a private channel's attachment",
           416: "Range not satisfiable"}, tag="cdn_serve")
def serve(_query: Transform, file_path: str):
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
    path = variants.wait_for(stored, name)
    if path is None:
        response = ok(202, message="The image is being prepared; retry shortly", retry_after=1)
        response.headers["Retry-After"] = "1"
        response.headers["Cache-Control"] = "no-store"
        return response
    ext = name.rsplit(".", 1)[1]
    return _send(path, f"{stored.sha256[:32]}-{name}", imaging.MIME[ext], ref, private)


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


cdn_bp.add_url_rule("/file/<path:file_path>", view_func=serve, methods=["GET"])
bp.add_url_rule("/<path:file_path>", view_func=serve, methods=["GET"])
