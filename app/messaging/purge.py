"""Deleting a banned account's messages in batches, each batch announced as message_deleted events."""
from datetime import datetime

import sqlalchemy as sa

from ..extensions import db
from ..models import Message
from . import events
from .messages import channel_row

BATCH = 500


def delete_batch(user_id: str, since: datetime | None, batch: int = BATCH) -> int:
    """Delete up to `batch` of the user's messages sent at or after since (None: all), with a
    message_deleted event each in the same transaction; commits. Returns how many were deleted (0: nothing left)."""
    query = sa.select(Message.id, Message.channel_id).where(Message.sender_id == user_id)
    if since is not None:
        query = query.where(Message.sent_at >= since)
    rows = db.session.execute(query.order_by(Message.id).limit(batch)).all()
    if not rows:
        return 0
    channels = {}
    for message_id, channel_id in rows:
        if channel_id not in channels:
            channels[channel_id] = channel_row(channel_id)
        if channels[channel_id] is not None:
            events.message_deleted(channels[channel_id], message_id)
    db.session.execute(sa.delete(Message).where(Message.id.in_([row.id for row in rows])))
    db.session.commit()
    return len(rows)
