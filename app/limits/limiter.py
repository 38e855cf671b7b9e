"""Every rate limit, owned by one Flask-Limiter per app on the batched Redis storage (storage.py).

- The application-wide limit, chosen by role: anonymous clients per address (RATELIMIT_ANONYMOUS),
  signed-in users and the owner per account (RATELIMIT_USER, RATELIMIT_OWNER). Unknown routes count.
- `auth_limited` views (sign-in, sign-up) also share RATELIMIT_AUTH per address.
- `report_limited` views (filing a report) also pay RATELIMIT_REPORTS per account.
- `frame_allowed`: WebSocket client frames, REALTIME_FRAME_LIMIT per REALTIME_FRAME_WINDOW seconds.

Every limited response carries X-RateLimit-Limit, -Remaining, -Reset (epoch seconds) and
-Reset-After (seconds); a refusal is a 429 with Retry-After and the usual error body.
"""
import functools
import math
import time

from flask import Flask, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from flask_limiter.constants import HeaderNames
from limits import RateLimitItem, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter, RateLimiter
from werkzeug.exceptions import HTTPException

from .. import keys, metrics
from ..accounts.auth import caller_for_token, request_token
from ..errors import APIError, error_response
from ..extensions import db
from .addresses import client_ip
from .fastlimiter import FastLimiter
from .storage import SCHEME


def _request_user():
    """The user behind this request's token, or None (a bad token or body counts as anonymous)."""
    # Every attribute read through one of Flask's proxies costs about a microsecond: resolve each once.
    store = g._get_current_object()
    if "ratelimit_user" not in store:
        # Most anonymous requests carry no token at all: skip parsing a body for one.
        environ = request._get_current_object().environ
        if not ("HTTP_AUTHORIZATION" in environ or "auth_token" in environ.get("QUERY_STRING", "")
                or environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_TRANSFER_ENCODING" in environ):
            store.ratelimit_user = None
            return None
        try:
            store.ratelimit_user = caller_for_token(request_token())
        except (APIError, HTTPException):
            store.ratelimit_user = None
        except Exception:  # the database is down: count by address; the route reports the outage
            db.session.rollback()
            store.ratelimit_user = None
        if store.ratelimit_user is not None:
            store.caller = store.ratelimit_user  # the same lookup current_caller() would make
    return store.ratelimit_user


def ip_key() -> str:
    return f"ip:{client_ip()}"


def _caller() -> tuple[str, str]:
    """(limit, key) of the application-wide limit for this request's caller, decided once."""
    store = g._get_current_object()
    decided = store.get("ratelimit_caller")
    if decided is None:
        user, config = _request_user(), current_app._get_current_object().config
        if user is None:
            decided = (config["RATELIMIT_ANONYMOUS"], ip_key())
        else:
            decided = (config["RATELIMIT_OWNER" if user.is_owner else "RATELIMIT_USER"], f"user:{user.id}")
        store.ratelimit_caller = decided
    return decided


def _caller_limit() -> str:
    return _caller()[0]


def _caller_key() -> str:
    return _caller()[1]


class _KeyCache:
    """Mixed into a parsed limit: its storage key per client is built once, not four times a request
    (the check, the hit and the two reads behind the headers each ask for it)."""

    MAX_KEYS = 10_000

    def key_for(self, *identifiers) -> str:
        keys = self.__dict__.setdefault("_keys", {})
        key = keys.get(identifiers)
        if key is None:
            if len(keys) >= self.MAX_KEYS:
                keys.clear()
            key = keys[identifiers] = super().key_for(*identifiers)
        return key


_key_cached_types: dict[type, type] = {}


def _with_key_cache(item: RateLimitItem) -> RateLimitItem:
    """The same limit (equal, same hash) as an instance whose key_for remembers its keys."""
    cls = type(item)
    cached = _key_cached_types.get(cls) or _key_cached_types.setdefault(cls, type(cls.__name__, (_KeyCache, cls), {}))
    return cached(item.amount, item.multiples, item.namespace)


class RoleLimit(ApplicationLimit):
    """The application-wide limit; each limit string is parsed once, not on every request."""

    _parsed: dict = {}

    def __iter__(self):
        text = _caller_limit()
        parsed = self._parsed.get(text)
        if parsed is None:
            parsed = tuple(super().__iter__())
            for runtime_limit in parsed:
                runtime_limit.limit = _with_key_cache(runtime_limit.limit)
            self._parsed[text] = parsed
        return iter(parsed)


def _request_identity() -> str:
    # Flask-Limiter exempts requests without an endpoint; unknown routes must count too.
    return request._get_current_object().endpoint or "unrouted"


class SharedLimit:
    """A decorator: the views it marks also pay one limit (a setting), shared by all of them, per
    key. The views are wrapped with each app's own limiter when the app is created (bind())."""

    def __init__(self, scope: str, setting: str, key_func) -> None:
        self.scope, self.setting, self.key_func = scope, setting, key_func
        self.views: dict = {}  # the wrapper -> the view it wraps

    def __call__(self, view):
        @functools.wraps(view)
        def limited(*args, **kwargs):
            return current_app.extensions["shared_limits"][self.scope][limited](*args, **kwargs)
        self.views[limited] = view
        return limited

    def _limit(self) -> str:
        return current_app.config[self.setting]

    def bind(self, limiter: Limiter) -> dict:
        """This app's views, limited by its limiter (as they are when HTTP limits are off)."""
        if not limiter.enabled:
            return dict(self.views)
        limit = limiter.shared_limit(self._limit, scope=self.scope, key_func=self.key_func)
        return {outer: limit(view) for outer, view in self.views.items()}


# Sign-in and sign-up share RATELIMIT_AUTH per client address; filing a report pays
# RATELIMIT_REPORTS per signed-in account (per address without one).
auth_limited = SharedLimit("auth", "RATELIMIT_AUTH", ip_key)
report_limited = SharedLimit("reports", "RATELIMIT_REPORTS", _caller_key)
SHARED_LIMITS = (auth_limited, report_limited)


def _refused(exc: RateLimitExceeded):
    current = current_app.extensions["rate_limiter"].current_limit
    reset_at = current.reset_at if current is not None else time.time() + 60
    retry_after = max(1, int(reset_at - time.time()))
    metrics.RATE_LIMITED.inc()
    return error_response(
        429, f"Too many requests: the limit is {exc.limit.limit.amount} per window. Retry in {retry_after} s.",
        "RATE_LIMITED", extra={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


class FrameLimit:
    """The WebSocket frame limit on an app's limiter strategy."""

    def __init__(self, strategy: RateLimiter, limit: int, window: int, prefix: str) -> None:
        self.strategy, self.item, self.prefix = strategy, RateLimitItemPerSecond(limit, window), prefix

    def hit(self, user_id: str) -> tuple[bool, int]:
        args = (self.prefix, f"user:{user_id}", "frames")
        allowed = self.strategy.hit(self.item, *args)
        reset_at = self.strategy.get_window_stats(self.item, *args).reset_time
        return allowed, max(1, math.ceil(reset_at - time.time()))


def frame_allowed(user_id: str) -> tuple[bool, int]:
    """Count one client frame of a user, shared by every process: (allowed, seconds until the window resets)."""
    return current_app.extensions["frame_limit"].hit(user_id)


def init_app(app: Flask) -> None:
    """Create this app's limiter; call after the blueprints are registered."""
    config = app.config
    uri = config.get("RATELIMIT_STORAGE_URI") or SCHEME + config["REDIS_URL"]
    options = dict(config["RATELIMIT_STORAGE_OPTIONS"])
    if uri.startswith(SCHEME):
        options.update(sync_seconds=config["RATELIMIT_SYNC_SECONDS"], recovery_seconds=config["RATELIMIT_RECOVERY_SECONDS"])
    with app.app_context():
        prefix = keys.ratelimit_prefix()
    limiter = FastLimiter(
        key_func=ip_key, key_prefix=prefix, storage_uri=uri, storage_options=options, swallow_errors=True,
        application_limits=[RoleLimit(limit_provider=_caller_limit, key_function=_caller_key)],
        request_identifier=_request_identity, headers_enabled=True,
        # Flask-Limiter's delta-seconds "Retry-After" on every response is this header's meaning;
        # the 429 sets Retry-After itself, and other responses keep theirs untouched.
        header_name_mapping={HeaderNames.RETRY_AFTER: "X-RateLimit-Reset-After"})
    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _refused)
    app.extensions["shared_limits"] = {shared.scope: shared.bind(limiter) for shared in SHARED_LIMITS}
    if limiter.enabled:
        strategy = limiter.limiter
    else:  # HTTP limits are off; WebSocket frames are still counted, on a storage of their own
        strategy = FixedWindowRateLimiter(storage_from_string(uri, **options))
    app.extensions["frame_limit"] = FrameLimit(strategy, config["REALTIME_FRAME_LIMIT"],
                                               config["REALTIME_FRAME_WINDOW"], prefix)
