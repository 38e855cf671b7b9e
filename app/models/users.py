"""Accounts and their auth tokens."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import iso, new_uuid, utcnow

STATUSES = ("online", "offline", "idle", "dnd")


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    username: Mapped[str] = mapped_column(sa.String(32))
    # Lower-cased copy carries the unique index: usernames are unique regardless of case.
    username_key: Mapped[str] = mapped_column(sa.String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(72))
    about: Mapped[str] = mapped_column(sa.String(1000), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="offline")
    avatar_url: Mapped[str | None] = mapped_column(sa.String(512))
    banner_url: Mapped[str | None] = mapped_column(sa.String(512))
    is_owner: Mapped[bool] = mapped_column(default=False)
    is_admin: Mapped[bool] = mapped_column(default=False)
    # Moderation state read with every token check (the Caller): no extra query on a send.
    is_banned: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    timeout_until: Mapped[datetime | None] = mapped_column()
    last_seen: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def roles(self) -> list[str]:
        roles = ["owner"] if self.is_owner else []
        if self.is_owner or self.is_admin:
            roles.append("admin")
        return roles + ["user"]

    @property
    def is_staff(self) -> bool:
        """Admin rights: admins and the owner."""
        return self.is_owner or self.is_admin

    def public_dict(self) -> dict:
        """What any signed-in user may see of this account."""
        return {
            "user_id": self.id,
            "username": self.username,
            "about": self.about,
            "avatar_url": self.avatar_url,
            "banner_url": self.banner_url,
            "status": self.status,
            "roles": self.roles,
            "roles_ids": self.roles,
            "is_owner": self.is_owner,
            "is_admin": self.is_staff,
            "created_at": iso(self.created_at),
        }

    def private_dict(self) -> dict:
        """The account holder's own view."""
        return {**self.public_dict(), "last_seen": iso(self.last_seen), "updated_at": iso(self.updated_at)}


class AuthToken(db.Model):
    """A sign-in session: only the SHA-256 of the token is stored, never the token."""

    __tablename__ = "auth_tokens"

    token_hash: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
