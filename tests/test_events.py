"""The event log through real sockets and HTTP: resume after a gap, membership at the time of each
event, resync past retention, and the /events long poll (gunicorn, 2 workers, real Redis)."""
import threading
import time
from datetime import timedelta

import pytest
import requests
import sqlalchemy as sa

from scripts.stack import Stack
from tests.api_helpers import add_member, assert_error, make_channel, send
from tests.events_support import assert_in_order_once, logged_within, resume_connect, until_resumed
from tests.ws_support import STACK_ENV, connect, next_frame


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, threads=32, extra_env=STACK_ENV) as running:
        yield running


def _last_seq(ws) -> int:
    """Send a message-free probe: a resume from a huge since is refused, so read one live frame instead."""
    return next_frame(ws, "message", timeout=10)["seq"]


def _events(api, token: str, **query):
    return api.call("GET", "/api/v1/events", token=token, query=query)


def test_resume_replays_exactly_the_missed_events_once_in_order(stack, api, owner, user, general):
    ws = connect(stack, "/ws", user["token"])
    send(api, owner["token"], general, "before the gap")
    seen = _last_seq(ws)
    ws.close()
    missed = [send(api, owner["token"], general, f"missed {n}") for n in range(5)]
    assert api.call("POST", f"/api/v1/messages/{missed[0]}/reactions", token=owner["token"],
                    json={"emoji": "👍"}).status_code in (200, 201)
    assert api.call("DELETE", f"/api/v1/messages/{missed[1]}", token=owner["token"]).status_code == 200
    resumed_ws = resume_connect(stack, f"/ws", user["token"], seen)
    frames, resumed = until_resumed(resumed_ws)
    assert [f["type"] for f in frames] == ["message"] * 5 + ["reaction_added", "message_deleted"]
    assert [f["message_id"] for f in frames[:5]] == missed
    assert_in_order_once(frames)
    assert frames[0]["seq"] > seen and resumed == {"type": "resumed", "seq": frames[-1]["seq"]}
    # Live from there: the next event once, nothing replayed twice.
    live = send(api, owner["token"], general, "live again")
    [frame] = logged_within(resumed_ws, 1.5)
    assert frame["message_id"] == live and frame["seq"] > resumed["seq"]
    # The same socket resumes again with a frame: nothing new after the live one.
    resumed_ws.send(f'{{"type": "resume", "since": {frame["seq"]}}}')
    assert until_resumed(resumed_ws) == ([], {"type": "resumed", "seq": frame["seq"]})
    resumed_ws.close()


def test_a_resume_frame_on_an_open_socket_and_bad_since(stack, api, owner, user, general):
    ws = connect(stack, "/ws", user["token"])
    first = send(api, owner["token"], general, "one")
    seen = _last_seq(ws)
    second = send(api, owner["token"], general, "two")
    assert next_frame(ws, "message", timeout=10)["message_id"] == second
    ws.send(f'{{"type": "resume", "since": {seen - 1}}}')  # the socket already carried both
    assert until_resumed(ws)[0] == []
    for bad in ('"7"', "-1", "true", "1.5"):
        ws.send(f'{{"type": "resume", "since": {bad}}}')
        error = next_frame(ws, "error")
        assert (error["status_code"], error["code"]) == (400, "INVALID_FRAME")
    ws.close()
    assert first
    status = requests.get(stack.url + f"/ws?since=abc&auth_token={user['token']}",
                          headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                   "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, timeout=5)
    assert status.status_code == 400 and status.json()["code"] == "INVALID_FORM_BODY"


def test_membership_removed_during_the_gap_hides_that_channels_later_events(stack, api, owner, user, general):
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    ws = connect(stack, "/ws", user["token"])
    send(api, owner["token"], general, "before")
    seen = _last_seq(ws)
    ws.close()
    visible = send(api, owner["token"], secret, "still a member")
    response = api.call("DELETE", f"/api/v1/channels/{secret}/remove_user", token=owner["token"],
                        json={"to_remove_user_id": user["id"]})
    assert response.status_code == 200
    send(api, owner["token"], secret, "after the removal")
    public = send(api, owner["token"], general, "public after")
    frames, _ = until_resumed(resume_connect(stack, f"/ws", user["token"], seen))
    assert [(f["type"], f.get("message_id")) for f in frames] == [
        ("message", visible), ("channel_removed", None), ("message", public)]
    # The same through /events; the owner (staff) sees all three messages.
    polled = _events(api, user["token"], since=seen).get_json()
    assert [e.get("message_id") for e in polled["events"]] == [visible, None, public]
    owner_view = _events(api, owner["token"], since=seen).get_json()["events"]
    assert [e["type"] for e in owner_view] == ["message", "message", "message"]


def test_a_channel_socket_resumes_its_own_channel_only(stack, api, owner, user, general):
    other = make_channel(api, owner["token"], "other")
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    send(api, owner["token"], general, "first")
    seen = _last_seq(ws)
    ws.close()
    mine = send(api, owner["token"], general, "mine")
    send(api, owner["token"], other, "elsewhere")
    frames, resumed = until_resumed(resume_connect(stack, f"/ws/channels/{general}", user["token"], seen))
    assert [f["message_id"] for f in frames] == [mine] and resumed["seq"] == frames[0]["seq"]


def test_since_past_retention_gets_resync_required(stack, app, api, owner, user, general):
    from app.extensions import db
    from app.models import Event
    from app.ids import utcnow
    from workers.events import prune_events
    old = [send(api, owner["token"], general, f"old {n}") for n in range(3)]
    send(api, owner["token"], general, "kept")
    with app.app_context():
        seqs = list(db.session.scalars(sa.select(Event.seq).order_by(Event.seq)))
        db.session.execute(sa.update(Event).where(Event.seq < seqs[-1]).values(
            created_at=utcnow() - timedelta(days=app.config["EVENT_RETENTION_DAYS"] + 1)))
        db.session.commit()
        assert prune_events() == {"deleted": len(seqs) - 1}
        db.session.remove()
    frames, answer = until_resumed(resume_connect(stack, f"/ws", user["token"], seqs[0]))
    assert frames == [] and answer["type"] == "resync_required"
    error = assert_error(_events(api, user["token"], since=seqs[0]), 410, "RESYNC_REQUIRED")
    assert error["last_seq"] == seqs[-1]
    # A since right below the oldest kept event is still served; one from the future is not.
    kept = _events(api, user["token"], since=seqs[-1] - 1).get_json()["events"]
    assert [e["message"] for e in kept] == ["kept"]
    assert_error(_events(api, user["token"], since=seqs[-1] + 1000), 410, "RESYNC_REQUIRED")
    assert len(old) == 3


def test_a_rolled_back_change_records_no_event(app, api, owner, general, monkeypatch):
    from app.extensions import db
    from app.messaging import events
    from app.models import Event, Message
    with app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(Event))
        newest = db.session.scalar(sa.select(sa.func.max(Event.seq)))

    def fail(*_args):
        raise RuntimeError("after the event was recorded")
    monkeypatch.setattr(events, "mentioned", fail)
    response = api.call("POST", f"/api/v1/channels/{general}/send_message", token=owner["token"],
                        json={"message": "never stored"})
    assert response.status_code == 500
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Event)) == before
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Message)) == 0
        db.session.remove()
    monkeypatch.undo()
    message_id = send(api, owner["token"], general, "stored")
    [event] = _events(api, owner["token"], since=newest, channel_id=general).get_json()["events"]
    assert event["message_id"] == message_id


def test_events_refuses_bad_parameters(api, owner):
    assert _events(api, None, since=0).status_code == 401
    for query in ({}, {"since": -1}, {"since": "x"}, {"since": 0, "limit": 0}, {"since": 0, "limit": 501},
                  {"since": 0, "timeout": 31}, {"since": 0, "timeout": -1}, {"since": 0, "channel_id": "x" * 65}):
        assert_error(_events(api, owner["token"], **query), 400, "INVALID_FORM_BODY")
    ids = ",".join(f"c{n}" for n in range(101))
    assert_error(_events(api, owner["token"], since=0, channel_id=ids), 400, "INVALID_FORM_BODY")


def test_events_long_poll_wakes_on_a_new_event_and_honours_channel_id(stack, api, owner, user, general):
    other = make_channel(api, owner["token"], "other")
    third = make_channel(api, owner["token"], "third")
    since = _events(api, user["token"], since=0).get_json()["last_seq"]
    answers = []

    def poll():
        started = time.monotonic()
        response = requests.get(stack.url + "/api/v1/events", timeout=40, params=[
            ("auth_token", user["token"]), ("since", since), ("timeout", 20), ("channel_id", other),
            ("channel_id", third)])
        answers.append((time.monotonic() - started, response))
    waiting = threading.Thread(target=poll)
    waiting.start()
    time.sleep(1.0)
    send(api, owner["token"], general, "not followed")  # the poll keeps waiting
    time.sleep(1.0)
    assert not answers, "the poll answered for a channel it does not follow"
    wanted = send(api, owner["token"], third, "followed")
    waiting.join(25)
    [(elapsed, response)] = answers
    assert response.status_code == 200, response.text
    body = response.json()
    assert [e["message_id"] for e in body["events"]] == [wanted]
    assert body["last_seq"] == body["events"][0]["seq"] and elapsed < 5
    # With nothing new the poll answers empty after its timeout, with the same cursor.
    started = time.monotonic()
    empty = requests.get(stack.url + "/api/v1/events", timeout=10, params={
        "auth_token": user["token"], "since": body["last_seq"], "timeout": 1}).json()
    assert empty["events"] == [] and empty["last_seq"] == body["last_seq"] and time.monotonic() - started >= 1


def test_two_workers_sending_at_once_give_every_socket_one_order(stack, app, api, owner, general):
    from tests.events_support import stack_send
    from tests.ws_support import socket_processes, wait_until
    readers = [api.signup(f"reader{n}") for n in range(10)]
    sockets = [connect(stack, "/ws", reader["token"]) for reader in readers]
    for ws in sockets:
        ws.send('{"type": "ping"}')
        next_frame(ws, "pong")
    wait_until(lambda: len(socket_processes(app, [r["id"] for r in readers])) == 2, timeout=10,
               what="sockets on both workers")
    sent = []

    def sender(n: int):
        for index in range(15):
            sent.append(stack_send(stack, readers[n]["token"], general, f"{n}-{index}"))
    threads = [threading.Thread(target=sender, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    orders = []
    for ws in sockets:
        frames = [next_frame(ws, "message", timeout=10) for _ in sent]
        assert_in_order_once(frames)
        orders.append([(f["seq"], f["message_id"]) for f in frames])
        ws.close()
    assert len(sent) == 45 and all(order == orders[0] for order in orders)
    assert sorted(m for _, m in orders[0]) == sorted(sent)
