"""Fan-out side work: the Celery-path message delivery and presence bookkeeping."""
import logging

from celery import shared_task

from app import keys, locks, tasks
from app.extensions import db, redis
from app.ids import utcnow
from app.models import User
from app.realtime import presence, relay, seen

log = logging.getLogger(__name__)


@shared_task(name=tasks.FANOUT_DELIVER)
def deliver(*_ignored) -> None:
    """REALTIME_FANOUT=celery: run the event relay here, publishing what the log holds."""
    relay.drain()


@shared_task(name=tasks.FANOUT_PRESENCE)
def record_presence(user_id: str) -> str | None:
    """Store status and last_seen from the live socket count, so task order does not matter."""
    user = db.session.get(User, user_id)
    if user is None:
        return None
    if seen.connected(user_id):
        if user.status == "offline":
            user.status = presence.shown_status(user_id, None)
            redis.delete(keys.presence_choice(user_id))
    else:
        _went_offline(user)
    user.last_seen = utcnow()
    db.session.commit()
    return user.status


def _went_offline(user: User) -> None:
    """Offline, remembering a chosen idle or dnd for when the user comes back."""
    if user.status in presence.CHOSEN:
        redis.set(keys.presence_choice(user.id), user.status)
    elif user.status != "offline":  # came back as online since: an older choice no longer holds
        redis.delete(keys.presence_choice(user.id))
    user.status = "offline"
    redis.srem(keys.presence_users(), user.id)


@shared_task(name=tasks.FANOUT_SWEEP_PRESENCE)
def sweep_presence() -> int:
    """Mark offline the users whose sockets lived on a process that died (their entries lapsed)."""
    with locks.single_flight("sweep_presence", timeout=50) as acquired:
        return _sweep() if acquired else 0  # another sweep is running


def _sweep() -> int:
    swept = 0
    for raw in redis.smembers(keys.presence_users()):
        user_id = raw.decode()
        if seen.connected(user_id):
            continue
        try:
            user = db.session.get(User, user_id)
            if user is not None and user.status != "offline":
                presence.announce_presence(user.id, user.username, "offline", record=False)
                _went_offline(user)
                user.last_seen = utcnow()
                db.session.commit()
            redis.srem(keys.presence_users(), user_id)
            swept += 1
        except Exception:  # one bad row must not stop the sweep
            db.session.rollback()
            log.exception("presence sweep failed for %s", user_id)
    return swept
