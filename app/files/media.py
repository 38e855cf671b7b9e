"""What an upload really is, judged by its bytes: Pillow for images, magic bytes for the rest."""
import codecs
import json
import os
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..errors import APIError
from .decoding import check_budget, decode_slot
from .markup import contains_markup, has_trailing_bytes

IMAGE_TYPES = {"PNG": ("png", "png", "image/png"), "JPEG": ("jpeg", "jpg", "image/jpeg"),
               "GIF": ("gif", "gif", "image/gif"), "WEBP": ("webp", "webp", "image/webp")}
TEXT_TYPES = {"txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "json": "application/json"}
OPAQUE = "application/octet-stream"  # what a binary carrying markup is served as (a download)
# Byte-order marks of UTF-16 and UTF-32: text that is not UTF-8 (and no MP3 frame).
WIDE_TEXT_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


@dataclass
class Media:
    """The judged type of an upload: type name (as in the settings lists), extension, MIME."""

    type_name: str
    ext: str
    mime_type: str
    kind: str  # image | video | file
    width: int | None = None
    height: int | None = None
    frames: int = 1
    needs_clean: bool = False


def sniff_binary(head: bytes) -> Media | None:
    """Non-image types recognised by their leading bytes."""
    if head.startswith(b"%PDF-"):
        return Media("pdf", "pdf", "application/pdf", "file")
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return Media("zip", "zip", "application/zip", "file")
    if head.startswith(b"OggS"):
        return Media("ogg", "ogg", "audio/ogg", "file")
    if head.startswith(b"RIFF") and head[8:12] == b"WAVE":
        return Media("wav", "wav", "audio/wav", "file")
    if head.startswith(b"ID3") or _mp3_frame(head):
        return Media("mp3", "mp3", "audio/mpeg", "file")
    if head[4:8] == b"ftyp":
        return Media("mp4", "mp4", "video/mp4", "video")
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]:
        return Media("webm", "webm", "video/webm", "video")
    return None


def _mp3_frame(head: bytes) -> bool:
    """An MPEG audio frame header: the sync bits, then no reserved version, layer, bitrate or rate.

    A UTF-16 byte-order mark (FF FE) has the sync bits too; the fields after it do not hold."""
    if len(head) < 4 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return False
    version, layer = (head[1] >> 3) & 3, (head[1] >> 1) & 3
    bitrate, rate = head[2] >> 4, (head[2] >> 2) & 3
    return version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3


def looks_like_image(head: bytes) -> bool:
    return (head.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a"))
            or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"))


def inspect_image(path: str) -> Media:
    """Open, bound (app/files/decoding.py) and fully decode an image; refuse bombs, oversize and
    truncated files."""
    try:
        with Image.open(path) as img:
            if img.format not in IMAGE_TYPES:
                raise APIError(415, "Only PNG, JPEG, GIF and WebP images are accepted", "UNSUPPORTED_FILE_TYPE")
            width, height = img.size
            check_budget(width, height)  # from the header: nothing is decoded yet
            frames = getattr(img, "n_frames", 1)
            check_budget(width, height, frames)
            with decode_slot():
                for index in range(frames):  # a full decode is the only reliable truncation check
                    img.seek(index)
                    img.load()
            img.seek(0)
            exif = img.getexif()
            orientation = exif.get(0x0112, 1)
            metadata = bool(exif) or any(key in img.info for key in ("exif", "xmp", "XML:com.adobe.xmp", "comment"))
            metadata = metadata or bool(getattr(img, "text", None))
            image_format = img.format
            type_name, ext, mime = IMAGE_TYPES[img.format]
    except Image.DecompressionBombError:
        raise APIError(413, "The image is a decompression bomb", "IMAGE_TOO_LARGE") from None
    except APIError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise APIError(400, f"The image is damaged or truncated ({type(exc).__name__})", "INVALID_IMAGE") from None
    if orientation in (5, 6, 7, 8):  # stored sideways: the served image is turned upright
        width, height = height, width
    # Bytes after the image's end or markup anywhere: served only as the re-encoded copy, without them.
    smuggled = has_trailing_bytes(path, image_format) or contains_markup(path)
    return Media(type_name, ext, mime, "image", width, height, frames,
                 needs_clean=metadata or orientation != 1 or smuggled)


def inspect_text(path: str, filename: str) -> Media:
    """UTF-8 text without NULs or markup; the name only chooses between text flavours."""
    if contains_markup(path):  # anywhere in the file, not only its head
        raise APIError(415, "HTML, SVG and XML files are not accepted", "UNSUPPORTED_FILE_TYPE")
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        chunk = handle.read(256 * 1024)
        try:
            while chunk:
                if b"\x00" in chunk:
                    raise ValueError("NUL byte")
                decoder.decode(chunk)
                chunk = handle.read(256 * 1024)
            decoder.decode(b"", final=True)
        except (UnicodeDecodeError, ValueError):
            raise APIError(415, "This file type is not accepted", "UNSUPPORTED_FILE_TYPE") from None
    ext = os.path.splitext(filename or "")[1].lower().lstrip(".")
    ext = {"markdown": "md"}.get(ext, ext)
    if ext == "json":
        try:
            with open(path, "rb") as handle:
                json.load(handle)
        except ValueError:
            ext = "txt"
    if ext not in TEXT_TYPES:
        ext = "txt"
    return Media(ext, ext, TEXT_TYPES[ext], "file")


def inspect(path: str, head: bytes, filename: str) -> Media:
    """Judge an upload by content; 415 for anything not recognised."""
    if looks_like_image(head):
        return inspect_image(path)
    media = sniff_binary(head)
    if media is not None:
        if contains_markup(path):  # magic bytes, then a page: kept, but only as a download
            media.mime_type = OPAQUE
        return media
    if head.startswith(WIDE_TEXT_BOMS):
        raise APIError(415, "Text files must be UTF-8 (UTF-16 and UTF-32 are not accepted)", "UNSUPPORTED_FILE_TYPE")
    return inspect_text(path, filename)


def size_limit(media: Media, settings) -> int:
    """The byte limit of the server settings that applies to this type."""
    if media.type_name == "gif":
        return settings.max_gif_size
    if media.kind == "image":
        return settings.max_image_size
    if media.kind == "video":
        return settings.max_video_size
    return settings.max_file_size


def check_allowed(media: Media, settings) -> None:
    allowed = {"image": settings.allowed_image_types, "video": settings.allowed_video_types,
               "file": settings.allowed_file_types}[media.kind]
    if media.type_name not in set(allowed or ()):
        raise APIError(415, f"Files of type {media.type_name} are not accepted by this server",
                       "UNSUPPORTED_FILE_TYPE")
