"""Shared rate limits on Redis: per IP, per user or per owner, plus a stricter sign-in limit.

Flask-Limiter owns the storage (Redis, with a per-process memory fallback) and the per-route
sign-in/sign-up limit. The application-wide limit that every request pays runs in a lean hook
of ours on the same Redis storage (app/ratecount.py): Flask-Limiter's generic per-request
machinery and a Redis round trip per request each cost more than the whole budget of a trivial
route (see bench/bench_admin.py and docs/admin.md).

When Redis is unreachable every process keeps serving, counting in its own memory (and logs it);
it probes Redis every RATELIMIT_RECOVERY_SECONDS and returns to the shared count when it answers.
"""
import functools
import time

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse
from werkzeug.exceptions import HTTPException

from .storage import SharedRedisStorage
from .counter import SharedCounter
from .. import metrics
from ..accounts.auth import caller_for_token, request_token
from ..errors import APIError, error_response
from ..extensions import db
from .blocked import client_ip

UNREACHABLE = "rate limit storage unreachable: counting in this process's memory until it answers"
RESUMED = "rate limit storage answers again: shared counting resumed"
# Endpoints that spend a bcrypt check: their own, stricter, per-address limit.
AUTH_ENDPOINTS = frozenset({"users.signin", "users.signup"})
KEY_PREFIX = "pufferblow"


def _request_user():
    """The user behind this request's token, or None (a bad token or body counts as anonymous)."""
    if "ratelimit_user" not in g:
        # Most anonymous requests carry no token at all: skip parsing a body for one.
        environ = request.environ
        if not ("HTTP_AUTHORIZATION" in environ or "auth_token" in environ.get("QUERY_STRING", "")
                or environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_TRANSFER_ENCODING" in environ):
            g.ratelimit_user = None
            return None
        try:
            g.ratelimit_user = caller_for_token(request_token())
        except (APIError, HTTPException):
            g.ratelimit_user = None
        except Exception:  # the database is down: count by address; the route reports the outage
            db.session.rollback()
            g.ratelimit_user = None
        if g.ratelimit_user is not None:
            g.caller = g.ratelimit_user  # the same lookup current_caller() would make
    return g.ratelimit_user


def ip_key() -> str:
    return f"ip:{client_ip()}"


def _too_many(limit: int, reset_at: float):
    retry_after = max(1, int(reset_at - time.time()))
    metrics.RATE_LIMITED.inc()
    return APIError(429, f"Too many requests: the limit is {limit} per window. Retry in {retry_after} s.",
                    "RATE_LIMITED", extra={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


def _auth_limit_exceeded(exc: RateLimitExceeded):
    limit = current_app.extensions["rate_limiter"].current_limit
    error = _too_many(exc.limit.limit.amount, limit.reset_at if limit is not None else time.time() + 60)
    return error_response(error.status, error.detail, error.code, extra=error.extra, headers=error.headers)


class _LocalStorage:
    """Counts in this process only (when the limiter is configured with a non-Redis storage)."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, float]] = {}

    def incr_with_ttl(self, key: str, expiry: int, amount: int) -> tuple[int, float]:
        now = time.time()
        count, reset_at = self.counts.get(key, (0, 0.0))
        if now >= reset_at:
            count, reset_at = 0, now + expiry
        self.counts[key] = (count + amount, reset_at)
        return count + amount, reset_at


class _Counter:
    """The application-wide limit, counted by a SharedCounter on the limiter's Redis storage."""

    def __init__(self, app: Flask, limiter: Limiter) -> None:
        self.app, self.limiter = app, limiter
        self.items = {name: parse(app.config[f"RATELIMIT_{name.upper()}"]) for name in ("anonymous", "user", "owner")}
        self.shared = None
        self.probed_at = 0.0

    def _counter(self) -> SharedCounter:
        if self.shared is None:  # the storage exists once Flask-Limiter is bound
            storage = self.limiter.storage
            if not isinstance(storage, SharedRedisStorage):  # memory:// and friends: count in memory
                storage = _LocalStorage()
            self.shared = SharedCounter(storage, self.app.config["RATELIMIT_SYNC_SECONDS"], KEY_PREFIX)
        return self.shared

    def _probe(self, counter: SharedCounter) -> None:
        """While Redis is down, check at a steady pace whether it answers again."""
        now = time.monotonic()
        if now - self.probed_at >= self.app.config["RATELIMIT_RECOVERY_SECONDS"]:
            self.probed_at = now
            if self.limiter.storage.check():
                counter.storage_down = False
                self.app.logger.warning(RESUMED)

    def check(self) -> None:
        if not self.limiter.enabled:
            return
        counter = self._counter()
        if counter.storage_down:
            self._probe(counter)
        user = _request_user()
        item = self.items["anonymous" if user is None else "owner" if user.is_owner else "user"]
        key = ip_key() if user is None else f"user:{user.id}"
        try:
            allowed, remaining, reset_at = counter.hit(item, key)
        except Exception:
            counter.storage_down = True
            self.probed_at = time.monotonic()
            self.app.logger.warning(UNREACHABLE)
            allowed, remaining, reset_at = counter.hit(item, key)
        g.ratelimit_window = (item.amount, remaining, reset_at)
        if not allowed:
            raise _too_many(item.amount, reset_at)

    def add_headers(self, response):
        window = g.get("ratelimit_window")
        if window is None:
            return response
        headers = response.headers
        amount, remaining, reset_at = window
        if request.endpoint in AUTH_ENDPOINTS and "X-RateLimit-Limit" in headers:
            reset = int(headers["X-RateLimit-Reset"])  # the stricter sign-in limit's headers stand
            if response.status_code != 429:
                headers.pop("Retry-After", None)  # Flask-Limiter adds it to every response it limits
        else:  # add, not set: these headers are not there yet and set() scans the whole list
            reset = int(reset_at + 1)
            headers.add("X-RateLimit-Limit", str(amount))
            headers.add("X-RateLimit-Remaining", str(remaining))
            headers.add("X-RateLimit-Reset", str(reset))
        headers.add("X-RateLimit-Reset-After", str(max(0, reset - int(time.time()))))
        return response


def _only_on_auth_routes(hook):
    @functools.wraps(hook)
    def gated(*args):
        if request.endpoint in AUTH_ENDPOINTS:
            return hook(*args)
        return args[0] if args else None  # an after_request hook hands the response on
    return gated


def init_app(app: Flask) -> None:
    """Create this app's limiter; call after the blueprints are registered."""
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = "pufferblow+" + app.config["REDIS_URL"]
    limiter = Limiter(key_func=ip_key, headers_enabled=True, swallow_errors=True, in_memory_fallback_enabled=True,
                      key_prefix=KEY_PREFIX)
    counter = _Counter(app, limiter)
    # Registered before Flask-Limiter's hooks: counted first, headers set last.
    app.before_request(counter.check)
    app.after_request(counter.add_headers)
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    counts = [len(registry.get(None, [])) for registry in registries]
    limiter.init_app(app)
    # Flask-Limiter's request hooks only have work on the routes that carry its per-route limit.
    for registry, count in zip(registries, counts):
        registry[None][count:] = [_only_on_auth_routes(hook) for hook in registry[None][count:]]
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _auth_limit_exceeded)
    auth_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_AUTH"], scope="auth", key_func=ip_key)
    for endpoint in AUTH_ENDPOINTS:
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = auth_limit(app.view_functions[endpoint])
