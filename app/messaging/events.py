"""What each live event of messaging carries and who may receive it; publish() carries it there.

Channels are ChannelRows (app/messaging/messages.py) and accounts Callers (app/accounts/auth.py).
"""
import time

from flask import current_app

from ..accounts.auth import Caller
from ..extensions import redis
from ..locks import once_per
from ..realtime.audience import channel_audience
from ..realtime.hub import namespace, publish
from .messages import ChannelRow


def channel_event(channel: ChannelRow, frame: dict, exclude_user: str | None = None) -> None:
    publish("channel", frame, channel.id, channel_audience(channel), exclude_user=exclude_user)


def message_posted(channel: ChannelRow, message: dict) -> None:
    """A new message, as the message object clients read (app/messaging/frames.py)."""
    channel_event(channel, {"type": "message", **message})


def message_deleted(channel: ChannelRow, message_id: str) -> None:
    channel_event(channel, {"type": "message_deleted", "message_id": message_id, "channel_id": channel.id})


def read_receipt(user: Caller, channel: ChannelRow, message_id: str) -> None:
    channel_event(channel, {"type": "read_receipt", "channel_id": channel.id, "message_id": message_id,
                            "user_id": user.id, "username": user.username})


def typing(user: Caller, channel: ChannelRow) -> None:
    """Tell the channel's other readers; at most once per user and channel per interval."""
    if once_per(f"typing:{user.id}:{channel.id}", current_app.config["REALTIME_TYPING_INTERVAL"]):
        channel_event(channel, {"type": "typing", "channel_id": channel.id, "user_id": user.id,
                                "username": user.username}, exclude_user=user.id)


def membership_revoked(channel: ChannelRow, user_id: str) -> None:
    """The user's sockets on this channel close at once; /ws stops carrying it (audiences are per event)."""
    publish("revoke", {"type": "channel_removed", "channel_id": channel.id}, channel.id, [user_id],
            user_id=user_id)


def tokens_revoked(user_id: str, digests: list[str], close_code: int = 4001, reason: str = "auth_token revoked") -> None:
    """After a token reset or a ban: every process closes the sockets opened with the revoked
    tokens, with close_code (4001; a ban sends 4003 "Banned")."""
    if digests:
        publish("tokens_revoked", {"type": "session_revoked"}, None, [user_id], user_id=user_id, digests=digests,
                close_code=close_code, reason=reason)


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
