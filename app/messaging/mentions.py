"""Mentions: `<@user_id>` and `@username` in a message's text, resolved when it is stored.

The message keeps every existing user its text names (`mentions`); those of them who may read
the channel, the author excepted, get a mention row (their mention list and unread mention
counts) and a live `mention` event.
"""
import re

import sqlalchemy as sa

from ..accounts.auth import Caller
from ..errors import APIError
from ..extensions import db
from ..models import ChannelMember, Mention, User
from .messages import ChannelRow, MessageRow, message_rows, visible_channel

MAX_MENTIONS = 50
MENTION_RE = re.compile(r"<@([0-9a-fA-F-]{36})>|(?<![\w.@<-])@([A-Za-z0-9_.-]{3,32})")


def resolve(text: str) -> list[str]:
    """The existing users the text names, in order of first mention, at most MAX_MENTIONS."""
    if "@" not in text:  # the common case costs one scan of the text
        return []
    tokens = list(dict.fromkeys(_tokens(text)))[:4 * MAX_MENTIONS]
    if not tokens:
        return []
    rows = db.session.execute(sa.select(User.id, User.username_key).where(
        sa.or_(User.id.in_(tokens), User.username_key.in_(tokens)))).all()
    by_key = {key: user_id for user_id, key in rows} | {user_id: user_id for user_id, _ in rows}
    found = dict.fromkeys(by_key[token] for token in tokens if token in by_key)
    return list(found)[:MAX_MENTIONS]


def _tokens(text: str):
    for match in MENTION_RE.finditer(text):
        if match.group(1):
            yield match.group(1).lower()
        else:
            name = match.group(2).lower()
            yield name
            yield name.rstrip(".")  # "@bob." at the end of a sentence names bob


def readers(channel: ChannelRow, user_ids: list[str]) -> list[str]:
    """Which of these users may read the channel (a direct conversation: its members only)."""
    if not user_ids or not channel.is_private:
        return list(user_ids)
    allowed = set(db.session.scalars(sa.select(ChannelMember.user_id).where(
        ChannelMember.channel_id == channel.id, ChannelMember.user_id.in_(user_ids))))
    if not channel.is_dm:
        allowed |= set(db.session.scalars(sa.select(User.id).where(
            User.id.in_(user_ids), sa.or_(User.is_owner.is_(True), User.is_admin.is_(True)))))
    return [user_id for user_id in user_ids if user_id in allowed]


def record(message: MessageRow, channel: ChannelRow, mentioned: list[str]) -> list[str]:
    """Add the mention rows of a message in the session's transaction; returns who to notify."""
    notify = [user_id for user_id in readers(channel, mentioned) if user_id != message.sender_id]
    if notify:
        db.session.execute(sa.insert(Mention), [{"user_id": user_id, "message_id": message.id,
                                                 "channel_id": channel.id} for user_id in notify])
    return notify


def replace(message: MessageRow, channel: ChannelRow, mentioned: list[str]) -> list[str]:
    """After an edit: the rows follow the new text; returns the users mentioned anew."""
    before = set(db.session.scalars(sa.select(Mention.user_id).where(Mention.message_id == message.id)))
    db.session.execute(sa.delete(Mention).where(Mention.message_id == message.id))
    return [user_id for user_id in record(message, channel, mentioned) if user_id not in before]


def page(caller: Caller, before: str | None, limit: int) -> tuple[list[MessageRow], str | None]:
    """The caller's mentions, newest first, in channels they may still read; and the cursor of
    the next page (None after the last)."""
    query = sa.select(Mention.message_id).where(Mention.user_id == caller.id)
    if before:
        query = query.where(Mention.message_id < before.lower())
    ids = list(db.session.scalars(query.order_by(Mention.message_id.desc()).limit(limit)))
    rows = sorted(message_rows(set(ids)), key=lambda row: row.id, reverse=True)
    readable: dict[str, bool] = {}
    for channel_id in {row.channel_id for row in rows}:
        try:
            readable[channel_id] = bool(visible_channel(caller, channel_id))
        except APIError:
            readable[channel_id] = False
    return [row for row in rows if readable[row.channel_id]], (ids[-1] if len(ids) == limit else None)
