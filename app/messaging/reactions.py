"""Reactions: one Unicode emoji (a single emoji grapheme) or a :short_name: per reaction.

A user reacts at most once with each emoji (reacting twice changes nothing); a message holds at
most MAX_DISTINCT different emojis. Objects carry `reactions: [{emoji, count, user_ids, me}]`.
"""
import re
import unicodedata

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..accounts import moderation
from ..accounts.auth import Caller
from ..database import Prepared, SortableTime
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import Reaction
from . import events
from .messages import readable_message

MAX_DISTINCT = 20
MAX_CODEPOINTS = 32  # the longest standard sequences (families, subdivision flags) are under this
SHORT_NAME_RE = re.compile(r":[a-z0-9_+-]{1,32}:")

_ZWJ, _VS16, _KEYCAP, _BLACK_FLAG, _CANCEL_TAG = 0x200D, 0xFE0F, 0x20E3, 0x1F3F4, 0xE007F
_KEYCAP_BASES = set(map(ord, "0123456789#*"))
# Code points that may be (or start) an emoji; the category check below drops the rest.
_PICTOGRAPHIC = ((0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
                 (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
                 (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2), (0x25AA, 0x25AB),
                 (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE),
                 # Miscellaneous Symbols and Dingbats: only those with the Emoji property
                 (0x2600, 0x2604), (0x260E, 0x260E), (0x2611, 0x2611), (0x2614, 0x2615), (0x2618, 0x2618),
                 (0x261D, 0x261D), (0x2620, 0x2620), (0x2622, 0x2623), (0x2626, 0x2626), (0x262A, 0x262A),
                 (0x262E, 0x262F), (0x2638, 0x263A), (0x2640, 0x2640), (0x2642, 0x2642), (0x2648, 0x2653),
                 (0x265F, 0x2660), (0x2663, 0x2663), (0x2665, 0x2666), (0x2668, 0x2668), (0x267B, 0x267B),
                 (0x267E, 0x267F), (0x2692, 0x2697), (0x2699, 0x2699), (0x269B, 0x269C), (0x26A0, 0x26A1),
                 (0x26A7, 0x26A7), (0x26AA, 0x26AB), (0x26B0, 0x26B1), (0x26BD, 0x26BE), (0x26C4, 0x26C5),
                 (0x26C8, 0x26C8), (0x26CE, 0x26CF), (0x26D1, 0x26D1), (0x26D3, 0x26D4), (0x26E9, 0x26EA),
                 (0x26F0, 0x26F5), (0x26F7, 0x26FA), (0x26FD, 0x26FD), (0x2702, 0x2702), (0x2705, 0x2705),
                 (0x2708, 0x270D), (0x270F, 0x270F), (0x2712, 0x2712), (0x2714, 0x2714), (0x2716, 0x2716),
                 (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734), (0x2744, 0x2744),
                 (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755), (0x2757, 0x2757),
                 (0x2763, 0x2764), (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0), (0x27BF, 0x27BF),
                 (0x2934, 0x2935),
                 (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50), (0x2B55, 0x2B55), (0x3030, 0x3030),
                 (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299), (0x1F000, 0x1FAFF))


def _regional(cp: int) -> bool:
    return 0x1F1E6 <= cp <= 0x1F1FF


def _skin_tone(cp: int) -> bool:
    return 0x1F3FB <= cp <= 0x1F3FF


def _tag(cp: int) -> bool:
    return 0xE0020 <= cp <= 0xE007E


def _pictographic(cp: int) -> bool:
    if _regional(cp) or _skin_tone(cp) or not any(low <= cp <= high for low, high in _PICTOGRAPHIC):
        return False
    return unicodedata.category(chr(cp)) == "So"


def _element(cps: list[int], i: int) -> int | None:
    """The index after one emoji element starting at i (keycap, flag, tag flag, or a pictograph
    with its optional presentation selector and skin tone), or None."""
    n, cp = len(cps), cps[i]
    if cp in _KEYCAP_BASES:
        i += 1 + (i + 1 < n and cps[i + 1] == _VS16)
        return i + 1 if i < n and cps[i] == _KEYCAP else None
    if _regional(cp):
        return i + 2 if i + 1 < n and _regional(cps[i + 1]) else None
    if cp == _BLACK_FLAG and i + 1 < n and _tag(cps[i + 1]):
        i += 1
        while i < n and _tag(cps[i]):
            i += 1
        return i + 1 if i < n and cps[i] == _CANCEL_TAG else None
    if not _pictographic(cp):
        return None
    i += 1
    if i < n and cps[i] == _VS16:
        i += 1
    if i < n and _skin_tone(cps[i]):
        i += 1
    return i


def is_emoji(value: str) -> bool:
    """One emoji grapheme: elements joined by ZWJ (families, rainbow flag...), or a :short_name:."""
    if SHORT_NAME_RE.fullmatch(value):
        return True
    cps = [ord(ch) for ch in value]
    if not cps or len(cps) > MAX_CODEPOINTS:
        return False
    i = _element(cps, 0)
    while i is not None and i < len(cps) and cps[i] == _ZWJ and i + 1 < len(cps):
        i = _element(cps, i + 1)
    return i == len(cps)


def _checked(emoji: str) -> str:
    if not isinstance(emoji, str) or not is_emoji(emoji):
        raise APIError(400, "emoji must be one Unicode emoji or a :short_name:", "INVALID_EMOJI")
    return emoji


_r = Reaction.__table__
_ON_MESSAGE = _r.c.message_id == sa.bindparam("message_id")
_WITH_EMOJI = sa.and_(_ON_MESSAGE, _r.c.emoji == sa.bindparam("emoji"))
# Adding a reaction reads, in one prepared statement: how many different emojis the message
# has, how many gave this one, and whether the caller did.
_TALLY = Prepared(sa.select(
    sa.select(sa.func.count(sa.distinct(_r.c.emoji))).where(_ON_MESSAGE).scalar_subquery().label("emojis"),
    sa.select(sa.func.count()).select_from(_r).where(_WITH_EMOJI).scalar_subquery().label("count"),
    sa.exists().where(_WITH_EMOJI, _r.c.user_id == sa.bindparam("user_id")).label("mine")), "Tally")
_INSERT_REACTION = Prepared(_r.insert())
# Built once: an expanding parameter takes the page's ids without building an expression per id.
_REACTIONS_OF = (sa.select(_r.c.message_id, _r.c.emoji, _r.c.user_id)
                 .where(_r.c.message_id.in_(sa.bindparam("ids", expanding=True)))
                 .order_by(_r.c.created_at, _r.c.user_id))


def _tally(message_id: str, emoji: str, user_id: str):
    return _TALLY.first({"message_id": message_id, "emoji": emoji, "user_id": user_id})


def add(caller: Caller, message_id: str, emoji: str) -> int:
    """React; returns the emoji's count. Idempotent; the 21st distinct emoji is a 400."""
    moderation.ensure_can_post(caller)  # banned or timed out: no reactions
    channel, message = readable_message(caller, message_id)
    emoji = _checked(emoji)
    tally = _tally(message.id, emoji, caller.id)
    if tally.mine:
        return tally.count
    if not tally.count and tally.emojis >= MAX_DISTINCT:
        raise APIError(400, f"A message holds at most {MAX_DISTINCT} different reactions", "TOO_MANY_REACTIONS")
    try:
        _INSERT_REACTION.execute({"message_id": message.id, "emoji": emoji, "user_id": caller.id,
                                  "created_at": utcnow()})
        events.reaction_changed(channel, "reaction_added", message.id, emoji, caller.id, tally.count + 1)
        db.session.commit()
    except (IntegrityError, db.engine.dialect.loaded_dbapi.IntegrityError):
        db.session.rollback()  # the same reaction from a concurrent request: already there
        return _tally(message.id, emoji, caller.id).count
    return tally.count + 1


def remove(caller: Caller, message_id: str, emoji: str) -> int:
    """Take the caller's reaction back; returns the emoji's count. Idempotent."""
    channel, message = readable_message(caller, message_id)
    emoji = _checked(emoji)
    deleted = db.session.execute(sa.delete(Reaction).where(
        Reaction.message_id == message.id, Reaction.emoji == emoji, Reaction.user_id == caller.id)).rowcount
    count = _tally(message.id, emoji, caller.id).count
    if deleted:
        events.reaction_changed(channel, "reaction_removed", message.id, emoji, caller.id, count)
    db.session.commit()
    return count


# A message's reactions in one column: "<given at>|<user id>|<emoji>" per reaction, joined by
# commas (neither can occur in a time, an id or an emoji). Written into the SQL, not bound: a
# Prepared statement binds only the values it is given.
_FIELD, _ENTRY = "|", ","
_FIELD_SQL, _ENTRY_SQL = sa.literal_column(f"'{_FIELD}'"), sa.literal_column(f"'{_ENTRY}'")


def given_column(message_id):
    """A scalar subquery of a message's reactions as one string (None without any), so that a page
    statement reads them with its messages; reactions_in() turns it into the message's `reactions`."""
    entry = SortableTime(_r.c.created_at) + _FIELD_SQL + _r.c.user_id + _FIELD_SQL + _r.c.emoji
    return sa.select(sa.func.aggregate_strings(entry, _ENTRY_SQL)).where(_r.c.message_id == message_id).scalar_subquery()


def reactions_in(given: str | None, viewer: str | None) -> list[dict] | None:
    """given_column()'s string as `reactions`, in the order they were first given."""
    if given is None:
        return None
    by_emoji: dict[str, list[str]] = {}
    for entry in sorted(given.split(_ENTRY)):  # the time leads each entry (fixed width), then the user id
        _given_at, user_id, emoji = entry.split(_FIELD, 2)
        by_emoji.setdefault(emoji, []).append(user_id)
    return _listed(by_emoji, viewer)


def reactions_of(message_ids: list[str], viewer: str | None) -> dict[str, list[dict]]:
    """Each message's reactions in the order they were first given, in one query."""
    if not message_ids:
        return {}
    rows = db.session.connection().execute(_REACTIONS_OF, {"ids": list(message_ids)})  # Core rows, no ORM step
    return grouped_reactions(rows, viewer)


def grouped_reactions(rows, viewer: str | None) -> dict[str, list[dict]]:
    """(message_id, emoji, user_id) rows, oldest first, as each message's `reactions`."""
    grouped: dict[str, dict[str, list[str]]] = {}
    for message_id, emoji, user_id in rows:
        grouped.setdefault(message_id, {}).setdefault(emoji, []).append(user_id)
    return {message_id: _listed(by_emoji, viewer) for message_id, by_emoji in grouped.items()}


def _listed(by_emoji: dict[str, list[str]], viewer: str | None) -> list[dict]:
    return [{"emoji": emoji, "count": len(users), "user_ids": users, "me": viewer in users}
            for emoji, users in by_emoji.items()]
