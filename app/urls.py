"""Absolute URLs for the fields clients use as given (sender_avatar_url, server avatar)."""
from flask import current_app, has_request_context, request


def absolute_url(path: str | None) -> str | None:
    """PUBLIC_URL + path behind a proxy, else the request's own host; None stays None."""
    if not path or path.startswith(("http://", "https://")):
        return path
    base = current_app.config.get("PUBLIC_URL") or (request.host_url.rstrip("/") if has_request_context() else "")
    return base + path
