"""Recorded, single-flight runs of the registered background tasks, and their status."""
import logging
import time
from contextlib import ExitStack
from typing import Any, Callable

import sqlalchemy as sa
from flask import current_app

from . import audit
from .registry import REGISTRY, next_run, schedule_text
from .. import tasks
from ..errors import APIError
from ..extensions import db
from ..ids import iso, new_uuid, utcnow
from ..locks import is_held, single_flight
from ..models import TaskRun, User

log = logging.getLogger(__name__)


def lock_name(task_id: str) -> str:
    """The single-flight lock every run of one task id holds."""
    return f"task:{task_id}"


def is_running(task_id: str) -> bool:
    return is_held(lock_name(task_id))


def queue_run(task_id: str, requested_by: str | None) -> TaskRun:
    """Record a manual run of a registered task and enqueue it on the Celery worker."""
    if task_id not in REGISTRY:
        raise APIError(404, f"Unknown task id {task_id!r}; known: {', '.join(REGISTRY)}", "UNKNOWN_TASK")
    if is_running(task_id):
        raise APIError(409, f"{task_id} is already running", "TASK_RUNNING")
    record = TaskRun(task_id=task_id, trigger="manual", requested_by=requested_by)
    db.session.add(record)
    db.session.commit()
    if not tasks.enqueue(tasks.BACKGROUND_RUN, task_id, record.id, task_id=record.id):
        record.state, record.finished_at, record.error = "failed", utcnow(), "could not enqueue: broker unreachable"
        db.session.commit()
        raise APIError(503, "The task queue is unreachable; try again later", "QUEUE_UNAVAILABLE")
    return record


def _run_record(task_id: str, run_id: str | None) -> TaskRun:
    """The queued record of a manual run, or a new one (a scheduled tick, or a lost record)."""
    run = db.session.get(TaskRun, run_id) if run_id else None
    if run is None:
        run = TaskRun(id=run_id or new_uuid(), task_id=task_id, trigger="manual" if run_id else "schedule",
                      state="queued")
        db.session.add(run)
    return run


def _heartbeat(run_id: str) -> Callable[[], None]:
    """Write the run's heartbeat from the lock's renewal thread (its own app context and session)."""
    app = current_app._get_current_object()

    def beat() -> None:
        with app.app_context():
            try:
                db.session.execute(sa.update(TaskRun).where(TaskRun.id == run_id, TaskRun.state == "running")
                                   .values(heartbeat_at=utcnow()))
                db.session.commit()
            finally:
                db.session.remove()
    return beat


def run_recorded(task_id: str, run_id: str | None, call: Callable[[str], Any]) -> dict:
    """Run one registered task through call(celery task name), recording the run in the database."""
    entry = REGISTRY.get(task_id)
    if entry is None:
        log.error("refusing to run unregistered task id %r", task_id)
        return {"state": "failed", "error": "unknown task id"}
    run = _run_record(task_id, run_id)
    if run.state != "queued":  # delivered again after it started: a run never runs twice
        db.session.rollback()
        return {"state": "skipped", "error": f"the run is already {run.state}"}
    config = current_app.config
    with ExitStack() as held:
        try:
            # A short lock, renewed with the heartbeat while the run lives: a dead worker's lapses.
            acquired = held.enter_context(single_flight(
                lock_name(task_id), config["TASK_LOCK_SECONDS"], token=run.id,
                renew_every=config["RUN_HEARTBEAT_SECONDS"], on_renew=_heartbeat(run.id)))
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
        return _execute(run, entry.task, call)


def _execute(run: TaskRun, task_name: str, call: Callable[[str], Any]) -> dict:
    """Run the task inside its record: running, then succeeded or failed, audited when it matters."""
    run.state, run.started_at = "running", utcnow()
    run.heartbeat_at = run.started_at
    db.session.commit()
    started = time.monotonic()
    try:
        result = call(task_name)
        state, error = "succeeded", None
    except Exception as exc:
        log.exception("background task %s failed", run.task_id)
        db.session.rollback()
        result, state, error = None, "failed", f"{type(exc).__name__}: {exc}"[:2000]
    run = db.session.get(TaskRun, run.id)
    run.state, run.error, run.finished_at = state, error, utcnow()
    if state == "succeeded":  # a failed run keeps the progress its task recorded (a resumable task reads it)
        run.result = result if isinstance(result, dict) or result is None else {"value": result}
    run.duration_ms = int((time.monotonic() - started) * 1000)
    if run.trigger == "manual" or state == "failed":
        requester = db.session.get(User, run.requested_by) if run.requested_by else None
        audit.record("task_run", f"Background task {run.task_id} {state}", error or f"took {run.duration_ms} ms",
                     user=requester, run_id=run.id, task_id=run.task_id, state=state)
    db.session.commit()
    return {"state": state, "error": error}


def _latest(task_id: str, *where) -> TaskRun | None:
    return db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == task_id, *where)
                             .order_by(TaskRun.queued_at.desc()).limit(1))


def _status(task_id: str, counts: dict) -> dict:
    entry = REGISTRY[task_id]
    last = _latest(task_id, TaskRun.finished_at.is_not(None))
    failed = _latest(task_id, TaskRun.state == "failed")
    scheduled = _latest(task_id, TaskRun.trigger == "schedule", TaskRun.started_at.is_not(None))
    runs, errors = counts.get(task_id, (0, 0))
    return {
        "description": entry.description, "schedule": schedule_text(task_id), "celery_task": entry.task,
        "enabled": task_id in current_app.config["CELERY"]["beat_schedule"],
        "next_run": next_run(task_id, scheduled.started_at if scheduled else None),
        "running": is_running(task_id), "runs": runs, "errors": errors,
        "last_run": iso(last.finished_at) if last else None, "last_state": last.state if last else None,
        "last_error": failed.error if failed else None, "last_duration": last.duration_ms if last else None,
    }


def task_statuses() -> dict:
    """Every registered task with its schedule and what its recorded runs say."""
    failed = sa.func.sum(sa.case((TaskRun.state == "failed", 1), else_=0))
    counts = {task_id: (runs, int(errors or 0)) for task_id, runs, errors in db.session.execute(
        sa.select(TaskRun.task_id, sa.func.count(), failed).where(TaskRun.finished_at.is_not(None))
        .group_by(TaskRun.task_id))}
    return {task_id: _status(task_id, counts) for task_id in REGISTRY}
