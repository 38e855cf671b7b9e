"""Changing a stored message: its sender edits it, its sender or staff delete it."""
import sqlalchemy as sa

from .. import crypto
from ..accounts import moderation
from ..accounts.auth import Caller
from ..admin import audit
from ..admin.settings import current_settings
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import Message
from ..search import index
from . import events, mentions
from .frames import serialize
from .messages import ChannelRow, MessageRow, readable_message
from .messages import delete_message as delete_row


def edit_message(caller: Caller, message_id: str, text: str) -> dict:
    """Replace the text (encrypted and digested like any message, mentions resolved again, the
    search index rows replaced and message_updated logged in the same transaction); returns the
    message object. Commits."""
    moderation.ensure_can_post(caller)  # banned or timed out: no edits
    channel, message = readable_message(caller, message_id)
    if message.sender_id != caller.id:
        raise APIError(403, "Only the sender may edit this message", "MISSING_ACCESS")
    limit = current_settings().max_message_length
    if len(text) > limit:
        raise APIError(400, f"The message is longer than {limit} characters", "MESSAGE_TOO_LONG")
    if not text.strip():
        raise APIError(400, "The message is empty", "EMPTY_MESSAGE")
    key_id, ciphertext = crypto.encrypt(text, channel.id)
    mentioned = mentions.resolve(text)
    edited = message._replace(key_id=key_id, ciphertext=ciphertext, hashed_message=crypto.digest(text),
                              edited_at=utcnow(), mentions=mentioned or None)
    db.session.execute(sa.update(Message).where(Message.id == message.id).values(
        key_id=edited.key_id, ciphertext=edited.ciphertext, hashed_message=edited.hashed_message,
        edited_at=edited.edited_at, mentions=edited.mentions))
    notify = mentions.replace(edited, channel, mentioned)
    index.replace(message.id, channel.id, text)
    [obj] = serialize([edited])
    events.message_updated(channel, obj)
    events.mentioned(notify, obj)
    db.session.commit()
    return obj


def delete_message(caller: Caller, channel: ChannelRow, message: MessageRow) -> None:
    """The sender, an admin or the owner delete a message; published as message_deleted. Commits."""
    if message.sender_id != caller.id and not caller.is_staff:
        raise APIError(403, "Only the sender, an admin or the owner may delete this message", "MISSING_ACCESS")
    delete_row(message)
    if message.sender_id != caller.id:  # a moderator removing someone else's message
        audit.record("message_deleted", "Message deleted by a moderator", f"A message in #{channel.name}",
                     channel_id=channel.id, message_id=message.id, sender_id=message.sender_id)
    events.message_deleted(channel, message.id)
    db.session.commit()
