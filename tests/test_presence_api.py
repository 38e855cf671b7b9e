"""Presence beyond sockets: API use counts as online, and a chosen idle or dnd survives a reconnect.

Real sockets against gunicorn (2 workers), a Celery worker and Redis, as tests/test_ws.py.
"""
import time

import pytest

from app import keys
from app.extensions import redis
from scripts.stack import Stack
from tests.ws_support import (STACK_ENV, connect, frames_within, http, next_frame, stored_status,
                              wait_for_stored_status)

PROFILE = "/api/v1/users/profile"


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, threads=16, celery_worker=True, extra_env=STACK_ENV) as running:
        yield running


def _presence_of(ws, user_id: str, timeout: float = 5) -> dict:
    while True:
        frame = next_frame(ws, "presence", timeout=timeout)
        if frame["user_id"] == user_id:
            return frame


def _presence_until(ws, user_id: str, status: str) -> dict:
    """Skip the user's presence frames until one with this status (fails after the timeout)."""
    while (frame := _presence_of(ws, user_id))["status"] != status:
        pass
    return frame


def test_api_use_shows_online_before_any_socket(stack, app, api, owner, user):
    watcher = connect(stack, "/ws", owner["token"])
    assert stored_status(app, user["id"]) == "offline"
    assert http(stack, "GET", "/api/v1/channels/list/", user["token"]).status_code == 200
    frame = _presence_of(watcher, user["id"])
    assert (frame["status"], frame["username"]) == ("online", "alice")
    wait_for_stored_status(app, user["id"], "online")
    listed = {u["user_id"]: u["status"] for u in http(stack, "GET", "/api/v1/users/list", owner["token"]).json()["users"]}
    assert listed[user["id"]] == "online"
    # Further requests within the refresh interval announce nothing more.
    for _ in range(5):
        http(stack, "POST", PROFILE, user["token"])
    assert not [f for f in frames_within(watcher, 0.5) if f["type"] == "presence" and f["user_id"] == user["id"]]
    watcher.close()


def test_api_presence_lapses_and_the_sweep_marks_offline(stack, app, api, owner, user):
    http(stack, "POST", PROFILE, user["token"])
    wait_for_stored_status(app, user["id"], "online")
    with app.app_context():
        assert redis.ttl(keys.api_seen(user["id"])) > 60
        redis.delete(keys.api_seen(user["id"]))  # as if the last request were minutes ago
        app.extensions["celery"].send_task("fanout.sweep_presence")
    wait_for_stored_status(app, user["id"], "offline")


def test_closing_the_last_socket_keeps_an_api_user_online(stack, app, api, owner, user):
    watcher = connect(stack, "/ws", owner["token"])
    ws = connect(stack, "/ws", user["token"])
    assert _presence_of(watcher, user["id"])["status"] == "online"
    http(stack, "POST", PROFILE, user["token"])  # also using the API
    ws.close()
    assert not [f for f in frames_within(watcher, 1.0)
                if f["type"] == "presence" and f["user_id"] == user["id"] and f["status"] == "offline"]
    wait_for_stored_status(app, user["id"], "online")
    watcher.close()


@pytest.mark.parametrize("chosen", ["idle", "dnd"])
def test_a_chosen_status_survives_a_reconnect(stack, app, api, owner, user, chosen):
    watcher = connect(stack, "/ws", owner["token"])
    ws = connect(stack, "/ws", user["token"])
    wait_for_stored_status(app, user["id"], "online")
    assert http(stack, "PUT", PROFILE, user["token"], json={"status": chosen}).status_code == 200
    with app.app_context():
        redis.delete(keys.api_seen(user["id"]))  # only the socket holds the user online now
    ws.close()
    _presence_until(watcher, user["id"], "offline")
    wait_for_stored_status(app, user["id"], "offline")
    ws = connect(stack, "/ws", user["token"])
    # The sweep may repeat the offline a moment later; the next frame after it is the choice, not online.
    while (frame := _presence_of(watcher, user["id"]))["status"] == "offline":
        pass
    assert frame["status"] == chosen
    wait_for_stored_status(app, user["id"], chosen)
    # A quick reconnect (the offline not yet stored) keeps it too.
    ws.close()
    ws = connect(stack, "/ws", user["token"])
    time.sleep(1)
    wait_for_stored_status(app, user["id"], chosen)
    ws.close()
    watcher.close()


def _choose_and_reconnect(stack, app, user, ws, chosen: str):
    """Choose a status, go offline (socket closed, API marker dropped), reconnect: the new socket."""
    http(stack, "PUT", PROFILE, user["token"], json={"status": chosen})
    with app.app_context():
        redis.delete(keys.api_seen(user["id"]))
    ws.close()
    wait_for_stored_status(app, user["id"], "offline")
    return connect(stack, "/ws", user["token"])


def test_choosing_online_again_forgets_the_choice(stack, app, api, owner, user):
    ws = connect(stack, "/ws", user["token"])
    wait_for_stored_status(app, user["id"], "online")
    ws = _choose_and_reconnect(stack, app, user, ws, "dnd")
    wait_for_stored_status(app, user["id"], "dnd")
    ws = _choose_and_reconnect(stack, app, user, ws, "online")
    wait_for_stored_status(app, user["id"], "online")
    ws.close()


def test_the_marker_costs_one_redis_write_per_refresh_interval(api, app, user, monkeypatch):
    """In-process: requests within API_PRESENCE_REFRESH make no Redis call for presence."""
    from app.realtime import seen
    pipelines = []
    real = redis.pipeline
    monkeypatch.setattr(redis, "pipeline", lambda *a, **k: pipelines.append(1) or real(*a, **k))
    for _ in range(5):
        assert api.call("POST", PROFILE, token=user["token"]).status_code == 200
    assert len(pipelines) == 1  # the first request only
    monkeypatch.undo()
    seen.forget_refreshes()
    api.call("GET", "/api/v1/users/list", token=user["token"])
    with app.app_context():
        assert 0 < redis.ttl(keys.api_seen(user["id"])) <= app.config["API_PRESENCE_SECONDS"]
        assert redis.sismember(keys.presence_users(), user["id"])
    # Requests without a valid token are no one's presence.
    api.call("POST", PROFILE, token=user["id"] + ".forged")
    api.call("POST", PROFILE)
