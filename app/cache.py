"""Per-process caches: a value computed once and kept for a while, in each process.

One helper for everything read often and changed rarely (server settings, the blocked
addresses, the message keys, the sign-in timing equaliser). While one thread reloads an
expired value the others keep using the previous one, so a slow database or Redis delays one
request, not all of them.
"""
import os
import threading
import time
import weakref
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")
_STALE = float("-inf")  # the load time of a value marked for reloading
_all_caches: "weakref.WeakSet[ProcessCache]" = weakref.WeakSet()


class ProcessCache(Generic[V]):
    """get(key) -> load(key), kept for ttl seconds (None: for the life of the process)."""

    def __init__(self, load: Callable[[Hashable], V], ttl: float | None = None, max_entries: int = 1024):
        self.load, self.ttl, self.max_entries = load, ttl, max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        _all_caches.add(self)

    def _fresh(self, entry) -> bool:
        if entry is None or entry[0] == _STALE:
            return False
        return self.ttl is None or time.monotonic() - entry[0] < self.ttl

    def get(self, key: Hashable = None) -> V:
        entry = self._entries.get(key)
        if self._fresh(entry):
            return entry[1]
        if entry is not None and not self._lock.acquire(blocking=False):
            return entry[1]  # another thread is reloading it: the previous value serves meanwhile
        if entry is None:
            self._lock.acquire()
        try:
            entry = self._entries.get(key)
            if self._fresh(entry):
                return entry[1]
            value = self.load(key)
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)
            return value
        finally:
            self._lock.release()

    def fresh(self, key: Hashable = None) -> bool:
        """Whether get(key) would answer without loading."""
        return self._fresh(self._entries.get(key))

    def peek(self, key: Hashable = None, default=None):
        """The cached value, fresh or not, without loading (default when there is none)."""
        entry = self._entries.get(key)
        return entry[1] if entry is not None else default

    def expire(self, key: Hashable = None) -> None:
        """Reload on the next get(); the old value still serves readers meanwhile."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries[key] = (_STALE, entry[1])

    def clear(self) -> None:
        """Forget every value (the next get() waits for a fresh load)."""
        self._entries = {}

    def _after_fork(self) -> None:
        # A lock held by a thread of the parent would never be released in the child.
        self._lock = threading.Lock()


def _reset_locks_in_child() -> None:
    for cache in list(_all_caches):
        cache._after_fork()


os.register_at_fork(after_in_child=_reset_locks_in_child)
