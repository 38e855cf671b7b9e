"""Channel rules: who may post (read-only channels, slow mode) and changing a channel's settings.

The posting checks read only the ChannelRow the send already holds; slow mode adds one Redis
SET NX (none for staff or channels without it).
"""
import math

import sqlalchemy as sa

from .. import keys
from ..accounts.auth import Caller
from ..errors import APIError
from ..extensions import db, redis
from ..models import Channel
from .events import channel_event
from .messages import ChannelRow, channel_row

MAX_SLOW_MODE = 21600


def ensure_may_post(caller: Caller, channel: ChannelRow) -> None:
    """403 READ_ONLY_CHANNEL or 429 SLOW_MODE; staff are exempt from both."""
    if caller.is_staff:
        return
    if channel.read_only:
        raise APIError(403, "Only admins and the owner may post in this channel", "READ_ONLY_CHANNEL")
    if channel.slow_mode:
        key = keys.slow_mode(channel.id, caller.id)
        if not redis.set(key, 1, nx=True, ex=channel.slow_mode):
            retry_after = max(1, math.ceil(max(redis.pttl(key), 0) / 1000))
            raise APIError(429, f"Slow mode: wait {retry_after} s before your next message", "SLOW_MODE",
                           extra={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})


def update_channel(channel: ChannelRow, changes: dict) -> Channel:
    """Apply validated changes in the session; 409 when the new name is taken. The caller commits."""
    row = db.session.get(Channel, channel.id)
    name = changes.pop("channel_name", None)
    if name is not None and name != row.name:
        taken = db.session.scalar(sa.select(Channel.id).where(Channel.name_key == name.lower(), Channel.id != row.id))
        if taken:
            raise APIError(409, "A channel with this name already exists", "CHANNEL_NAME_TAKEN")
        row.name, row.name_key = name, name.lower()
    for field, value in changes.items():
        setattr(row, field, value)
    return row


def channel_updated(channel_id: str) -> None:
    """Before the commit (the changes flushed): the channel's readers under its new privacy see
    its new settings."""
    channel = channel_row(channel_id)
    if channel is not None:
        channel_event(channel, {"type": "channel_updated", "channel": db.session.get(Channel, channel_id).to_dict()})
