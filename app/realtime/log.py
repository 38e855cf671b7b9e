"""The event log: every event a client shows is a row of `events`, added in the transaction of
the change it describes (an outbox), so a rollback drops it and a commit keeps it.

seq is assigned by the database. On PostgreSQL two transactions could take seq 7 and 8 and
commit 8 first, and a reader would pass 7 by; a transaction-level advisory lock, taken by the
insert itself and held until commit, makes event-writing transactions commit in seq order.
SQLite holds its database-wide write lock from the first write to the commit, which does the same.
The relay (relay.py) publishes committed rows in seq order; resume.py and GET /events read them.
add() takes each row's seq from its insert and keeps the event in the session, so that after the
commit the relay can publish this process's events without reading them back. The insert runs
through app/database.py Prepared: it is the last write before the commit, inside the time the
database's write lock (or the order lock) is held, where SQLAlchemy's own work would count twice.
"""
import json
import threading
from datetime import timedelta
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app

from .. import crypto
from ..database import Prepared
from ..extensions import db
from ..ids import utcnow
from ..models import Event

ADVISORY_KEY = 0x70756666  # the one PostgreSQL advisory lock that orders event commits
BATCH = 500
# The kinds a socket or a poll receives; "revoke" reaches the removed user as channel_removed.
KINDS = ("channel", "broadcast", "revoke", "channel_deleted")

# Every column but seq, which the database assigns and the insert returns.
_VALUES = {column.key: sa.bindparam(column.key, type_=column.type) for column in Event.__table__.c if column.key != "seq"}
_INSERT = Prepared(sa.insert(Event.__table__).values(_VALUES).returning(Event.seq), "Inserted")
# On PostgreSQL the first event of a transaction takes the order lock in its own insert: one round
# trip less while the lock is held. The insert reads its one row from a subquery that calls the
# lock, so the lock is held before the row, and its seq (the column's default), exists.
_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.literal_column(str(ADVISORY_KEY))).label("held")).subquery("order_lock")
_INSERT_AFTER_LOCK = Prepared(sa.insert(Event.__table__).from_select(
    list(_VALUES), sa.select(*_VALUES.values()).select_from(_LOCK)).returning(Event.seq), "Inserted")
_COLUMNS = (Event.seq, Event.kind, Event.channel_id, Event.audience, Event.extra, Event.key_id, Event.frame)
CONTEXT = "event-log"  # the associated data of every event's encrypted frame


class PreparedEvent(NamedTuple):
    """An event ready to insert: its row (the frame encrypted) and what the relay publishes."""

    row: dict
    audience: list[str] | None
    extra: dict
    text: str  # the client frame, JSON


def prepare(kind: str, frame: dict, channel_id: str | None = None, audience: list[str] | None = None,
            **extra) -> PreparedEvent:
    """One event, serialised before the transaction writes (add() inserts it)."""
    text = json.dumps(frame)
    key_id, blob = crypto.encrypt(text, CONTEXT)  # a message's text stays encrypted at rest
    audience = None if audience is None else sorted(set(audience))
    row = {"created_at": utcnow(), "kind": kind, "channel_id": channel_id,
           "audience": None if audience is None else json.dumps(audience),
           "extra": json.dumps(extra) if extra else None, "key_id": key_id, "frame": blob}
    return PreparedEvent(row, audience, extra, text)


def record(kind: str, frame: dict, channel_id: str | None = None, audience: list[str] | None = None,
           **extra) -> None:
    """Add one event to the session's transaction; the caller commits (the relay is woken then)."""
    add(prepare(kind, frame, channel_id, audience, **extra))


def add(event: PreparedEvent) -> None:
    """Insert a prepared event in the session's transaction, as late as possible before the commit.
    Not inside a savepoint: the relay would publish an event its rollback removed."""
    session = db.session()
    if session.in_nested_transaction():
        raise RuntimeError("events are recorded in the outer transaction, not in a savepoint")
    if _needs_order_lock(session):
        seq = _INSERT_AFTER_LOCK.first(event.row).seq
        session.info["event_lock"] = session.get_transaction()
    else:
        seq = _INSERT.first(event.row).seq
    session.info.setdefault("events_recorded", []).append((seq, event))


def take_order_lock() -> None:
    """Take the lock that orders event-writing commits (PostgreSQL), held until the commit; once
    per transaction. On SQLite the database-wide write lock, taken by the first write, does it.
    A transaction that takes it before its first write also sees every commit of the
    transactions that held it before (slow mode relies on that)."""
    session = db.session()  # the Session itself: the scoped proxy has no get_transaction()
    if _needs_order_lock(session):
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_KEY})
        session.info["event_lock"] = session.get_transaction()


def _needs_order_lock(session) -> bool:
    """On PostgreSQL, whether this transaction has yet to take the order lock."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    transaction = session.get_transaction()
    return transaction is None or session.info.get("event_lock") is not transaction


def frame_text(row) -> str:
    """The row's client frame (JSON text), decrypted."""
    return crypto.decrypt(row.key_id, bytes(row.frame), CONTEXT)


def with_seq(row) -> str:
    """The row's frame with its seq first."""
    return _seq_first(row.seq, frame_text(row))


def _seq_first(seq: int, text: str) -> str:
    return f'{{"seq": {seq}, {text[1:]}'  # frames are JSON objects with at least a type


def encoded(row) -> str:
    """A stored row as the relay publishes it."""
    return envelope(row.seq, row.kind, row.channel_id, json.loads(row.audience) if row.audience is not None else None,
                    json.loads(row.extra) if row.extra else {}, frame_text(row))


def published(seq: int, event: PreparedEvent) -> str:
    """An event added in this process, as the relay publishes it."""
    row = event.row
    return envelope(seq, row["kind"], row["channel_id"], event.audience, event.extra, event.text)


def envelope(seq: int, kind: str, channel_id: str | None, audience: list[str] | None, extra: dict, text: str) -> str:
    """An event as the relay publishes it: the shape of wire.encode_event, plus seq."""
    return json.dumps({"kind": kind, "channel_id": channel_id, "audience": audience,
                       "frame": _seq_first(seq, text), "seq": seq, **extra})


def after(seq: int, limit: int = BATCH, channel_ids: list[str] | None = None) -> list:
    """Rows with a seq above `seq`, in order (only of those channels, when given)."""
    query = sa.select(*_COLUMNS).where(Event.seq > seq)
    if channel_ids is not None:
        query = query.where(Event.channel_id.in_(channel_ids))
    return db.session.execute(query.order_by(Event.seq).limit(limit)).all()


def newest() -> int:
    return db.session.scalar(sa.select(sa.func.max(Event.seq))) or 0


def too_old(since: int) -> bool:
    """Whether events after `since` may have been pruned (or `since` was never handed out)."""
    oldest, latest = db.session.execute(sa.select(sa.func.min(Event.seq), sa.func.max(Event.seq))).one()
    if latest is None:
        return since > 0
    return since < oldest - 1 or since > latest


def visible(row, user_id: str, channel_id: str | None = None) -> bool:
    """Whether the user may receive the row: its audience, taken when it happened, decides.
    channel_id: a one-channel socket, which carries only that channel's "channel" events."""
    if row.kind not in KINDS:
        return False
    if channel_id is not None and (row.kind != "channel" or row.channel_id != channel_id):
        return False
    return row.audience is None or user_id in json.loads(row.audience)


def prune(days: float) -> int:
    """Delete events older than `days`, always keeping the newest (it tells how far seq has gone)."""
    cutoff = utcnow() - timedelta(days=days)
    newest_seq = sa.select(sa.func.max(Event.seq)).scalar_subquery()
    deleted = db.session.execute(sa.delete(Event).where(Event.created_at < cutoff, Event.seq < newest_seq)).rowcount
    db.session.commit()
    return deleted


def retention_days() -> float:
    return current_app.config["EVENT_RETENTION_DAYS"]


class Arrivals:
    """Wakes the long polls of this process when the hub receives a logged event."""

    def __init__(self):
        self.condition = threading.Condition()
        self.latest = 0

    def arrived(self, seq: int) -> None:
        with self.condition:
            self.latest = max(self.latest, seq)
            self.condition.notify_all()

    def wait(self, seq: int, timeout: float) -> None:
        """Return once an event above seq arrived, or after timeout seconds."""
        with self.condition:
            if self.latest <= seq:
                self.condition.wait(timeout)


arrivals = Arrivals()
