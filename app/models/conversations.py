"""What conversations add to messages: reactions, pins, mentions and direct-conversation pairs."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import utcnow


class Reaction(db.Model):
    """One user's reaction with one emoji to one message."""

    __tablename__ = "message_reactions"

    message_id: Mapped[str] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    emoji: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pin(db.Model):
    """A pinned message; a channel lists its pins newest first."""

    __tablename__ = "message_pins"
    __table_args__ = (sa.Index("ix_message_pins_channel_id_pinned_at", "channel_id", "pinned_at"),)

    message_id: Mapped[str] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"))
    pinned_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    pinned_at: Mapped[datetime] = mapped_column(default=utcnow)


class Mention(db.Model):
    """A user named in a message of a channel they may read: pages their mentions, counts unread ones."""

    __tablename__ = "message_mentions"
    # The caller's mentions newest first, and per channel after the read position.
    __table_args__ = (sa.Index("ix_message_mentions_user_id_channel_id_message_id", "user_id", "channel_id",
                               "message_id"),)

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    message_id: Mapped[str] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True,
                                            index=True)
    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"))


class DirectPair(db.Model):
    """The one direct conversation of two users: (user_low, user_high) ordered, so unique per pair."""

    __tablename__ = "direct_conversations"
    __table_args__ = (sa.UniqueConstraint("user_low", "user_high", name="uq_direct_conversations_pair"),)

    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_low: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    user_high: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
