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
from ..endpoint import doc
from ..params import Params
from ..realtime.connection import CLOSE_BANNED
from .responses import ok
from .users import bp as users_bp

bp = Blueprint("bans", __name__, url_prefix="/api/v1/bans")
TAG = "moderation"
MAX_BAN_SECONDS = 10 * 365 * 24 * 3600
REFUSALS = {403: "The owner, an admin (unless you are the owner) or yourself", 404: "Unknown user"}


def _target(user_id: str) -> User:
    user = db.session.get(User, user_id) if len(user_id) <= 64 else None
    if user is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    return user


@bp.get("", strict_slashes=False)
@doc("Active bans (admin or owner); a temporary ban past its end is not listed", auth="admin", tag=TAG,
     responses={200: "bans"})
@staff_required
def list_bans():
    active = sa.or_(Ban.expires_at.is_(None), Ban.expires_at > utcnow())
    rows = db.session.execute(sa.select(Ban, User.username).join(User, User.id == Ban.user_id).where(active)
                              .order_by(Ban.created_at.desc())).all()
    return ok(bans=[ban.to_dict(username) for ban, username in rows])


@users_bp.post("/<user_id>/ban")
@doc("Ban a user: tokens revoked, sockets closed (4003), optional message deletion and duration",
     {"reason": "str", "delete_messages": "str", "duration": "int"}, auth="admin", tag=TAG,
     responses={200: "Banned", 400: "Invalid field", **REFUSALS})
@staff_required
def ban_user(user_id: str):
    params = Params()
    reason = params.text("reason", required=False, default="", max_len=500)
    window = params.text("delete_messages", required=False, default="none", choices=set(moderation.DELETE_CHOICES))
    duration = params.integer("duration", minimum=1, maximum=MAX_BAN_SECONDS)
    params.done()
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
@doc("Lift a ban (admin or owner)", auth="admin", tag=TAG, responses={200: "Unbanned", 404: "Not banned"})
@staff_required
def unban_user(user_id: str):
    target = _target(user_id)
    if not moderation.lift_ban(target.id):
        raise APIError(404, "This user is not banned", "NOT_BANNED")
    audit.record("moderation", "User unbanned", f"{target.username} was unbanned", action="unban",
                 target_id=target.id, target_username=target.username)
    db.session.commit()
    return ok(message="User unbanned")


@users_bp.post("/<user_id>/timeout")
@doc("Time a user out: they read but cannot send, edit or react until it ends (at most 28 days)",
     {"duration": "int*", "reason": "str"}, auth="admin", tag=TAG,
     responses={200: "Timed out", 400: "Invalid duration; TIMEOUT_TOO_LONG over 28 days", **REFUSALS})
@staff_required
def timeout_user(user_id: str):
    params = Params()
    duration = params.integer("duration", required=True, minimum=1, maximum=10 ** 9)
    reason = params.text("reason", required=False, default="", max_len=500)
    params.done()
    if duration > moderation.MAX_TIMEOUT:
        raise APIError(400, f"A timeout lasts at most {moderation.MAX_TIMEOUT} seconds (28 days)", "TIMEOUT_TOO_LONG")
    target = _target(user_id)
    until = moderation.time_out(current_caller(), target, duration)
    audit.record("moderation", "User timed out", f"{target.username} until {iso(until)}" + (f": {reason}" if reason else ""),
                 action="timeout", target_id=target.id, target_username=target.username, until=iso(until))
    db.session.commit()
    return ok(message="User timed out", user_id=target.id, until=iso(until))


@users_bp.delete("/<user_id>/timeout")
@doc("Lift a timeout early (admin or owner)", auth="admin", tag=TAG, responses={200: "Lifted", 404: "Not timed out"})
@staff_required
def lift_timeout(user_id: str):
    target = _target(user_id)
    if not moderation.lift_timeout(target):
        raise APIError(404, "This user is not timed out", "NOT_TIMED_OUT")
    audit.record("moderation", "Timeout lifted", f"{target.username} may post again", action="timeout_lifted",
                 target_id=target.id, target_username=target.username)
    db.session.commit()
    return ok(message="Timeout lifted")
