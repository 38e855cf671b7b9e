"""Channel access, message history and read state: the rules shared by REST and WebSocket routes.

Row types (the request path reads these, never ORM objects):

- `ChannelRow`: a channel's columns (id, name, name_key, is_private, is_dm, created_by, created_at)
  and `is_member`, whether the account it was read for belongs to it (False when read for no
  account, as the fan-out task does). Read by `visible_channel()` in one prepared statement.
- `MessageRow`: a message's columns as stored (id, channel_id, sender_id, key_id, ciphertext,
  hashed_message, attachments, sent_at, edited_at, reply_to_id, mentions), read by id;
  app/messaging/frames.py turns them into what clients read (history pages: history.py).

A direct conversation (is_dm) is a private channel that only its two members read: staff see
every other private channel, never a direct one.
"""
import re
from collections import namedtuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ..accounts.auth import Caller
from ..database import Prepared
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import Channel, ChannelMember, DirectPair, Mention, Message, ReadState, User

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

_MESSAGE_COLUMNS = tuple(Message.__table__.c)
MessageRow = namedtuple("MessageRow", [column.key for column in _MESSAGE_COLUMNS])
# A message by id: every route that names one (edits, reactions, pins, read marks) reads it.
_MESSAGE_BY_ID = Prepared(sa.select(*_MESSAGE_COLUMNS).where(Message.id == sa.bindparam("message_id")))
_MESSAGES_BY_IDS = sa.select(*_MESSAGE_COLUMNS).where(Message.id.in_(sa.bindparam("ids", expanding=True)))


def channel_row(channel_id: str, user_id: str | None = None) -> ChannelRow | None:
    """The channel as a row (is_member for user_id), or None when there is no such channel."""
    if len(channel_id) > 64:  # longer than any id: not worth a query
        return None
    return _CHANNEL_FOR_USER.first({"channel_id": channel_id, "user_id": user_id})


def can_see(user: Caller, channel: ChannelRow) -> bool:
    if not channel.is_private or (user.is_staff and not channel.is_dm):
        return True
    return db.session.get(ChannelMember, (channel.id, user.id)) is not None


def visible_channel(user: Caller, channel_id: str) -> ChannelRow:
    """The channel if the user may see it; a private channel is a 404 to outsiders."""
    channel = channel_row(channel_id, user.id)
    if channel is None or (channel.is_private and not channel.is_member and (channel.is_dm or not user.is_staff)):
        raise APIError(404, "Channel not found", "UNKNOWN_CHANNEL")
    return channel


def readable_message(user: Caller, message_id: str) -> tuple[ChannelRow, MessageRow]:
    """A message by id with its channel, if the user may read it; else 404 (a hidden channel's
    messages are as unknown as messages that never existed)."""
    message = message_row(message_id.lower()) if MESSAGE_ID_RE.fullmatch(message_id) else None
    if message is not None:
        try:
            return visible_channel(user, message.channel_id), message
        except APIError:
            pass
    raise APIError(404, "Message not found", "UNKNOWN_MESSAGE")


def visible_channels_query(user: Caller):
    query = sa.select(Channel)
    member_of = sa.select(ChannelMember.channel_id).where(ChannelMember.user_id == user.id)
    if not user.is_staff:
        query = query.where(sa.or_(Channel.is_private.is_(False), Channel.id.in_(member_of)))
    else:
        query = query.where(sa.or_(Channel.is_dm.is_(False), Channel.id.in_(member_of)))
    return query.order_by(Channel.created_at, Channel.id)


def in_channel(table, value, as_range: bool) -> tuple:
    """(condition, order) selecting a channel's messages in id order, for `table` (messages or an
    alias) and `value` (the channel id or a bound parameter).

    as_range (PostgreSQL): the channel is written as a range of its one id and the order is
    (channel_id, id). PostgreSQL then cannot drop channel_id from the order as a constant, and
    only the (channel_id, id) index yields it. With "=" its planner may bet on finding the rows
    early in another order (the primary key backwards, or the table itself) and read every newer
    message of every other channel first: tens of milliseconds for a quiet channel of a busy
    server. SQLite keeps "=" and id order: within a range it would not start at a cursor."""
    if as_range:
        return sa.and_(table.c.channel_id >= value, table.c.channel_id <= value), (table.c.channel_id, table.c.id)
    return table.c.channel_id == value, (table.c.id,)


def unread_count(user: Caller, channel_id: str, last_read: str | None) -> int:
    messages, on_postgresql = Message.__table__, db.session.connection().dialect.name == "postgresql"
    condition, order = in_channel(messages, channel_id, on_postgresql)
    newer = sa.select(messages.c.id).where(condition, messages.c.sender_id != user.id)
    if last_read:
        newer = newer.where(messages.c.id > last_read)
    if on_postgresql:  # a count needs no order, but the order keeps PostgreSQL on the index
        newer = newer.order_by(*order)
    return db.session.scalar(sa.select(sa.func.count()).select_from(newer.limit(UNREAD_COUNT_CAP).subquery()))


def unread_mentions(user: Caller) -> dict[str, int]:
    """Per channel, the user's mentions after their read position, in one grouped query."""
    read = sa.select(ReadState.last_read_message_id).where(
        ReadState.user_id == user.id, ReadState.channel_id == Mention.channel_id).scalar_subquery()
    query = (sa.select(Mention.channel_id, sa.func.count()).where(
        Mention.user_id == user.id, sa.or_(read.is_(None), Mention.message_id > read)).group_by(Mention.channel_id))
    return dict(db.session.execute(query).all())


def dm_partners(user: Caller) -> dict[str, dict]:
    """For each direct conversation of the user, the other member's public summary."""
    other = sa.case((DirectPair.user_low == user.id, DirectPair.user_high), else_=DirectPair.user_low)
    rows = db.session.execute(sa.select(DirectPair.channel_id, User.id, User.username, User.avatar_url, User.status)
                              .join(User, User.id == other)
                              .where(sa.or_(DirectPair.user_low == user.id, DirectPair.user_high == user.id)))
    return {row[0]: {"user_id": row[1], "username": row[2], "avatar_url": row[3], "status": row[4]} for row in rows}


def channel_list(user: Caller) -> list[dict]:
    """Channels the user may see, each with that user's read position, unread count and unread
    mentions; a direct conversation names the other user."""
    channels = db.session.scalars(visible_channels_query(user)).all()
    reads = dict(db.session.execute(
        sa.select(ReadState.channel_id, ReadState.last_read_message_id).where(ReadState.user_id == user.id)).all())
    mentioned = unread_mentions(user)
    partners = dm_partners(user) if any(channel.is_dm for channel in channels) else {}
    result = []
    for channel in channels:
        last_read = reads.get(channel.id)
        entry = {**channel.to_dict(), "last_read_message_id": last_read,
                 "unread_count": unread_count(user, channel.id, last_read),
                 "unread_mentions": mentioned.get(channel.id, 0)}
        if channel.is_dm:
            entry["other_user"] = partners.get(channel.id)
        result.append(entry)
    return result


def message_rows(message_ids: set[str]) -> list[MessageRow]:
    """The stored messages among these ids (batched lookups: replies' originals, mentions)."""
    if len(message_ids) < 2:  # none, or one through the prepared statement (a reply just off the page)
        return [row for row in map(message_row, message_ids) if row is not None]
    return [MessageRow(*row) for row in db.session.connection().execute(_MESSAGES_BY_IDS,
                                                                        {"ids": list(message_ids)})]


def message_row(message_id: str) -> MessageRow | None:
    row = _MESSAGE_BY_ID.first({"message_id": message_id})
    return MessageRow(*row) if row is not None else None


def channel_message(channel: ChannelRow, message_id: str) -> MessageRow:
    message = message_row(message_id.lower()) if MESSAGE_ID_RE.fullmatch(message_id) else None
    if message is None or message.channel_id != channel.id:
        raise APIError(404, "Message not found", "UNKNOWN_MESSAGE")
    return message


def delete_message(message: MessageRow) -> None:
    """Delete the message in the session's transaction (its file references go with it)."""
    db.session.execute(sa.delete(Message).where(Message.id == message.id))


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
