"""History pages: a channel's messages as clients read them, each page in one prepared statement.

It reads the page and everything a message joins: its sender, whether it is pinned, the original
it replies to and that original's sender, and its reactions (many per message, read as one string
by a subquery on the reactions' primary key). The page is chosen in a subquery first, so only its
rows are joined however deep the cursor or the page number. There is one statement per kind of
page and page size (page_statement()). The texts (the page's and the
replied originals') are decrypted with one look-up of the key file, a reply to a message of the
same page reuses its text, and each sender's fields are built once per page.
"""
import functools
from collections import namedtuple

import sqlalchemy as sa

from .. import crypto
from ..accounts.auth import CALLER_COLUMNS, Caller
from ..database import IsoTime, Prepared
from ..extensions import db
from ..models import Message, Pin, User
from .frames import object_of, reply_summary, sender_fields
from .messages import ChannelRow, in_channel
from .reactions import given_column, reactions_in

_messages = Message.__table__
# What an object shows of a sender: the Caller fields up to the roles (the rest keep defaults).
_SENDER_KEYS = [column.key for column in CALLER_COLUMNS][:6]
_ORIGINAL_KEYS = ("id", "channel_id", "sender_id", "key_id", "ciphertext")
_TIMES = {"sent_at", "edited_at"}


def _statement(newest_first: bool, limit: int, offset: bool, before: bool, after: bool, postgresql: bool) -> Prepared:
    """The page's messages oldest first with what they join."""
    condition, order = in_channel(_messages, sa.bindparam("channel_id"), as_range=postgresql)
    page = sa.select(*_messages.c).where(condition)
    message_id = _messages.c.id
    if before:
        page = page.where(message_id < sa.bindparam("before"))
    if after:
        page = page.where(message_id > sa.bindparam("after"))
    page = page.order_by(*((column.desc() for column in order) if newest_first else order))
    # The limit is written into the SQL, not bound. With a bound LIMIT, PostgreSQL's one plan for
    # every channel of a large table looks costly, so it planned each page again (0.4-0.6 ms of
    # its CPU, more than running it). OFFSET is always written (SQLite renders one with any LIMIT).
    page = page.limit(sa.literal_column(str(int(limit)), sa.Integer)).offset(
        sa.bindparam("offset", type_=sa.Integer) if offset else sa.literal_column("0", sa.Integer))
    page = page.subquery("page")
    sender, pins = User.__table__.alias("sender"), Pin.__table__
    replied, joined = _with_originals(page, page.outerjoin(sender, sender.c.id == page.c.sender_id)
                                      .outerjoin(pins, pins.c.message_id == page.c.id), postgresql)
    # The times come as the text objects show (IsoTime), the other columns as stored.
    columns = [*(IsoTime(column).label(column.key) if column.key in _TIMES else column for column in page.c),
               *(sender.c[key].label(f"by_{key}") for key in _SENDER_KEYS),
               pins.c.message_id.is_not(None).label("pinned"),
               *replied,
               given_column(page.c.id).label("reactions")]
    return Prepared(sa.select(*columns).select_from(joined).order_by(page.c.id), "HistoryRow")


def _with_originals(page, joined, postgresql: bool) -> tuple[list, object]:
    """The replied originals' columns (and their senders' names), and `joined` joined to them.

    PostgreSQL reads them in a LATERAL subquery, which OFFSET 0 keeps from being merged into the
    page's joins: it plans the page in about two thirds of the time. SQLite has no LATERAL."""
    original, author = _messages.alias("original"), User.__table__.alias("author")
    columns = [*(original.c[key].label(f"original_{key}") for key in _ORIGINAL_KEYS),
               author.c.username.label("author_username")]
    if not postgresql:
        joined = (joined.outerjoin(original, original.c.id == page.c.reply_to_id)
                  .outerjoin(author, author.c.id == original.c.sender_id))
        return columns, joined
    reply = (sa.select(*columns).select_from(original.outerjoin(author, author.c.id == original.c.sender_id))
             .where(original.c.id == page.c.reply_to_id).offset(sa.literal_column("0", sa.Integer)).lateral("reply"))
    return list(reply.c), joined.outerjoin(reply, sa.true())


# What each kind of page reads: newest first or not, and its cursors.
_KINDS = {"newest": (True, False, False), "before": (True, True, False), "after": (False, False, True),
          "between": (False, True, True)}


@functools.lru_cache(maxsize=1024)  # at most 4 kinds x the limits a page may have x (offset or not)
def page_statement(dialect: str, kind: str, limit: int, offset: bool) -> Prepared:
    """The statement of one kind of page (newest, before a cursor, after one, between two) and size."""
    newest_first, before, after = _KINDS[kind]
    return _statement(newest_first, limit, offset, before, after, postgresql=dialect == "postgresql")


_SENDER = slice(len(_messages.c), len(_messages.c) + len(_SENDER_KEYS))


# The replied-to message as reply_summary() reads it.
_Original = namedtuple("Original", _ORIGINAL_KEYS)


def page(channel: ChannelRow, viewer: str, number: int, per_page: int) -> list[dict]:
    """Page `number` counted from the newest (page 1), oldest first."""
    return _objects(channel, viewer, "newest", per_page, {"channel_id": channel.id, "offset": (number - 1) * per_page})


def around(channel: ChannelRow, viewer: str, before: str | None, after: str | None, limit: int) -> list[dict]:
    """Keyset paging: the newest `limit` before a cursor (or the newest of all), or the oldest
    `limit` after one (and before the other)."""
    # Ids are stored lower-case and compared as strings; a UUID may arrive in either case.
    values = {"channel_id": channel.id, "offset": 0, "before": before and before.lower(), "after": after and after.lower()}
    if after:
        kind = "between" if before else "after"
    else:
        kind = "before" if before else "newest"
    return _objects(channel, viewer, kind, limit, values)


def _objects(channel: ChannelRow, viewer: str, kind: str, limit: int, values: dict) -> list[dict]:
    statement = page_statement(db.session.connection().dialect.name, kind, limit, values["offset"] > 0)
    rows = statement.all(values)
    if not rows:
        return []
    texts = dict(zip((row.id for row in rows),
                     crypto.decrypt_all((row.key_id, row.ciphertext, row.channel_id) for row in rows)))
    away = [row for row in rows if row.original_id is not None and row.original_id not in texts]
    texts.update(zip((row.original_id for row in away), crypto.decrypt_all(
        (row.original_key_id, row.original_ciphertext, row.original_channel_id) for row in away)))
    senders: dict[str | None, tuple] = {}
    result = []
    for row in rows:
        sender = senders.get(row.by_id)
        if sender is None:
            sender = senders[row.by_id] = sender_fields(Caller(*row[_SENDER]) if row.by_id is not None else None)
        reply = None
        if row.reply_to_id is not None:
            original = _Original(row.original_id, row.original_channel_id, row.original_sender_id,
                                 row.original_key_id, row.original_ciphertext) if row.original_id is not None else None
            author = Caller(original.sender_id, row.author_username, "offline", None, False, False) \
                if row.author_username is not None else None
            reply = reply_summary(row.reply_to_id, original, author, texts.get(row.original_id))
        result.append(object_of(row, texts[row.id], sender, channel.is_private, reply,
                                reactions_in(row.reactions, viewer), row.pinned))
    return result
