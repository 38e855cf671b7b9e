"""FastLimiter: Flask-Limiter's Limiter with a shortcut for the common request.

Flask-Limiter still owns every limit: they are declared through its API, counted by its strategy
on our storage, its hooks write the headers and its RateLimitExceeded reaches the 429 handler.
What the shortcut skips is the generic resolution its before_request hook repeats on every
request (view names, exemption scopes per blueprint, the limit manager's merge of default,
blueprint and application limits, meta limits), which costs several times the hit itself.

The shortcut is taken only in the before_request check, and only while nothing that resolution
decides is configured: no default, blueprint, meta or fallback limits, no exemptions, request
filters or on_breach callback, and application limits without deduct_when, meta limits or an
on_breach of their own. The application limits are then all the stock path would evaluate; they
are evaluated as Flask-Limiter's __evaluate_limits does (same keys, hits, context, log lines and
exception). Any other case, decorated limits inside the view included, goes to super(), which
sees the recorded seen_limits and so does not count the application limit twice.

`context` is also cheaper: the same per-request LimiterContext, reached without going three
times through Flask's request proxy (Flask-Limiter reads it up to seven times a request).

This leans on Flask-Limiter 4.1 internals, listed in RELIES_ON; tests/test_fast_limiter.py fails
with their names if an upgrade changes them.
"""
from collections import defaultdict

from flask import request
from flask.globals import request_ctx
from flask_limiter import Limiter, RateLimitExceeded, RequestLimit
from flask_limiter._extension import LimiterContext

# Limiter attributes read here, set by Limiter.__init__/init_app, and the LimitManager's registries.
RELIES_ON = {
    "Limiter": ("enabled", "initialized", "_request_filters", "_meta_limits", "_in_memory_fallback_enabled",
                "_on_breach", "_request_identifier", "_key_prefix", "_fail_on_first_breach",
                "_swallow_errors", "limit_manager", "logger", "limiter"),
    "LimitManager": ("_application_limits", "_default_limits", "_blueprint_limits", "_route_exemptions",
                     "_blueprint_exemptions"),
    "RuntimeLimit": ("limit", "key_func", "exempt_when", "methods", "per_method", "deduct_when", "on_breach",
                     "meta_limits", "shared", "deduction_amount", "scope_for"),
    "LimiterContext": ("view_rate_limit", "view_rate_limits", "seen_limits", "conditional_deductions"),
}
CONTEXT_ATTRIBUTE = "_limiter_request_context"  # where Flask-Limiter keeps its LimiterContexts


class FastLimiter(Limiter):
    """A Limiter whose before_request check skips the generic resolution when it has nothing to decide."""

    fast_path = True  # False: always the stock path (the equivalence test compares the two)

    @property
    def context(self) -> LimiterContext:
        ctx = request_ctx._get_current_object()
        try:
            contexts = getattr(ctx, CONTEXT_ATTRIBUTE)
        except AttributeError:
            contexts = defaultdict(LimiterContext)
            setattr(ctx, CONTEXT_ATTRIBUTE, contexts)
        return contexts[self]

    def _application_only(self):
        """The application limit groups, when they are all the stock path would evaluate; else None."""
        manager = self.limit_manager
        if not (self.fast_path and self.enabled and self.initialized) or (
                self._request_filters or self._meta_limits or self._in_memory_fallback_enabled or self._on_breach
                or manager._default_limits or manager._blueprint_limits or manager._route_exemptions
                or manager._blueprint_exemptions):
            return None
        groups = manager._application_limits
        for group in groups:
            if group.deduct_when or group.meta_limits or group.on_breach:
                return None
        return groups

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        groups = self._application_only() if in_middleware and callable_name is None else None
        endpoint = self._request_identifier() if groups is not None else None
        if not endpoint or endpoint.rpartition(".")[2] == "static":  # static: stock exempts it
            return super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)
        context = self.context
        if context.seen_limits:
            return super()._check_request_limit(callable_name=callable_name, in_middleware=in_middleware)
        try:
            self._evaluate(endpoint, context, groups)
        except RateLimitExceeded:
            raise
        except Exception:  # as the stock path does without an in-memory fallback
            if not self._swallow_errors:
                raise
            self.logger.exception("Failed to rate limit. Swallowing error")

    def _evaluate(self, endpoint: str, context: LimiterContext, groups) -> None:
        """Flask-Limiter's __evaluate_limits for application limits only (no meta limits, no callbacks)."""
        limits = [limit for group in groups for limit in group]  # the groups' callables decide
        if len(limits) > 1:
            limits = sorted(dict.fromkeys(limits), key=lambda limit: limit.limit)
        context.seen_limits.update(limits)
        failed, view_limits, for_header = [], [], None
        for lim in limits:
            if (lim.exempt_when and lim.exempt_when()) or (
                    lim.methods is not None and request.method.lower() not in lim.methods):
                continue
            scope = lim.scope_for(endpoint, request.method if lim.per_method else None)
            key = lim.key_func()
            if not (key and scope):
                self.logger.error(f"Skipping limit: {lim.limit}. Empty value found in parameters.")
                continue
            args = [self._key_prefix, key, scope] if self._key_prefix else [key, scope]
            view_limits.append(RequestLimit(self, lim.limit, args, False, lim.shared))
            if not self.limiter.hit(lim.limit, *args, cost=lim.deduction_amount):
                self.logger.info("ratelimit %s (%s) exceeded at endpoint: %s", lim.limit, key, scope)
                failed.append(lim)
                for_header = view_limits[-1]
                for_header.breached = True
                if self._fail_on_first_breach:
                    break
        if for_header is None and view_limits:
            explicit = [limit for limit in view_limits if not limit.shared]
            for_header = explicit[0] if explicit else view_limits[0]
        context.view_rate_limit = for_header
        context.view_rate_limits = view_limits
        if failed:
            raise RateLimitExceeded(min(failed, key=lambda limit: limit.limit))
