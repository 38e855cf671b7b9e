"""`pufferblow+redis://`: Flask-Limiter's storage, counts shared in Redis and batched per process.

Every hit is counted in this process first; the pending count is added to the shared Redis window
in one round trip when RATELIMIT_SYNC_SECONDS have passed since the window last synced, when the
unsynced hits reach 10% of the limit, or on every hit once the client is within 10% of its
limit. A process's view of the others' counts thus lags by at most the sync interval (0: every
hit syncs), and a busy client costs a few round trips a second instead of one per request. The
limit's headers are answered from the same window, so most requests make no round trip at all.

While Redis is unreachable the local count alone decides (logged); Redis is probed every
RATELIMIT_RECOVERY_SECONDS, and what was counted meanwhile is added to it when it answers.
"""
import logging
import threading
import time

from limits.storage import RedisStorage

log = logging.getLogger(__name__)

SCHEME = "pufferblow+"
SYNC_SLACK_FRACTION = 0.1
MAX_WINDOWS = 50_000  # windows kept per process before expired ones are dropped
UNREACHABLE = "rate limit storage unreachable: counting in this process's memory until it answers"
RESUMED = "rate limit storage answers again: shared counting resumed"
# Increment (setting the window's expiry on the first hit) and report the TTL in one call.
INCR_WITH_TTL = """
local current = redis.call('incrby', KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call('expire', KEYS[1], ARGV[1])
end
return {current, redis.call('pttl', KEYS[1])}
"""


def _limit_of(key: str) -> int:
    """The amount a key counts against: RateLimitItem.key_for ends in amount/multiples/granularity.

    The fixed-window strategy hands a storage only the key, so the limit is read from it."""
    try:
        return int(key.rsplit("/", 3)[1])
    except (IndexError, ValueError):
        return 0  # not a limit's key: every hit syncs


class _Window:
    __slots__ = ("limit", "slack", "pending", "known", "reset_at", "synced_at")

    def __init__(self, key: str, expiry: int, now: float) -> None:
        self.limit = _limit_of(key)
        self.slack = self.limit * SYNC_SLACK_FRACTION
        self.pending, self.known, self.reset_at, self.synced_at = 0, 0, now + expiry, float("-inf")

    def due(self, now: float, sync_seconds: float) -> bool:
        """Whether this hit goes to Redis now."""
        return (now - self.synced_at >= sync_seconds or self.pending >= self.slack
                or self.limit - (self.known + self.pending) <= self.slack)


class BatchedRedisStorage(RedisStorage):
    """A RedisStorage whose counts are batched per process and survive a Redis outage."""

    STORAGE_SCHEME = [SCHEME + "redis", SCHEME + "rediss"]

    def __init__(self, uri: str, sync_seconds: float = 0.1, recovery_seconds: float = 2.0, **options) -> None:
        self.sync_seconds, self.recovery_seconds = float(sync_seconds), float(recovery_seconds)
        self.lock = threading.Lock()
        self.windows: dict[str, _Window] = {}
        self.down, self.probed_at = False, 0.0
        super().__init__(uri.removeprefix(SCHEME), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_with_ttl = self.get_connection().register_script(INCR_WITH_TTL)

    def _window(self, key: str, expiry: int, now: float) -> _Window:
        window = self.windows.get(key)
        if window is None or now >= window.reset_at:
            if len(self.windows) >= MAX_WINDOWS:
                self.windows = {k: w for k, w in self.windows.items() if w.reset_at > now}
            window = self.windows[key] = _Window(key, expiry, now)
        return window

    def _shared(self) -> bool:
        """Whether Redis takes counts now; while it is down, probe it every recovery_seconds."""
        if not self.down:
            return True
        now = time.monotonic()
        if now - self.probed_at < self.recovery_seconds:
            return False
        self.probed_at = now
        if RedisStorage.check(self):
            self.down = False
            log.warning(RESUMED)
        return not self.down

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        now = time.time()
        with self.lock:
            window = self._window(key, expiry, now)
            window.pending += amount
            if not window.due(now, self.sync_seconds):
                return window.known + window.pending
            flush, window.pending = window.pending, 0
        if self._shared():
            try:
                current, ttl_ms = self.lua_incr_with_ttl([self.prefixed_key(key)], [expiry, flush])
            except self.base_exceptions:
                self.down, self.probed_at = True, time.monotonic()
                log.warning(UNREACHABLE)
            else:
                with self.lock:
                    window.known, window.synced_at = int(current), now
                    window.reset_at = now + max(int(ttl_ms), 0) / 1000
                    return window.known + window.pending
        with self.lock:
            window.pending += flush  # kept for the next successful sync
            return window.known + window.pending

    def get(self, key: str) -> int:
        window = self.windows.get(key)
        if window is not None and time.time() < window.reset_at:
            return window.known + window.pending
        return super().get(key) if self._shared() else 0

    def get_expiry(self, key: str) -> float:
        window = self.windows.get(key)
        if window is not None and time.time() < window.reset_at:
            return window.reset_at
        return super().get_expiry(key) if self._shared() else time.time()

    def clear(self, key: str) -> None:
        with self.lock:
            self.windows.pop(key, None)
        super().clear(key)

    def reset(self) -> int | None:
        with self.lock:
            self.windows = {}
        return super().reset()
