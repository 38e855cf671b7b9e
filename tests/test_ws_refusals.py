"""What the server refuses over real sockets (gunicorn, 2 workers, a Celery worker, Redis): a Host
it does not answer to, more sockets per account than allowed, hostile frames, sockets of tokens a
password change signed out, and read confirmations that would tell hidden messages apart."""
import json

import pytest
import requests
import websocket

from scripts.stack import Stack
from tests.api_helpers import PASSWORD, make_channel, send
from tests.ws_support import STACK_ENV, close_code, connect, frames_within, http, next_frame, refusal, wait_until

MAX_SOCKETS = 3


@pytest.fixture(scope="module")
def stack(app, services):
    env = {**STACK_ENV, "MAX_SOCKETS_PER_USER": str(MAX_SOCKETS)}
    with Stack(services["env"], web_workers=2, threads=32, celery_worker=True, extra_env=env) as running:
        yield running


def _set_avatar(app, user_id: str, path: str) -> None:
    from app.extensions import db
    from app.models import User
    with app.app_context():
        db.session.get(User, user_id).avatar_url = path
        db.session.commit()
        db.session.remove()


def test_a_foreign_host_never_reaches_other_users(stack, app, api, owner, user, general):
    _set_avatar(app, user["id"], "/api/v1/cdn/file/avatars/a.png")
    reader = connect(stack, f"/ws/channels/{general}", owner["token"])
    spoofed = http(stack, "POST", f"/api/v1/channels/{general}/send_message", user["token"],
                   json={"message": "from a spoofed host"}, headers={"Host": "evil.example"})
    assert spoofed.status_code == 400, spoofed.text
    assert spoofed.headers["Content-Type"].startswith("application/json")
    assert (spoofed.json()["code"], spoofed.json()["status_code"]) == ("INVALID_HOST", 400)
    # A socket handshake naming that host is refused the same way, before the upgrade.
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(f"{stack.ws_url}/ws/channels/{general}?auth_token={user['token']}",
                                    host="evil.example", timeout=5)
    assert (refused.value.status_code, json.loads(refused.value.resp_body)["code"]) == (400, "INVALID_HOST")
    sent = http(stack, "POST", f"/api/v1/channels/{general}/send_message", user["token"],
                json={"message": "from the real host"})
    assert sent.status_code == 201, sent.text
    frame = next_frame(reader, "message")
    assert frame["message"] == "from the real host"
    assert frame["sender_avatar_url"] == stack.url + "/api/v1/cdn/file/avatars/a.png"
    assert not [f for f in frames_within(reader, 0.5) if "evil.example" in json.dumps(f)]
    history = http(stack, "GET", f"/api/v1/channels/{general}/load_messages", owner["token"])
    assert [m["message"] for m in history.json()["messages"]] == ["from the real host"]
    assert "evil.example" not in history.text
    # Health probes name the host by address; they carry no URL and are answered.
    assert requests.get(stack.url + "/healthz", headers={"Host": "10.0.0.7:7575"}, timeout=5).status_code == 200
    reader.close()


def test_sockets_per_account_are_capped_across_processes(stack, app, api, user, other_user, general):
    sockets = [connect(stack, "/ws", user["token"]) for _ in range(MAX_SOCKETS)]
    status, body = refusal(stack, f"/ws/channels/{general}", token=user["token"])
    assert (status, body["code"], body["status_code"]) == (429, "TOO_MANY_SOCKETS", 429)
    assert str(MAX_SOCKETS) in body["detail"]
    # Other accounts are not affected, and the refused handshake left nothing counted.
    bystander = connect(stack, "/ws", other_user["token"])
    for ws in sockets + [bystander]:
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong") == {"type": "pong"}
    sockets.pop().close()

    def reopened():
        try:
            return connect(stack, "/ws", user["token"])
        except websocket.WebSocketBadStatusException:
            return None
    sockets.append(wait_until(reopened, timeout=5, what="a socket under the cap"))
    status, _ = refusal(stack, "/ws", token=user["token"])
    assert status == 429
    for ws in sockets + [bystander]:
        ws.close()


def test_deeply_nested_json_is_an_invalid_frame(stack, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    for nested in ("[" * 60000, '{"type": "ping", "x": ' + "[" * 30000 + "]" * 30000 + "}", '{"a":' * 10000):
        ws.send(nested)
        frame = next_frame(ws, "error")  # (presence frames of earlier tests' sockets may come first)
        assert (frame["code"], frame["status_code"]) == ("INVALID_FRAME", 400)
    ws.send('{"type": "ping"}')
    assert next_frame(ws, "pong") == {"type": "pong"}
    ws.close()


@pytest.mark.parametrize("size", [70 * 1024, 256 * 1024, 2 * 1024 * 1024])
def test_large_frames_close_cleanly_with_1009(stack, user, general, size):
    ws = connect(stack, f"/ws/channels/{general}", user["token"], timeout=10)
    try:
        ws.send("x" * size)
    except (BrokenPipeError, ConnectionResetError):  # the server stopped reading: its close frame waits
        pass
    assert close_code(ws, timeout=10) == 1009
    ws.close()


def test_password_change_signs_out_every_other_token(stack, api, user, other_user, general):
    second = api.call("POST", "/api/v1/users/signin", json={"username": user["username"], "password": PASSWORD})
    other_token = second.get_json()["auth_token"]
    kept = connect(stack, "/ws", user["token"])
    signed_out = [connect(stack, "/ws", other_token), connect(stack, f"/ws/channels/{general}", other_token)]
    bystander = connect(stack, "/ws", other_user["token"])
    changed = http(stack, "PUT", "/api/v1/users/profile", user["token"],
                   json={"old_password": PASSWORD, "new_password": "a brand new secret"})
    assert changed.status_code == 200, changed.text
    assert [close_code(ws) for ws in signed_out] == [4001, 4001]
    assert http(stack, "POST", "/api/v1/users/profile", other_token).status_code == 401
    # The caller's own token and sockets keep working (the web client stays signed in).
    assert http(stack, "POST", "/api/v1/users/profile", user["token"]).status_code == 200
    for ws in (kept, bystander):
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong") == {"type": "pong"}
    status, body = refusal(stack, "/ws", token=other_token)
    assert (status, body["code"]) == (401, "INVALID_AUTH_TOKEN")
    signin = api.call("POST", "/api/v1/users/signin", json={"username": user["username"], "password": PASSWORD})
    assert signin.status_code == 401
    kept.close(), bystander.close()


def test_read_confirmation_of_a_hidden_message_looks_unknown(stack, api, owner, user, general):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    hidden = send(api, owner["token"], private, "secret")
    ws = connect(stack, "/ws", user["token"])
    answers = []
    for message_id in ("0190a0b0-0000-7000-8000-000000000000", hidden):
        ws.send(json.dumps({"type": "read_confirmation", "message_id": message_id}))
        frame = next_frame(ws, "error")
        answers.append((frame["status_code"], frame["code"], frame["detail"]))
    assert answers[0] == answers[1] == (404, "UNKNOWN_MESSAGE", answers[0][2])
    ws.close()
