"""Fleet-wide coordination through Redis: single-flight locks and at-most-once-per-interval work."""
import logging
from contextlib import contextmanager
from typing import Iterator

from redis.exceptions import LockError

from . import keys
from .extensions import redis

log = logging.getLogger(__name__)


@contextmanager
def single_flight(name: str, timeout: float) -> Iterator[bool]:
    """Hold the lock `name` for the block if no one else does; yields whether it was taken.

    The lock expires after `timeout` seconds, so a process that dies holding it blocks the
    work for at most that long. Redis errors while taking it propagate to the caller.
    """
    lock = redis.lock(keys.lock(name), timeout=timeout)
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            try:
                lock.release()
            except LockError:
                log.warning("the lock %s expired before its work finished", name)
            except Exception:
                log.warning("could not release the lock %s; it expires by itself", name, exc_info=True)


def is_held(name: str) -> bool:
    """Whether someone holds the lock `name` (False when Redis cannot tell)."""
    try:
        return bool(redis.exists(keys.lock(name)))
    except Exception:
        return False


def once_per(name: str, seconds: float) -> bool:
    """True for the first caller fleet-wide in each interval of `seconds`, False for the rest."""
    return bool(redis.set(keys.throttle(name), 1, nx=True, px=max(1, int(seconds * 1000))))
