"""Sending a message: one function owns it, from the parsed request to the live frame.

send_message() checks the caller may post in the channel and the text rules, receives the
uploads, stores the message with its attachments' file references, then announces it.

The transaction: a send is one transaction of the request's session, holding the message row
and its file references (none without attachments), committed before anything is announced;
if any part fails none of it is kept and the uploaded files are discarded. The insert runs
on the session's connection through the prepared statement, the file references through the
session (app/files/intake.py), so both are the same transaction whatever the upload count.
The message's search index rows (app/search/index.py) are inserted in the same transaction, in
one executemany after the message. The message's event (and its mentions') is recorded in the
event log in the same transaction (app/realtime/log.py), so a stored message always has its event
and a failed send has none.

A reply (reply_to) must name a message of the same channel; mentions are resolved from the text
(app/messaging/mentions.py). Neither costs a query when the message has none.
"""
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from .. import crypto
from ..accounts import moderation
from ..accounts.auth import Caller, callers_by_id
from ..admin.settings import current_settings
from ..database import Prepared
from ..errors import APIError
from ..extensions import db
from ..files import intake
from ..ids import utcnow, uuid7
from ..models import Message
from ..realtime.log import take_order_lock
from ..search import index
from ..urls import signed_url
from . import channel_rules, dms, events, mentions
from .frames import message_object, reply_summary
from .messages import ChannelRow, MessageRow, readable_message, visible_channel

MAX_ATTACHMENTS = 10

_INSERT_MESSAGE = Prepared(Message.__table__.insert())


def _insert_unless_recent() -> Prepared:
    """The same row, written only if its sender has no message in the channel since `since`
    (slow mode). One statement: atomic under SQLite's write lock, and on PostgreSQL after the
    event order lock, which the previous holders released only once their messages were visible."""
    table, recent = Message.__table__, Message.__table__.alias("recent")
    binds = {column.key: sa.bindparam(column.key, type_=column.type) for column in table.c}
    too_recent = sa.exists().where(recent.c.channel_id == binds["channel_id"], recent.c.sender_id == binds["sender_id"],
                                   recent.c.id >= sa.bindparam("since"))
    return Prepared(table.insert().from_select(list(binds), sa.select(*binds.values()).where(~too_recent)))


_INSERT_UNLESS_RECENT = _insert_unless_recent()


def send_message(caller: Caller, channel_id: str, text: str, uploads: list[FileStorage],
                 reply_to: str | None = None) -> MessageRow:
    """Store and announce a message; APIError when it may not be sent. Commits. The returned row's
    attachment links are signed in a private channel, like the message object's."""
    moderation.ensure_can_post(caller)  # banned or timed out: from the Caller row, no query
    limit = current_settings().max_message_length
    if len(text) > limit:
        raise APIError(400, f"The message is longer than {limit} characters", "MESSAGE_TOO_LONG")
    if not text.strip() and not uploads:
        raise APIError(400, "The message is empty", "EMPTY_MESSAGE")
    if len(uploads) > MAX_ATTACHMENTS:
        raise APIError(400, f"At most {MAX_ATTACHMENTS} attachments per message", "TOO_MANY_ATTACHMENTS")
    channel = visible_channel(caller, channel_id)
    channel_rules.ensure_may_post(caller, channel)  # read-only, from the ChannelRow
    if channel.is_dm:
        dms.ensure_reachable(caller, channel.id)
    original = reply_target(caller, channel, reply_to) if reply_to else None
    mentioned = mentions.resolve(text)
    received = []
    try:
        received = intake.receive_all(uploads)  # every file is judged before anything is stored
        message = _store(caller, channel, text, received, original, mentioned)
    except BaseException:
        db.session.rollback()
        intake.discard(received)
        raise
    intake.process_later(received)
    if channel.is_private and message.attachments:  # the sender's answer links them as history does
        signed = [signed_url(url, intake.path_of_url(url)) for url in message.attachments]
        message = message._replace(attachments=signed)
    return message


def reply_target(caller: Caller, channel: ChannelRow, reply_to: str) -> MessageRow:
    """The message replied to: 404 unless the caller may read it, 400 when it is in another channel."""
    original_channel, original = readable_message(caller, reply_to)
    if original_channel.id != channel.id:
        raise APIError(400, "A reply must answer a message of the same channel", "REPLY_OTHER_CHANNEL")
    return original


def _store(caller: Caller, channel: ChannelRow, text: str, received: list[intake.Upload],
           original: MessageRow | None, mentioned: list[str]) -> MessageRow:
    """Encrypt the text and commit the message with its index rows, file references, mention
    rows and its events in the log (the hottest write)."""
    key_id, ciphertext = crypto.encrypt(text, channel.id)
    message = MessageRow(id=uuid7(), channel_id=channel.id, sender_id=caller.id, key_id=key_id,
                         ciphertext=ciphertext, hashed_message=crypto.digest(text),
                         attachments=[intake.attachment_url(upload, channel.id) for upload in received],
                         sent_at=utcnow(), edited_at=None, reply_to_id=original.id if original else None,
                         mentions=mentioned or None)
    frame = _frame(message, text, caller, channel, original)
    event = events.posted_event(channel, frame)  # built before the first write: the writes run back to back
    terms = index.rows(message.id, channel.id, text)
    if channel_rules.slow_mode_applies(caller, channel):
        take_order_lock()
        if not _INSERT_UNLESS_RECENT.execute({**message._asdict(), "since": channel_rules.slow_mode_since(channel)}):
            raise channel_rules.slow_mode_refusal(caller, channel)
    else:
        _INSERT_MESSAGE.execute(message._asdict())
    index.insert(terms)
    intake.attach(message, received)
    notify = mentions.record(message, channel, mentioned) if mentioned else []
    events.add(event)
    events.mentioned(notify, frame)
    db.session.commit()
    return message


def _frame(message: MessageRow, text: str, sender: Caller, channel: ChannelRow, original: MessageRow | None) -> dict:
    """The message object built from the text at hand; recorded in the event log with the message,
    the relay publishes it once committed."""
    reply = None
    if original is not None:
        author = callers_by_id({original.sender_id}).get(original.sender_id) if original.sender_id else None
        reply = reply_summary(original.id, original, author)
    return message_object(message, text, sender, channel.is_private, reply)
