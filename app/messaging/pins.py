"""Pins: admins and the owner pin in any channel they see, either member in a direct conversation."""
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..accounts.auth import Caller
from ..errors import APIError
from ..extensions import db
from ..ids import iso
from ..models import Pin
from . import events
from .frames import serialize
from .messages import ChannelRow, channel_message, message_rows, visible_channel

MAX_PINS = 50


def _target(caller: Caller, channel_id: str, message_id: str):
    channel = visible_channel(caller, channel_id)
    message = channel_message(channel, message_id)
    if not (caller.is_staff or channel.is_dm):  # a direct conversation is visible to its members only
        raise APIError(403, "Only admins and the server owner may pin messages here", "MISSING_ACCESS")
    return channel, message


def pin(caller: Caller, channel_id: str, message_id: str) -> None:
    """Pin a message (pinning it again changes nothing); at most MAX_PINS per channel. Commits."""
    channel, message = _target(caller, channel_id, message_id)
    if db.session.get(Pin, message.id) is not None:
        return
    if db.session.scalar(sa.select(sa.func.count()).where(Pin.channel_id == channel.id)) >= MAX_PINS:
        raise APIError(400, f"A channel holds at most {MAX_PINS} pins", "TOO_MANY_PINS")
    db.session.add(Pin(message_id=message.id, channel_id=channel.id, pinned_by=caller.id))
    try:
        db.session.flush()
        events.pin_changed(channel, True, message.id, caller.id)
        db.session.commit()
    except IntegrityError:  # pinned by a concurrent request: its event is rolled back with it
        db.session.rollback()


def unpin(caller: Caller, channel_id: str, message_id: str) -> None:
    """Unpin a message (unpinning one that is not pinned changes nothing). Commits."""
    channel, message = _target(caller, channel_id, message_id)
    deleted = db.session.execute(sa.delete(Pin).where(Pin.message_id == message.id)).rowcount
    if deleted:
        events.pin_changed(channel, False, message.id, caller.id)
    db.session.commit()


def pinned_messages(caller: Caller, channel: ChannelRow) -> list[dict]:
    """The channel's pinned messages, newest pin first, each with pinned_at and pinned_by."""
    pins = db.session.execute(sa.select(Pin.message_id, Pin.pinned_at, Pin.pinned_by)
                              .where(Pin.channel_id == channel.id)
                              .order_by(Pin.pinned_at.desc(), Pin.message_id.desc()).limit(MAX_PINS)).all()
    rows = {row.id: row for row in message_rows({p.message_id for p in pins})}
    objects = {obj["message_id"]: obj for obj in serialize(list(rows.values()), caller.id)}
    return [{**objects[p.message_id], "pinned_at": iso(p.pinned_at), "pinned_by": p.pinned_by}
            for p in pins if p.message_id in objects]
