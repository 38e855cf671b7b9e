"""The relay: carries the event log to Redis pub/sub in seq order, from one process at a time.

A commit that recorded events wakes this process's relay thread (the request itself never
touches Redis for them), and the hub's tick wakes it every second, which catches up on events
whose process died before relaying them, or that were committed while Redis was away. One run
takes the cursor (the last seq published fleet-wide, kept in Redis), reads the
next rows from the log and publishes them with the new cursor in one Lua script that first checks
the cursor is still the one it read after: of two processes relaying at once one publishes, the
other goes on after the new cursor. Every web process, on every host, thus publishes one
sequence, in order, once; the hub still drops a seq it has seen (a cursor lost with Redis's
memory). One run costs one SELECT and one Redis round trip (none when nothing is new).
"""
import logging
import os
import threading
import time
from datetime import timedelta

import redis as redis_lib
import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.exc import SQLAlchemyError

from .. import keys, metrics
from ..extensions import db, redis
from ..ids import utcnow
from ..models import Event
from ..tasks import FANOUT_DELIVER, enqueue
from . import log as event_log
from .hub import hub

log = logging.getLogger(__name__)
BUSY_RETRY = 0.003  # more to publish (or another process published meanwhile): go on this soon
DOWN_RETRY = 0.5  # Redis or the database failed: try again this soon
CATCH_UP_SECONDS = 60  # with no cursor anywhere, the relay starts with the events of the last minute
# Publish the rows and move the cursor only if the cursor is still the one the rows were read
# after: of two processes relaying at once, one publishes and the other goes on from its cursor.
PUBLISH_IF_CURSOR = """
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then return {0, current} end
for i = 3, #ARGV do redis.call('PUBLISH', KEYS[2], ARGV[i]) end
redis.call('SET', KEYS[1], ARGV[2])
return {1, ARGV[2]}
"""


class Relay:
    """This process's relay thread, started by the first wake()."""

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self.wakeup = threading.Event()
        self.thread: threading.Thread | None = None
        self.known = 0  # the highest seq this process knows was published
        self.cursor: str | None = None  # the fleet's cursor as last seen ("": none in Redis; None: read it)
        self._script = None

    def wake(self, app: Flask | None = None) -> None:
        """Ask for a run soon; never waits (a commit calls this)."""
        if self.thread is None:
            app = app or current_app._get_current_object()
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, args=(app,), name="event-relay", daemon=True)
                    self.thread.start()
        self.wakeup.set()

    def _run(self, app: Flask) -> None:
        pending = False
        while True:
            self.wakeup.wait(BUSY_RETRY if pending else None)
            self.wakeup.clear()
            with app.app_context():
                try:
                    pending = self.run_once()
                except (redis_lib.RedisError, SQLAlchemyError, OSError):
                    log.warning("the event relay could not run; retrying", exc_info=True)
                    pending = True
                    time.sleep(DOWN_RETRY)
                finally:
                    db.session.remove()

    def run_once(self) -> bool:
        """Publish the next batch of the log; True when there is more to do."""
        expected = self.cursor
        if expected is None:
            stored = redis.get(keys.relay_cursor())
            expected = stored.decode() if stored is not None else ""
        start = int(expected) if expected else self._fallback()
        rows = event_log.after(start)
        db.session.rollback()  # end the read: the rows are plain tuples
        if not rows:
            self.cursor = expected or None
            return False
        try:
            done, current = self.script(keys=[keys.relay_cursor(), keys.events_channel()],
                                        args=[expected, rows[-1].seq, *(event_log.encoded(row) for row in rows)])
        except redis_lib.RedisError:
            self.cursor = None
            raise
        if not done:  # another process published meanwhile: go on from its cursor
            self.cursor = current.decode() if isinstance(current, bytes) else str(current)
            return True
        self.cursor = str(rows[-1].seq)
        self.known = max(self.known, rows[-1].seq)
        for row in rows:
            metrics.EVENTS_PUBLISHED.labels(row.kind).inc()
        return len(rows) == event_log.BATCH

    @property
    def script(self):
        if self._script is None:
            self._script = redis.register_script(PUBLISH_IF_CURSOR)
        return self._script

    def _fallback(self) -> int:
        """No cursor in Redis (a fresh or restarted Redis): start after what this process knows was
        published; knowing nothing, with the last minute (hubs drop what they already have)."""
        known = max(self.known, hub.last_seq)
        if known:
            return known
        recent = db.session.scalar(sa.select(sa.func.min(Event.seq)).where(
            Event.created_at >= utcnow() - timedelta(seconds=CATCH_UP_SECONDS)))
        return recent - 1 if recent is not None else event_log.newest()


relay = Relay()  # one per process


def drain(seconds: float = 5.0) -> None:
    """Run the relay here until the log is published (the fanout.deliver task, REALTIME_FANOUT=celery)."""
    deadline = time.monotonic() + seconds
    while relay.run_once() and time.monotonic() < deadline:
        time.sleep(BUSY_RETRY)


def _committed(session) -> None:
    """After a commit that recorded events: wake this process's relay, or (REALTIME_FANOUT=celery)
    leave the relay run to a worker's fanout.deliver."""
    if not session.info.pop("events_recorded", False):
        return
    if current_app.config["REALTIME_FANOUT"] == "celery":
        enqueue(FANOUT_DELIVER)
    else:
        relay.wake()


def _rolled_back(session) -> None:
    session.info.pop("events_recorded", None)


sa.event.listen(db.session, "after_commit", _committed)
sa.event.listen(db.session, "after_rollback", _rolled_back)


def tick(_connections) -> None:
    """From the hub's tick: relay what no commit of this process woke the relay for."""
    relay.wake()


def tick_interval(_config) -> float:
    return 1.0
