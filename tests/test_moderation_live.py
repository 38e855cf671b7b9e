"""Moderation across processes: gunicorn with 2 workers, a real Celery worker and Redis."""
import time

import pytest
import sqlalchemy as sa

from tests.api_helpers import make_channel, send
from scripts.stack import Stack
from tests.ws_support import STACK_ENV, close_code, connect, http, next_frame, socket_processes


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, threads=32, celery_worker=True, extra_env=STACK_ENV) as running:
        yield running


def _sockets_on_both_workers(stack, app, token, user_id):
    sockets = []
    for _ in range(20):
        ws = connect(stack, "/ws", token)
        ws.send('{"type": "ping"}')
        next_frame(ws, "pong")
        sockets.append(ws)
        if len(sockets) >= 2 and len(socket_processes(app, [user_id])) == 2:
            return sockets
    raise AssertionError("the sockets all landed on one worker")


def test_ban_on_one_worker_closes_sockets_on_the_other(stack, app, api, owner, user):
    sockets = _sockets_on_both_workers(stack, app, user["token"], user["id"])
    response = http(stack, "POST", f"/api/v1/users/{user['id']}/ban", owner["token"], json={"reason": "troll"})
    assert response.status_code == 200, response.text
    assert {close_code(ws) for ws in sockets} == {4003}
    refused = http(stack, "POST", "/api/v1/users/profile", user["token"])
    assert refused.status_code == 401


def test_channel_updated_is_live(stack, api, owner, user):
    channel = make_channel(api, owner["token"], "general")
    ws = connect(stack, "/ws", user["token"])
    ws.send('{"type": "ping"}')
    next_frame(ws, "pong")
    response = http(stack, "PUT", f"/api/v1/channels/{channel}/update", owner["token"],
                    json={"slow_mode": 10, "description": "calm"})
    assert response.status_code == 200, response.text
    frame = next_frame(ws, "channel_updated")
    assert (frame["channel"]["channel_id"], frame["channel"]["slow_mode"]) == (channel, 10)
    ws.close()


def _fill(app, channel_id: str, sender_id: str, count: int) -> None:
    from app import crypto
    from app.extensions import db
    from app.ids import utcnow, uuid7
    from app.models import Message
    with app.app_context():
        key_id, blob = crypto.encrypt("spam", channel_id)
        rows = [{"id": uuid7(), "channel_id": channel_id, "sender_id": sender_id, "key_id": key_id,
                 "ciphertext": blob, "hashed_message": crypto.digest("spam"), "attachments": [], "sent_at": utcnow()}
                for _ in range(count)]
        for start in range(0, count, 2000):
            db.session.execute(sa.insert(Message), rows[start:start + 2000])
        db.session.commit()


def test_ban_deletes_ten_thousand_messages_on_the_worker(stack, app, api, owner, user, other_user):
    from app.extensions import db
    from app.models import Message, TaskRun
    channel = make_channel(api, owner["token"], "general")
    kept = send(api, other_user["token"], channel, "keep me")
    _fill(app, channel, user["id"], 10_000)
    watcher = connect(stack, f"/ws/channels/{channel}", owner["token"])
    watcher.send('{"type": "ping"}')
    next_frame(watcher, "pong")
    response = http(stack, "POST", f"/api/v1/users/{user['id']}/ban", owner["token"], json={"delete_messages": "all"})
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    deleted = set()
    while len(deleted) < 10_000:
        frame = next_frame(watcher, "message_deleted", timeout=120)
        deleted.add(frame["message_id"])
    watcher.close()
    deadline = time.monotonic() + 60
    with app.app_context():
        while True:
            db.session.remove()
            run = db.session.get(TaskRun, run_id)
            if run.state in ("succeeded", "failed") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert (run.state, run.result["deleted"], run.result["batches"]) == ("succeeded", 10_000, 20)
        left = db.session.scalars(sa.select(Message.id).where(Message.channel_id == channel)).all()
    assert left == [kept]
    assert kept not in deleted
