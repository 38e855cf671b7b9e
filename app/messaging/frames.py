"""The message object clients read, in history pages and in live "message" frames alike.

message_object() builds it from a MessageRow and its plaintext: the send path passes the text
it already holds, history decrypts the stored ciphertext (serialize()).
"""
import sqlalchemy as sa

from .. import crypto
from ..accounts.auth import Caller, callers_by_id
from ..extensions import db
from ..files.intake import path_of_url
from ..ids import iso
from ..models import Channel
from ..urls import absolute_url, signed_url
from .messages import MessageRow


def message_object(message: MessageRow, text: str, sender: Caller | None, private: bool) -> dict:
    """The message with its sender's current name, avatar and roles; attachment links of a
    private channel are signed, so only those who loaded the message can fetch them."""
    return {
        "message_id": message.id,
        "sender_user_id": message.sender_id,
        "channel_id": message.channel_id,
        "message": text,
        "hashed_message": message.hashed_message,
        "username": sender.username if sender else "deleted-user",
        "sender_avatar_url": absolute_url(sender.avatar_url) if sender else None,
        "sender_status": sender.status if sender else "offline",
        "sender_roles": sender.roles if sender else [],
        "sent_at": iso(message.sent_at),
        "attachments": [signed_url(url, path_of_url(url)) if private else url for url in message.attachments or []],
    }


def serialize(messages: list[MessageRow]) -> list[dict]:
    """Stored messages as clients read them: decrypted, with their senders loaded in one query."""
    senders = callers_by_id({m.sender_id for m in messages if m.sender_id})
    private = _private_channel_ids({m.channel_id for m in messages if m.attachments})
    return [message_object(m, crypto.decrypt(m.key_id, m.ciphertext, m.channel_id), senders.get(m.sender_id),
                           m.channel_id in private) for m in messages]


def _private_channel_ids(channel_ids: set[str]) -> set[str]:
    """Which of these channels are private (their attachment links get signed)."""
    if not channel_ids:
        return set()
    return set(db.session.scalars(sa.select(Channel.id).where(Channel.id.in_(channel_ids), Channel.is_private)))
