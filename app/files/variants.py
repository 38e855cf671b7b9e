"""Derived images of a stored file: their names, making one, and waiting for one to be made.

A name alone says how to produce the image, and nothing else builds these names:
"clean.jpg" is the upload upright and without metadata; "t256x192_high.webp" is a transform.
"""
import logging
import re
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from flask import current_app

from . import imaging
from .. import keys, tasks
from ..errors import APIError
from ..extensions import redis
from ..models import StoredFile
from .store import get_storage

log = logging.getLogger(__name__)

NAME_RE = re.compile(r"(?:clean|t(\d{1,4})x(\d{1,4})_(high|low|lossless))\.(png|jpg|webp|gif)")
# Thumbnails made as soon as an avatar or banner is uploaded (the sizes clients ask for most).
STANDARD_SIZES = {"avatar": (32, 64, 128, 256), "banner": (512, 1024)}
# The pending marker lapses unless renewed: a transform queued but not started within
# QUEUED_SECONDS, or one whose worker stopped renewing for RUNNING_SECONDS, is queued again by
# the next request that waits for it. A transform lost MAX_ATTEMPTS times counts as failed.
QUEUED_SECONDS = 30
RUNNING_SECONDS = 10
MAX_ATTEMPTS = 3
FAILED_SECONDS = 300  # how long requests are told at once that a transform failed


def clean_name(stored: StoredFile) -> str:
    return f"clean.{stored.ext}"


def transform_name(stored: StoredFile, transform: imaging.Transform) -> str:
    """Requests that produce the same output share one name, hence one cached file."""
    width, height = imaging.target_size(stored.width, stored.height, transform)
    return f"t{width}x{height}_{transform.quality}.{transform.ext or stored.ext}"


def standard_names(stored: StoredFile, purpose: str) -> list[str]:
    """The thumbnails made right after an avatar or banner upload (as ?size=N asks for them)."""
    return [transform_name(stored, imaging.Transform(size, None, None, "high"))
            for size in STANDARD_SIZES.get(purpose, ())]


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


def _ready(sha256: str, name: str) -> str | None:
    """The variant's path once it exists; raises once its transform is known to have failed."""
    storage = get_storage()
    if storage.variant_stat(sha256, name) is not None:
        return storage.variant_path(sha256, name)
    if redis.get(keys.variant_failed(sha256, name)) is not None:
        raise APIError(500, "The image could not be transformed", "TRANSFORM_FAILED")
    return None


def wait_for(stored: StoredFile, name: str) -> str | None:
    """The variant's path; queue its transform once fleet-wide and wait up to the time budget."""
    path = _ready(stored.sha256, name)
    if path is not None:
        return path
    broker_up = _queue(stored.sha256, name)
    deadline = time.monotonic() + current_app.config["CDN_TRANSFORM_WAIT_SECONDS"]
    delay = 0.01
    while time.monotonic() < deadline:
        time.sleep(delay)
        delay = min(delay * 2, 0.1)
        path = _ready(stored.sha256, name)
        if path is not None:
            return path
        if broker_up:  # the marker lapsed: its worker was lost, so queue it again now
            broker_up = _queue(stored.sha256, name)
    return None


def _queue(sha256: str, name: str) -> bool:
    """Queue the transform unless it is pending already (once fleet-wide: SET NX); False when
    the broker refused it (the next request tries again, not this one's every poll)."""
    pending = keys.variant_pending(sha256, name)
    if redis.set(pending, "queued", nx=True, ex=QUEUED_SECONDS):
        if not tasks.enqueue(tasks.CDN_TRANSFORM, sha256, name):
            redis.delete(pending)
            return False
    return True


def start_attempt(sha256: str, name: str) -> bool:
    """Count a transform that starts work; False (and failed) once it was lost too often."""
    attempts = keys.variant_attempts(sha256, name)
    count = redis.incr(attempts)
    redis.expire(attempts, FAILED_SECONDS)
    if count > MAX_ATTEMPTS:
        transform_failed(sha256, name, f"its worker was lost {MAX_ATTEMPTS} times")
        return False
    return True


@contextmanager
def running(sha256: str, name: str) -> Iterator[None]:
    """Keep the pending marker alive while the transform works; a killed worker's lapses."""
    pending = keys.variant_pending(sha256, name)
    redis.set(pending, "running", ex=RUNNING_SECONDS)
    stop = threading.Event()

    def renew() -> None:
        while not stop.wait(RUNNING_SECONDS / 3):
            try:
                redis.set(pending, "running", ex=RUNNING_SECONDS)
            except Exception:  # Redis away for a moment: the next beat tries again
                log.warning("could not renew the pending marker of %s", name, exc_info=True)

    renewer = threading.Thread(target=renew, name=f"transform-{name}", daemon=True)
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def transform_failed(sha256: str, name: str, reason: str) -> None:
    """Remember a failure briefly, so waiting requests answer at once instead of timing out."""
    redis.set(keys.variant_failed(sha256, name), reason, ex=FAILED_SECONDS)


def transform_finished(sha256: str, name: str) -> None:
    """The transform ran (made or failed): a later request may queue it again."""
    redis.delete(keys.variant_pending(sha256, name), keys.variant_attempts(sha256, name))
