"""Background tasks: registry, status from recorded runs, runs on demand, single flight, each task's work."""
import http.server
import json
import threading
from datetime import timedelta

import sqlalchemy as sa

from app import keys, tasks
from app.admin import runs
from app.admin.registry import REGISTRY, RegisteredTask, describe
from app.extensions import db, redis
from app.ids import utcnow
from app.models import AuthToken, TaskRun
from workers.runs import run_registered

SCHEDULED = {"cdn_cleanup", "auth_token_cleanup", "server_stats_update", "chart_data_update",
             "activity_metrics_update", "github_releases_check", "event_log_prune"}
ON_DEMAND = {"search_backfill"}  # registered, run by the owner only
TASK_IDS = SCHEDULED | ON_DEMAND


def run_in_process(app, task_id, run_id=None):
    with app.app_context():
        return run_registered.run(task_id, run_id)


def test_registry_and_beat_schedule_agree(app):
    assert set(REGISTRY) == TASK_IDS
    assert REGISTRY["cdn_cleanup"].task == "cdn.cleanup"
    schedule = dict(app.config["CELERY"]["beat_schedule"])
    assert schedule.pop("lost_runs_reap")["task"] == "runs.reap"  # the reaper is no owner-run task
    assert set(schedule) == SCHEDULED
    assert all(entry["task"] == "background.run" and entry["args"] == [task_id] for task_id, entry in schedule.items())
    registered = app.extensions["celery"].tasks
    for task_id, entry in REGISTRY.items():
        assert entry.task in registered, task_id


def test_status_shape_and_roles(api, owner, admin):
    response = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"])
    assert response.status_code == 200
    tasks = response.get_json()["tasks"]
    assert set(tasks) == TASK_IDS
    for task_id, entry in tasks.items():
        assert {"description", "schedule", "enabled", "next_run", "running", "runs", "errors", "last_run",
                "last_error", "last_duration"} <= set(entry)
        assert entry["running"] is False and entry["runs"] == 0
        if task_id in SCHEDULED:
            assert entry["enabled"] is True and entry["next_run"].endswith("Z")
        else:
            assert entry["enabled"] is False and entry["next_run"] is None
    assert api.call("POST", "/api/v1/background-tasks/status", token=admin["token"]).status_code == 403
    assert api.call("POST", "/api/v1/background-tasks/status").status_code == 401


def test_schedules_are_described_from_the_beat_schedule(api, app, owner):
    tasks_status = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"]).get_json()["tasks"]
    assert {task_id: entry["schedule"] for task_id, entry in tasks_status.items()} == {
        "cdn_cleanup": "daily at 03:30 UTC", "auth_token_cleanup": "every hour",
        "server_stats_update": "every 5 minutes", "chart_data_update": "every 5 minutes",
        "activity_metrics_update": "every 2 minutes", "github_releases_check": "every 6 hours",
        "search_backfill": "on demand only",
        "event_log_prune": "every hour"}
    with app.app_context():
        assert describe(timedelta(seconds=90)) == "every 90 seconds"
        assert describe(timedelta(days=1)) == "every day"


def test_run_answers_503_when_the_queue_is_unreachable(api, app, owner, monkeypatch):
    monkeypatch.setattr(tasks, "enqueue", lambda *args, **kwargs: False)
    response = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"],
                        json={"task_id": "chart_data_update"})
    assert response.status_code == 503 and response.get_json()["code"] == "QUEUE_UNAVAILABLE"
    with app.app_context():
        run = db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == "chart_data_update"))
        assert run.state == "failed" and "could not enqueue" in run.error and run.finished_at


def test_run_queues_and_reports(api, owner, user):
    response = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"], json={"task_id": "chart_data_update"})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["task_id"] == "chart_data_update" and body["run_id"]
    run = api.call("GET", f"/api/v1/background-tasks/runs/{body['run_id']}", token=owner["token"]).get_json()
    assert run["state"] == "queued" and run["run"]["requested_by"] == owner["id"]
    unknown = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"], json={"task_id": "rm_rf"})
    assert unknown.status_code == 404 and unknown.get_json()["code"] == "UNKNOWN_TASK"
    assert api.call("POST", "/api/v1/background-tasks/run", token=owner["token"], json={}).status_code == 400
    assert api.call("POST", "/api/v1/background-tasks/run", token=user["token"],
                    json={"task_id": "chart_data_update"}).status_code == 403
    assert api.call("GET", "/api/v1/background-tasks/runs/nope", token=owner["token"]).status_code == 404
    assert api.call("GET", f"/api/v1/background-tasks/runs/{body['run_id']}", token=user["token"]).status_code == 403


def test_run_records_success_failure_and_status(api, app, owner):
    run_id = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"],
                      json={"task_id": "server_stats_update"}).get_json()["run_id"]
    assert run_in_process(app, "server_stats_update", run_id)["state"] == "succeeded"
    run = api.call("GET", f"/api/v1/background-tasks/runs/{run_id}", token=owner["token"]).get_json()["run"]
    assert run["state"] == "succeeded" and run["result"]["total"] == 1 and run["duration_ms"] >= 0
    assert run["started_at"] and run["finished_at"]
    # A scheduled run of a task whose code is not installed on this worker is a recorded failure.
    with app.app_context():
        REGISTRY["broken_for_test"] = RegisteredTask("no.such.task", "x")
    try:
        assert run_in_process(app, "broken_for_test")["state"] == "failed"
    finally:
        REGISTRY.pop("broken_for_test")
    with app.app_context():
        failed = db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == "broken_for_test"))
        assert failed.trigger == "schedule" and "no.such.task" in failed.error
    status = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"]).get_json()["tasks"]
    entry = status["server_stats_update"]
    assert entry["runs"] == 1 and entry["errors"] == 0 and entry["last_run"] and entry["last_duration"] is not None
    activity = api.call("POST", "/api/v1/system/recent-activity", token=owner["token"]).get_json()["activities"]
    failure, manual = activity[0], activity[1]
    assert failure["action"] == manual["action"] == "task_run"
    assert failure["type"] == manual["type"] == "moderation"
    assert failure["user"] is None and failure["metadata"]["state"] == "failed"
    assert manual["user"]["username"] == "owner" and manual["metadata"]["state"] == "succeeded"


def test_periodic_runs_are_single_flight(api, app, owner):
    with app.app_context():
        redis.set(keys.lock(runs.lock_name("chart_data_update")), "held", ex=60)
    busy = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"], json={"task_id": "chart_data_update"})
    assert busy.status_code == 409 and busy.get_json()["code"] == "TASK_RUNNING"
    status = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"]).get_json()["tasks"]
    assert status["chart_data_update"]["running"] is True
    assert run_in_process(app, "chart_data_update") == {"state": "skipped"}
    with app.app_context():
        run = TaskRun(task_id="chart_data_update", requested_by=owner["id"])
        db.session.add(run)
        db.session.commit()
        run_id = run.id
    assert run_in_process(app, "chart_data_update", run_id)["state"] == "failed"
    body = api.call("GET", f"/api/v1/background-tasks/runs/{run_id}", token=owner["token"]).get_json()
    assert body["state"] == "failed" and "in progress" in body["run"]["error"]
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(TaskRun.id))) == 1  # the skipped tick left no record


def test_auth_token_cleanup_deletes_only_expired_tokens(api, app, owner, user):
    with app.app_context():
        token = db.session.scalars(sa.select(AuthToken).where(AuthToken.user_id == user["id"])).one()
        token.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert run_in_process(app, "auth_token_cleanup")["state"] == "succeeded"
    with app.app_context():
        remaining = db.session.scalars(sa.select(AuthToken.user_id)).all()
        run = db.session.scalar(sa.select(TaskRun).where(TaskRun.task_id == "auth_token_cleanup"))
    assert remaining == [owner["id"]] and run.result == {"deleted": 1}
    assert api.call("POST", "/api/v1/users/profile", token=owner["token"]).status_code == 200


def test_release_check_offline_reports_running_version(api, app):
    app.config["RELEASES_URL"] = "http://127.0.0.1:9/unreachable"
    try:
        assert run_in_process(app, "github_releases_check")["state"] == "succeeded"
    finally:
        app.config["RELEASES_URL"] = "https://api.github.com/repos/PufferBlow/pufferblow/releases/latest"
    release = api.call("GET", "/api/v1/system/latest-release").get_json()["release"]
    assert release["version"] == app.config["SERVER_VERSION"] and release["source"] == "local"


def test_release_check_reads_a_release_document(api, app):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"tag_name": "v9.9.9", "html_url": "https://example.org/r/9.9.9",
                               "published_at": "2026-01-01T00:00:00Z"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["RELEASES_URL"] = f"http://127.0.0.1:{server.server_port}/latest"
    try:
        assert run_in_process(app, "github_releases_check")["state"] == "succeeded"
    finally:
        app.config["RELEASES_URL"] = "https://api.github.com/repos/PufferBlow/pufferblow/releases/latest"
        server.shutdown()
    release = api.call("GET", "/api/v1/system/latest-release").get_json()["release"]
    assert release["version"] == "9.9.9" and release["url"] == "https://example.org/r/9.9.9"
