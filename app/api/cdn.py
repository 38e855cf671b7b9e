"""/api/v1/cdn: the owner's file management (upload, list, inspect, delete, orphan cleanup).

Files themselves are served under this prefix too (/file/<path>, routed in api/cdn_serve.py).
"""
import sqlalchemy as sa
from flask import Blueprint
from sqlalchemy.exc import IntegrityError

from ..accounts.auth import current_caller, owner_required
from ..admin.runs import queue_run
from ..admin.settings import settings_changed
from ..errors import APIError
from ..extensions import db
from ..files import intake
from ..files.store import get_storage
from ..ids import iso
from ..models import FileRef, StoredFile
from ..endpoint import endpoint
from ..fields import File, Fields, Flag, Integer, Text
from .responses import ok

bp = Blueprint("cdn", __name__, url_prefix="/api/v1/cdn")


def first_file(form: Fields, *names: str):
    """The first file sent among the form's fields names; 400 MISSING_FILE when there is none."""
    for name in names:
        upload = getattr(form, name)
        if upload is not None:
            return upload
    raise APIError(400, f"Send the file as a multipart form field named {names[0]!r}", "MISSING_FILE",
                   errors=[{"path": names[0], "message": "is required"}])


class Upload(Fields):
    file: File
    directory: Text(choices=intake.DIRECTORIES) = "uploads"


@bp.post("/upload")
@owner_required
@endpoint("Upload a file to the CDN (owner)", Upload,
          {201: "url and is_duplicate", 400: "MISSING_FILE or EMPTY_FILE",
           413: "FILE_TOO_LARGE, or IMAGE_TOO_LARGE in pixels", 415: "UNSUPPORTED_FILE_TYPE",
           503: "IMAGE_DECODE_BUSY: every image decode slot is busy; retry"})
def upload(form: Upload):
    directory = form.directory
    received = intake.receive(form.file, images_only=directory in intake.IMAGE_DIRECTORIES)
    ref, duplicate = intake.store(received, "cdn_upload", directory)
    db.session.commit()
    intake.process_later([received], "upload")
    message = "File already stored; a new reference was added" if duplicate else "File uploaded successfully"
    return ok(201, message=message, url=intake.url_of(ref), is_duplicate=duplicate)


class FileListing(Fields):
    directory: Text(choices=(*intake.DIRECTORIES, "all")) = None
    all: Flag = False
    limit: Integer(1, 5000) = 500
    offset: Integer(0, 10_000_000) = 0


@bp.post("/files")
@owner_required
@endpoint("List stored files by directory, or all of them (owner)", FileListing, {200: "files"})
def list_files(form: FileListing):
    directory, limit, offset = form.directory, form.limit, form.offset
    everything = form.all or directory == "all"
    first_use = (sa.select(FileRef.path, sa.func.min(FileRef.id).label("ref_id"))
                 .group_by(FileRef.path).subquery())
    query = (sa.select(FileRef, StoredFile).join(first_use, FileRef.id == first_use.c.ref_id)
             .join(StoredFile, StoredFile.sha256 == FileRef.sha256).order_by(FileRef.id))
    if directory and not everything:
        query = query.where(FileRef.path.startswith(directory + "/"))
    rows = db.session.execute(query.offset(offset).limit(limit)).all()
    listed = [{"filename": ref.path.rsplit("/", 1)[1], "size": stored.size, "modified": iso(stored.last_used_at),
               "url": intake.url_of(ref), "subdirectory": ref.path.split("/", 1)[0], "type": stored.mime_type,
               "original_filename": ref.filename} for ref, stored in rows]
    return ok(files=listed)


class FileURL(Fields):
    file_url: Text(max_len=2048, description="The file's URL as the server gave it")


def _file_from_url(file_url: str) -> tuple[str, StoredFile]:
    path = intake.path_of_url(file_url)
    found = intake.lookup(path)
    if found is None:
        raise APIError(404, "File not found", "UNKNOWN_FILE")
    return path, found[1]


@bp.post("/file-info")
@owner_required
@endpoint("Details of a stored file, with its SHA-256 and reference count (owner)", FileURL,
          {200: "file_info", 404: "UNKNOWN_FILE"})
def file_info(form: FileURL):
    path, stored = _file_from_url(form.file_url)
    kinds = dict(db.session.execute(sa.select(FileRef.kind, sa.func.count()).where(FileRef.sha256 == stored.sha256)
                                    .group_by(FileRef.kind)).all())
    return ok(file_info={
        "url": intake.URL_PREFIX + path, "size": stored.size, "mime_type": stored.mime_type,
        "created": iso(stored.created_at), "modified": iso(stored.last_used_at), "sha256": stored.sha256,
        "references": sum(kinds.values()), "references_by_kind": kinds,
        "width": stored.width, "height": stored.height, "processed": stored.processed_at is not None,
    })


@bp.post("/delete-file")
@owner_required
@endpoint("Delete a file and unlink it everywhere it is used: avatars, banners, messages (owner)", FileURL,
          {200: "Deleted", 404: "UNKNOWN_FILE", 409: "FILE_IN_USE: used again meanwhile; retry"})
def delete_file(form: FileURL):
    path, stored = _file_from_url(form.file_url)
    unlinked = intake.unlink_everywhere(stored.sha256)
    db.session.delete(stored)
    try:
        db.session.flush()
    except IntegrityError:  # an upload referenced these bytes again meanwhile
        db.session.rollback()
        raise APIError(409, "The file was just used again; retry the deletion", "FILE_IN_USE") from None
    get_storage().delete(stored.sha256)  # after the row is gone, before the commit (see the cleanup)
    db.session.commit()
    settings_changed()  # the server avatar or banner may have been this file
    return ok(message="File deleted successfully", file_url=intake.URL_PREFIX + path, unlinked_references=unlinked)


@bp.post("/cleanup-orphaned")
@owner_required
@endpoint("Queue the orphan cleanup: files nothing references, past the grace period (owner)",
          statuses={202: "Queued: task_id and run_id", 409: "TASK_RUNNING: already running", 503: "QUEUE_UNAVAILABLE"})
def cleanup_orphaned():
    record = queue_run("cdn_cleanup", current_caller().id)
    return ok(202, message="Orphan cleanup queued", task_id="cdn_cleanup", run_id=record.id, state=record.state)
