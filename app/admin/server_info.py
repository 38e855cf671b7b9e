"""What the server says about itself: its settings as clients see them, and the newest release."""
import json
from types import SimpleNamespace

from flask import current_app

from .. import keys
from ..extensions import db, redis
from ..ids import iso
from ..models import ServerSettings
from ..urls import absolute_url
from .settings import current_settings

LIMIT_FIELDS = ("max_message_length", "max_image_size", "max_gif_size", "max_video_size", "max_file_size",
                "allowed_image_types", "allowed_video_types", "allowed_file_types")


def describe(settings: ServerSettings | SimpleNamespace, with_limits: bool = True) -> dict:
    """The server's public description; with_limits adds the message and upload limits."""
    info = {
        "server_name": settings.server_name, "server_description": settings.server_description,
        "version": current_app.config["SERVER_VERSION"], "is_private": settings.is_private,
        "registration": settings.registration,
        "creation_date": iso(settings.created_at), "avatar_url": absolute_url(settings.avatar_url),
        "banner_url": absolute_url(settings.banner_url), "welcome_message": settings.welcome_message,
    }
    if with_limits:
        info.update({field: getattr(settings, field) for field in LIMIT_FIELDS})
    return info


def current(with_limits: bool = True) -> dict:
    """describe() of the cached settings (app/admin/settings.py): no database round trip while the
    copy is fresh. A reload's read (or the row's creation on first use) is committed at once."""
    info = describe(current_settings(), with_limits)
    if db.session.registry.has() and db.session().in_transaction():
        db.session.commit()
    return info


def latest_release() -> dict:
    """The release check's last finding; the running version until it has run (or without Redis)."""
    running = current_app.config["SERVER_VERSION"]
    try:
        stored = redis.get(keys.latest_release())
    except Exception:  # the route must answer even without Redis
        stored = None
    release = json.loads(stored) if stored else {"version": running, "url": None, "published_at": None}
    release["current_version"] = running
    return release
