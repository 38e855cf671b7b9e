"""The whole file judged, not its head: markup a browser could render (in UTF-8 or UTF-16), and
bytes an image carries after its own end.

Scans read the staged file in chunks, bounded by the upload size limit that staging enforced.
"""
import os
import re
import struct

CHUNK = 256 * 1024
OVERLAP = 256  # a tag split across two reads is still seen
TAGS = (b"!doctype", b"html", b"head", b"body", b"script", b"svg", b"iframe", b"object", b"embed", b"?xml")


def _pattern(wide: str) -> re.Pattern:
    """`<` then a tag name, in 8-bit text or with a NUL after (le) or before (be) each character."""
    def spell(text: bytes) -> bytes:
        escaped = [re.escape(bytes([char])) for char in text]
        if wide == "le":
            return b"".join(char + b"\x00" for char in escaped)
        if wide == "be":
            return b"".join(b"\x00" + char for char in escaped)
        return b"".join(escaped)
    space = {"le": rb"(?:\s\x00)*", "be": rb"(?:\x00\s)*", "": rb"\s*"}[wide]
    return re.compile(spell(b"<") + space + b"(?:" + b"|".join(spell(tag) for tag in TAGS) + b")", re.I)


TEXT_MARKUP = _pattern("")
PATTERNS = (TEXT_MARKUP, _pattern("le"), _pattern("be"))


def contains_markup(path: str, patterns: tuple[re.Pattern, ...] = PATTERNS) -> bool:
    """Whether HTML, SVG or XML markup appears anywhere in the file."""
    with open(path, "rb") as handle:
        tail = b""
        while chunk := handle.read(CHUNK):
            window = tail + chunk
            if any(pattern.search(window) for pattern in patterns):
                return True
            tail = window[-OVERLAP:]
    return False


def _png_end(handle) -> int | None:
    """The offset just past the IEND chunk, walking the chunks; None when there is none."""
    offset = 8
    while True:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return None
        length, kind = struct.unpack(">I4s", header)
        offset += 12 + length
        if kind == b"IEND":
            return offset


def has_trailing_bytes(path: str, image_format: str) -> bool:
    """Whether bytes follow the image's own end (a page appended to a picture, say)."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        if image_format == "PNG":
            end = _png_end(handle)
            return end is None or end < size
        if image_format == "WEBP":
            handle.seek(4)
            riff_size = struct.unpack("<I", handle.read(4))[0]
            return 8 + riff_size + (riff_size & 1) < size
        handle.seek(max(0, size - 2))
        last = handle.read(2)
    if image_format == "JPEG":
        return last != b"\xff\xd9"
    return not last.endswith(b"\x3b")  # GIF's trailer
