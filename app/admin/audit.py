"""The audit log: security-relevant actions, recorded beside the change they describe."""
from flask import g, has_request_context

from ..extensions import db
from ..accounts.auth import Caller
from ..limits.addresses import client_ip
from ..models import AuditEvent


def record(type_: str, title: str, description: str = "", user: Caller | None = None, commit: bool = False,
           **details) -> AuditEvent:
    """Add an audit event to the session (the caller's commit stores it with the change itself).

    commit=True stores it at once: for events whose request ends in an error, such as a failed sign-in.
    """
    if user is None and has_request_context():
        user = g.get("caller")
    event = AuditEvent(type=type_, title=title[:200], description=description[:1000],
                       user_id=user.id if user else None, username=user.username if user else None,
                       ip=client_ip() if has_request_context() else None, details=details)
    db.session.add(event)
    if commit:
        db.session.commit()
    return event
