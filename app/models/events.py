"""The event log: every event a client shows, in one server-wide order (app/realtime/log.py)."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import utcnow

# SQLite gives AUTOINCREMENT only to an INTEGER primary key; it never reuses a pruned seq.
SEQ_TYPE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class Event(db.Model):
    """One event as sockets receive it. audience: the user ids who may see it, taken in the
    transaction of the change (None: everyone); no foreign key, the log outlives its channel."""

    __tablename__ = "events"
    __table_args__ = (sa.Index("ix_events_channel_id_seq", "channel_id", "seq"), {"sqlite_autoincrement": True})

    seq: Mapped[int] = mapped_column(SEQ_TYPE, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    channel_id: Mapped[str | None] = mapped_column(sa.String(36))
    audience: Mapped[str | None] = mapped_column(sa.Text)  # a JSON list of user ids
    extra: Mapped[str | None] = mapped_column(sa.Text)  # a JSON object (the removed user of "revoke")
    # The client frame's JSON without its seq, encrypted like message text (app/crypto.py): a
    # message's event holds its text.
    key_id: Mapped[str] = mapped_column(sa.String(64))
    frame: Mapped[bytes] = mapped_column(sa.LargeBinary)
