"""What an upload really is, judged by its bytes: Pillow for images, magic bytes for the rest."""
import codecs
import json
import os
import re
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from ..errors import APIError
from .decoding import check_budget, decode_slot

IMAGE_TYPES = {"PNG": ("png", "png", "image/png"), "JPEG": ("jpeg", "jpg", "image/jpeg"),
               "GIF": ("gif", "gif", "image/gif"), "WEBP": ("webp", "webp", "image/webp")}
TEXT_TYPES = {"txt": "text/plain", "md": "text/markdown", "csv": "text/csv", "json": "application/json"}
# Markup a browser might render or run: never accepted, whatever the file is called.
MARKUP_RE = re.compile(rb"<\s*(?:!doctype|html|head|body|script|svg|iframe|object|embed|\?xml)", re.I)


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
    if head.startswith(b"ID3") or (len(head) > 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return Media("mp3", "mp3", "audio/mpeg", "file")
    if head[4:8] == b"ftyp":
        return Media("mp4", "mp4", "video/mp4", "video")
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head[:64]:
        return Media("webm", "webm", "video/webm", "video")
    return None


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
            type_name, ext, mime = IMAGE_TYPES[img.format]
    except Image.DecompressionBombError:
        raise APIError(413, "The image is a decompression bomb", "IMAGE_TOO_LARGE") from None
    except APIError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise APIError(400, f"The image is damaged or truncated ({type(exc).__name__})", "INVALID_IMAGE") from None
    if orientation in (5, 6, 7, 8):  # stored sideways: the served image is turned upright
        width, height = height, width
    return Media(type_name, ext, mime, "image", width, height, frames, needs_clean=metadata or orientation != 1)


def inspect_text(path: str, filename: str) -> Media:
    """UTF-8 text without NULs or markup; the name only chooses between text flavours."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        first = handle.read(4096)
        if MARKUP_RE.search(first):
            raise APIError(415, "HTML, SVG and XML files are not accepted", "UNSUPPORTED_FILE_TYPE")
        chunk = first
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
    return media if media is not None else inspect_text(path, filename)


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
