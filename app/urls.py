"""Absolute URLs for the fields clients use as given (sender_avatar_url, server avatar)."""
import hmac
import time

from flask import current_app, has_request_context, request

from . import crypto

# Signed links stay the same for 6 hours (so browsers cache them) and work for 24 to 30 hours.
SIGNATURE_STEP = 6 * 3600
SIGNATURE_LIFETIME_STEPS = 5


def absolute_url(path: str | None) -> str | None:
    """PUBLIC_URL + path behind a proxy, else the request's own host; None stays None."""
    if not path or path.startswith(("http://", "https://")):
        return path
    base = current_app.config.get("PUBLIC_URL") or (request.host_url.rstrip("/") if has_request_context() else "")
    return base + path


def signed_url(url: str, file_path: str) -> str:
    """url?exp=..&sig=.. for a stored file: lets a browser <img> fetch a private attachment
    without a token, the way chat CDNs sign attachment links."""
    expires = (int(time.time()) // SIGNATURE_STEP + SIGNATURE_LIFETIME_STEPS) * SIGNATURE_STEP
    return f"{url}?exp={expires}&sig={crypto.sign(f'{file_path}|{expires}')}"


def signature_valid(file_path: str, expires: str | None, signature: str | None) -> bool:
    """True when (expires, signature) came from signed_url(..., file_path) and has not expired."""
    if not expires or not signature or not expires.isdigit() or int(expires) < time.time():
        return False
    return hmac.compare_digest(crypto.sign(f"{file_path}|{expires}"), signature)
