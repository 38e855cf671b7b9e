"""WebSockets through real sockets against gunicorn (2 workers), a Celery worker and Redis."""
import json
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api_helpers import PASSWORD, make_channel, send
from scripts.stack import Stack
from tests.ws_support import (STACK_ENV, without_seq, close_code, connect, frames_within, http, next_frame, open_raw,
                              read_raw_frame, refusal, wait_for_stored_status)


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, threads=64, celery_worker=True, extra_env=STACK_ENV) as running:
        yield running


def test_handshake_refusals_are_json_http_errors(stack, api, owner, user, general):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    status, body = refusal(stack, "/ws")
    assert (status, body["code"]) == (401, "MISSING_AUTH_TOKEN")
    status, body = refusal(stack, "/ws", token=user["id"] + ".forged-secret")
    assert (status, body["code"], body["status_code"]) == (401, "INVALID_AUTH_TOKEN", 401)
    status, body = refusal(stack, "/ws/channels/00000000-0000-0000-0000-000000000000", token=user["token"])
    assert (status, body["code"]) == (404, "UNKNOWN_CHANNEL")
    status, body = refusal(stack, f"/ws/channels/{private}", token=user["token"])
    assert (status, body["code"]) == (404, "UNKNOWN_CHANNEL")
    # A plain GET (no upgrade) is not a socket: a JSON 400, never HTML.
    plain = http(stack, "GET", "/ws", user["token"])
    assert plain.status_code == 400 and plain.json()["status_code"] == 400


def test_expired_token_is_refused(stack, app, api, user):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import AuthToken
    with app.app_context():
        db.session.execute(sa.update(AuthToken).where(AuthToken.user_id == user["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    status, body = refusal(stack, "/ws", token=user["token"])
    assert (status, body["code"]) == (401, "INVALID_AUTH_TOKEN")


def test_token_reset_closes_the_sockets_opened_with_old_tokens(stack, api, user, other_user, general):
    second = api.call("POST", "/api/v1/users/signin", json={"username": user["username"], "password": PASSWORD})
    old_tokens = [user["token"], second.get_json()["auth_token"]]
    sockets = [connect(stack, "/ws", old_tokens[0]), connect(stack, f"/ws/channels/{general}", old_tokens[1])]
    bystander = connect(stack, "/ws", other_user["token"])
    reset = api.call("POST", "/api/v1/users/profile/reset-auth-token", token=user["token"], json={"password": PASSWORD})
    assert reset.status_code == 200
    assert [close_code(ws) for ws in sockets] == [4001, 4001]
    fresh = connect(stack, "/ws", reset.get_json()["auth_token"])  # the new token opens sockets as usual
    bystander.send('{"type": "ping"}')
    assert next_frame(bystander, "pong") == {"type": "pong"}  # other users' sockets stay open
    fresh.send('{"type": "ping"}')
    assert next_frame(fresh, "pong") == {"type": "pong"}
    fresh.close()
    bystander.close()


def test_socket_closes_when_its_token_expires(stack, app, api, user):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import AuthToken
    with app.app_context():
        db.session.execute(sa.update(AuthToken).where(AuthToken.user_id == user["id"])
                           .values(expires_at=utcnow() + timedelta(seconds=5)))  # room for a cold worker
        db.session.commit()
    ws = connect(stack, "/ws", user["token"])
    ws.send('{"type": "ping"}')
    assert next_frame(ws, "pong") == {"type": "pong"}
    assert close_code(ws, timeout=15) == 4001


def test_bearer_header_and_member_of_private_channel(stack, api, owner, user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    api.call("PUT", f"/api/v1/channels/{private}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    ws = connect(stack, f"/ws/channels/{private}", headers=[f"Authorization: Bearer {user['token']}"])
    ws.send('{"type": "ping"}')
    assert next_frame(ws, "pong") == {"type": "pong"}
    ws.close()


def test_message_frame_carries_the_full_message_object(stack, api, owner, user, general):
    channel_ws = connect(stack, f"/ws/channels/{general}", user["token"])
    all_ws = connect(stack, "/ws", user["token"])
    # The owner's requests count as presence: let the stored status settle first, so the frame and
    # the history read below show the same sender_status.
    wait_for_stored_status(api.client.application, owner["id"], "online")
    message_id = send(api, owner["token"], general, "hello everyone")
    stored = api.call("GET", f"/api/v1/channels/{general}/load_messages", token=owner["token"]).get_json()["messages"][0]
    for ws in (channel_ws, all_ws):
        frame = next_frame(ws, "message")
        assert frame["message_id"] == message_id
        assert {key: value for key, value in without_seq(frame).items() if key != "type"} == stored
        for field in ("sender_user_id", "channel_id", "message", "username", "sent_at", "attachments",
                      "sender_avatar_url", "sender_status", "sender_roles", "hashed_message"):
            assert field in frame
        assert frame["sender_roles"] == ["owner", "admin", "user"] and frame["message"] == "hello everyone"
        ws.close()


def test_message_deleted_frame(stack, api, owner, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    message_id = send(api, user["token"], general, "oops")
    assert next_frame(ws, "message")["message_id"] == message_id
    response = api.call("DELETE", f"/api/v1/channels/{general}/delete_message", token=user["token"],
                        json={"message_id": message_id})
    assert response.status_code == 204
    assert without_seq(next_frame(ws, "message_deleted")) == {"type": "message_deleted", "message_id": message_id,
                                                              "channel_id": general}
    ws.close()


def test_read_confirmation_marks_read_for_that_user_only(stack, api, owner, user, other_user, general):
    first = send(api, owner["token"], general, "one")
    second = send(api, owner["token"], general, "two")
    watcher = connect(stack, "/ws", other_user["token"])
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    ws.send('{"type": "read_confirmation", "message_id": "%s"}' % second)
    receipt = next_frame(ws, "read_receipt")
    assert receipt == {"type": "read_receipt", "channel_id": general, "message_id": second,
                       "user_id": user["id"], "username": "alice"}
    assert next_frame(watcher, "read_receipt")["user_id"] == user["id"]

    def unread(account):
        channels = api.call("POST", "/api/v1/channels/list/", token=account["token"]).get_json()["channels"]
        return next(c["unread_count"] for c in channels if c["channel_id"] == general)
    assert unread(user) == 0 and unread(other_user) == 2
    # The REST route emits the same receipt.
    api.call("PUT", f"/api/v1/channels/{general}/mark_message_as_read", token=other_user["token"],
             json={"message_id": first})
    assert next_frame(ws, "read_receipt")["user_id"] == other_user["id"]
    assert unread(other_user) == 1
    ws.close(), watcher.close()


def test_read_confirmation_takes_an_upper_case_message_id(stack, api, owner, user, general):
    """Message ids are stored and compared lower-case, on the socket as on the REST routes."""
    message_id = send(api, owner["token"], general, "shouted id")
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    ws.send('{"type": "read_confirmation", "message_id": "%s"}' % message_id.upper())
    receipt = next_frame(ws, "read_receipt")
    assert (receipt["message_id"], receipt["user_id"]) == (message_id, user["id"])
    channels = api.call("POST", "/api/v1/channels/list/", token=user["token"]).get_json()["channels"]
    assert next(c["unread_count"] for c in channels if c["channel_id"] == general) == 0
    ws.close()


def test_read_confirmation_refusals(stack, api, owner, user, general):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    hidden = send(api, owner["token"], private, "secret")
    ws = connect(stack, "/ws", user["token"])
    ws.send('{"type": "read_confirmation"}')
    assert next_frame(ws, "error")["code"] == "INVALID_FRAME"
    ws.send('{"type": "read_confirmation", "message_id": "0190a0b0-0000-7000-8000-000000000000"}')
    assert next_frame(ws, "error")["code"] == "UNKNOWN_MESSAGE"
    ws.send('{"type": "read_confirmation", "message_id": "%s"}' % hidden)
    assert next_frame(ws, "error")["code"] == "UNKNOWN_MESSAGE"  # a hidden message looks unknown
    ws.close()


def test_typing_reaches_the_others_not_the_typist(stack, api, owner, user, other_user, general):
    typist = connect(stack, f"/ws/channels/{general}", user["token"])
    reader = connect(stack, "/ws", other_user["token"])
    typist.send('{"type": "typing"}')
    assert next_frame(reader, "typing") == {"type": "typing", "channel_id": general, "user_id": user["id"],
                                            "username": "alice"}
    assert not [f for f in frames_within(typist, 0.5) if f["type"] == "typing"]
    # On /ws the frame names its channel.
    reader.send('{"type": "typing"}')
    assert next_frame(reader, "error")["code"] == "INVALID_FRAME"
    reader.send('{"type": "typing", "channel_id": "%s"}' % general)
    assert next_frame(typist, "typing")["user_id"] == other_user["id"]
    typist.close(), reader.close()


def test_a_timed_out_user_cannot_type(stack, api, owner, user, other_user, general):
    typist = connect(stack, f"/ws/channels/{general}", user["token"])
    reader = connect(stack, "/ws", other_user["token"])
    timed_out = api.call("POST", f"/api/v1/users/{user['id']}/timeout", token=owner["token"], json={"duration": 60})
    assert timed_out.status_code == 200, timed_out.get_json()
    typist.send('{"type": "typing"}')
    refusal = next_frame(typist, "error")
    assert (refusal["status_code"], refusal["code"]) == (403, "TIMED_OUT")
    assert not [f for f in frames_within(reader, 0.5) if f["type"] == "typing"]
    api.call("DELETE", f"/api/v1/users/{user['id']}/timeout", token=owner["token"])
    typist.send('{"type": "typing"}')
    assert next_frame(reader, "typing")["user_id"] == user["id"]
    typist.close(), reader.close()


def test_malformed_frames_get_error_frames_and_the_socket_lives(stack, api, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    for bad, code in (("not json", "INVALID_FRAME"), ("[1, 2]", "INVALID_FRAME"), ('{"no": "type"}', "INVALID_FRAME"),
                      ('{"type": 5}', "INVALID_FRAME"), ('{"type": "dance"}', "UNKNOWN_FRAME_TYPE")):
        ws.send(bad)
        frame = next_frame(ws, "error")  # (presence frames of earlier tests' sockets may come first)
        assert (frame["code"], frame["status_code"]) == (code, 400)
    ws.send_binary(b"\x00\x01")
    assert next_frame(ws, "error")["code"] == "INVALID_FRAME"
    ws.send('{"type": "ping"}')
    assert next_frame(ws, "pong") == {"type": "pong"}
    ws.close()


def test_oversized_frame_closes_with_1009(stack, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    ws.send("x" * (64 * 1024 + 1))
    assert close_code(ws) == 1009


def test_client_frames_are_throttled_per_user_across_processes(stack, user, general):
    sockets = [connect(stack, f"/ws/channels/{general}", user["token"]) for _ in range(4)]
    limit = int(STACK_ENV["REALTIME_FRAME_LIMIT"])
    for index in range(2 * limit + 1):  # two windows at most, so one of them overflows
        sockets[index % 4].send('{"type": "ping"}')
    replies = [frame for ws in sockets for frame in frames_within(ws, 1.0)]
    limited = [frame for frame in replies if frame["type"] == "error"]
    assert limited and limited[0]["code"] == "RATE_LIMITED" and limited[0]["retry_after"] >= 1
    assert sum(frame["type"] == "pong" for frame in replies) <= 2 * limit
    for ws in sockets:
        ws.close()


def test_removed_member_stops_receiving_at_once(stack, api, owner, user, other_user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    for account in (user, other_user):
        api.call("PUT", f"/api/v1/channels/{private}/add_user", token=owner["token"],
                 json={"to_add_user_id": account["id"]})
    channel_ws = connect(stack, f"/ws/channels/{private}", user["token"])
    all_ws = connect(stack, "/ws", user["token"])
    member_ws = connect(stack, "/ws", other_user["token"])
    send(api, owner["token"], private, "before")
    assert next_frame(all_ws, "message")["message"] == "before"
    response = api.call("DELETE", f"/api/v1/channels/{private}/remove_user", token=owner["token"],
                        json={"to_remove_user_id": user["id"]})
    assert response.status_code == 200
    assert close_code(channel_ws) == 4004
    assert next_frame(all_ws, "channel_removed")["channel_id"] == private
    send(api, owner["token"], private, "after")
    assert next_frame(member_ws, "message")["message"] == "before"
    assert next_frame(member_ws, "message")["message"] == "after"
    assert not [f for f in frames_within(all_ws, 0.5) if f["type"] == "message"]
    all_ws.close(), member_ws.close()


def test_added_member_receives_on_an_open_socket(stack, api, owner, user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    ws = connect(stack, "/ws", user["token"])
    send(api, owner["token"], private, "hidden")
    api.call("PUT", f"/api/v1/channels/{private}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    send(api, owner["token"], private, "visible")
    assert next_frame(ws, "message")["message"] == "visible"
    ws.close()


def test_deleted_channel_closes_its_sockets(stack, api, owner, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    all_ws = connect(stack, "/ws", user["token"])
    assert api.call("DELETE", f"/api/v1/channels/{general}/delete", token=owner["token"]).status_code == 200
    assert close_code(ws) == 4004
    assert without_seq(next_frame(all_ws, "channel_deleted")) == {"type": "channel_deleted", "channel_id": general}
    all_ws.close()


def _presence_of(ws, user_id: str) -> dict:
    while True:
        frame = next_frame(ws, "presence")
        if frame["user_id"] == user_id:
            return frame


def test_presence_counts_sockets_across_processes(stack, api, owner, user):
    watcher = connect(stack, "/ws", owner["token"])
    first = connect(stack, "/ws", user["token"])
    online = _presence_of(watcher, user["id"])
    assert (online["status"], online["username"], online["last_seen"]) == ("online", "alice", None)
    extra = [connect(stack, path, user["token"]) for path in ("/ws", "/ws", "/ws")]
    first.close()
    for ws in extra[:-1]:
        ws.close()
    assert not [f for f in frames_within(watcher, 1.0) if f["type"] == "presence" and f["user_id"] == user["id"]]
    extra[-1].close()
    offline = _presence_of(watcher, user["id"])
    assert offline["status"] == "offline" and offline["last_seen"].endswith("Z")
    # The Celery worker stores status and last_seen.
    wait_for_stored_status(api.client.application, user["id"], "offline")
    assert api.call("POST", "/api/v1/users/profile", token=user["token"]).get_json()["user_data"]["last_seen"]
    watcher.close()


def test_presence_is_online_in_the_database_while_connected(stack, api, user):
    ws = connect(stack, "/ws", user["token"])
    wait_for_stored_status(api.client.application, user["id"], "online")
    ws.close()


def test_reconnecting_client_catches_up_with_after(stack, api, owner, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    last_seen = send(api, owner["token"], general, "seen live")
    assert next_frame(ws, "message")["message_id"] == last_seen
    ws.close()
    missed = [send(api, owner["token"], general, f"missed {n}") for n in range(3)]
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    caught_up = api.call("GET", f"/api/v1/channels/{general}/load_messages", token=user["token"],
                         query={"after": last_seen}).get_json()["messages"]
    assert [m["message_id"] for m in caught_up] == missed
    ws.close()


def test_websocket_routes_are_documented(api):
    paths = api.call("GET", "/openapi.json").get_json()["paths"]
    assert "/ws" in paths and "/ws/channels/{channel_id}" in paths


def test_waiting_sockets_hold_no_database_connection(stack, api, owner, user, general):
    # More sockets per worker than its database pool has connections (5 + 10 overflow):
    # a socket that kept its session would stall the next handshakes for the pool timeout.
    # Two accounts of 20 each: an account holds at most MAX_SOCKETS_PER_USER (20) sockets.
    sockets = [connect(stack, f"/ws/channels/{general}", account["token"]) for account in (owner, user)
               for _ in range(20)]
    response = http(stack, "POST", f"/api/v1/channels/{general}/send_message", owner["token"],
                    json={"message": "still answering"})
    assert response.status_code == 201
    for ws in sockets:
        assert next_frame(ws, "message")["message"] == "still answering"
        ws.close()


def test_presence_sweep_marks_users_of_dead_processes_offline(stack, app, api, owner, user):
    from app import keys
    from app.extensions import db, redis
    from app.models import User
    watcher = connect(stack, "/ws", owner["token"])
    _presence_of(watcher, owner["id"])
    with app.app_context():
        # A socket whose process died: its entry lapsed and nobody announced the user offline.
        redis.zadd(keys.presence(user["id"]), {"gone-host:1:dead:socket": time.time() - 1})
        redis.sadd(keys.presence_users(), user["id"])
        db.session.execute(sa.update(User).where(User.id == user["id"]).values(status="online"))
        db.session.commit()
        app.extensions["celery"].send_task("fanout.sweep_presence")  # run by the stack's worker
    seen = []
    while not seen or seen[-1] != (user["id"], "offline"):
        frame = next_frame(watcher, "presence", timeout=10)
        seen.append((frame["user_id"], frame["status"]))
    assert (owner["id"], "offline") not in seen  # the owner, still connected, is left alone
    wait_for_stored_status(api.client.application, user["id"], "offline")
    watcher.close()


def test_compression_offer_is_declined_by_default(stack, api, owner, user, general):
    """Plain frames are built once for every socket; a deflate offer (browsers make one) is declined."""
    raw, reader, head = open_raw(stack, f"/ws/channels/{general}", user["token"], deflate=True)
    assert b"permessage-deflate" not in head.lower()
    send(api, owner["token"], general, "plain text")
    first, payload = read_raw_frame(reader)
    assert first == 0x81  # a final text frame, RSV1 clear: not compressed
    assert json.loads(payload)["message"] == "plain text"
    raw.close()
