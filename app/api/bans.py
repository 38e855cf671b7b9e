"""Bans and timeouts: /api/v1/bans, and the user-scoped views routed on the users blueprint
(/api/v1/users/{user_id}/ban and /timeout)."""
import sqlalchemy as sa
from flask import Blueprint

from .. import tasks
from ..accounts import moderation
from ..accounts.auth import current_caller, staff_required
from ..admin import audit
from ..errors import APIError
from ..extensions import db
from ..ids import iso, new_uuid, utcnow
from ..messaging import events
from ..models import Ban, TaskRun, User
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from ..realtime.connection import CLOSE_BANNED
from .responses import ok
from .users import bp as users_bp

bp = Blueprint("bans", __name__, url_prefix="/api/v1/bans")
TAG = "moderation"
MAX_BAN_SECONDS = 10 * 365 * 24 * 3600
REFUSALS = {403: "CANNOT_MODERATE_OWNER, CANNOT_MODERATE_ADMIN (unless you are the owner) or CANNOT_MODERATE_SELF",
            404: "UNKNOWN_USER"}


def _target(user_id: str) -> User:
    user = db.session.get(User, user_id) if len(user_id) <= 64 else None
    if user is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    return user


@bp.get("", strict_slashes=False)
@staff_required
@endpoint("Active bans (admin or owner); a temporary ban past its end is not listed", statuses={200: "bans"}, tag=TAG)
def list_bans():
    active = sa.or_(Ban.expires_at.is_(None), Ban.expires_at > utcnow())
    rows = db.session.execute(sa.select(Ban, User.username).join(User, User.id == Ban.user_id).where(active)
                              .order_by(Ban.created_at.desc())).all()
    return ok(bans=[ban.to_dict(username) for ban, username in rows])


class BanOrder(Fields):
    reason: Text(max_len=500) = ""
    delete_messages: Text(choices=moderation.DELETE_CHOICES, description="How far back to delete their messages") = "none"
    duration: Integer(1, MAX_BAN_SECONDS, description="Seconds; permanent when absent") = None


@users_bp.post("/<user_id>/ban")
@staff_required
@endpoint("Ban a user: tokens revoked, sockets closed (4003), optional message deletion and duration", BanOrder,
          {200: "Banned", **REFUSALS}, tag=TAG)
def ban_user(form: BanOrder, user_id: str):
    reason, window, duration = form.reason, form.delete_messages, form.duration
    actor, target = current_caller(), _target(user_id)
    ban, digests = moderation.ban(actor, target, reason, window, duration)
    run = None
    if window != "none":
        run = TaskRun(id=new_uuid(), task_id="ban_delete_messages", trigger="manual", requested_by=actor.id)
        db.session.add(run)
    audit.record("moderation", "User banned", f"{target.username} was banned" + (f": {reason}" if reason else ""),
                 action="ban", target_id=target.id, target_username=target.username, delete_messages=window,
                 expires_at=iso(ban.expires_at))
    # Commit first, then announce: a ban that fails to commit leaves tokens and sockets as they were.
    db.session.commit()
    events.tokens_revoked(target.id, digests, CLOSE_BANNED, "Banned")
    if run is not None:
        since = moderation.delete_since(window)
        if not tasks.enqueue(tasks.MODERATION_DELETE_MESSAGES, run.id, target.id, since.isoformat() if since else None):
            run.state, run.error = "failed", "could not enqueue: broker unreachable"
            db.session.commit()
    return ok(message="User banned", ban=ban.to_dict(target.username), run_id=run.id if run else None)


@users_bp.delete("/<user_id>/ban")
@staff_required
@endpoint("Lift a ban (admin or owner)", statuses={200: "Unbanned", 404: "UNKNOWN_USER or NOT_BANNED"}, tag=TAG)
def unban_user(user_id: str):
    target = _target(user_id)
    if not moderation.lift_ban(target.id):
        raise APIError(404, "This user is not banned", "NOT_BANNED")
    audit.record("moderation", "User unbanned", f"{target.username} was unbanned", action="unban",
                 target_id=target.id, target_username=target.username)
    db.session.commit()
    return ok(message="User unbanned")


class TimeoutOrder(Fields):
    duration: Integer(1, 10 ** 9, description=f"Seconds; over {moderation.MAX_TIMEOUT} is TIMEOUT_TOO_LONG")
    reason: Text(max_len=500) = ""


@users_bp.post("/<user_id>/timeout")
@staff_required
@endpoint("Time a user out: they read but cannot send, edit or react until it ends (at most 28 days)", TimeoutOrder,
          {200: "Timed out", 400: "TIMEOUT_TOO_LONG: over 28 days", **REFUSALS}, tag=TAG)
def timeout_user(form: TimeoutOrder, user_id: str):
    duration, reason = form.duration, form.reason
    if duration > moderation.MAX_TIMEOUT:
        raise APIError(400, f"A timeout lasts at most {moderation.MAX_TIMEOUT} seconds (28 days)", "TIMEOUT_TOO_LONG")
    target = _target(user_id)
    until = moderation.time_out(current_caller(), target, duration)
    audit.record("moderation", "User timed out", f"{target.username} until {iso(until)}" + (f": {reason}" if reason else ""),
                 action="timeout", target_id=target.id, target_username=target.username, until=iso(until))
    db.session.commit()
    return ok(message="User timed out", user_id=target.id, until=iso(until))


@users_bp.delete("/<user_id>/timeout")
@staff_required
@endpoint("Lift a timeout early (admin or owner)", statuses={200: "Lifted", 404: "UNKNOWN_USER or NOT_TIMED_OUT"},
          tag=TAG)
def lift_timeout(user_id: str):
    target = _target(user_id)
    if not moderation.lift_timeout(target):
        raise APIError(404, "This user is not timed out", "NOT_TIMED_OUT")
    audit.record("moderation", "Timeout lifted", f"{target.username} may post again", action="timeout_lifted",
                 target_id=target.id, target_username=target.username)
    db.session.commit()
    return ok(message="Timeout lifted")
