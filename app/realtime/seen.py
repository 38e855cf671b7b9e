"""Presence from API use: a user making authenticated requests counts as online without a socket.

The marker (app/keys.py api_seen) lives API_PRESENCE_SECONDS. Each process remembers when it
last refreshed each user's marker and refreshes it at most every API_PRESENCE_REFRESH seconds,
so a request costs a dictionary lookup, and Redis sees one round trip per user, process and
interval. The presence sweep marks users offline once both their sockets and marker are gone.
"""
import logging
import time

from flask import Flask, current_app, g, request

from .. import keys
from ..extensions import redis
from . import presence

log = logging.getLogger(__name__)
MAX_REMEMBERED = 100_000  # users a process remembers; beyond it starts over (one extra refresh each)
_refreshed: dict[str, float] = {}  # user id -> monotonic time this process last wrote the marker


def init_app(app: Flask) -> None:
    app.after_request(_after_request)


def _after_request(response):
    caller = g.get("caller")
    if caller is None:
        return response
    last = _refreshed.get(caller.id)
    # The common case, first and cheapest: this process refreshed the marker lately.
    if last is not None and time.monotonic() - last < current_app.config["API_PRESENCE_REFRESH"]:
        return response
    # A socket's handshake is not API use: its own presence entry counts it while it is open.
    if request.blueprint != "ws":
        try:
            touch(caller.id, caller.username, caller.status)
        except Exception:  # Redis away: presence must never fail a request
            log.warning("could not record API presence", exc_info=True)
    return response


def touch(user_id: str, username: str, stored_status: str) -> bool:
    """Refresh the user's marker if this process has not lately; True when Redis was written."""
    config = current_app.config
    now = time.monotonic()
    last = _refreshed.get(user_id)
    if last is not None and now - last < config["API_PRESENCE_REFRESH"]:
        return False
    if len(_refreshed) >= MAX_REMEMBERED:
        _refreshed.clear()
    _refreshed[user_id] = now
    pipe = redis.pipeline(transaction=False)
    pipe.set(keys.api_seen(user_id), 1, ex=config["API_PRESENCE_SECONDS"], get=True)
    pipe.sadd(keys.presence_users(), user_id)  # the sweep looks at them once the marker lapses
    was_seen = pipe.execute()[0]
    if was_seen is None and stored_status == "offline":
        # Back after a while: online (or their remembered idle/dnd) for everyone, stored by fanout.presence.
        presence.announce_presence(user_id, username, presence.shown_status(user_id, stored_status))
    presence.queue_sweep()
    return True


def connected(user_id: str) -> bool:
    """Whether the user holds a socket anywhere or used the API lately."""
    return presence.live_socket_count(user_id) > 0 or bool(redis.exists(keys.api_seen(user_id)))


def forget_refreshes() -> None:
    """Drop this process's memory of refreshed markers (tests, after Redis was emptied)."""
    _refreshed.clear()
