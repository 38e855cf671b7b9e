"""Presence: a user's open sockets counted across every process and host in Redis.

One sorted set per user holds an entry per socket whose score is its expiry; the process that
holds the socket refreshes it from the hub's tick, so the sockets of a process that died lapse
on their own and the presence sweep marks their users offline.
"""
import time
from datetime import datetime, timezone

from flask import current_app

from .. import keys, locks, tasks
from ..extensions import redis
from ..ids import iso
from .connection import Connection
from .wire import publish

SWEEP_INTERVAL = 60  # seconds between presence sweeps, fleet-wide
SWEEP_THROTTLE = "presence-sweep"  # the app.locks.once_per name that spaces them
CHOSEN = ("idle", "dnd")  # statuses a user picks that outlive a disconnection


def refresh_interval(config: dict) -> float:
    """How often the tick refreshes this process's entries: three times per TTL."""
    return config["REALTIME_PRESENCE_TTL"] / 3


def tick(conns: list[Connection]) -> None:
    """The hub's periodic job: keep this process's entries alive and queue the sweep when due."""
    refresh(conns, current_app.config["REALTIME_PRESENCE_TTL"])
    queue_sweep()


def refresh(conns: list[Connection], ttl: int) -> None:
    """Push the expiry of this process's socket entries forward."""
    pipe = redis.pipeline(transaction=False)
    for conn in conns:
        if conn.counted:
            pipe.zadd(keys.presence(conn.user_id), {conn.key: time.time() + ttl})
            pipe.expire(keys.presence(conn.user_id), ttl)
    pipe.execute()


def queue_sweep() -> None:
    """Queue the presence sweep at most once a minute for the whole fleet (whoever ticks first)."""
    if locks.once_per(SWEEP_THROTTLE, SWEEP_INTERVAL):
        tasks.enqueue(tasks.FANOUT_SWEEP_PRESENCE)


def live_socket_count(user_id: str) -> int:
    """The user's open sockets across every process and host (lapsed entries dropped first)."""
    pipe = redis.pipeline()
    pipe.zremrangebyscore(keys.presence(user_id), "-inf", time.time())
    pipe.zcard(keys.presence(user_id))
    return pipe.execute()[1]


def shown_status(user_id: str, stored: str | None) -> str:
    """The status a user coming online shows: a remembered idle or dnd, else online."""
    choice = redis.get(keys.presence_choice(user_id))
    if choice:
        return choice.decode()
    return stored if stored in CHOSEN else "online"


def _presence_change(conn: Connection, opened: bool) -> tuple[int, bool]:
    key, ttl = keys.presence(conn.user_id), current_app.config["REALTIME_PRESENCE_TTL"]
    pipe = redis.pipeline()  # one transaction: exactly one socket sees the 0 <-> 1 transition
    pipe.zremrangebyscore(key, "-inf", time.time())
    if opened:
        pipe.zadd(key, {conn.key: time.time() + ttl})
    else:
        pipe.zrem(key, conn.key)
    pipe.zcard(key)
    pipe.expire(key, ttl)
    pipe.exists(keys.api_seen(conn.user_id))
    results = pipe.execute()
    return results[2], bool(results[4])


def socket_opened(conn: Connection, stored_status: str | None = None) -> int:
    """Count the socket; the user's first socket anywhere makes them online (or their chosen idle/dnd).
    Returns the user's open sockets across the fleet, this one included."""
    conn.counted = True
    count = _presence_change(conn, opened=True)[0]
    if count == 1:
        announce_presence(conn.user_id, conn.username, shown_status(conn.user_id, stored_status))
    return count


def socket_closed(conn: Connection) -> None:
    """Forget the socket; after the user's last one closes they are offline, unless they use the API."""
    if conn.counted:
        conn.counted = False
        count, api_seen = _presence_change(conn, opened=False)
        if count == 0 and not api_seen:
            announce_presence(conn.user_id, conn.username, "offline")


def announce_presence(user_id: str, username: str, status: str, record: bool = True) -> None:
    """Publish the presence frame now; storing status and last_seen is the fanout.presence task's work."""
    last_seen = iso(datetime.now(timezone.utc)) if status == "offline" else None
    redis.sadd(keys.presence_users(), user_id)
    publish("broadcast", {"type": "presence", "user_id": user_id, "username": username, "status": status,
                          "last_seen": last_seen})
    if record:
        tasks.enqueue(tasks.FANOUT_PRESENCE, user_id)
