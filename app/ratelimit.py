"""Shared rate limits (Flask-Limiter on Redis): per IP, per user or per owner, plus a sign-in limit.

Every worker process counts in the same Redis keys. When Redis is unreachable the limiter keeps
serving from a per-process memory count (and logs it), probes Redis again every
RATELIMIT_RECOVERY_SECONDS, and returns to the shared count as soon as Redis answers.
"""
import time

from flask import Flask, current_app, g, request
from flask_limiter import Limiter, RateLimitExceeded
from werkzeug.exceptions import HTTPException

from .auth import request_token, user_for_token
from .errors import APIError, error_response
from .netguard import client_ip

UNREACHABLE = "rate limit storage unreachable: counting in this process's memory until it answers"
RESUMED = "rate limit storage answers again: shared counting resumed"
# Endpoints that spend a bcrypt check: their own, stricter, per-address limit.
AUTH_ENDPOINTS = ("users.signin", "users.signup")


def _request_user():
    """The user behind this request's token, or None (a bad token or body counts as anonymous)."""
    if "ratelimit_user" not in g:
        try:
            g.ratelimit_user = user_for_token(request_token())
        except (APIError, HTTPException):
            g.ratelimit_user = None
        if g.ratelimit_user is not None:
            g.user = g.ratelimit_user  # the same lookup current_user() would make
    return g.ratelimit_user


def client_key() -> str:
    """Signed-in clients are counted per account, everyone else per address."""
    user = _request_user()
    return f"user:{user.id}" if user is not None else f"ip:{client_ip()}"


def ip_key() -> str:
    return f"ip:{client_ip()}"


def client_limit() -> str:
    user = _request_user()
    config = current_app.config
    if user is None:
        return config["RATELIMIT_ANONYMOUS"]
    return config["RATELIMIT_OWNER"] if user.is_owner else config["RATELIMIT_USER"]


def _rate_limited(exc: RateLimitExceeded):
    limit = current_app.extensions["rate_limiter"].current_limit
    retry_after = max(1, int(limit.reset_at - time.time())) if limit is not None else 60
    return error_response(429, f"Too many requests: the limit is {exc.description}. Retry in {retry_after} s.",
                          "RATE_LIMITED", extra={"retry_after": retry_after},
                          headers={"Retry-After": str(retry_after)})


def init_app(app: Flask) -> None:
    """Create this app's limiter; call after the blueprints are registered."""
    if not app.config.get("RATELIMIT_STORAGE_URI"):
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]
    # Unrouted requests (404/405) count too: probing for routes is not free.
    limiter = Limiter(key_func=client_key, application_limits=[client_limit], headers_enabled=True,
                      swallow_errors=True, in_memory_fallback_enabled=True, key_prefix="pufferblow",
                      request_identifier=lambda: request.endpoint or "unrouted")
    state = {"probed_at": 0.0, "dead": False}

    @app.before_request
    def probe_storage():
        dead = limiter._storage_dead
        if dead != state["dead"]:
            state["dead"] = dead
            app.logger.warning(UNREACHABLE if dead else RESUMED)
        # Flask-Limiter's own probe backs off to half a minute; recover sooner than that.
        now = time.monotonic()
        if dead and now - state["probed_at"] >= app.config["RATELIMIT_RECOVERY_SECONDS"]:
            state["probed_at"] = now
            if limiter.storage.check():
                limiter._storage_dead = state["dead"] = False
                app.logger.warning(RESUMED)

    @app.after_request
    def reset_after_header(response):
        # Runs after Flask-Limiter's header hook (registered later, so it runs earlier).
        reset = response.headers.get("X-RateLimit-Reset")
        if reset is not None:
            response.headers["X-RateLimit-Reset-After"] = str(max(0, int(reset) - int(time.time())))
            if response.status_code != 429:
                response.headers.pop("Retry-After", None)  # Flask-Limiter adds it to every response
        return response

    limiter.init_app(app)
    app.extensions["rate_limiter"] = limiter
    app.register_error_handler(RateLimitExceeded, _rate_limited)
    auth_limit = limiter.shared_limit(lambda: current_app.config["RATELIMIT_AUTH"], scope="auth", key_func=ip_key)
    for endpoint in AUTH_ENDPOINTS:
        if endpoint in app.view_functions:
            app.view_functions[endpoint] = auth_limit(app.view_functions[endpoint])
