"""Direct conversations: one private channel per pair of users that only those two read.

The pair is stored ordered (user_low < user_high) under a unique constraint, so two concurrent
requests for the same pair still make one conversation.
"""
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..accounts import moderation
from ..accounts.auth import Caller
from ..errors import APIError
from ..extensions import db
from ..ids import new_uuid
from ..models import Channel, ChannelMember, DirectPair, User
from . import events
from .messages import channel_row

DM_NAME = "Direct message"


def may_message(caller: Caller, other_id: str) -> None:
    """Refuse a conversation with a banned account (403 USER_BANNED)."""
    if moderation.is_banned(other_id):
        raise APIError(403, "This user is banned and cannot be messaged", "USER_BANNED")


def ensure_reachable(caller: Caller, channel_id: str) -> None:
    """Before a message into a direct conversation: the other member must not be banned."""
    pair = db.session.get(DirectPair, channel_id)
    if pair is not None:
        may_message(caller, pair.user_high if pair.user_low == caller.id else pair.user_low)


def _pair_channel(low: str, high: str) -> Channel | None:
    return db.session.scalar(sa.select(Channel).join(DirectPair, DirectPair.channel_id == Channel.id)
                             .where(DirectPair.user_low == low, DirectPair.user_high == high))


def open_dm(caller: Caller, user_id: str) -> tuple[Channel, User, bool]:
    """The pair's conversation, created on first use: (channel, the other user, created). Commits."""
    if user_id == caller.id:
        raise APIError(400, "A direct conversation needs another user", "INVALID_TARGET")
    other = db.session.get(User, user_id) if len(user_id) <= 64 else None
    if other is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    may_message(caller, other.id)
    low, high = sorted((caller.id, other.id))
    existing = _pair_channel(low, high)
    if existing is not None:
        return existing, other, False
    channel_id = new_uuid()
    # name_key must be unique; channel names typed by people never take this form.
    channel = Channel(id=channel_id, name=DM_NAME, name_key=f"dm:{channel_id}", is_private=True, is_dm=True,
                      created_by=caller.id)
    db.session.add(channel)
    db.session.flush()
    db.session.add_all([ChannelMember(channel_id=channel_id, user_id=low), ChannelMember(channel_id=channel_id,
                        user_id=high), DirectPair(channel_id=channel_id, user_low=low, user_high=high)])
    try:
        db.session.flush()
        events.channel_created(channel_row(channel_id), channel.to_dict())  # to its two members only
        db.session.commit()
    except IntegrityError:  # a concurrent request created the pair's conversation first
        db.session.rollback()
        existing = _pair_channel(low, high)
        if existing is None:
            raise
        return existing, other, False
    return channel, other, True


def dm_object(channel: Channel, other: User) -> dict:
    return {**channel.to_dict(), "other_user": {"user_id": other.id, "username": other.username,
                                                "avatar_url": other.avatar_url, "status": other.status}}
