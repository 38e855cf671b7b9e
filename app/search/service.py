"""One search request: check the query, find messages (and users and channels), shape the answer.

Results have the web client's SearchResult shape plus ids: {id, type, title, subtitle, content,
timestamp, channel_id, message_id}. Messages come newest first and page by an opaque cursor
that carries the last message id and a keyed fingerprint of the query and filters, so a cursor
handed to another query is refused (400) instead of paging it from a wrong place. Users (by
name prefix) and channels (by name, only those the caller sees) lead the first page, at most
OTHER_RESULTS of each, when no filter limits the search to messages.
"""
import base64
import binascii
import json
import re
from datetime import datetime, timezone

import sqlalchemy as sa

from .. import crypto
from ..accounts.auth import Caller, callers_by_id
from ..errors import APIError
from ..extensions import db
from ..ids import iso
from ..messaging.messages import visible_channels_query
from ..models import Channel, User
from .query import Filters, Hit, matching
from .tokens import Query, parse

MAX_QUERY_CHARS = 256
MAX_QUERY_WORDS = 16
OTHER_RESULTS = 5
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_query(text: str) -> Query:
    """The query's terms; 400 when it is empty, over-long or has no words."""
    if len(text) > MAX_QUERY_CHARS:
        raise APIError(400, f"The query is longer than {MAX_QUERY_CHARS} characters", "QUERY_TOO_LONG")
    query = parse(text)
    if query.words > MAX_QUERY_WORDS:
        raise APIError(400, f"The query has more than {MAX_QUERY_WORDS} words", "QUERY_TOO_LONG")
    if not query.terms:
        raise APIError(400, "The query has no words to search for", "EMPTY_QUERY")
    return query


def id_bound(name: str, value: str, upper: bool) -> str:
    """A before/after value (a message id or an ISO 8601 time) as an exclusive bound on message ids.

    Message ids are UUIDv7 strings that sort by their creation millisecond: a time T becomes the
    lowest id of T (before: older than T) or of T + 1 ms (after: later than T)."""
    if UUID_RE.fullmatch(value.lower()):
        return value.lower()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise APIError(400, f"{name} must be a message id or an ISO 8601 time", "INVALID_FORM_BODY",
                       errors=[{"path": name, "message": "must be a message id or an ISO 8601 time"}])
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    millis = max(0, int(moment.timestamp() * 1000) + (0 if upper else 1))
    if millis >= 1 << 48:
        raise APIError(400, f"{name} is too far in the future", "INVALID_FORM_BODY",
                       errors=[{"path": name, "message": "is too far in the future"}])
    stamp = f"{millis:012x}"
    return f"{stamp[:8]}-{stamp[8:]}-0000-0000-000000000000"


def _fingerprint(query: Query, filters: Filters) -> str:
    shape = [query.terms, query.runs, filters.channel_id, filters.from_user_id, filters.below, filters.above,
             filters.has_attachment]
    return crypto.sign("search:" + json.dumps(shape, ensure_ascii=False))[:24]


def encode_cursor(fingerprint: str, message_id: str) -> str:
    raw = json.dumps({"f": fingerprint, "m": message_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, fingerprint: str) -> str:
    """The message id a cursor continues below; 400 when it is malformed or from another query."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        valid = isinstance(data, dict) and isinstance(data.get("f"), str) and UUID_RE.fullmatch(str(data.get("m")))
    except (binascii.Error, ValueError):
        valid = False
    if not valid:
        raise APIError(400, "The cursor is not one this search returned", "INVALID_CURSOR")
    if data["f"] != fingerprint:
        raise APIError(400, "The cursor belongs to another query", "INVALID_CURSOR")
    return data["m"]


def _message_results(hits: list[Hit]) -> list[dict]:
    senders = callers_by_id({hit.message.sender_id for hit in hits if hit.message.sender_id})
    results = []
    for hit in hits:
        sender = senders.get(hit.message.sender_id) if hit.message.sender_id else None
        results.append({"id": hit.message.id, "type": "message", "title": sender.username if sender else "Deleted user",
                        "subtitle": "Direct message" if hit.channel.is_dm else f"#{hit.channel.name}",
                        "content": hit.text, "timestamp": iso(hit.message.sent_at),
                        "channel_id": hit.channel.id, "message_id": hit.message.id})
    return results


def _others(caller: Caller, text: str) -> list[dict]:
    """Users whose name starts with the query, and visible channels whose name holds it."""
    needle = text.strip().lower()
    users = db.session.scalars(sa.select(User).where(User.username_key.startswith(needle, autoescape=True))
                               .order_by(User.username_key).limit(OTHER_RESULTS))
    results = [{"id": user.id, "type": "user", "title": user.username, "subtitle": user.status,
                "content": user.about, "timestamp": iso(user.created_at), "channel_id": None, "message_id": None}
               for user in users]
    channels = db.session.scalars(visible_channels_query(caller).where(
        Channel.is_dm.is_(False), Channel.name_key.contains(needle, autoescape=True)).limit(OTHER_RESULTS))
    results += [{"id": channel.id, "type": "channel", "title": channel.name,
                 "subtitle": "Private channel" if channel.is_private else "Channel", "content": channel.description,
                 "timestamp": iso(channel.created_at), "channel_id": channel.id, "message_id": None}
                for channel in channels]
    return results


def search(caller: Caller, text: str, filters: Filters, limit: int, cursor: str | None) -> dict:
    """{results, next_cursor}: one page of the search (see the module docstring)."""
    query = parse_query(text)
    fingerprint = _fingerprint(query, filters)
    below = filters.below
    if cursor is not None:
        position = decode_cursor(cursor, fingerprint)
        below = min(position, below) if below else position
    page = Filters(filters.channel_id, filters.from_user_id, below, filters.above, filters.has_attachment)
    hits, stopped_at = matching(caller, query, page, limit + 1)
    next_id = hits[limit - 1].message.id if len(hits) > limit else stopped_at
    only_messages = cursor is not None or filters != Filters()
    results = ([] if only_messages else _others(caller, text)) + _message_results(hits[:limit])
    return {"results": results, "next_cursor": encode_cursor(fingerprint, next_id) if next_id else None}
