"""Messages, stored encrypted; the id is a UUIDv7 so it orders and pages."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import utcnow, uuid7


class Message(db.Model):
    __tablename__ = "messages"
    # History reads walk (channel_id, id): newest page, before/after cursors and unread counts.
    # Slow mode looks up a user's newest message in a channel (app/messaging/channel_rules.py).
    __table_args__ = (sa.Index("ix_messages_channel_id_id", "channel_id", "id"),
                      sa.Index("ix_messages_channel_id_sender_id_id", "channel_id", "sender_id", "id"))

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=uuid7)
    channel_id: Mapped[str] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"))
    sender_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    key_id: Mapped[str] = mapped_column(sa.String(16))
    ciphertext: Mapped[bytes] = mapped_column(sa.LargeBinary)
    hashed_message: Mapped[str] = mapped_column(sa.String(64))
    attachments: Mapped[list] = mapped_column(sa.JSON, default=list)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    edited_at: Mapped[datetime | None] = mapped_column()
    # No foreign key: a reply outlives its original, whose id then reads as deleted.
    reply_to_id: Mapped[str | None] = mapped_column(sa.String(36))
    # The user ids the text names (resolved at send and edit); None on rows older than mentions.
    mentions: Mapped[list | None] = mapped_column(sa.JSON)
