"""Indexing the stored messages for search: batches in id order, progress in the run's record.

Runs as the registered task search_backfill (app/admin/registry.py), so through background.run
(workers/runs.py): recorded and single-flight. Each batch commits its index rows and then the
run's progress {"cursor", "indexed", "done"}; a run that stopped before the end (a failure, a
worker that died) leaves done false, and the next run carries on after its cursor. A run after
a finished one starts again from the first message: re-running is safe (a message's rows are
replaced, not added) and moves every message to the current index key after a rotation.
"""
import logging

import sqlalchemy as sa
from celery import shared_task
from sqlalchemy.exc import DBAPIError

from app import tasks
from app.extensions import db
from app.models import TaskRun
from app.search.index import reindex_after

log = logging.getLogger(__name__)
TASK_ID = "search_backfill"
BATCH = 500
ATTEMPTS = 3  # per batch: a message deleted or edited while its batch ran makes the batch retry


def _current_run() -> TaskRun | None:
    """The record background.run opened for this run (single-flight: the one running)."""
    return db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == TASK_ID, TaskRun.state == "running")
                             .order_by(TaskRun.started_at.desc()).limit(1))


def _resume_point(current: TaskRun | None) -> str | None:
    """The cursor of the previous run when it did not finish, else None (from the first message)."""
    query = sa.select(TaskRun).where(TaskRun.task_id == TASK_ID, TaskRun.started_at.is_not(None))
    if current is not None:
        query = query.where(TaskRun.id != current.id)
    previous = db.session.scalar(query.order_by(TaskRun.started_at.desc()).limit(1))
    progress = previous.result if previous is not None else None
    if isinstance(progress, dict) and progress.get("done") is False:
        return progress.get("cursor")
    return None


def _batch(cursor: str | None, batch: int) -> tuple[str | None, int]:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return reindex_after(cursor, batch)
        except DBAPIError:
            db.session.rollback()
            if attempt == ATTEMPTS:
                raise
            log.warning("search backfill batch after %s met a concurrent change; retrying", cursor)
    raise AssertionError("unreachable")


@shared_task(name=tasks.SEARCH_BACKFILL)
def backfill(batch: int = BATCH) -> dict:
    run = _current_run()
    run_id = run.id if run is not None else None
    cursor = started_from = _resume_point(run)
    indexed = 0
    while True:
        last, count = _batch(cursor, batch)
        if not count:
            break
        cursor, indexed = last, indexed + count
        if run_id is not None:
            run = db.session.get(TaskRun, run_id)
            run.result = {"cursor": cursor, "indexed": indexed, "resumed_from": started_from, "done": False}
            db.session.commit()
    log.info("search backfill indexed %d messages", indexed)
    return {"cursor": cursor, "indexed": indexed, "resumed_from": started_from, "done": True}
