"""Redis storage for Flask-Limiter that answers a request's limit headers from its own increment.

The stock fixed-window strategy makes three round trips per request (increment, then GET and TTL
for the headers). Here the increment script also returns the key's TTL, and the header lookups
that follow in the same thread reuse that answer: one round trip per request.
"""
import threading
import time

from limits.storage import RedisStorage

# Increment (setting the window's expiry on the first hit) and report the TTL in one call.
INCR_WITH_TTL = """
local current = redis.call('incrby', KEYS[1], ARGV[2])
if tonumber(current) == tonumber(ARGV[2]) then
    redis.call('expire', KEYS[1], ARGV[1])
end
return {current, redis.call('pttl', KEYS[1])}
"""
FRESH_SECONDS = 1.0  # an answer is reused only by the request that caused it


class SharedRedisStorage(RedisStorage):
    """`pufferblow+redis://...`: a RedisStorage whose incr also remembers count and expiry."""

    STORAGE_SCHEME = ["pufferblow+redis", "pufferblow+rediss"]

    def __init__(self, uri: str, **options) -> None:
        self._recent = threading.local()
        super().__init__(uri.removeprefix("pufferblow+"), **options)

    def initialize_storage(self, uri: str) -> None:
        super().initialize_storage(uri)
        self.lua_incr_with_ttl = self.get_connection().register_script(INCR_WITH_TTL)

    def incr_with_ttl(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        """Add amount to a window's count; returns (count, reset epoch seconds) in one round trip."""
        current, ttl_ms = self.lua_incr_with_ttl([self.prefixed_key(key)], [expiry, amount])
        return int(current), time.time() + max(int(ttl_ms), 0) / 1000

    def _answers(self) -> dict:
        answers = getattr(self._recent, "answers", None)
        if answers is None or len(answers) > 16:
            answers = self._recent.answers = {}
        return answers

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        current, reset_at = self.incr_with_ttl(key, expiry, amount)
        self._answers()[key] = (current, reset_at, time.time())
        return current

    def _fresh(self, key: str):
        answer = self._answers().get(key)
        return answer if answer is not None and time.time() - answer[2] < FRESH_SECONDS else None

    def get(self, key: str) -> int:
        answer = self._fresh(key)
        return answer[0] if answer else super().get(key)

    def get_expiry(self, key: str) -> float:
        answer = self._fresh(key)
        return answer[1] if answer else super().get_expiry(key)
