"""What each live event of messaging carries and who may receive it.

The events a client shows (messages, edits, deletions, reactions, pins, membership, channels)
are recorded in the event log in the transaction of the change: call them BEFORE the commit;
the relay publishes them after it. Read receipts, typing and token revocations are not kept:
publish() sends them after the commit.

Channels are ChannelRows (app/messaging/messages.py) and accounts Callers (app/accounts/auth.py).
"""
import sqlalchemy as sa
from flask import current_app

from ..accounts.auth import Caller
from ..extensions import db
from ..locks import once_per
from ..models import ChannelMember
from ..realtime.audience import channel_audience
from ..realtime.log import add, prepare, record
from ..realtime.wire import publish
from .messages import ChannelRow


def audience_of(channel: ChannelRow) -> list[str] | None:
    """Who may receive the channel's events now: a direct conversation's two members only, staff
    not included; other channels as the realtime package decides."""
    if channel.is_dm:
        return list(db.session.scalars(sa.select(ChannelMember.user_id).where(ChannelMember.channel_id == channel.id)))
    return channel_audience(channel)


def channel_event(channel: ChannelRow, frame: dict) -> None:
    """Record a logged event of the channel (before the commit)."""
    record("channel", frame, channel.id, audience_of(channel))


def live_event(channel: ChannelRow, frame: dict, exclude_user: str | None = None) -> None:
    """Publish a passing event of the channel (after the commit); it is not kept."""
    publish("channel", frame, channel.id, audience_of(channel), exclude_user=exclude_user)


def message_posted(channel: ChannelRow, message: dict) -> None:
    """A new message, as the message object clients read (app/messaging/frames.py)."""
    add(posted_event(channel, message))


def posted_event(channel: ChannelRow, message: dict) -> dict:
    """message_posted's row, prepared before the send writes anything (events.add() records it)."""
    return prepare("channel", {"type": "message", **message}, channel.id, audience_of(channel))


def message_deleted(channel: ChannelRow, message_id: str) -> None:
    channel_event(channel, {"type": "message_deleted", "message_id": message_id, "channel_id": channel.id})


def message_updated(channel: ChannelRow, message: dict) -> None:
    """An edited message, as the whole message object."""
    channel_event(channel, {"type": "message_updated", **message})


def reaction_changed(channel: ChannelRow, kind: str, message_id: str, emoji: str, user_id: str, count: int) -> None:
    """reaction_added or reaction_removed, with the emoji's new count."""
    channel_event(channel, {"type": kind, "channel_id": channel.id, "message_id": message_id, "emoji": emoji,
                            "user_id": user_id, "count": count})


def pin_changed(channel: ChannelRow, pinned: bool, message_id: str, user_id: str) -> None:
    channel_event(channel, {"type": "message_pinned" if pinned else "message_unpinned", "channel_id": channel.id,
                            "message_id": message_id, "user_id": user_id})


def mentioned(user_ids: list[str], message: dict) -> None:
    """To the mentioned users' /ws sockets, whatever channel they have open; the audience was
    resolved against who may read the channel when the message was stored."""
    if user_ids:  # an empty audience must not become None (everyone)
        record("broadcast", {"type": "mention", "channel_id": message["channel_id"],
                              "message_id": message["message_id"], "message_data": message}, message["channel_id"],
               list(user_ids))


def read_receipt(user: Caller, channel: ChannelRow, message_id: str) -> None:
    live_event(channel, {"type": "read_receipt", "channel_id": channel.id, "message_id": message_id,
                            "user_id": user.id, "username": user.username})


def typing(user: Caller, channel: ChannelRow) -> None:
    """Tell the channel's other readers; at most once per user and channel per interval."""
    if once_per(f"typing:{user.id}:{channel.id}", current_app.config["REALTIME_TYPING_INTERVAL"]):
        live_event(channel, {"type": "typing", "channel_id": channel.id, "user_id": user.id,
                                "username": user.username}, exclude_user=user.id)


def member_added(channel: ChannelRow, user_id: str) -> None:
    """A private channel's new member: its readers, the new member included, are told."""
    channel_event(channel, {"type": "member_added", "channel_id": channel.id, "user_id": user_id})


def channel_created(channel: ChannelRow, channel_data: dict) -> None:
    """A new channel, to everyone who may see it."""
    channel_event(channel, {"type": "channel_created", "channel": channel_data})


def membership_revoked(channel: ChannelRow, user_id: str) -> None:
    """The user's sockets on this channel close at once; /ws stops carrying it (audiences are per event)."""
    record("revoke", {"type": "channel_removed", "channel_id": channel.id}, channel.id, [user_id],
            user_id=user_id)


def tokens_revoked(user_id: str, digests: list[str], close_code: int = 4001, reason: str = "auth_token revoked") -> None:
    """After a token reset or a ban: every process closes the sockets opened with the revoked
    tokens, with close_code (4001; a ban sends 4003 "Banned")."""
    if digests:
        publish("tokens_revoked", {"type": "session_revoked"}, None, [user_id], user_id=user_id, digests=digests,
                close_code=close_code, reason=reason)


def channel_deleted(channel_id: str, audience: list[str] | None) -> None:
    """Close the channel's sockets and tell /ws sockets; audience is taken before the delete."""
    record("channel_deleted", {"type": "channel_deleted", "channel_id": channel_id}, channel_id, audience)
