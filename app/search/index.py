"""Keeping the search index current: inside the transactions that store, edit and reindex messages.

rows(), insert() and replace() run in the caller's transaction and do not commit: a message and
its index rows are kept or lost together. reindex_after() is a transaction of its own. Deleting a message needs no call: its rows go with it (ON DELETE
CASCADE), whatever deletes it (a user, a moderator, a ban's purge, a deleted channel).
"""
import sqlalchemy as sa

from .. import crypto
from ..database import Prepared
from ..extensions import db
from ..models import Message, MessageTerm
from .digests import message_digests
from .tokens import index_terms

_INSERT = Prepared(sa.insert(MessageTerm.__table__))


def rows(message_id: str, channel_id: str, text: str) -> list[dict]:
    """The index rows of a message's text (none when it has no terms), for insert()."""
    key_id, digests = message_digests(channel_id, index_terms(text))
    return [{"digest": digest, "message_id": message_id, "key_id": key_id} for digest in set(digests)]


def on_driver(prepared: Prepared, values: list[dict], fetch: bool = False) -> list:
    """Run a statement compiled once on the session's driver connection, in its transaction:
    executemany over `values`, or (fetch) one execution returning the first column of each row."""
    connection = db.session.connection()
    sql, names, binds, _results = prepared.plan(connection.dialect)
    processed = [{name: (process(row[name]) if process else row[name]) for name, process in binds.items()}
                 for row in values]
    params = [[row[name] for name in names] for row in processed] if names is not None else processed
    cursor = connection.connection.driver_connection.cursor()
    try:
        if fetch:
            cursor.execute(sql, params[0])
            return [row[0] for row in cursor.fetchall()]
        cursor.executemany(sql, params)
        return []
    finally:
        cursor.close()


def insert(new_rows: list[dict]) -> None:
    """The rows in one executemany, through the statement compiled once."""
    if new_rows:
        on_driver(_INSERT, new_rows)


def replace(message_id: str, channel_id: str, text: str) -> None:
    """An edited message: its rows are those of the new text, under the current index key."""
    db.session.execute(sa.delete(MessageTerm).where(MessageTerm.message_id == message_id))
    insert(rows(message_id, channel_id, text))


def reindex_after(after: str | None, batch: int) -> tuple[str | None, int]:
    """Index the next `batch` messages by id after `after` (None: from the first) under the
    current index key, replacing their rows. Returns (the last id done or None when none were
    left, how many). Commits. The messages are locked while this runs (on PostgreSQL; SQLite
    has one writer), so an edit in between cannot be overwritten with the old text."""
    query = sa.select(Message.id, Message.channel_id, Message.key_id, Message.ciphertext).order_by(Message.id)
    if after is not None:
        query = query.where(Message.id > after)
    messages = db.session.execute(query.limit(batch).with_for_update()).all()
    if not messages:
        db.session.rollback()
        return None, 0
    ids = [message.id for message in messages]
    db.session.execute(sa.delete(MessageTerm).where(MessageTerm.message_id.in_(ids)))
    new_rows = []
    for message in messages:
        text = crypto.decrypt(message.key_id, message.ciphertext, message.channel_id)
        new_rows += rows(message.id, message.channel_id, text)
    insert(new_rows)
    db.session.commit()
    return ids[-1], len(ids)
