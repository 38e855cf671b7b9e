"""Messages matching a query in the channels a caller may read now, newest first.

For each readable channel and each index key, one index range: the messages holding the
query's longest term (probably its rarest), newest first, each checked for the other terms
and the filters by index lookups, stopping after the rows needed. The ranges of up to
CHUNK channels and keys are one UNION ALL statement; the newest of them all win. Every
candidate is then decrypted and its text checked against the query (exact no-space runs, and
no 64-bit digest collision), so the index only narrows and never decides alone.
"""
import functools
from dataclasses import dataclass

import sqlalchemy as sa

from .. import crypto
from ..accounts.auth import Caller
from ..database import Prepared
from ..extensions import db
from ..messaging.messages import MessageRow, message_rows, visible_channel, visible_channels_query
from ..models import Channel, Message, MessageTerm
from .digests import query_digests
from .index import on_driver
from .tokens import Query

CHUNK = 100  # index ranges per statement (SQLite allows at most 500 compound terms)
MAX_ROUNDS = 10  # candidate reads per page; past it the page ends early, its cursor where it stopped

_TERMS = MessageTerm.__table__


@dataclass(frozen=True)
class Filters:
    channel_id: str | None = None
    from_user_id: str | None = None
    below: str | None = None  # message ids strictly below this (before, or the cursor)
    above: str | None = None  # message ids strictly above this (after)
    has_attachment: bool = False


@dataclass(frozen=True)
class Hit:
    message: MessageRow
    text: str
    channel: sa.Row  # id, name, is_private, is_dm


def readable_channels(caller: Caller, channel_id: str | None) -> dict[str, sa.Row]:
    """The channels searched: the one named (404 unless the caller may read it) or all readable now."""
    columns = (Channel.id, Channel.name, Channel.is_private, Channel.is_dm)
    if channel_id is not None:
        visible_channel(caller, channel_id)
        query = sa.select(*columns).where(Channel.id == channel_id)
    else:
        query = visible_channels_query(caller).with_only_columns(*columns)
    return {row.id: row for row in db.session.execute(query)}


def _range(index: int, terms: int, shape: tuple[bool, bool, bool, bool]):
    """One channel's and key's candidates: the first term's index range, the rest checked by lookups."""
    below, above, sender, attachment = shape
    first = _TERMS.alias(f"r{index}t0")
    query = sa.select(first.c.message_id.label("message_id")).where(first.c.digest == sa.bindparam(f"d{index}_0"))
    for term in range(1, terms):
        other = _TERMS.alias(f"r{index}t{term}")
        query = query.where(sa.exists().where(other.c.digest == sa.bindparam(f"d{index}_{term}"),
                                              other.c.message_id == first.c.message_id))
    if below:
        query = query.where(first.c.message_id < sa.bindparam("below"))
    if above:
        query = query.where(first.c.message_id > sa.bindparam("above"))
    if sender or attachment:
        conditions = [Message.id == first.c.message_id]
        if sender:
            conditions.append(Message.sender_id == sa.bindparam("sender"))
        if attachment:
            conditions.append(sa.func.json_array_length(Message.attachments) > sa.literal_column("0"))
        query = query.where(sa.exists().where(*conditions))
    return _limited(query.order_by(first.c.message_id.desc())).subquery()


def _limited(query):
    # A bound OFFSET 0 beside the bound LIMIT: SQLite would otherwise add an OFFSET parameter of its own.
    return query.limit(sa.bindparam("count")).offset(sa.bindparam("skip"))


@functools.lru_cache(maxsize=256)
def _statement(ranges: int, terms: int, shape: tuple[bool, bool, bool, bool]) -> Prepared:
    """The UNION ALL of `ranges` ranges, compiled once per shape: building and compiling it for
    every request would cost more than the database's work."""
    parts = [sa.select(_range(index, terms, shape).c.message_id) for index in range(ranges)]
    union = (sa.union_all(*parts) if len(parts) > 1 else parts[0]).subquery()
    return Prepared(_limited(sa.select(union.c.message_id).order_by(union.c.message_id.desc())))


def candidate_ids(ranges: list[list[int]], filters: Filters, below: str | None, count: int) -> list[str]:
    """The newest `count` message ids over every range, newest first."""
    shape = (below is not None, filters.above is not None, filters.from_user_id is not None, filters.has_attachment)
    common = {"below": below, "above": filters.above, "sender": filters.from_user_id, "count": count, "skip": 0}
    found: list[str] = []
    for start in range(0, len(ranges), CHUNK):
        chunk = ranges[start:start + CHUNK]
        values = dict(common)
        for index, digests in enumerate(chunk):
            values.update((f"d{index}_{term}", digest) for term, digest in enumerate(digests))
        found += on_driver(_statement(len(chunk), len(chunk[0]), shape), [values], fetch=True)
    return sorted(found, reverse=True)[:count]


def matching(caller: Caller, query: Query, filters: Filters, count: int) -> tuple[list[Hit], str | None]:
    """Up to `count` matching messages, newest first, and where the next read would start when
    this page ended early (after MAX_ROUNDS reads), else None."""
    channels = readable_channels(caller, filters.channel_id)
    # The longest term leads each range: it is most likely the rarest, so the range is short.
    terms = tuple(sorted(query.terms, key=lambda term: (-len(term), term)))
    ranges = [digests for _channel, digests in query_digests(list(channels), terms)]
    hits: list[Hit] = []
    below = filters.below
    for _round in range(MAX_ROUNDS):
        need = count - len(hits)
        ids = candidate_ids(ranges, filters, below, need) if ranges else []
        rows = sorted(message_rows(set(ids)), key=lambda row: row.id, reverse=True)
        for row in rows:
            channel = channels.get(row.channel_id)  # another channel's digest could collide: never shown
            if channel is None:
                continue
            text = crypto.decrypt(row.key_id, row.ciphertext, row.channel_id)
            if query.matches(text):
                hits.append(Hit(row, text, channel))
        if len(ids) < need or len(hits) >= count:
            return hits, None
        below = ids[-1]
    return hits, below
