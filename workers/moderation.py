"""A ban's delete_messages window: the messages go in batches, progress in the ban's TaskRun."""
import logging
import time
from datetime import datetime

from celery import shared_task

from app import tasks
from app.extensions import db
from app.ids import utcnow
from app.messaging.purge import delete_batch
from app.models import TaskRun

log = logging.getLogger(__name__)
TASK_ID = "ban_delete_messages"


@shared_task(name=tasks.MODERATION_DELETE_MESSAGES)
def delete_messages(run_id: str, user_id: str, since: str | None) -> dict:
    """Delete the user's messages sent since (ISO time; None: all), recording each batch."""
    run = db.session.get(TaskRun, run_id)
    if run is None:
        run = TaskRun(id=run_id, task_id=TASK_ID, trigger="manual")
        db.session.add(run)
    run.state, run.started_at = "running", utcnow()
    run.result = {"user_id": user_id, "deleted": 0, "batches": 0}
    db.session.commit()
    started, deleted, batches = time.monotonic(), 0, 0
    try:
        while count := delete_batch(user_id, datetime.fromisoformat(since) if since else None):
            deleted, batches = deleted + count, batches + 1
            run = db.session.get(TaskRun, run_id)
            run.result = {"user_id": user_id, "deleted": deleted, "batches": batches}
            db.session.commit()
        state, error = "succeeded", None
    except Exception as exc:
        log.exception("deleting the messages of %s failed", user_id)
        db.session.rollback()
        state, error = "failed", f"{type(exc).__name__}: {exc}"[:2000]
    run = db.session.get(TaskRun, run_id)
    run.state, run.error, run.finished_at = state, error, utcnow()
    run.result = {"user_id": user_id, "deleted": deleted, "batches": batches}
    run.duration_ms = int((time.monotonic() - started) * 1000)
    db.session.commit()
    return run.result
