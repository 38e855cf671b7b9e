"""Channel rules: who may post (read-only channels, slow mode) and changing a channel's settings.

The posting checks read only the ChannelRow the send already holds. Slow mode is kept by the
messages themselves: the send writes its message only if the sender has none in the channel
within the interval, in the same statement (app/messaging/send.py), so it costs no other store
and a refused or failed send leaves nothing behind. A changed interval applies at once; a
deleted message no longer counts (what the channel shows is still one message per interval).
"""
import math
import time

import sqlalchemy as sa

from ..accounts.auth import Caller
from ..errors import APIError
from ..extensions import db
from ..ids import uuid7_floor, uuid7_ms
from ..models import Channel, Message
from .events import channel_event
from .messages import ChannelRow, channel_row

MAX_SLOW_MODE = 21600


def ensure_may_post(caller: Caller, channel: ChannelRow) -> None:
    """403 READ_ONLY_CHANNEL; staff are exempt."""
    if channel.read_only and not caller.is_staff:
        raise APIError(403, "Only admins and the owner may post in this channel", "READ_ONLY_CHANNEL")


def slow_mode_applies(caller: Caller, channel: ChannelRow) -> bool:
    """Whether the caller's message must wait for slow mode: staff are exempt."""
    return bool(channel.slow_mode) and not caller.is_staff


def slow_mode_since(channel: ChannelRow) -> str:
    """The id floor of the slow-mode window now: a message of the sender at or above it is too
    recent. Message ids are UUIDv7, so the window is a range of the (channel, sender, id) index."""
    return uuid7_floor(time.time_ns() // 1_000_000 - channel.slow_mode * 1000)


def slow_mode_refusal(caller: Caller, channel: ChannelRow) -> APIError:
    """429 SLOW_MODE, with the seconds left until the caller's newest message leaves the window."""
    newest = db.session.scalar(sa.select(sa.func.max(Message.id)).where(
        Message.channel_id == channel.id, Message.sender_id == caller.id))
    elapsed_ms = time.time_ns() // 1_000_000 - uuid7_ms(newest) if newest else 0
    retry_after = max(1, math.ceil((channel.slow_mode * 1000 - elapsed_ms) / 1000))
    return APIError(429, f"Slow mode: wait {retry_after} s before your next message", "SLOW_MODE",
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
