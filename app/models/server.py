"""The one row of server settings that the owner edits."""
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..ids import utcnow

MIB = 1024 * 1024


class ServerSettings(db.Model):
    __tablename__ = "server_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    server_name: Mapped[str] = mapped_column(sa.String(64), default="PufferBlow")
    server_description: Mapped[str] = mapped_column(sa.String(1000), default="")
    is_private: Mapped[bool] = mapped_column(default=False)
    registration: Mapped[str] = mapped_column(sa.String(16), default="open", server_default="open")  # open|invite_only|closed
    avatar_url: Mapped[str | None] = mapped_column(sa.String(512))
    banner_url: Mapped[str | None] = mapped_column(sa.String(512))
    welcome_message: Mapped[str] = mapped_column(sa.String(2000), default="Welcome!")
    max_message_length: Mapped[int] = mapped_column(default=2000)
    max_image_size: Mapped[int] = mapped_column(default=5 * MIB)
    max_gif_size: Mapped[int] = mapped_column(default=10 * MIB)
    max_video_size: Mapped[int] = mapped_column(default=50 * MIB)
    max_file_size: Mapped[int] = mapped_column(default=25 * MIB)
    allowed_image_types: Mapped[list] = mapped_column(sa.JSON, default=lambda: ["png", "jpeg", "gif", "webp"])
    allowed_video_types: Mapped[list] = mapped_column(sa.JSON, default=lambda: ["mp4", "webm"])
    allowed_file_types: Mapped[list] = mapped_column(
        sa.JSON, default=lambda: ["pdf", "txt", "zip", "mp3", "ogg", "wav", "json", "csv", "md"])
    # Set once, atomically, by the first sign-up: that account becomes the owner.
    owner_user_id: Mapped[str | None] = mapped_column(sa.String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @classmethod
    def get(cls) -> "ServerSettings":
        """The settings row, created with defaults on first use."""
        row = db.session.get(cls, 1)
        if row is None:
            try:
                with db.session.begin_nested():
                    row = cls(id=1, server_name=current_app.config["SERVER_NAME_DEFAULT"])
                    db.session.add(row)
            except IntegrityError:  # another process created it first
                row = db.session.get(cls, 1)
        return row
