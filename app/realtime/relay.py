"""The relay: carries the event log to Redis pub/sub in seq order, from one process at a time.

A commit that recorded events hands them, with their seqs, to this process's relay thread (the
request itself never touches Redis for them). The relay publishes them from memory with one Lua
script that moves the fleet-wide cursor (the last seq published, kept in Redis) only through
consecutive seqs: an event that follows the cursor is published, one at or below it was already
published and is skipped. At a gap (another process's events not yet published, a seq lost to a
rollback, a cursor lost with Redis) the relay reads the log after the cursor instead, and
publishes those rows with a second script that first checks the cursor is still the one it read
after: of two processes relaying at once one publishes, the other goes on after the new cursor.
The hub's tick wakes the relay every second, which catches up on events whose process died
before relaying them, or that were committed while Redis was away. Every web process, on every
host, thus publishes one sequence, in order, once; the hub still drops a seq it has seen.
In the common case one send costs one Redis round trip (shared by every event committed
meanwhile) and no read of the log.
"""
import logging
import os
import threading
import time
from collections import deque
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
GAP_WAIT = 0.05  # seconds a gap may last before the log is read: another process is usually publishing it
HELD = 10_000  # committed events held for publishing from memory; beyond it the oldest are read from the log
# ARGV: seq, payload, seq, payload... in seq order. Publish those that follow the cursor, skip those
# at or below it, stop at a gap. Returns {cursor ('' when Redis holds none), 1 if stopped at a gap,
# how many were published}.
PUBLISH_CONSECUTIVE = """
local cursor = redis.call('GET', KEYS[1])
if not cursor then return {'', 1, 0} end
local published, gap = 0, 0
for i = 1, #ARGV, 2 do
  local seq = tonumber(ARGV[i])
  if seq == tonumber(cursor) + 1 then
    redis.call('PUBLISH', KEYS[2], ARGV[i + 1])
    cursor, published = ARGV[i], published + 1
  elseif seq > tonumber(cursor) then
    gap = 1
    break
  end
end
if published > 0 then redis.call('SET', KEYS[1], cursor) end
return {cursor, gap, published}
"""
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
        self.committed: deque[tuple[int, str, str]] = deque(maxlen=HELD)  # (seq, payload, kind) of this process's commits
        self.gap_since: float | None = None  # when the held events first met a gap
        self._scripts: dict[str, object] = {}

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

    def hand_over(self, events: list[tuple[int, event_log.PreparedEvent]]) -> None:
        """(seq, event) of a commit of this process, to publish from memory; wakes the relay."""
        self.committed.extend((seq, event_log.published(seq, event), event.row["kind"]) for seq, event in events)
        self.wake()

    def run_once(self) -> bool:
        """Publish this process's committed events, or past a lasting gap the next batch of the
        log; True when there is more to do."""
        if self.committed:
            if self._publish_committed():
                self.gap_since = None
                return bool(self.committed)
            now = time.monotonic()
            self.gap_since = self.gap_since or now
            if self.cursor and now - self.gap_since < GAP_WAIT:
                return True  # try again soon: the process that holds the gap's events publishes them
            self.gap_since = None
            self.committed.clear()  # the log holds them: it is read from the cursor
        return self._publish_from_log()

    def _publish_committed(self) -> bool:
        """Publish the held events (a batch at most) that follow the cursor; False at a gap, the
        events after it held again."""
        held = []
        while self.committed and len(held) < event_log.BATCH:
            held.append(self.committed.popleft())
        held.sort()
        try:
            cursor, gap, published = self._script(PUBLISH_CONSECUTIVE)(
                keys=[keys.relay_cursor(), keys.events_channel()],
                args=[value for seq, payload, _kind in held for value in (seq, payload)])
        except redis_lib.RedisError:
            self.cursor = None
            self.committed.extendleft(reversed(held))  # kept in order, for the next try
            raise
        self.cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        last = int(self.cursor) if self.cursor else 0
        if published:  # the seqs up to the new cursor, consecutive
            self.known = max(self.known, last)
            for seq, _payload, kind in held:
                if last - published < seq <= last:
                    metrics.EVENTS_PUBLISHED.labels(kind).inc()
        if gap:
            self.committed.extendleft(reversed([event for event in held if event[0] > last]))
        return not gap

    def _publish_from_log(self) -> bool:
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
            done, current = self._script(PUBLISH_IF_CURSOR)(
                keys=[keys.relay_cursor(), keys.events_channel()],
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

    def _script(self, source: str):
        if source not in self._scripts:
            self._scripts[source] = redis.register_script(source)
        return self._scripts[source]

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
    events = session.info.pop("events_recorded", None)
    if not events:
        return
    if current_app.config["REALTIME_FANOUT"] == "celery":
        enqueue(FANOUT_DELIVER)
    else:
        relay.hand_over(events)


def _rolled_back(session) -> None:
    session.info.pop("events_recorded", None)


sa.event.listen(db.session, "after_commit", _committed)
sa.event.listen(db.session, "after_rollback", _rolled_back)


def tick(_connections) -> None:
    """From the hub's tick: relay what no commit of this process woke the relay for."""
    relay.wake()


def tick_interval(_config) -> float:
    return 1.0
