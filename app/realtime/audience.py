"""Who may receive a channel's live events."""
from typing import Protocol

import sqlalchemy as sa

from ..extensions import db
from ..models import ChannelMember, User


class ChannelLike(Protocol):
    """What the audience depends on: the messaging area's ChannelRow, or a Channel."""

    id: str
    is_private: bool


def channel_audience(channel: ChannelLike) -> list[str] | None:
    """None (everyone) for a public channel; for a private one its members and the staff."""
    if not channel.is_private:
        return None
    members = sa.select(ChannelMember.user_id).where(ChannelMember.channel_id == channel.id)
    staff = sa.select(User.id).where(sa.or_(User.is_owner.is_(True), User.is_admin.is_(True)))
    return list(db.session.scalars(members.union(staff)))
