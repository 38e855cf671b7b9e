"""Who may join and who was removed: invites, bans and reports."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import iso, new_uuid, utcnow

REGISTRATION_POLICIES = ("open", "invite_only", "closed")


class Invite(db.Model):
    """A sign-up code; `uses` only grows through one conditional UPDATE (app/admin/invites.py)."""

    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    max_uses: Mapped[int] = mapped_column(default=0)  # 0 = unlimited
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime | None] = mapped_column()
    channel_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()

    def usable(self, now: datetime) -> bool:
        return (self.revoked_at is None and (self.expires_at is None or self.expires_at > now)
                and (self.max_uses == 0 or self.uses < self.max_uses))

    def to_dict(self, url: str) -> dict:
        return {"code": self.code, "url": url, "max_uses": self.max_uses, "uses": self.uses,
                "expires_at": iso(self.expires_at), "created_by": self.created_by,
                "created_at": iso(self.created_at), "channel_ids": list(self.channel_ids or [])}


class Ban(db.Model):
    """One banned account; `expires_at` None is a permanent ban. users.is_banned mirrors it."""

    __tablename__ = "bans"

    user_id: Mapped[str] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    delete_messages: Mapped[str] = mapped_column(sa.String(8), default="none")
    banned_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column()

    def to_dict(self, username: str | None = None) -> dict:
        return {"user_id": self.user_id, "username": username, "reason": self.reason,
                "delete_messages": self.delete_messages, "banned_by": self.banned_by,
                "banned_at": iso(self.created_at), "expires_at": iso(self.expires_at)}


class Report(db.Model):
    """A user's report of messages or of an account, for staff to resolve or dismiss."""

    __tablename__ = "reports"

    id: Mapped[str] = mapped_column(sa.String(36), primary_key=True, default=new_uuid)
    reporter_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    message_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    category: Mapped[str] = mapped_column(sa.String(32))
    description: Mapped[str] = mapped_column(sa.String(2000), default="")
    status: Mapped[str] = mapped_column(sa.String(16), default="open", index=True)  # open|resolved|dismissed
    note: Mapped[str] = mapped_column(sa.String(2000), default="")
    resolved_by: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column()

    def to_dict(self) -> dict:
        return {"report_id": self.id, "reporter_id": self.reporter_id, "user_id": self.user_id,
                "message_ids": list(self.message_ids or []), "category": self.category,
                "description": self.description, "status": self.status, "note": self.note,
                "resolved_by": self.resolved_by, "created_at": iso(self.created_at),
                "resolved_at": iso(self.resolved_at)}
