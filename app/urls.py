"""Absolute URLs for the fields clients use as given (sender_avatar_url, server avatar), and the
Host names the server answers to.

An absolute URL is built from PUBLIC_URL when it is set, else from the request's Host, which is
then one of ALLOWED_HOSTS: a request naming another Host is refused (400 INVALID_HOST) before
anything runs, so a forged Host never reaches an answer, another user's live event or a link.
"""
import hmac
import time

from flask import Flask, current_app, has_request_context, request

from . import crypto
from .errors import APIError

# Signed links stay the same for 6 hours (so browsers cache them) and work for 24 to 30 hours.
SIGNATURE_STEP = 6 * 3600
SIGNATURE_LIFETIME_STEPS = 5


# Probes and scrapers name the server by address; these answers hold no URL.
UNCHECKED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def init_app(app: Flask) -> None:
    app.before_request(check_host)


def host_name(host: str) -> str:
    """The name of a Host value without its port: "Chat.Example:7575" -> "chat.example"."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 address: "[::1]:7575"
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].rstrip(".") if host.count(":") == 1 else host.rstrip(".")


def host_allowed(host: str, allowed: list[str]) -> bool:
    """Whether a Host value names an allowed host; an entry ".example.org" also allows its subdomains."""
    name = host_name(host)
    for entry in allowed:
        if entry.startswith("."):
            if name == host_name(entry[1:]) or name.endswith(host_name(entry)):
                return True
        elif name == host_name(entry):
            return True
    return False


def check_host() -> None:
    """Refuse a request whose Host is not allowed, unless PUBLIC_URL makes the Host irrelevant."""
    config = current_app.config
    if config["PUBLIC_URL"] or request.path in UNCHECKED_PATHS:
        return
    if not host_allowed(request.host, config["ALLOWED_HOSTS"]):
        raise APIError(400, "This server does not answer to that Host; its operator lists the names it "
                            "answers to in ALLOWED_HOSTS (or sets PUBLIC_URL)", "INVALID_HOST")


def absolute_url(path: str | None) -> str | None:
    """PUBLIC_URL + path, else the request's own (allowed) host; None stays None."""
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
