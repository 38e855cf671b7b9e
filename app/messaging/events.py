"""What each live event carries and who may receive it; realtime.publish() carries it there."""
import time

import sqlalchemy as sa
from flask import current_app

from . import messages
from ..accounts.auth import Account
from ..extensions import db, redis
from .messages import ChannelView
from ..models import ChannelMember, Message, User
from ..keys import namespace
from ..realtime.wire import publish
from ..tasks import enqueue


def channel_audience(channel: ChannelView) -> list[str] | None:
    """Who may see a channel's events: None (everyone) when it is public, else its members and staff."""
    if not channel.is_private:
        return None
    members = sa.select(ChannelMember.user_id).where(ChannelMember.channel_id == channel.id)
    staff = sa.select(User.id).where(sa.or_(User.is_owner.is_(True), User.is_admin.is_(True)))
    return list(db.session.scalars(members.union(staff)))


def channel_event(channel: ChannelView, frame: dict, exclude_user: str | None = None) -> None:
    publish("channel", frame, channel.id, channel_audience(channel), exclude_user=exclude_user)


def message_sent(message: Message, channel: ChannelView, sender: Account) -> None:
    """After the commit: publish the live message now, or hand it to the fanout.deliver task."""
    if current_app.config["REALTIME_FANOUT"] == "celery":
        enqueue("fanout.deliver", message.id)
    else:
        deliver_message(message, channel, sender)


def deliver_message(message: Message, channel: ChannelView, sender: Account | None = None) -> None:
    frame = messages.serialize([message], (sender,) if sender else ())[0]
    channel_event(channel, {"type": "message", **frame})


def message_deleted(channel: ChannelView, message_id: str) -> None:
    channel_event(channel, {"type": "message_deleted", "message_id": message_id, "channel_id": channel.id})


def read_receipt(user: Account, channel: ChannelView, message_id: str) -> None:
    channel_event(channel, {"type": "read_receipt", "channel_id": channel.id, "message_id": message_id,
                            "user_id": user.id, "username": user.username})


def typing(user: Account, channel: ChannelView) -> None:
    """Tell the channel's other readers; at most once per user and channel per interval."""
    interval = current_app.config["REALTIME_TYPING_INTERVAL"]
    if redis.set(f"{namespace()}:typing:{user.id}:{channel.id}", 1, nx=True, ex=interval):
        channel_event(channel, {"type": "typing", "channel_id": channel.id, "user_id": user.id,
                                "username": user.username}, exclude_user=user.id)


def membership_revoked(channel: ChannelView, user_id: str) -> None:
    """The user's sockets on this channel close at once; /ws stops carrying it (audiences are per event)."""
    publish("revoke", {"type": "channel_removed", "channel_id": channel.id}, channel.id, [user_id],
            user_id=user_id)


def tokens_revoked(user_id: str, digests: list[str]) -> None:
    """After a token reset: every process closes the sockets opened with the revoked tokens (4001)."""
    if digests:
        publish("tokens_revoked", {"type": "session_revoked"}, None, [user_id], user_id=user_id, digests=digests)


def channel_deleted(channel_id: str, audience: list[str] | None) -> None:
    """Close the channel's sockets and tell /ws sockets; audience is taken before the delete."""
    publish("channel_deleted", {"type": "channel_deleted", "channel_id": channel_id}, channel_id, audience)


def frame_allowed(user_id: str) -> tuple[bool, int]:
    """Fixed-window count of a user's client frames, shared through Redis by every process.

    Returns (allowed, seconds until the window resets)."""
    config = current_app.config
    window = config["REALTIME_FRAME_WINDOW"]
    now = time.time()
    key = f"{namespace()}:frames:{user_id}:{int(now // window)}"
    pipe = redis.pipeline()
    pipe.incr(key)
    pipe.expire(key, window * 2)
    count = pipe.execute()[0]
    return count <= config["REALTIME_FRAME_LIMIT"], int(window - now % window) + 1
