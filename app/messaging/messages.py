"""Channel access, messages and read state: the rules shared by REST and WebSocket routes."""
import re

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from .. import crypto
from ..accounts.auth import Account
from ..database import Prepared
from ..errors import APIError
from ..extensions import db
from ..ids import iso, utcnow, uuid7
from ..models import Channel, ChannelMember, Message, ReadState, User
from ..files.intake import path_of_url
from ..urls import absolute_url, signed_url

MESSAGE_ID_RE = re.compile(r"[0-9a-fA-F-]{1,36}")
# Unread counts stop at this many, as chat clients show "999+": counting is bounded by it.
UNREAD_COUNT_CAP = 1000


# The channel and whether the user is a member, in one statement built once.
_CHANNEL_FOR_USER = Prepared(sa.select(
    Channel.__table__,
    sa.exists().where(ChannelMember.channel_id == Channel.id, ChannelMember.user_id == sa.bindparam("user_id"))
    .label("is_member"),
).where(Channel.id == sa.bindparam("channel_id")), "ChannelRow")
ChannelRow = _CHANNEL_FOR_USER.row
ChannelView = Channel | ChannelRow  # visible_channel() gives a row; code that only reads takes either


def can_see(user: Account, channel: ChannelView) -> bool:
    if not channel.is_private or user.is_staff:
        return True
    return db.session.get(ChannelMember, (channel.id, user.id)) is not None


def visible_channel(user: Account, channel_id: str) -> ChannelRow:
    """The channel, as a read-only row, if the user may see it; a private channel is a 404 to
    outsiders. A row, not an ORM object: the routes that take a channel id only read it."""
    channel = None
    if len(channel_id) <= 64:
        channel = _CHANNEL_FOR_USER.first({"channel_id": channel_id, "user_id": user.id})
    if channel is None or (channel.is_private and not channel.is_member and not user.is_staff):
        raise APIError(404, "Channel not found", "UNKNOWN_CHANNEL")
    return channel


def visible_channels_query(user: Account):
    query = sa.select(Channel)
    if not user.is_staff:
        member_of = sa.select(ChannelMember.channel_id).where(ChannelMember.user_id == user.id)
        query = query.where(sa.or_(Channel.is_private.is_(False), Channel.id.in_(member_of)))
    return query.order_by(Channel.created_at, Channel.id)


def visible_channel_ids(user: Account) -> set[str]:
    return set(db.session.scalars(visible_channels_query(user).with_only_columns(Channel.id)))


def unread_count(user: Account, channel_id: str, last_read: str | None) -> int:
    newer = sa.select(Message.id).where(Message.channel_id == channel_id, Message.sender_id != user.id)
    if last_read:
        newer = newer.where(Message.id > last_read)
    return db.session.scalar(sa.select(sa.func.count()).select_from(newer.limit(UNREAD_COUNT_CAP).subquery()))


def channel_list(user: Account) -> list[dict]:
    """Channels the user may see, each with that user's read position and unread count."""
    channels = db.session.scalars(visible_channels_query(user)).all()
    reads = dict(db.session.execute(
        sa.select(ReadState.channel_id, ReadState.last_read_message_id).where(ReadState.user_id == user.id)).all())
    result = []
    for channel in channels:
        last_read = reads.get(channel.id)
        result.append({**channel.to_dict(), "last_read_message_id": last_read,
                       "unread_count": unread_count(user, channel.id, last_read)})
    return result


def serialize(messages: list[Message], known_senders: tuple[Account, ...] = ()) -> list[dict]:
    """Message objects as clients read them, with the sender's current name, avatar and roles
    (senders already at hand are not loaded again)."""
    senders = {user.id: user for user in known_senders}
    missing = {m.sender_id for m in messages if m.sender_id and m.sender_id not in senders}
    if missing:
        senders.update((u.id, u) for u in db.session.scalars(sa.select(User).where(User.id.in_(missing))))
    private = _private_channel_ids({m.channel_id for m in messages if m.attachments})
    result = []
    for message in messages:
        sender = senders.get(message.sender_id)
        result.append({
            "message_id": message.id,
            "sender_user_id": message.sender_id,
            "channel_id": message.channel_id,
            "message": crypto.decrypt(message.key_id, message.ciphertext, message.channel_id),
            "hashed_message": message.hashed_message,
            "username": sender.username if sender else "deleted-user",
            "sender_avatar_url": absolute_url(sender.avatar_url) if sender else None,
            "sender_status": sender.status if sender else "offline",
            "sender_roles": sender.roles if sender else [],
            "sent_at": iso(message.sent_at),
            "attachments": [signed_url(url, path_of_url(url)) if message.channel_id in private else url
                            for url in message.attachments or []],
        })
    return result


def _private_channel_ids(channel_ids: set[str]) -> set[str]:
    """Which of these channels are private (their attachment links get signed)."""
    if not channel_ids:
        return set()
    return set(db.session.scalars(sa.select(Channel.id).where(Channel.id.in_(channel_ids), Channel.is_private)))


_INSERT_MESSAGE = Prepared(Message.__table__.insert())


def store_message(user: Account, channel: ChannelView, text: str, attachments: list[str]) -> Message:
    """Encrypt and store a message (the hottest write). Without attachments it is committed at
    once; with them it joins the session's transaction and the caller commits it together
    with their file references."""
    key_id, ciphertext = crypto.encrypt(text, channel.id)
    values = {"id": uuid7(), "channel_id": channel.id, "sender_id": user.id, "key_id": key_id,
              "ciphertext": ciphertext, "hashed_message": crypto.digest(text), "attachments": attachments,
              "sent_at": utcnow()}
    if attachments:
        _INSERT_MESSAGE.execute(values)
    else:
        _INSERT_MESSAGE.execute_alone(values)
    return Message(**values)


def advance_read_state(user_id: str, channel_id: str, message_id: str) -> None:
    """Move the user's read position forward to message_id (never backward)."""
    # One upsert, not read-then-write: concurrent marks by one user must neither collide on
    # the first insert nor move the position back.
    insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    now = utcnow()
    statement = insert(ReadState).values(user_id=user_id, channel_id=channel_id, last_read_message_id=message_id,
                                         updated_at=now)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[ReadState.user_id, ReadState.channel_id],
        set_={"last_read_message_id": message_id, "updated_at": now},
        where=ReadState.last_read_message_id < message_id))


def channel_message(channel: ChannelView, message_id: str) -> Message:
    message = db.session.get(Message, message_id.lower()) if MESSAGE_ID_RE.fullmatch(message_id) else None
    if message is None or message.channel_id != channel.id:
        raise APIError(404, "Message not found", "UNKNOWN_MESSAGE")
    return message


def page_of_messages(channel: ChannelView, page: int, per_page: int) -> list[Message]:
    """Page 1 holds the newest messages; each page is returned oldest first."""
    rows = db.session.scalars(sa.select(Message).where(Message.channel_id == channel.id)
                              .order_by(Message.id.desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(reversed(rows))


def messages_around(channel: ChannelView, before: str | None, after: str | None, limit: int) -> list[Message]:
    """Keyset paging: the newest `limit` before a cursor, or the oldest `limit` after one."""
    # Ids are stored lower-case and compared as strings; a UUID may arrive in either case.
    before, after = before and before.lower(), after and after.lower()
    query = sa.select(Message).where(Message.channel_id == channel.id)
    if before:
        query = query.where(Message.id < before)
    if after:
        return list(db.session.scalars(query.where(Message.id > after).order_by(Message.id).limit(limit)))
    return list(reversed(db.session.scalars(query.order_by(Message.id.desc()).limit(limit)).all()))
