"""The application-wide request count: shared in Redis, batched in each process.

Every request is counted in this process first; the count is added to the shared Redis window
in one round trip when RATELIMIT_SYNC_SECONDS have passed since this window last synced, or
whenever the client is close to its limit. A process's view of other processes' counts thus lags
by at most RATELIMIT_SYNC_SECONDS (0: every request syncs), and a busy client costs a few round
trips a second instead of one per request. While Redis is unreachable the local count alone
decides, and what was counted meanwhile is added to Redis when it answers again.
"""
import threading
import time

from limits import RateLimitItem

SYNC_SLACK_FRACTION = 0.1  # within 10% of the limit every request syncs
MAX_WINDOWS = 50_000  # windows kept per process before expired ones are dropped


class _Window:
    __slots__ = ("pending", "known", "reset_at", "synced_at")

    def __init__(self, now: float, expiry: int) -> None:
        self.pending, self.known, self.reset_at, self.synced_at = 0, 0, now + expiry, 0.0


class SharedCounter:
    """hit() -> (allowed, remaining, reset epoch) for one client key and one limit."""

    def __init__(self, storage, sync_seconds: float, prefix: str) -> None:
        self.storage, self.sync_seconds, self.prefix = storage, sync_seconds, prefix
        self.lock = threading.Lock()
        self.windows: dict[str, _Window] = {}
        self.keys: dict[tuple, str] = {}  # (limit, client) -> storage key, to skip rebuilding it
        self.storage_down = False

    def _window(self, key: str, expiry: int, now: float) -> _Window:
        window = self.windows.get(key)
        if window is None or now >= window.reset_at:
            if len(self.windows) >= MAX_WINDOWS:
                self.windows = {k: w for k, w in self.windows.items() if w.reset_at > now}
            window = self.windows[key] = _Window(now, expiry)
        return window

    def hit(self, item: RateLimitItem, client_key: str) -> tuple[bool, int, float]:
        key = self.keys.get((item, client_key))
        if key is None:
            if len(self.keys) >= MAX_WINDOWS:
                self.keys.clear()
            key = self.keys[item, client_key] = item.key_for(self.prefix, client_key, "global")
        expiry, now = item.get_expiry(), time.time()
        with self.lock:
            window = self._window(key, expiry, now)
            window.pending += 1
            estimate = window.known + window.pending
            near_limit = item.amount - estimate <= item.amount * SYNC_SLACK_FRACTION
            if self.storage_down or (not near_limit and now - window.synced_at < self.sync_seconds):
                return estimate <= item.amount, max(0, item.amount - estimate), window.reset_at
            flush, window.pending = window.pending, 0
        try:
            total, reset_at = self.storage.incr_with_ttl(key, expiry, flush)
        except Exception:
            with self.lock:
                window.pending += flush  # kept for the next successful sync
            raise
        with self.lock:
            window.known, window.reset_at, window.synced_at = total, reset_at, now
            estimate = total + window.pending
        return estimate <= item.amount, max(0, item.amount - estimate), reset_at
