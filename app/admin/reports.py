"""Reports of messages or accounts by users, and staff resolving them."""
import sqlalchemy as sa

from .. import crypto
from ..errors import APIError
from ..extensions import db
from ..ids import iso, utcnow
from ..models import Message, Report, User

MAX_MESSAGES = 10
CATEGORIES = ("spam", "harassment", "hate", "violence", "nsfw", "illegal", "other")
STATUSES = ("open", "resolved", "dismissed")


def create(reporter_id: str, message_ids: list[str], user_id: str | None, category: str, description: str) -> Report:
    """A new open report (the caller commits); the messages and the account must exist."""
    if message_ids:
        found = dict(db.session.execute(sa.select(Message.id, Message.sender_id).where(Message.id.in_(message_ids))).all())
        missing = [mid for mid in message_ids if mid not in found]
        if missing:
            raise APIError(404, f"Message not found: {missing[0]}", "UNKNOWN_MESSAGE")
        senders = {sender for sender in found.values() if sender}
        if user_id is None and len(senders) == 1:
            user_id = senders.pop()
    elif user_id is None or db.session.get(User, user_id) is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    report = Report(reporter_id=reporter_id, user_id=user_id, message_ids=message_ids, category=category,
                    description=description, status="open", note="")
    db.session.add(report)
    return report


def _messages(ids: set[str]) -> dict[str, dict]:
    """The reported messages that still exist, decrypted, by id."""
    if not ids:
        return {}
    rows = db.session.execute(sa.select(Message.id, Message.channel_id, Message.sender_id, Message.key_id,
                                        Message.ciphertext, Message.sent_at).where(Message.id.in_(ids)))
    return {row.id: {"message_id": row.id, "channel_id": row.channel_id, "sender_id": row.sender_id,
                     "message": crypto.decrypt(row.key_id, row.ciphertext, row.channel_id),
                     "sent_at": iso(row.sent_at)} for row in rows}


def listed(status: str | None, limit: int) -> list[dict]:
    query = sa.select(Report).order_by(Report.created_at.desc()).limit(limit)
    if status:
        query = query.where(Report.status == status)
    reports = db.session.scalars(query).all()
    texts = _messages({mid for report in reports for mid in report.message_ids or []})
    return [{**report.to_dict(), "messages": [texts[mid] for mid in report.message_ids or [] if mid in texts]}
            for report in reports]


def resolve(report_id: str, status: str, note: str, staff_id: str) -> Report:
    report = db.session.get(Report, report_id) if len(report_id) <= 36 else None
    if report is None:
        raise APIError(404, "Report not found", "UNKNOWN_REPORT")
    report.status, report.note, report.resolved_by, report.resolved_at = status, note, staff_id, utcnow()
    return report
