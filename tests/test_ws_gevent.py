"""The WebSocket scenarios under GUNICORN_WORKER_CLASS=gevent: real gunicorn with gevent workers,
a real Celery worker and Redis. Under gevent every thread of the real-time code (the hub's
subscriber and tick, the publisher, each socket's writer) is a greenlet."""
import os
import signal
import threading
import time

import pytest
import sqlalchemy as sa

from scripts.stack import Stack
from tests.api_helpers import PASSWORD, make_channel
from tests.ws_support import (STACK_ENV, close_code, connect, frames_within, http, next_frame, open_raw,
                              raw_close_code, socket_processes, wait_for_stored_status)


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, celery_worker=True, extra_env=STACK_ENV,
               worker_class="gevent") as running:
        yield running


def _sent_over_http(stack, token: str, channel_id: str, text: str) -> str:
    """send_message through the gevent workers themselves (their publisher carries the event)."""
    response = http(stack, "POST", f"/api/v1/channels/{channel_id}/send_message", token, json={"message": text})
    assert response.status_code == 201, response.text
    return response.json()["message_id"]


def _registered(*sockets) -> None:
    for ws in sockets:  # a pong proves the socket is registered
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong") == {"type": "pong"}


def test_sockets_on_both_gevent_workers_receive_messages_sent_over_http(stack, app, api, owner):
    channel_id = make_channel(api, owner["token"], "general")
    readers = [api.signup(f"reader{n}") for n in range(10)]
    sockets = [connect(stack, f"/ws/channels/{channel_id}" if n % 2 else "/ws", readers[n % 6]["token"])
               for n in range(12)]
    _registered(*sockets)
    assert len(socket_processes(app, [r["id"] for r in readers])) == 2  # both workers hold some
    sent = [_sent_over_http(stack, readers[n]["token"], channel_id, f"hello {n}") for n in range(4)]
    for ws in sockets:
        assert [next_frame(ws, "message", timeout=10)["message_id"] for _ in sent] == sent  # all, in order
        ws.close()


def test_presence_online_then_offline_and_stored(stack, api, owner, user):
    watcher = connect(stack, "/ws", owner["token"])
    _registered(watcher)
    first, second = connect(stack, "/ws", user["token"]), connect(stack, "/ws", user["token"])
    online = next(f for f in iter(lambda: next_frame(watcher, "presence"), None) if f["user_id"] == user["id"])
    assert online["status"] == "online"
    wait_for_stored_status(api.client.application, user["id"], "online")
    first.close()
    assert not [f for f in frames_within(watcher, 1.0) if f.get("user_id") == user["id"]]  # one is still open
    second.close()
    offline = next(f for f in iter(lambda: next_frame(watcher, "presence"), None) if f["user_id"] == user["id"])
    assert offline["status"] == "offline" and offline["last_seen"].endswith("Z")
    wait_for_stored_status(api.client.application, user["id"], "offline")
    watcher.close()


def test_close_codes(stack, api, owner, user, other_user):
    general = make_channel(api, owner["token"], "general")
    doomed = make_channel(api, owner["token"], "doomed")
    revoked = connect(stack, "/ws", user["token"])
    in_deleted = connect(stack, f"/ws/channels/{doomed}", other_user["token"])
    oversized = connect(stack, f"/ws/channels/{general}", other_user["token"])
    _registered(revoked, in_deleted, oversized)
    reset = http(stack, "POST", "/api/v1/users/profile/reset-auth-token", user["token"], json={"password": PASSWORD})
    assert reset.status_code == 200, reset.text
    assert close_code(revoked) == 4001
    assert http(stack, "DELETE", f"/api/v1/channels/{doomed}/delete", owner["token"]).status_code == 200
    assert close_code(in_deleted) == 4004
    oversized.send("x" * (64 * 1024 + 1))
    assert close_code(oversized) == 1009


def test_postgresql_waits_yield_to_the_other_greenlets(stack, app, api, owner):
    """A request blocked in PostgreSQL (on a lock held here) must not stall the worker's sockets:
    psycopg waits cooperatively under gevent."""
    if not stack.env["DATABASE_URL"].startswith("postgres"):
        pytest.skip("needs DATABASE_URL on PostgreSQL (the suite's PostgreSQL run)")
    from app.extensions import db
    general = make_channel(api, owner["token"], "general")
    sockets = [connect(stack, f"/ws/channels/{general}", owner["token"]) for _ in range(4)]  # on both workers
    _registered(*sockets)
    with app.app_context(), db.engine.connect() as conn:
        conn.execute(sa.text("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE"))  # until this block ends
        blocked = threading.Thread(target=_sent_over_http, args=(stack, owner["token"], general, "after the lock"))
        blocked.start()
        time.sleep(0.5)  # the send now waits on the lock in one worker
        assert blocked.is_alive()
        started = time.monotonic()
        _registered(*sockets)  # every socket still answers, in both workers
        assert time.monotonic() - started < 2
        conn.rollback()
    blocked.join(10)
    assert not blocked.is_alive()
    for ws in sockets:
        assert next_frame(ws, "message")["message"] == "after the lock"
        ws.close()


def test_a_gevent_worker_refuses_a_psycopg_that_would_block_it(app, services):
    """psycopg's C wait (forced here) would block every greenlet during each query: no serving."""
    if not services["env"]["DATABASE_URL"].startswith("postgres"):
        pytest.skip("needs DATABASE_URL on PostgreSQL (the suite's PostgreSQL run)")
    with pytest.raises(RuntimeError, match="psycopg was imported before gevent patched"):
        with Stack(services["env"], web_workers=1, worker_class="gevent", extra_env={"PSYCOPG_WAIT_FUNC": "wait_c"}):
            pass


@pytest.fixture(scope="module")
def slow_stack(app, services):
    """One gevent worker (the stalled socket shares its hub with the healthy ones), an outbox of 8."""
    env = {**STACK_ENV, "REALTIME_OUTBOX_FRAMES": "8", "REALTIME_SEND_TIMEOUT": "60"}
    with Stack(services["env"], web_workers=1, celery_worker=False, extra_env=env, worker_class="gevent") as running:
        yield running


def test_a_stalled_peer_delays_no_one_and_is_closed_with_4008(slow_stack, app, api, owner, user, other_user):
    from app.realtime.wire import publish
    general = make_channel(api, owner["token"], "general")
    stalled, reader, _head = open_raw(slow_stack, f"/ws/channels/{general}", user["token"], receive_buffer=4096)
    healthy = [connect(slow_stack, f"/ws/channels/{general}", account["token"]) for account in (owner, other_user)]
    _registered(*healthy)
    with app.app_context():  # ~10 MB for the stalled socket alone: more than its buffers and outbox hold
        for seq in range(200):
            publish("channel", {"type": "flood", "seq": seq, "pad": "x" * 50_000}, general, [user["id"]])
    for n in range(5):
        started = time.monotonic()
        message_id = _sent_over_http(slow_stack, owner["token"], general, f"still live {n}")
        for ws in healthy:
            assert next_frame(ws, "message", timeout=2)["message_id"] == message_id
        assert time.monotonic() - started < 2
    code, frames = raw_close_code(reader)
    assert code == 4008 and frames < 200
    stalled.close()
    _registered(*healthy)


def test_sigterm_closes_sockets_with_1001(slow_stack, api, owner):
    """Last in this module: it stops the stack's gunicorn."""
    ws = connect(slow_stack, "/ws", owner["token"])
    _registered(ws)
    os.kill(slow_stack.web.pid, signal.SIGTERM)
    assert close_code(ws, timeout=10) == 1001
