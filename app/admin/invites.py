"""Invites and the registration policy: who may create an account.

A use is taken by one conditional UPDATE (uses < max_uses), so of two sign-ups racing for the
last use exactly one wins, on SQLite (one writer) and PostgreSQL (the row lock re-checks WHERE).
"""
import secrets
from datetime import timedelta

import sqlalchemy as sa

from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from ..models import Channel, ChannelMember, Invite, ServerSettings
from ..urls import absolute_url

CODE_BYTES = 12  # 96 random bits
MAX_INVITE_CHANNELS = 20


def invite_url(code: str) -> str:
    return absolute_url(f"/invite/{code}")


def create(created_by: str, max_uses: int, expires_in: int | None, channel_ids: list[str]) -> Invite:
    """A new invite (the caller commits); channel_ids must name private channels."""
    channel_ids = list(dict.fromkeys(channel_ids))
    if channel_ids:
        found = set(db.session.scalars(sa.select(Channel.id).where(Channel.id.in_(channel_ids),
                                                                   Channel.is_private.is_(True))))
        missing = [cid for cid in channel_ids if cid not in found]
        if missing:
            raise APIError(404, f"Not a private channel: {missing[0]}", "UNKNOWN_CHANNEL")
    invite = Invite(code=secrets.token_urlsafe(CODE_BYTES), max_uses=max_uses, uses=0, created_by=created_by,
                    expires_at=utcnow() + timedelta(seconds=expires_in) if expires_in else None,
                    channel_ids=channel_ids, created_at=utcnow())
    db.session.add(invite)
    return invite


def listed() -> list[Invite]:
    return list(db.session.scalars(sa.select(Invite).where(Invite.revoked_at.is_(None))
                                   .order_by(Invite.created_at.desc())))


def revoke(code: str) -> Invite:
    invite = db.session.get(Invite, code)
    if invite is None or invite.revoked_at is not None:
        raise APIError(404, "Invite not found", "UNKNOWN_INVITE")
    invite.revoked_at = utcnow()
    return invite


def preview(code: str) -> dict:
    """The public view: the same shape whether the code is unknown, revoked or live."""
    invite = db.session.get(Invite, code) if len(code) <= 32 else None
    usable = invite is not None and invite.usable(utcnow())
    settings = ServerSettings.get()
    return {"code": code, "server_name": settings.server_name, "usable": usable}


def _take_use(code: str) -> Invite | None:
    """Count one use atomically; None when the code is unknown, revoked, expired or used up."""
    now = utcnow()
    taken = db.session.execute(
        sa.update(Invite).where(Invite.code == code, Invite.revoked_at.is_(None),
                                sa.or_(Invite.expires_at.is_(None), Invite.expires_at > now),
                                sa.or_(Invite.max_uses == 0, Invite.uses < Invite.max_uses))
        .values(uses=Invite.uses + 1).execution_options(synchronize_session=False)).rowcount
    return db.session.get(Invite, code) if taken else None


def owner_exists() -> bool:
    """Whether the server has its owner: until then every sign-up may become it."""
    return ServerSettings.get().owner_user_id is not None


def admit(invite_code: str | None) -> Invite | None:
    """Apply the registration policy to a sign-up; returns the invite used, if any.

    Runs in the sign-up's transaction: a sign-up that fails gives its use back by rolling back.
    The caller skips it for the account that becomes the owner, so the owner is never locked out."""
    settings = ServerSettings.get()
    if settings.registration == "closed":
        raise APIError(403, "Registration is closed on this server", "REGISTRATION_CLOSED")
    if not invite_code:
        if settings.registration == "invite_only":
            raise APIError(403, "An invite_code is required to join this server", "INVITE_REQUIRED")
        return None
    invite = _take_use(invite_code) if len(invite_code) <= 32 else None
    if invite is None:
        raise APIError(403, "The invite is unknown, revoked, expired or used up", "INVALID_INVITE")
    return invite


def join_channels(invite: Invite | None, user_id: str) -> list[str]:
    """Make the new account a member of the invite's private channels that still exist (flushed);
    their ids."""
    if invite is None or not invite.channel_ids:
        return []
    joined = list(db.session.scalars(sa.select(Channel.id).where(Channel.id.in_(invite.channel_ids))))
    db.session.add_all([ChannelMember(channel_id=channel_id, user_id=user_id) for channel_id in joined])
    db.session.flush()
    return joined
