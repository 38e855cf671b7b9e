"""Channels, private-channel membership and per-user read state."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import iso, new_uuid, utcnow


class Channel(db.Model):
    __tablename__ = "channels"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(sa.String(64))
    name_key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    is_private: Mapped[bool] = mapped_column(default=False)
    # A direct conversation of two users (also private): only its two members read it, staff included.
    is_dm: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    def to_dict(self) -> dict:
        return {
            "channel_id": self.id,
            "channel_name": self.name,
            "is_private": self.is_private,
            "is_dm": self.is_dm,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
        }


class ChannelMember(db.Model):
    __tablename__ = "channel_members"

    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReadState(db.Model):
    """The newest message a user has read in a channel; everything after it is unread."""

    __tablename__ = "read_states"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"), primary_key=True)
    last_read_message_id: Mapped[str] = mapped_column(sa.String(36))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
