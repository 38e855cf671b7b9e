"""Uploads into the store, the references that keep files alive, and their public paths."""
import os
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from werkzeug.datastructures import FileStorage

from . import media
from .. import tasks
from ..admin.settings import current_settings
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import FileRef, Message, ServerSettings, StoredFile, User
from .store import Staged, TooLarge, get_storage

URL_PREFIX = "/api/v1/cdn/file/"
DIRECTORIES = ("uploads", "avatars", "banners", "attachments", "stickers", "gifs")
IMAGE_DIRECTORIES = {"avatars", "banners", "stickers", "gifs"}
# The only paths that exist: built from a directory, an optional channel id and a digest.
PATH_RE = re.compile(r"(uploads|avatars|banners|attachments|stickers|gifs)/(?:([0-9a-f-]{36})/)?"
                     r"([0-9a-f]{64})\.([a-z0-9]{2,5})")
FILENAME_UNSAFE = re.compile(r"[^\w .()+-]+")


@dataclass
class Upload:
    """A validated upload, staged on disk, not yet stored or referenced."""

    staged: Staged
    media: media.Media
    filename: str


def _class_limit(head: bytes, settings) -> int:
    """The byte limit for what the first bytes announce, so oversize streams stop early."""
    if media.looks_like_image(head):
        return settings.max_gif_size if head.startswith(b"GIF8") else settings.max_image_size
    sniffed = media.sniff_binary(head)
    return settings.max_video_size if sniffed and sniffed.kind == "video" else settings.max_file_size


def readable_size(size: int) -> str:
    """A byte count as people read it: "1000 bytes", "512 KiB", "1.5 MiB" (no "0 MiB" for small limits)."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


def receive(upload: FileStorage, images_only: bool = False) -> Upload:
    """Stream an uploaded file to disk, hashing it, and judge it by its content."""
    settings = current_settings()
    head = upload.stream.read(4096)
    upload.stream.seek(0)
    limit = _class_limit(head, settings)
    try:
        staged = get_storage().stage(upload.stream, limit)
    except TooLarge:
        raise APIError(413, f"The file is larger than the {readable_size(limit)} allowed for its type",
                       "FILE_TOO_LARGE") from None
    try:
        if staged.size == 0:
            raise APIError(400, "The file is empty", "EMPTY_FILE")
        judged = media.inspect(staged.temp_path, staged.head, upload.filename or "")
        if images_only and judged.kind != "image":
            raise APIError(415, "Only PNG, JPEG, GIF and WebP images are accepted here", "UNSUPPORTED_FILE_TYPE")
        media.check_allowed(judged, settings)
        if staged.size > (allowed := media.size_limit(judged, settings)):
            raise APIError(413, f"The file is larger than the {readable_size(allowed)} allowed for its type",
                           "FILE_TOO_LARGE")
    except BaseException:
        get_storage().discard(staged)
        raise
    return Upload(staged, judged, clean_filename(upload.filename, judged.ext))


def clean_filename(name: str | None, ext: str) -> str:
    """A display name for downloads: no directories, no odd characters, the real extension."""
    stem = os.path.splitext(os.path.basename((name or "").replace("\\", "/")))[0]
    stem = FILENAME_UNSAFE.sub("_", stem).strip(" ._")[:100] or "file"
    return f"{stem}.{ext}"


def path_for(directory: str, sha256: str, ext: str, channel_id: str | None = None) -> str:
    return f"{directory}/{channel_id}/{sha256}.{ext}" if channel_id else f"{directory}/{sha256}.{ext}"


def _upsert_stored_file(upload: Upload) -> bool:
    """Insert the file row or touch it; True when these bytes were already stored.

    The upsert holds the row lock until commit, so an orphan cleanup cannot delete the row
    (or its blob) between here and the reference being committed.
    """
    now = utcnow()
    judged, staged = upload.media, upload.staged
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(StoredFile).values(
        sha256=staged.sha256, size=staged.size, mime_type=judged.mime_type, ext=judged.ext, kind=judged.kind,
        width=judged.width, height=judged.height, frames=judged.frames, needs_clean=judged.needs_clean,
        created_at=now, last_used_at=now,
    ).on_conflict_do_update(index_elements=["sha256"], set_={"last_used_at": now}).returning(StoredFile.created_at)
    return db.session.execute(statement).scalar_one() != now


def store(upload: Upload, kind: str, directory: str, user_id: str | None = None, channel_id: str | None = None,
          message_id: str | None = None) -> tuple[FileRef, bool]:
    """Make the upload a stored, referenced file; returns (reference, is_duplicate). The caller commits."""
    duplicate = _upsert_stored_file(upload)
    get_storage().commit(upload.staged)
    ref = FileRef(sha256=upload.staged.sha256, kind=kind, filename=upload.filename, user_id=user_id,
                  channel_id=channel_id, message_id=message_id,
                  path=path_for(directory, upload.staged.sha256, upload.media.ext, channel_id))
    db.session.add(ref)
    return ref, duplicate


def receive_all(uploads: list[FileStorage]) -> list[Upload]:
    """Receive several files; if one is refused, none is kept."""
    received: list[Upload] = []
    try:
        for upload in uploads:
            received.append(receive(upload))
    except BaseException:
        discard(received)
        raise
    return received


def attachment_url(upload: Upload, channel_id: str) -> str:
    return URL_PREFIX + path_for("attachments", upload.staged.sha256, upload.media.ext, channel_id)


def attach(message: Message, uploads: list[Upload]) -> None:
    """Reference uploads as the attachments of a flushed message. The caller commits."""
    for upload in uploads:
        store(upload, "attachment", "attachments", channel_id=message.channel_id, message_id=message.id)


def process_later(uploads: list[Upload], purpose: str = "attachment") -> None:
    """After the commit: clean the images that carry metadata or a rotation."""
    for upload in uploads:
        if upload.media.needs_clean:
            enqueue_processing(upload.staged.sha256, purpose)


def discard(uploads: list[Upload]) -> None:
    for upload in uploads:
        get_storage().discard(upload.staged)


def url_of(ref: FileRef) -> str:
    return URL_PREFIX + ref.path


def drop_refs(kind: str, user_id: str | None = None) -> None:
    """Forget the current avatar/banner reference of a user (or of the server)."""
    query = sa.delete(FileRef).where(FileRef.kind == kind)
    if user_id is not None:
        query = query.where(FileRef.user_id == user_id)
    db.session.execute(query)


def lookup(path: str | None) -> tuple[FileRef, StoredFile] | None:
    """A reference under this path and its stored file, in one query; None when unknown."""
    if not path or not PATH_RE.fullmatch(path):
        return None
    row = db.session.execute(sa.select(FileRef, StoredFile).join(StoredFile, StoredFile.sha256 == FileRef.sha256)
                             .where(FileRef.path == path).limit(1)).first()
    return (row[0], row[1]) if row else None


def path_of_url(file_url: str) -> str | None:
    """The store path named by a URL, a /api/v1/cdn/file/ or /cdn/ path, or a bare path."""
    path = urlsplit(file_url.strip()).path
    for prefix in (URL_PREFIX, "/cdn/"):
        if path.startswith(prefix):
            path = path[len(prefix):]
            break
    return path if PATH_RE.fullmatch(path) else None


def enqueue_processing(sha256: str, purpose: str) -> None:
    """Ask the workers to clean and thumbnail an image; a broker outage only delays it, since
    serving a file queues any missing variant again."""
    tasks.enqueue(tasks.UPLOADS_PROCESS, sha256, purpose)


def unlink_everywhere(sha256: str) -> int:
    """Remove every reference to a file and every place that shows it; returns how many. No commit."""
    refs = db.session.scalars(sa.select(FileRef).where(FileRef.sha256 == sha256)).all()
    urls = {url_of(ref) for ref in refs}
    if urls:
        for column in (User.avatar_url, User.banner_url):
            db.session.execute(sa.update(User).where(column.in_(urls)).values({column.key: None}))
        settings = ServerSettings.get()
        for field in ("avatar_url", "banner_url"):
            value = getattr(settings, field)
            if value and urlsplit(value).path in urls:
                setattr(settings, field, None)
        message_ids = {ref.message_id for ref in refs if ref.message_id}
        for message in db.session.scalars(sa.select(Message).where(Message.id.in_(message_ids))):
            message.attachments = [url for url in message.attachments or [] if url not in urls]
    db.session.execute(sa.delete(FileRef).where(FileRef.sha256 == sha256))
    return len(refs)
