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


# Stored event type -> the web client's activity type; the stored type stays in "action".
ACTIVITY_TYPES = {
    "user_signup": "user_joined", "user_signin": "user_joined", "member_added": "user_joined",
    "channel_created": "channel_created",
    "channel_deleted": "moderation", "member_removed": "moderation", "message_deleted": "moderation",
    "signin_failed": "moderation", "token_reset": "moderation", "ip_blocked": "moderation",
    "ip_unblocked": "moderation", "task_run": "moderation", "moderation": "moderation",
    "message_sent": "message_sent",
    "settings_updated": "setting_changed",
    "file_uploaded": "file_upload",
}
DEFAULT_ACTIVITY_TYPE = "moderation"  # an event type without an entry is an administrative action


def activity_entry(event: AuditEvent) -> dict:
    """One recent-activity entry: the client's type, and the precise action beside it."""
    entry = event.to_dict()
    # Events stored as "moderation" name their precise action in their details.
    action = event.details.get("action") if event.type == "moderation" else None
    entry["action"] = action if isinstance(action, str) and action else event.type
    entry["type"] = ACTIVITY_TYPES.get(event.type, DEFAULT_ACTIVITY_TYPE)
    return entry
