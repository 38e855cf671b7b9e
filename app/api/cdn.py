"""/api/v1/cdn: the owner's file management (upload, list, inspect, delete, orphan cleanup).

Files themselves are served under this prefix too (/file/<path>, routed in api/cdn_serve.py).
"""
import sqlalchemy as sa
from flask import Blueprint, request
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
from ..openapi import doc
from ..params import Params
from .responses import ok

bp = Blueprint("cdn", __name__, url_prefix="/api/v1/cdn")


def uploaded_file(*names: str):
    """The first non-empty file field among names; 400 when there is none."""
    for name in names:
        upload = request.files.get(name)
        if upload is not None and upload.filename:
            return upload
    raise APIError(400, f"Send the file as a multipart form field named {names[0]!r}", "MISSING_FILE",
                   errors=[{"path": names[0], "message": "is required"}])


@bp.post("/upload")
@doc("Upload a file to the CDN (owner)", {"file": "file*", "directory": "str"}, auth="owner",
     responses={201: "url and is_duplicate", 413: "Too large (bytes or pixels)", 415: "Type not accepted",
                503: "Every image decode slot is busy: retry"})
@owner_required
def upload():
    params = Params()
    directory = params.text("directory", required=False, default="uploads", choices=set(intake.DIRECTORIES))
    params.done()
    received = intake.receive(uploaded_file("file"), images_only=directory in intake.IMAGE_DIRECTORIES)
    ref, duplicate = intake.store(received, "cdn_upload", directory)
    db.session.commit()
    intake.process_later([received], "upload")
    message = "File already stored; a new reference was added" if duplicate else "File uploaded successfully"
    return ok(201, message=message, url=intake.url_of(ref), is_duplicate=duplicate)


@bp.post("/files")
@doc("List stored files by directory, or all of them (owner)",
     {"directory": "str", "all": "bool", "limit": "int", "offset": "int"}, auth="owner", responses={200: "files"})
@owner_required
def list_files():
    params = Params()
    directory = params.text("directory", required=False, choices={*intake.DIRECTORIES, "all"})
    everything = params.flag("all") or directory == "all"
    limit = params.integer("limit", default=500, minimum=1, maximum=5000)
    offset = params.integer("offset", default=0, minimum=0, maximum=10_000_000)
    params.done()
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


def _file_from_url() -> tuple[str, StoredFile]:
    params = Params()
    file_url = params.text("file_url", max_len=2048)
    params.done()
    path = intake.path_of_url(file_url)
    found = intake.lookup(path)
    if found is None:
        raise APIError(404, "File not found", "UNKNOWN_FILE")
    return path, found[1]


@bp.post("/file-info")
@doc("Details of a stored file, with its SHA-256 and reference count (owner)", {"file_url": "str*"},
     auth="owner", responses={200: "file_info", 404: "Unknown file"})
@owner_required
def file_info():
    path, stored = _file_from_url()
    kinds = dict(db.session.execute(sa.select(FileRef.kind, sa.func.count()).where(FileRef.sha256 == stored.sha256)
                                    .group_by(FileRef.kind)).all())
    return ok(file_info={
        "url": intake.URL_PREFIX + path, "size": stored.size, "mime_type": stored.mime_type,
        "created": iso(stored.created_at), "modified": iso(stored.last_used_at), "sha256": stored.sha256,
        "references": sum(kinds.values()), "references_by_kind": kinds,
        "width": stored.width, "height": stored.height, "processed": stored.processed_at is not None,
    })


@bp.post("/delete-file")
@doc("Delete a file and unlink it everywhere it is used: avatars, banners, messages (owner)",
     {"file_url": "str*"}, auth="owner", responses={200: "Deleted", 404: "Unknown file"})
@owner_required
def delete_file():
    path, stored = _file_from_url()
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
@doc("Queue the orphan cleanup: files nothing references, past the grace period (owner)", auth="owner",
     responses={202: "Queued: task_id and run_id"})
@owner_required
def cleanup_orphaned():
    record = queue_run("cdn_cleanup", current_caller().id)
    return ok(202, message="Orphan cleanup queued", task_id="cdn_cleanup", run_id=record.id, state=record.state)
