"""Channel rules: who may post (read-only channels, slow mode) and changing a channel's settings.

The posting checks read only the ChannelRow the send already holds; slow mode adds one Redis
script call (none for staff or channels without it), given back when the message is not stored.
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
    """403 READ_ONLY_CHANNEL; staff are exempt."""
    if channel.read_only and not caller.is_staff:
        raise APIError(403, "Only admins and the owner may post in this channel", "READ_ONLY_CHANNEL")


# One round trip, atomic on the Redis server and timed by its clock (the same for every host):
# the wait left in ms, or 0 after recording this post. The last post's time is stored rather
# than a TTL so that a changed interval applies to it at once.
_CLAIM = """
local now = redis.call('TIME')
now = now[1] * 1000 + math.floor(now[2] / 1000)
local last = tonumber(redis.call('GET', KEYS[1]))
local interval = tonumber(ARGV[1])
if last and now - last < interval then return interval - (now - last) end
redis.call('SET', KEYS[1], now, 'PX', interval)
return 0
"""


def claim_slow_mode(caller: Caller, channel: ChannelRow) -> bool:
    """Take the caller's slot in a slow-mode channel, or 429 SLOW_MODE; True when one was taken
    (the sender gives it back with release_slow_mode() if the message is not stored after all).
    Staff are exempt."""
    if not channel.slow_mode or caller.is_staff:
        return False
    wait_ms = redis.eval(_CLAIM, 1, keys.slow_mode(channel.id, caller.id), channel.slow_mode * 1000)
    if wait_ms:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise APIError(429, f"Slow mode: wait {retry_after} s before your next message", "SLOW_MODE",
                       extra={"retry_after": retry_after}, headers={"Retry-After": str(retry_after)})
    return True


def release_slow_mode(caller: Caller, channel: ChannelRow) -> None:
    """Give back a slot taken for a message that was then refused or not stored."""
    redis.delete(keys.slow_mode(channel.id, caller.id))


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
