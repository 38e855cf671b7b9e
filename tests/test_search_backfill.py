"""search_backfill on a real Celery worker: messages stored before search existed become findable."""
import time

import pytest
import sqlalchemy as sa

from tests.api_helpers import declare_queues, make_channel
from tests.test_search import found


@pytest.fixture(autouse=True)
def queues(worker, app):
    declare_queues(app)  # each test starts with a flushed Redis
    yield


def _store_unindexed(app, channel_id: str, sender_id: str, texts: list[str]) -> list[str]:
    """Messages written straight to the table, as a server without search left them."""
    from app import crypto
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Message
    rows = []
    with app.app_context():
        for text in texts:
            key_id, blob = crypto.encrypt(text, channel_id)
            rows.append({"id": uuid7(), "channel_id": channel_id, "sender_id": sender_id, "key_id": key_id,
                         "ciphertext": blob, "hashed_message": crypto.digest(text), "attachments": [],
                         "sent_at": utcnow()})
        db.session.execute(sa.insert(Message), rows)
        db.session.commit()
    return [row["id"] for row in rows]


def _run(api, owner) -> dict:
    response = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"],
                        json={"task_id": "search_backfill"})
    assert response.status_code == 202, response.get_json()
    run_id = response.get_json()["run_id"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        run = api.call("GET", f"/api/v1/background-tasks/runs/{run_id}", token=owner["token"]).get_json()["run"]
        if run["state"] in ("succeeded", "failed"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"the run did not finish: {run}")


def test_backfill_indexes_messages_stored_before_search(api, app, owner):
    channel = make_channel(api, owner["token"], "archive")
    texts = [f"archived note {n} {'rare' if n == 700 else 'plain'}" for n in range(1200)]
    ids = _store_unindexed(app, channel, owner["id"], texts)
    assert found(api, owner["token"], "rare") == []
    run = _run(api, owner)
    assert run["state"] == "succeeded", run
    assert run["result"] == {"cursor": ids[-1], "indexed": 1200, "resumed_from": None, "done": True}
    assert found(api, owner["token"], "rare") == [ids[700]]
    assert found(api, owner["token"], "archived note", limit=50)[:2] == [ids[-1], ids[-2]]
    # Re-running is safe: the rows are replaced, never doubled.
    from app.extensions import db
    with app.app_context():
        before = db.session.scalar(sa.text("SELECT count(*) FROM message_terms"))
    assert _run(api, owner)["result"]["indexed"] == 1200
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM message_terms")) == before
    status = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"]).get_json()
    assert status["tasks"]["search_backfill"]["runs"] == 2


def test_backfill_resumes_after_an_interrupted_run(api, app, owner):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import TaskRun
    channel = make_channel(api, owner["token"], "archive")
    ids = _store_unindexed(app, channel, owner["id"], [f"resumable entry {n}" for n in range(30)])
    with app.app_context():  # a run that stopped after the first ten (its worker died)
        db.session.add(TaskRun(task_id="search_backfill", trigger="manual", state="failed", started_at=utcnow(),
                               finished_at=utcnow(), result={"cursor": ids[9], "indexed": 10, "done": False}))
        db.session.commit()
    run = _run(api, owner)
    assert run["state"] == "succeeded", run
    assert (run["result"]["resumed_from"], run["result"]["indexed"]) == (ids[9], 20)
    assert found(api, owner["token"], "resumable", limit=50) == list(reversed(ids[10:]))


def test_backfill_is_single_flight(api, app, owner):
    from app.admin.runs import lock_name
    from app.locks import single_flight
    with app.app_context(), single_flight(lock_name("search_backfill"), 60) as held:
        assert held
        response = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"],
                            json={"task_id": "search_backfill"})
        assert response.status_code == 409
