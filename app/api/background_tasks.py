"""/api/v1/background-tasks: task status from recorded runs, and runs on demand (owner only)."""
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from celery.schedules import schedule as every
from flask import Blueprint, current_app

from workers import REGISTRY
from workers.runs import is_running, queue_run

from ..accounts.auth import current_caller, owner_required
from ..errors import APIError
from ..extensions import db
from ..ids import iso
from ..models import TaskRun
from ..openapi import doc
from ..params import Params
from .responses import ok

bp = Blueprint("background_tasks", __name__, url_prefix="/api/v1/background-tasks")


def _next_run(task_id: str, last_scheduled: datetime | None) -> str | None:
    entry = current_app.config["CELERY"]["beat_schedule"].get(task_id)
    if entry is None:
        return None
    schedule = entry["schedule"]
    schedule = every(schedule) if isinstance(schedule, timedelta) else schedule
    now = datetime.now(timezone.utc)
    last = last_scheduled.replace(tzinfo=timezone.utc) if last_scheduled else now
    return iso(now + max(schedule.remaining_estimate(last), timedelta(0)))


def _latest(task_id: str, *where) -> TaskRun | None:
    return db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == task_id, *where)
                             .order_by(TaskRun.queued_at.desc()).limit(1))


def _status(task_id: str, spec: dict, counts: dict) -> dict:
    last = _latest(task_id, TaskRun.finished_at.is_not(None))
    failed = _latest(task_id, TaskRun.state == "failed")
    scheduled = _latest(task_id, TaskRun.trigger == "schedule", TaskRun.started_at.is_not(None))
    runs, errors = counts.get(task_id, (0, 0))
    return {
        "description": spec["description"], "schedule": spec["schedule"], "celery_task": spec["task"],
        "enabled": task_id in current_app.config["CELERY"]["beat_schedule"],
        "next_run": _next_run(task_id, scheduled.started_at if scheduled else None),
        "running": is_running(task_id), "runs": runs, "errors": errors,
        "last_run": iso(last.finished_at) if last else None, "last_state": last.state if last else None,
        "last_error": failed.error if failed else None, "last_duration": last.duration_ms if last else None,
    }


@bp.route("/status", methods=["GET", "POST"])
@doc("Every background task with its schedule and recorded runs", auth="owner")
@owner_required
def status():
    failed = sa.func.sum(sa.case((TaskRun.state == "failed", 1), else_=0))
    counts = {task_id: (runs, int(errors or 0)) for task_id, runs, errors in db.session.execute(
        sa.select(TaskRun.task_id, sa.func.count(), failed).where(TaskRun.finished_at.is_not(None))
        .group_by(TaskRun.task_id))}
    return ok(tasks={task_id: _status(task_id, spec, counts) for task_id, spec in REGISTRY.items()})


@bp.post("/run")
@doc("Run a registered task now on the Celery worker", {"task_id": "str*"}, auth="owner",
     responses={202: "Queued: poll /background-tasks/runs/{run_id}", 404: "Unknown task id",
                409: "Already running"})
@owner_required
def run():
    params = Params()
    task_id = params.text("task_id", max_len=64)
    params.done()
    record = queue_run(task_id, current_caller().id)
    return ok(202, message=f"Task {task_id} queued", task_id=task_id, run_id=record.id, state=record.state)


@bp.get("/runs/<run_id>")
@doc("One run: queued, running, succeeded or failed, with result or error and timings", auth="owner",
     responses={200: "run", 404: "Unknown run"})
@owner_required
def run_status(run_id: str):
    record = db.session.get(TaskRun, run_id[:36])
    if record is None:
        raise APIError(404, "Unknown run_id", "UNKNOWN_RUN")
    return ok(run=record.to_dict(), state=record.state)
