"""The decoded-pixel budget of every image decode, and how many decodes a process runs at once.

A file's bytes say little about its cost: a 200 KB PNG can hold 8192x8192 pixels and a 120 KB
GIF 64 frames of 1024x1024, and decoding costs memory and CPU per pixel of every frame. So the
budget is frames x width x height, checked from the header before anything is decoded, and each
process decodes at most IMAGE_DECODE_CONCURRENCY images at a time.
"""
import os
import threading
from contextlib import contextmanager
from typing import Iterator

from flask import current_app, has_app_context
from PIL import Image

from ..errors import APIError

MAX_SIDE = 8192
MAX_PIXELS = 40_000_000  # decoded pixels of one image: every frame of an animation counts
# Pillow warns above this and refuses twice it on open (DecompressionBombError); our own check
# refuses anything over MAX_PIXELS from the header, so Pillow's warning would only be noise.
Image.MAX_IMAGE_PIXELS = 2 * MAX_PIXELS

DEFAULTS = {"IMAGE_DECODE_CONCURRENCY": 2, "IMAGE_DECODE_WAIT_SECONDS": 10.0}  # outside an app
_slots: dict[int, tuple[int, threading.BoundedSemaphore]] = {}
_slots_guard = threading.Lock()


def check_budget(width: int, height: int, frames: int = 1) -> None:
    """413 IMAGE_TOO_LARGE unless the image fits the side limit and the decoded-pixel budget."""
    if width > MAX_SIDE or height > MAX_SIDE:
        raise APIError(413, f"Images may be at most {MAX_SIDE}x{MAX_SIDE} pixels", "IMAGE_TOO_LARGE")
    limit = f"{MAX_PIXELS // 1_000_000} million"
    if width * height > MAX_PIXELS:
        raise APIError(413, f"The image has {width}x{height} pixels; at most {limit} pixels are accepted",
                       "IMAGE_TOO_LARGE")
    if frames * width * height > MAX_PIXELS:
        raise APIError(413, f"The animation has {frames} frames of {width}x{height} pixels; at most {limit} "
                            "decoded pixels are accepted", "IMAGE_TOO_LARGE")


def _setting(name: str):
    return current_app.config.get(name, DEFAULTS[name]) if has_app_context() else DEFAULTS[name]


def _semaphore() -> threading.BoundedSemaphore:
    """This process's decode slots (a forked child makes its own), sized from the config."""
    size = max(1, int(_setting("IMAGE_DECODE_CONCURRENCY")))
    with _slots_guard:
        held = _slots.get(os.getpid())
        if held is None or held[0] != size:
            held = _slots[os.getpid()] = (size, threading.BoundedSemaphore(size))
        return held[1]


@contextmanager
def decode_slot(block: bool = False) -> Iterator[None]:
    """Hold one decode slot of this process for the block.

    A request waits up to IMAGE_DECODE_WAIT_SECONDS and is refused with 503 IMAGE_DECODE_BUSY;
    a worker (block=True) waits its turn.
    """
    slots = _semaphore()
    if not slots.acquire(timeout=None if block else _setting("IMAGE_DECODE_WAIT_SECONDS")):
        raise APIError(503, "Too many images are being checked right now; retry shortly", "IMAGE_DECODE_BUSY",
                       headers={"Retry-After": "1"})
    try:
        yield
    finally:
        slots.release()
