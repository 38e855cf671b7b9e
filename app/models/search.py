"""The search index: one row per distinct term of a message, holding only its keyed digest."""
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db


class MessageTerm(db.Model):
    """A message holds a term. The primary key leads with the digest, so a term's messages are
    one range of it, newest first by id; deleting the message deletes its rows (the cascade
    needs the message_id index). key_id names the index key the digest was made under."""

    __tablename__ = "message_terms"
    __table_args__ = (sa.Index("ix_message_terms_message_id", "message_id"), {"sqlite_with_rowid": False})

    digest: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    message_id: Mapped[str] = mapped_column(sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    key_id: Mapped[int] = mapped_column(sa.SmallInteger)
