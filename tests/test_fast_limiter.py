"""FastLimiter (app/limits/fastlimiter.py): the Flask-Limiter internals it relies on are still there,
and its shortcut answers exactly as Flask-Limiter's own path does."""
import dataclasses
import functools
import inspect
import time

import flask_limiter
import pytest
from flask.globals import request_ctx
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter._extension import LimiterContext
from flask_limiter._limits import RuntimeLimit

from app.limits.fastlimiter import CONTEXT_ATTRIBUTE, RELIES_ON, FastLimiter
from tests.test_admin_ratelimit import from_ip, limited  # noqa: F401  (a fixture)

CHANGED = (f"Flask-Limiter {flask_limiter.__version__} changed {{}}: app/limits/fastlimiter.py relies on it; "
           "review its shortcut against Flask-Limiter's _check_request_limit and __evaluate_limits")


def parameters(function) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_internals_the_shortcut_uses_are_unchanged(limited):  # noqa: F811
    app = limited().client.application
    limiter = app.extensions["rate_limiter"]
    expected = {
        "Limiter._check_request_limit": (Limiter._check_request_limit, ["self", "callable_name", "in_middleware"]),
        "RequestLimit()": (RequestLimit, ["extension", "limit", "request_args", "breached", "shared"]),
        "RateLimitExceeded()": (RateLimitExceeded, ["limit", "response"]),
        "RuntimeLimit.scope_for": (RuntimeLimit.scope_for, ["self", "endpoint", "method"]),
    }
    for name, (function, names) in expected.items():
        assert parameters(function) == names, CHANGED.format(f"the signature of {name}")
    with app.test_request_context("/api/v1/info"):
        runtime_limit = next(iter(limiter.limit_manager._application_limits[0]))
    for name, owner in [("Limiter", limiter), ("LimitManager", limiter.limit_manager), ("RuntimeLimit", runtime_limit)]:
        for attribute in RELIES_ON[name]:
            assert hasattr(owner, attribute), CHANGED.format(f"{name}.{attribute} (missing)")
    fields = {field.name for field in dataclasses.fields(LimiterContext)}
    assert set(RELIES_ON["LimiterContext"]) <= fields, CHANGED.format("LimiterContext's fields")
    assert isinstance(inspect.getattr_static(Limiter, "context"), property), CHANGED.format("Limiter.context")
    assert isinstance(inspect.getattr_static(Limiter, "current_limit"), property), CHANGED.format("current_limit")

    # The check is registered as a bound method, so the override is what runs; the header and
    # teardown hooks stay Flask-Limiter's and reach the context through the (overridden) property.
    before = [hook for hook in app.before_request_funcs[None] if getattr(hook, "__self__", None) is limiter]
    assert [hook.__func__ for hook in before] == [FastLimiter._check_request_limit], \
        CHANGED.format("how init_app registers the before_request check")
    after = [hook for hook in app.after_request_funcs[None] if isinstance(hook, functools.partial)]
    assert [(hook.func, hook.args) for hook in after] == [(Limiter._Limiter__inject_headers, (limiter,))], \
        CHANGED.format("how init_app registers the header injection")
    teardown = [hook for hook in app.teardown_request_funcs[None] if getattr(hook, "__self__", None) is limiter]
    assert [hook.__func__ for hook in teardown] == [Limiter._Limiter__release_context], \
        CHANGED.format("how init_app registers the context release")

    with app.test_request_context("/api/v1/info"):
        limiter._check_request_limit()
        ours = limiter.context
        assert Limiter.context.fget(limiter) is ours, CHANGED.format(f"where Limiter.context is kept ({CONTEXT_ATTRIBUTE})")
        assert getattr(request_ctx._get_current_object(), CONTEXT_ATTRIBUTE)[limiter] is ours
        assert limiter.current_limit is ours.view_rate_limit is not None and ours.seen_limits


def test_the_common_request_skips_the_generic_resolution(limited, monkeypatch):  # noqa: F811
    api = limited()
    limiter = api.client.application.extensions["rate_limiter"]

    def resolve(*args, **kwargs):
        raise AssertionError("the application limit alone went through LimitManager.resolve_limits")
    monkeypatch.setattr(limiter.limit_manager, "resolve_limits", resolve)
    monkeypatch.setattr(limiter, "_swallow_errors", False)
    response = from_ip(api, "10.0.7.1")
    assert response.status_code == 200 and response.headers["X-RateLimit-Limit"] == "100"


def test_a_request_filter_takes_the_stock_path(limited):  # noqa: F811
    api = limited()
    limiter = api.client.application.extensions["rate_limiter"]
    limiter.request_filter(lambda: True)  # Flask-Limiter's exemption for every request
    assert "X-RateLimit-Limit" not in from_ip(api, "10.0.7.2").headers


def answers(api, users):
    """Status, limit headers and error code of one request sequence covering every limit."""
    sequence = [("10.0.8.1", "GET", "/api/v1/info", None, None)] * 4 + [("10.0.8.1", "GET", "/no/such", None, None)]
    signin = {"username": "fastowner", "password": "wrong password"}
    sequence += [("10.0.8.2", "POST", "/api/v1/users/signin", None, signin)] * 4
    sequence += [(f"10.0.8.{3 + n}", "POST", "/api/v1/users/profile", users["alice"], None) for n in range(5)]
    sequence += [("10.0.8.9", "POST", "/api/v1/users/profile", users["owner"], None)] * 2
    result = []
    for address, method, path, token, body in sequence:
        response = api.call(method, path, token=token, json=body, environ_base={"REMOTE_ADDR": address})
        headers = response.headers
        result.append((path, response.status_code, headers.get("X-RateLimit-Limit"),
                       headers.get("X-RateLimit-Remaining"), "Retry-After" in headers,
                       response.get_json().get("code") if response.is_json else None,
                       int(headers.get("X-RateLimit-Reset", 0)) - int(time.time())))
    return result


def counts(api) -> dict:
    limiter = api.client.application.extensions["rate_limiter"]
    prefix = limiter._key_prefix
    return {key.replace(prefix, ""): window.known + window.pending for key, window in limiter.storage.windows.items()}


@pytest.mark.parametrize("sync_seconds", [0.0, 60.0])
def test_shortcut_and_stock_path_answer_alike(limited, api, sync_seconds):  # noqa: F811
    users = {"owner": api.signup("fastowner")["token"], "alice": api.signup("fastalice")["token"]}
    settings = dict(RATELIMIT_ANONYMOUS="3/minute", RATELIMIT_USER="4/minute", RATELIMIT_OWNER="5/minute",
                    RATELIMIT_AUTH="2/minute", RATELIMIT_SYNC_SECONDS=sync_seconds)
    fast = limited(REDIS_PREFIX="fast", **settings)
    stock = limited(REDIS_PREFIX="stock", **settings)
    stock.client.application.extensions["rate_limiter"].fast_path = False
    fast_answers, stock_answers = answers(fast, users), answers(stock, users)
    for ours, theirs in zip(fast_answers, stock_answers):
        assert ours[:-1] == theirs[:-1] and abs(ours[-1] - theirs[-1]) <= 1, (ours, theirs)
    statuses = [answer[1] for answer in fast_answers]
    # 3 anonymous requests, then 429s (the unknown route counts too); sign-in: 2 tries, then the
    # sign-in limit, then the address's general limit (counted once per request, not twice).
    assert statuses == [200] * 3 + [429, 429] + [401, 401, 429, 429] + [200] * 4 + [429] + [200] * 2
    assert [answer[2] for answer in fast_answers[5:9]] == ["2", "2", "2", "3"]
    assert counts(fast) == counts(stock) != {}
