"""/api/v1/background-tasks: task status from recorded runs, and runs on demand (owner only)."""
from flask import Blueprint

from ..accounts.auth import current_caller, owner_required
from ..admin import runs
from ..errors import APIError
from ..extensions import db
from ..models import TaskRun
from ..endpoint import doc
from ..params import Params
from .responses import ok

bp = Blueprint("background_tasks", __name__, url_prefix="/api/v1/background-tasks")


@bp.route("/status", methods=["GET", "POST"])
@doc("Every background task with its schedule and recorded runs", auth="owner")
@owner_required
def status():
    return ok(tasks=runs.task_statuses())


@bp.post("/run")
@doc("Run a registered task now on the Celery worker", {"task_id": "str*"}, auth="owner",
     responses={202: "Queued: poll /background-tasks/runs/{run_id}", 404: "Unknown task id",
                409: "Already running"})
@owner_required
def run():
    params = Params()
    task_id = params.text("task_id", max_len=64)
    params.done()
    record = runs.queue_run(task_id, current_caller().id)
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
