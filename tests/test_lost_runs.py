"""A background run whose worker is killed: it is marked failed, its locks go, and the work is redone.

A real Celery worker is SIGKILLed in the middle of an orphan cleanup; a fresh worker and beat
(with short heartbeat and staleness settings) must notice the lost run, fail it, release its
locks and finish the cleanup in a new run.
"""
import hashlib
import os
import signal
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from scripts.stack import CeleryBeat, CeleryWorker
from tests.api_helpers import declare_queues, eventually

# Heartbeat every half second, stale after 3 s, locks live 2 s unless renewed, reaper every second.
FAST = {"RUN_HEARTBEAT_SECONDS": "0.5", "RUN_STALE_SECONDS": "3", "TASK_LOCK_SECONDS": "2", "RUN_REAP_SECONDS": "1"}
ORPHANS = 2500


@pytest.fixture(autouse=True)
def queues(app):
    declare_queues(app)  # each test starts with a flushed Redis


def _make_orphans(app, count: int) -> None:
    from app.extensions import db
    from app.ids import utcnow
    from app.models import StoredFile
    old = utcnow() - timedelta(days=3)
    rows = [{"sha256": hashlib.sha256(b"orphan %d" % i).hexdigest(), "size": 1, "mime_type": "text/plain",
             "ext": "txt", "kind": "file", "frames": 1, "needs_clean": False, "created_at": old, "last_used_at": old}
            for i in range(count)]
    with app.app_context():
        db.session.execute(sa.insert(StoredFile), rows)
        db.session.commit()


def _left(app) -> int:
    from app.extensions import db
    from app.models import StoredFile
    with app.app_context():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile))
        db.session.remove()
        return count


def _runs(app) -> list[dict]:
    from app.extensions import db
    from app.models import TaskRun
    with app.app_context():
        found = [run.to_dict() for run in db.session.scalars(
            sa.select(TaskRun).where(TaskRun.task_id == "cdn_cleanup").order_by(TaskRun.queued_at))]
        db.session.remove()
        return found


def _held(app, name: str) -> bool:
    from app.locks import is_held
    with app.app_context():
        return is_held(name)


def test_a_killed_cleanup_is_failed_unlocked_and_redone(api, owner, app, services):
    _make_orphans(app, ORPHANS)
    with CeleryWorker(services["env"], extra_env=FAST) as first:
        response = api.call("POST", "/api/v1/cdn/cleanup-orphaned", token=owner["token"])
        assert response.status_code == 202
        run_id = response.get_json()["run_id"]
        assert eventually(lambda: _left(app) < ORPHANS, 60), "the cleanup never started"
        os.killpg(first.proc.pid, signal.SIGKILL)
        first.proc.process.wait()
    assert _left(app) > 0, "the cleanup finished before the worker was killed"
    assert _runs(app)[0]["state"] == "running"

    with CeleryWorker(services["env"], extra_env=FAST), CeleryBeat(services["env"], extra_env=FAST):
        assert eventually(lambda: _runs(app)[0]["state"] == "failed", 60), _runs(app)
        lost = _runs(app)[0]
        assert lost["run_id"] == run_id and "lost" in lost["error"] and lost["finished_at"]
        assert eventually(lambda: _left(app) == 0, 120), f"{_left(app)} orphans left; runs: {_runs(app)}"
        assert eventually(lambda: any(run["state"] == "succeeded" for run in _runs(app)), 30), _runs(app)
    retry = [run for run in _runs(app) if run["state"] == "succeeded"][0]
    assert retry["trigger"] == "retry" and retry["requested_by"] == owner["id"]
    assert not _held(app, "task:cdn_cleanup") and not _held(app, "cdn.cleanup")
    shown = api.call("GET", f"/api/v1/background-tasks/runs/{run_id}", token=owner["token"]).get_json()
    assert shown["run"]["state"] == "failed"


def test_a_renewed_lock_outlives_its_ttl_and_only_its_token_frees_it(app):
    from app.locks import is_held, release_if, single_flight
    beats = []
    with app.app_context():
        with single_flight("renewed", 1, token="run-1", renew_every=0.2, on_renew=lambda: beats.append(1)) as taken:
            assert taken
            time.sleep(1.6)
            assert is_held("renewed") and len(beats) >= 4
            assert not release_if("renewed", "someone-else") and is_held("renewed")
        assert not is_held("renewed")
        with single_flight("dead", 30, token="run-2") as taken:
            assert taken and release_if("dead", "run-2") and not is_held("dead")


def _stale_run(app, task_id="chart_data_update", age=600, trigger="manual", error=None, state="running"):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import TaskRun
    with app.app_context():
        then = utcnow() - timedelta(seconds=age)
        run = TaskRun(task_id=task_id, trigger=trigger, state=state, queued_at=then, started_at=then,
                      heartbeat_at=then, finished_at=then if state != "running" else None, error=error)
        db.session.add(run)
        db.session.commit()
        return run.id


def test_the_reaper_spares_live_runs_and_stops_retrying_a_task_that_keeps_dying(app, monkeypatch):
    from app import tasks
    from app.admin import lost_runs
    from app.extensions import db
    from app.models import TaskRun
    queued = []
    monkeypatch.setattr(tasks, "enqueue", lambda name, *args, **kwargs: queued.append(args) or True)
    live = _stale_run(app, "server_stats_update", age=1)  # a heartbeat a second old
    for _ in range(2):
        _stale_run(app, error=f"{lost_runs.LOST} (earlier)", state="failed")
    dying = _stale_run(app)
    with app.app_context():
        assert lost_runs.reap() == {"reaped": 1, "retried": 0, "status": "done"}  # its last 3 runs were lost
        assert db.session.get(TaskRun, live).state == "running"
        assert db.session.get(TaskRun, dying).state == "failed"
    assert queued == []
    once = _stale_run(app, "activity_metrics_update")
    with app.app_context():
        assert lost_runs.reap()["retried"] == 1
        retry = db.session.scalar(sa.select(TaskRun).where(TaskRun.trigger == "retry"))
        assert retry.task_id == "activity_metrics_update" and db.session.get(TaskRun, once).state == "failed"
    assert queued == [("activity_metrics_update", retry.id)]
