"""The server settings as request paths read them: a per-process snapshot of the settings row."""
from types import SimpleNamespace

from ..cache import ProcessCache
from ..models import ServerSettings

# Read on every message and upload, changed rarely: each process keeps a copy for this long, and
# the process that changes them drops its copy at once (settings_changed()).
SETTINGS_TTL = 2.0


def _load(_key) -> SimpleNamespace:
    row = ServerSettings.get()
    return SimpleNamespace(**{column.key: getattr(row, column.key) for column in ServerSettings.__table__.columns})


_cache = ProcessCache(_load, ttl=SETTINGS_TTL)


def current_settings() -> SimpleNamespace:
    """A read-only snapshot of the settings row, at most SETTINGS_TTL seconds old."""
    return _cache.get()


def settings_changed() -> None:
    """Call after committing a change to the settings row."""
    _cache.clear()
