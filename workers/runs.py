"""Recorded, single-flight runs of the registered background tasks."""
import logging
import time

from celery import shared_task
from flask import current_app

from app.admin import audit
from app.errors import APIError
from app.extensions import db, redis
from app.ids import utcnow
from app.models import TaskRun, User

from workers import REGISTRY

log = logging.getLogger(__name__)

LOCK_PREFIX = "pufferblow:task-lock:"


def task_lock(task_id: str):
    return redis.lock(LOCK_PREFIX + task_id, timeout=current_app.config["TASK_LOCK_SECONDS"])


def is_running(task_id: str) -> bool:
    try:
        return bool(redis.exists(LOCK_PREFIX + task_id))
    except Exception:
        return False


def queue_run(task_id: str, requested_by: str | None) -> TaskRun:
    """Record a manual run of a registered task and enqueue it on the Celery worker."""
    if task_id not in REGISTRY:
        raise APIError(404, f"Unknown task id {task_id!r}; known: {', '.join(REGISTRY)}", "UNKNOWN_TASK")
    if is_running(task_id):
        raise APIError(409, f"{task_id} is already running", "TASK_RUNNING")
    record = TaskRun(task_id=task_id, trigger="manual", requested_by=requested_by)
    db.session.add(record)
    db.session.commit()
    try:
        current_app.extensions["celery"].send_task("background.run", args=[task_id, record.id], task_id=record.id)
    except Exception as exc:
        record.state, record.finished_at, record.error = "failed", utcnow(), f"could not enqueue: {type(exc).__name__}"
        db.session.commit()
        raise APIError(503, "The task queue is unreachable; try again later", "QUEUE_UNAVAILABLE")
    return record


@shared_task(name="background.run", bind=True)
def run_registered(self, task_id: str, run_id: str | None = None) -> dict:
    """Run one registered task inside this worker, recording the run in the database."""
    spec = REGISTRY.get(task_id)
    if spec is None:
        log.error("refusing to run unregistered task id %r", task_id)
        return {"state": "failed", "error": "unknown task id"}
    run = db.session.get(TaskRun, run_id) if run_id else None
    if run is None:
        run = TaskRun(task_id=task_id, trigger="manual" if run_id else "schedule", **({"id": run_id} if run_id else {}))
        db.session.add(run)
    lock = task_lock(task_id)
    try:
        acquired = lock.acquire(blocking=False)
    except Exception as exc:  # no Redis: no lock, no run
        acquired, run.error = False, f"lock unavailable: {type(exc).__name__}"
    if not acquired:
        if run.trigger == "schedule":
            db.session.rollback()  # the run in progress covers this tick
            return {"state": "skipped"}
        run.state, run.finished_at = "failed", utcnow()
        run.error = run.error or "another run of this task is in progress"
        db.session.commit()
        return {"state": run.state, "error": run.error}
    try:
        run.state, run.started_at = "running", utcnow()
        db.session.commit()
        started = time.monotonic()
        try:
            result = self.app.tasks[spec["task"]]()  # in this process, inside this run's record
            state, error = "succeeded", None
        except Exception as exc:
            log.exception("background task %s failed", task_id)
            db.session.rollback()
            result, state, error = None, "failed", f"{type(exc).__name__}: {exc}"[:2000]
        run = db.session.get(TaskRun, run.id)
        run.state, run.error, run.finished_at = state, error, utcnow()
        run.result = result if isinstance(result, dict) or result is None else {"value": result}
        run.duration_ms = int((time.monotonic() - started) * 1000)
        if run.trigger == "manual" or state == "failed":
            audit.record("task_run", f"Background task {task_id} {state}", error or f"took {run.duration_ms} ms",
                         user=db.session.get(User, run.requested_by) if run.requested_by else None, run_id=run.id, task_id=task_id, state=state)
        db.session.commit()
        return {"state": state, "error": error}
    finally:
        try:
            lock.release()
        except Exception:
            log.warning("could not release the lock of %s; it expires by itself", task_id)
