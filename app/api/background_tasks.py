"""/api/v1/background-tasks: task status from recorded runs, and runs on demand (owner only)."""
from flask import Blueprint

from ..accounts.auth import current_caller, owner_required
from ..admin import runs
from ..errors import APIError
from ..extensions import db
from ..models import TaskRun
from ..endpoint import endpoint
from ..fields import Fields, Text
from .responses import ok

bp = Blueprint("background_tasks", __name__, url_prefix="/api/v1/background-tasks")


@bp.route("/status", methods=["GET", "POST"])
@owner_required
@endpoint("Every background task with its schedule and recorded runs")
def status():
    return ok(tasks=runs.task_statuses())


class RunOrder(Fields):
    task_id: Text(max_len=64, description="A task id of /background-tasks/status")


@bp.post("/run")
@owner_required
@endpoint("Run a registered task now on the Celery worker", RunOrder,
          {202: "Queued: poll /background-tasks/runs/{run_id}", 404: "UNKNOWN_TASK",
           409: "TASK_RUNNING: already running", 503: "QUEUE_UNAVAILABLE: the task queue is unreachable"})
def run(form: RunOrder):
    task_id = form.task_id
    record = runs.queue_run(task_id, current_caller().id)
    return ok(202, message=f"Task {task_id} queued", task_id=task_id, run_id=record.id, state=record.state)


@bp.get("/runs/<run_id>")
@owner_required
@endpoint("One run: queued, running, succeeded or failed, with result or error and timings",
          statuses={200: "run", 404: "UNKNOWN_RUN"})
def run_status(run_id: str):
    record = db.session.get(TaskRun, run_id[:36])
    if record is None:
        raise APIError(404, "Unknown run_id", "UNKNOWN_RUN")
    return ok(run=record.to_dict(), state=record.state)
