"""Bans and timeouts: who may act on whom, and the cheap checks the send path makes.

The send path reads ban and timeout state from the Caller (the token query's row), so these
checks cost no query. A ban also revokes every token, so a banned account has no Caller at all
in practice; `is_banned` is the check for code that holds only a user id.
"""
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..errors import APIError
from ..extensions import db
from ..ids import iso, utcnow
from ..models import Ban, User
from .auth import Caller, revoke_tokens

MAX_TIMEOUT = 28 * 24 * 3600
DELETE_CHOICES = ("none", "1h", "24h", "7d", "all")
_WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def delete_since(window: str) -> datetime | None:
    """The oldest send time a delete_messages window reaches; None for "all"."""
    return utcnow() - _WINDOWS[window] if window in _WINDOWS else None


def is_banned(user_id: str) -> bool:
    """Whether the account is banned now (a temporary ban past its end no longer counts)."""
    ban = db.session.get(Ban, user_id)
    return ban is not None and (ban.expires_at is None or ban.expires_at > utcnow())


def ensure_can_post(caller: Caller) -> None:
    """Refuse a banned or timed-out caller: sending, editing and reacting all call this."""
    if caller.is_banned:
        raise APIError(403, "This account is banned", "BANNED")
    until = caller.timeout_until
    if until is not None and until > utcnow():
        raise APIError(403, f"You are timed out until {iso(until)}", "TIMED_OUT", extra={"until": iso(until)})


def ensure_may_moderate(actor: Caller, target: User) -> None:
    """The owner is out of reach; an admin acts on no admin; nobody acts on themselves."""
    if target.is_owner:
        raise APIError(403, "The server owner cannot be banned or timed out", "CANNOT_MODERATE_OWNER")
    if target.is_admin and not actor.is_owner:
        raise APIError(403, "Only the server owner may ban or time out an admin", "CANNOT_MODERATE_ADMIN")
    if target.id == actor.id:
        raise APIError(403, "You cannot ban or time out yourself", "CANNOT_MODERATE_SELF")


def ban(actor: Caller, target: User, reason: str, delete_messages: str, duration: int | None) -> tuple[Ban, list[str]]:
    """Ban in the session's transaction; returns the ban and the revoked token digests. The caller commits."""
    ensure_may_moderate(actor, target)
    row = db.session.get(Ban, target.id)
    if row is None:
        row = Ban(user_id=target.id)
        db.session.add(row)
    row.reason, row.delete_messages, row.banned_by = reason, delete_messages, actor.id
    row.created_at = utcnow()
    row.expires_at = utcnow() + timedelta(seconds=duration) if duration else None
    target.is_banned = True
    return row, revoke_tokens(target)


def lift_ban(user_id: str) -> bool:
    """Unban in the session's transaction; False when the account was not banned."""
    deleted = db.session.execute(sa.delete(Ban).where(Ban.user_id == user_id)).rowcount
    db.session.execute(sa.update(User).where(User.id == user_id).values(is_banned=False))
    return bool(deleted)


def sign_in_refusal(user: User) -> None:
    """403 BANNED for a banned account; a temporary ban past its end is lifted here (the caller commits)."""
    if not user.is_banned:
        return
    ban_row = db.session.get(Ban, user.id)
    if ban_row is not None and ban_row.expires_at is not None and ban_row.expires_at <= utcnow():
        lift_ban(user.id)
        db.session.refresh(user)
        return
    until = iso(ban_row.expires_at) if ban_row is not None else None
    raise APIError(403, "This account is banned", "BANNED", extra={"until": until})


def time_out(actor: Caller, target: User, duration: int) -> datetime:
    """Set the timeout (the caller validated 1..MAX_TIMEOUT) in the session; the caller commits."""
    ensure_may_moderate(actor, target)
    target.timeout_until = utcnow() + timedelta(seconds=duration)
    return target.timeout_until


def lift_timeout(target: User) -> bool:
    active = target.timeout_until is not None and target.timeout_until > utcnow()
    target.timeout_until = None
    return active
