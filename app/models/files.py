"""Stored files (one row per distinct content) and the references that keep them alive."""
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import utcnow

# What a reference is for; a file with no reference of any kind is an orphan.
REF_KINDS = ("avatar", "banner", "attachment", "server_avatar", "server_banner", "cdn_upload")


class StoredFile(db.Model):
    """One blob in the store, addressed by the SHA-256 of its bytes."""

    __tablename__ = "stored_files"

    sha256: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    size: Mapped[int] = mapped_column(sa.BigInteger)
    mime_type: Mapped[str] = mapped_column(sa.String(100))
    ext: Mapped[str] = mapped_column(sa.String(8))
    kind: Mapped[str] = mapped_column(sa.String(8))  # image | video | file
    width: Mapped[int | None] = mapped_column()
    height: Mapped[int | None] = mapped_column()
    frames: Mapped[int] = mapped_column(default=1)
    # True when the upload carries metadata or a rotation: it is served only once cleaned.
    needs_clean: Mapped[bool] = mapped_column(default=False)
    processed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Touched by every upload of these bytes; orphan cleanup waits a grace period after it.
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    @property
    def is_image(self) -> bool:
        return self.kind == "image"


class FileRef(db.Model):
    """One use of a stored file under a public path (an avatar, an attachment...)."""

    __tablename__ = "file_refs"
    __table_args__ = (sa.Index("ix_file_refs_kind_user_id", "kind", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # RESTRICT: the database itself refuses to drop a file that something still uses.
    sha256: Mapped[str] = mapped_column(sa.ForeignKey("stored_files.sha256", ondelete="RESTRICT"), index=True)
    path: Mapped[str] = mapped_column(sa.String(200), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    filename: Mapped[str] = mapped_column(sa.String(255), default="")
    # Set only on a user's own avatar/banner references, which go with the account.
    user_id: Mapped[str | None] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    # Deleting a channel or a message drops its attachments' references with it.
    channel_id: Mapped[str | None] = mapped_column(sa.ForeignKey("channels.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str | None] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
