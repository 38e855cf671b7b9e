"""Fleet-wide coordination through Redis: single-flight locks and at-most-once-per-interval work."""
import logging
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from redis.exceptions import LockError

from . import keys
from .extensions import redis

log = logging.getLogger(__name__)

# Deletes a lock only while it still holds the given token, so a lock someone else took since stays.
_RELEASE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


@contextmanager
def single_flight(name: str, timeout: float, token: str | None = None, renew_every: float | None = None,
                  on_renew: Callable[[], None] | None = None) -> Iterator[bool]:
    """Hold the lock `name` for the block if no one else does; yields whether it was taken.

    The lock expires after `timeout` seconds, so a process that dies holding it blocks the
    work for at most that long. With `renew_every`, a thread renews it (and calls `on_renew`,
    a heartbeat) at that interval while the block runs, so long work can keep a short lock.
    `token` names the holder (release_if() frees a dead holder's lock by it). Redis errors
    while taking it propagate to the caller.
    """
    lock = redis.lock(keys.lock(name), timeout=timeout, thread_local=False)
    acquired = lock.acquire(blocking=False, token=token)
    stop = threading.Event()
    renewer = None
    if acquired and renew_every:
        renewer = threading.Thread(target=_renew, args=(lock, name, renew_every, stop, on_renew),
                                   name=f"renew-{name}", daemon=True)
        renewer.start()
    try:
        yield acquired
    finally:
        stop.set()
        if renewer is not None:
            renewer.join()
        if acquired:
            try:
                lock.release()
            except LockError:
                log.warning("the lock %s expired before its work finished", name)
            except Exception:
                log.warning("could not release the lock %s; it expires by itself", name, exc_info=True)


def _renew(lock, name: str, every: float, stop: threading.Event, on_renew: Callable[[], None] | None) -> None:
    """Push the lock's expiry back every `every` seconds until the work is done."""
    while not stop.wait(every):
        try:
            lock.reacquire()
        except LockError:
            log.warning("the lock %s was lost while its work ran", name)
        except Exception:  # Redis away for a moment: try again at the next beat
            log.warning("could not renew the lock %s", name, exc_info=True)
        if on_renew is not None:
            try:
                on_renew()
            except Exception:
                log.warning("the heartbeat of %s failed", name, exc_info=True)


def release_if(name: str, token: str) -> bool:
    """Free the lock `name` if `token` still holds it (its holder is known to be gone)."""
    return bool(redis.eval(_RELEASE_IF, 1, keys.lock(name), token))


def is_held(name: str) -> bool:
    """Whether someone holds the lock `name` (False when Redis cannot tell)."""
    try:
        return bool(redis.exists(keys.lock(name)))
    except Exception:
        return False


def once_per(name: str, seconds: float) -> bool:
    """True for the first caller fleet-wide in each interval of `seconds`, False for the rest."""
    return bool(redis.set(keys.throttle(name), 1, nx=True, px=max(1, int(seconds * 1000))))
