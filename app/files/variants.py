"""Derived images of a stored file, named so a name alone says how to produce it."""
import re

from flask import current_app

from . import imaging
from ..models import StoredFile
from .store import get_storage

# "clean.jpg": the upload upright and without metadata; "t256x192_high.webp": a transform.
NAME_RE = re.compile(r"(?:clean|t(\d{1,4})x(\d{1,4})_(high|low|lossless))\.(png|jpg|webp|gif)")


def pending_key(sha256: str, name: str) -> str:
    """Set while a transform task is queued, so concurrent requests enqueue it once."""
    return f"cdn:pending:{sha256}:{name}"


def failed_key(sha256: str, name: str) -> str:
    """Set for a while after a transform failed, so requests stop waiting for it."""
    return f"cdn:failed:{sha256}:{name}"


def clean_name(stored: StoredFile) -> str:
    return f"clean.{stored.ext}"


def transform_name(stored: StoredFile, transform: imaging.Transform) -> str:
    size = imaging.target_size(stored.width, stored.height, transform)
    return imaging.variant_name(size, transform.ext or stored.ext, transform.quality)


def standard_names(stored: StoredFile, purpose: str) -> list[str]:
    """The thumbnails made right after an avatar or banner upload (as ?size=N asks for them)."""
    return [transform_name(stored, imaging.Transform(size, None, None, "high"))
            for size in imaging.STANDARD_SIZES.get(purpose, ())]


def produce(stored: StoredFile, name: str) -> bool:
    """Render and cache one variant unless it exists; False when the name is not valid."""
    match = NAME_RE.fullmatch(name)
    if match is None or not stored.is_image:
        return False
    storage = get_storage()
    if storage.variant_stat(stored.sha256, name) is not None:
        return True
    source = storage.blob_path(stored.sha256)
    ext = match.group(4)
    if name.startswith("clean."):
        data = imaging.clean(source, ext)
    else:
        size = (int(match.group(1)), int(match.group(2)))
        if not (0 < size[0] <= imaging.MAX_DIMENSION and 0 < size[1] <= imaging.MAX_DIMENSION):
            return False
        data = imaging.render(source, size, ext, match.group(3))
    storage.put_variant(stored.sha256, name, data)
    _evict(stored)
    return True


def _evict(stored: StoredFile) -> None:
    """Keep at most CDN_MAX_VARIANTS transforms of a file: any width is a new one, so bound them."""
    storage = get_storage()
    made = sorted((mtime, name) for name, mtime in storage.variants(stored.sha256) if name.startswith("t"))
    keep = set(standard_names(stored, "avatar") + standard_names(stored, "banner"))
    excess = len(made) - current_app.config["CDN_MAX_VARIANTS"]
    for _mtime, name in made:
        if excess <= 0:
            break
        if name not in keep:
            storage.delete_variant(stored.sha256, name)
            excess -= 1
