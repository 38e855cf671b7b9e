"""Identifiers and timestamps shared by every model."""
import os
import threading
import time
import uuid
from datetime import datetime, timezone

_lock = threading.Lock()
_last_stamp = 0


def new_uuid() -> str:
    return str(uuid.uuid4())


def uuid7() -> str:
    """A UUIDv7 string: ids sort in creation order, so they work as pagination cursors.

    The 12 bits after the millisecond hold its fraction (RFC 9562, method 3: about 0.25 us
    steps), so ids made one after the other by different processes on a host sort in that
    order too; within one process they are strictly increasing (a repeated or backward
    clock reading takes the next step after the last id).
    """
    global _last_stamp
    with _lock:
        now = time.time_ns()
        stamp = (now // 1_000_000) << 12 | (now % 1_000_000) * 4096 // 1_000_000
        if stamp <= _last_stamp:
            stamp = _last_stamp + 1
        _last_stamp = stamp
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (stamp >> 12) << 80 | 0x7 << 76 | (stamp & 0xFFF) << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def uuid7_floor(unix_ms: int) -> str:
    """The smallest UUIDv7 string of that millisecond: ids made at or after it compare >= it."""
    return f"{unix_ms >> 16:08x}-{unix_ms & 0xFFFF:04x}-7000-8000-000000000000"


def uuid7_ms(value: str) -> int:
    """The Unix millisecond a UUIDv7 string was made at."""
    return int(value[:8] + value[9:13], 16)


def utcnow() -> datetime:
    """Naive UTC now: stored the same way on SQLite and PostgreSQL."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def iso(value: datetime | str | None) -> str | None:
    """ISO 8601 UTC with a Z suffix, to the second. A string is a time the database already wrote
    in this form (app/database.py IsoTime) and is returned as it is."""
    if value is None or isinstance(value, str):
        return value
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    return value.isoformat(timespec="seconds") + "Z"
