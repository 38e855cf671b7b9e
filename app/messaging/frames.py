"""The message object clients read, in history pages and in live "message" frames alike.

message_object() builds it from a MessageRow and its plaintext: the send path passes the text
it already holds, history decrypts the stored ciphertext (serialize()). What a message joins
(its reply's original, reactions, pin, senders) is loaded in one batched query each per page,
never per message.
"""
import sqlalchemy as sa

from .. import crypto
from ..accounts.auth import Caller, callers_by_id
from ..extensions import db
from ..files.intake import path_of_url
from ..ids import iso
from ..models import Channel, Pin
from ..urls import absolute_url, signed_url
from .messages import MessageRow, message_rows
from .reactions import reactions_of

EXCERPT_LENGTH = 100
_PINNED = sa.select(Pin.message_id).where(Pin.message_id.in_(sa.bindparam("ids", expanding=True)))


def message_object(message: MessageRow, text: str, sender: Caller | None, private: bool,
                   reply_to: dict | None = None, reactions: list | None = None, pinned: bool = False) -> dict:
    """The message with its sender's current name, avatar and roles; attachment links of a
    private channel are signed, so only those who loaded the message can fetch them."""
    return object_of(message, text, sender_fields(sender), private, reply_to, reactions, pinned)


def sender_fields(sender: Caller | None) -> tuple:
    """What a message object shows of its sender (a page computes it once per sender)."""
    if sender is None:
        return "deleted-user", None, "offline", []
    return sender.username, absolute_url(sender.avatar_url), sender.status, sender.roles


def object_of(message, text: str, sender: tuple, private: bool, reply_to: dict | None = None,
              reactions: list | None = None, pinned: bool = False) -> dict:
    """message_object() with the sender's fields already at hand (sender_fields())."""
    username, avatar_url, status, roles = sender
    return {
        "message_id": message.id,
        "sender_user_id": message.sender_id,
        "channel_id": message.channel_id,
        "message": text,
        "hashed_message": message.hashed_message,
        "username": username,
        "sender_avatar_url": avatar_url,
        "sender_status": status,
        "sender_roles": list(roles),
        "sent_at": iso(message.sent_at),
        "attachments": [signed_url(url, path_of_url(url)) if private else url for url in message.attachments or []],
        "edited_at": iso(message.edited_at),
        "reply_to": reply_to,
        "mentions": message.mentions or [],
        "reactions": reactions or [],
        "pinned": pinned,
    }


def reply_summary(reply_to_id: str | None, original: MessageRow | None, sender: Caller | None,
                  text: str | None = None) -> dict | None:
    """What a reply shows of its original (text: its plaintext when already at hand): who wrote
    it and how it began, or that it is gone."""
    if reply_to_id is None:
        return None
    if original is None:
        return {"message_id": reply_to_id, "deleted": True}
    if text is None:
        text = crypto.decrypt(original.key_id, original.ciphertext, original.channel_id)
    return {"message_id": original.id, "sender_user_id": original.sender_id,
            "username": sender.username if sender else "deleted-user", "excerpt": text[:EXCERPT_LENGTH]}


def serialize(messages: list[MessageRow], viewer: str | None = None) -> list[dict]:
    """Stored messages as clients read them: decrypted, with what they join loaded in batches.
    viewer: whose `me` the reactions show (live frames, read by many, carry none)."""
    ids = [m.id for m in messages]
    texts = dict(zip(ids, crypto.decrypt_all((m.key_id, m.ciphertext, m.channel_id) for m in messages)))
    # Replies mostly answer recent messages: those on the page are not read or decrypted again.
    originals = {m.id: m for m in messages}
    originals.update((m.id, m) for m in message_rows({m.reply_to_id for m in messages
                                                      if m.reply_to_id and m.reply_to_id not in originals}))
    replied = {m.reply_to_id for m in messages if m.reply_to_id}
    senders = callers_by_id({m.sender_id for m in originals.values() if m.sender_id and
                             (m.id in texts or m.id in replied)})
    private = _private_channel_ids({m.channel_id for m in messages if m.attachments})
    reactions = reactions_of(ids, viewer)
    pinned = pinned_ids(ids)
    result = []
    for m in messages:
        original = originals.get(m.reply_to_id) if m.reply_to_id else None
        reply = reply_summary(m.reply_to_id, original, senders.get(original.sender_id) if original else None,
                              texts.get(original.id) if original else None)
        result.append(message_object(m, texts[m.id], senders.get(m.sender_id), m.channel_id in private, reply,
                                     reactions.get(m.id), m.id in pinned))
    return result


def pinned_ids(message_ids: list[str]) -> set[str]:
    if not message_ids:
        return set()
    return set(db.session.connection().execute(_PINNED, {"ids": list(message_ids)}).scalars())


def seen_by(message: dict, viewer: str) -> dict:
    """A message object built for nobody in particular, with `me` set for one viewer."""
    return {**message, "reactions": [{**r, "me": viewer in r["user_ids"]} for r in message["reactions"]]}


def _private_channel_ids(channel_ids: set[str]) -> set[str]:
    """Which of these channels are private (their attachment links get signed)."""
    if not channel_ids:
        return set()
    return set(db.session.scalars(sa.select(Channel.id).where(Channel.id.in_(channel_ids), Channel.is_private)))
