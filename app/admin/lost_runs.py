"""Runs whose worker died: found by their stale heartbeat, failed, unlocked and queued again.

A running run writes its heartbeat every RUN_HEARTBEAT_SECONDS (app/admin/runs.py). One older
than RUN_STALE_SECONDS means its worker was killed or lost: the run is marked failed, the lock
its dead worker held is freed, and the task (every registered task is idempotent) is queued
again as a "retry" run, unless its last runs were all lost, which points at the task itself.
"""
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from . import audit
from .registry import REGISTRY
from .runs import lock_name
from .. import tasks
from ..extensions import db
from ..ids import utcnow
from ..locks import release_if, single_flight
from ..models import TaskRun, User

log = logging.getLogger(__name__)

LOST = "lost: its worker stopped"
MAX_LOST_IN_A_ROW = 3  # this many lost runs in a row are not retried again


def reap() -> dict:
    """Fail every registered run with a stale heartbeat and queue it again; one reaper at a time."""
    with single_flight("runs.reap", timeout=max(30.0, current_app.config["RUN_REAP_SECONDS"])) as taken:
        if not taken:
            return {"reaped": 0, "retried": 0, "status": "skipped"}
        cutoff = utcnow() - timedelta(seconds=current_app.config["RUN_STALE_SECONDS"])
        stale = db.session.scalars(sa.select(TaskRun.id).where(*_stale(cutoff))).all()
        db.session.rollback()
        reaped = retried = 0
        for run_id in stale:
            try:
                lost = _fail(run_id, cutoff)
                if lost is not None:
                    reaped += 1
                    retried += _retry(lost)
            except Exception:  # one bad run must not stop the others
                db.session.rollback()
                log.exception("could not reap the lost run %s", run_id)
        return {"reaped": reaped, "retried": retried, "status": "done"}


def _stale(cutoff) -> tuple:
    last_sign = sa.func.coalesce(TaskRun.heartbeat_at, TaskRun.started_at)
    return TaskRun.state == "running", TaskRun.task_id.in_(list(REGISTRY)), last_sign < cutoff


def _fail(run_id: str, cutoff) -> TaskRun | None:
    """Mark one run failed if it is still stale (the UPDATE re-checks it); None when it was not."""
    now = utcnow()
    result = db.session.execute(sa.update(TaskRun).where(TaskRun.id == run_id, *_stale(cutoff)).values(
        state="failed", finished_at=now, error=f"{LOST} (no heartbeat for over "
                                               f"{current_app.config['RUN_STALE_SECONDS']:g} s)"))
    if result.rowcount != 1:
        db.session.rollback()
        return None
    run = db.session.get(TaskRun, run_id)
    if run.started_at is not None:
        run.duration_ms = int((now - run.started_at).total_seconds() * 1000)
    requester = db.session.get(User, run.requested_by) if run.requested_by else None
    audit.record("task_run", f"Background task {run.task_id} failed", run.error, user=requester,
                 run_id=run.id, task_id=run.task_id, state="failed")
    db.session.commit()
    release_if(lock_name(run.task_id), run.id)
    log.warning("background run %s of %s lost its worker; marked failed", run.id, run.task_id)
    return run


def _retry(lost: TaskRun) -> int:
    """Queue the lost run's task again as a new run; 1 when queued."""
    recent = db.session.scalars(sa.select(TaskRun.error).where(
        TaskRun.task_id == lost.task_id, TaskRun.finished_at.is_not(None))
        .order_by(TaskRun.queued_at.desc()).limit(MAX_LOST_IN_A_ROW)).all()
    if len(recent) == MAX_LOST_IN_A_ROW and all((error or "").startswith(LOST) for error in recent):
        log.error("not retrying %s: its last %d runs all lost their worker", lost.task_id, MAX_LOST_IN_A_ROW)
        return 0
    retry = TaskRun(task_id=lost.task_id, trigger="retry", requested_by=lost.requested_by)
    db.session.add(retry)
    db.session.commit()
    if tasks.enqueue(tasks.BACKGROUND_RUN, lost.task_id, retry.id, task_id=retry.id):
        return 1
    retry.state, retry.finished_at, retry.error = "failed", utcnow(), "could not enqueue: broker unreachable"
    db.session.commit()
    return 0
