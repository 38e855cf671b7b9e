"""flask --app wsgi create-owner / rotate-message-key."""
import json
import os
import stat
import subprocess
import sys
import threading

import sqlalchemy as sa

from tests.api_helpers import ROOT, load, make_channel, send
from tests.ws_support import wait_until

SIGNIN = "/api/v1/users/signin"


def _signin(api, username, password):
    response = api.call("POST", SIGNIN, json={"username": username, "password": password})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["auth_token"]


def _roles(api, token):
    return api.call("POST", "/api/v1/users/profile", token=token).get_json()["user_data"]["roles_ids"]


def test_create_owner_on_a_fresh_server(api, app):
    result = app.test_cli_runner().invoke(args=["create-owner", "--username", "root", "--password", "root password"])
    assert result.exit_code == 0, result.output
    token = _signin(api, "root", "root password")
    assert result.output.strip().endswith(token.split(".")[0])
    assert _roles(api, token) == ["owner", "admin", "user"]
    # The server has its owner: the next sign-up is a plain user.
    assert _roles(api, api.signup("later")["token"]) == ["user"]


def test_create_owner_when_an_owner_exists(api, app, owner):
    result = app.test_cli_runner().invoke(args=["create-owner", "--username", "second", "--password", "pass word 2"])
    assert result.exit_code == 0, result.output
    assert _roles(api, _signin(api, "second", "pass word 2"))[0] == "owner"
    assert _roles(api, owner["token"])[0] == "owner"


def test_create_owner_prompts_for_the_password(api, app):
    result = app.test_cli_runner().invoke(args=["create-owner", "--username", "prompted"],
                                          input="typed secret\ntyped secret\n")
    assert result.exit_code == 0, result.output
    assert "typed secret" not in result.output
    _signin(api, "prompted", "typed secret")


def test_create_owner_refuses_bad_input(api, app, owner):
    runner = app.test_cli_runner()
    for args in (["--username", "x", "--password", "long enough"],
                 ["--username", "bad name", "--password", "long enough"],
                 ["--username", "fine", "--password", "short"],
                 ["--username", "fine", "--password", "é" * 37]):
        result = runner.invoke(args=["create-owner", *args])
        assert result.exit_code == 2, (args, result.output)
    result = runner.invoke(args=["create-owner", "--username", "OWNER", "--password", "long enough"])
    assert result.exit_code == 1 and "taken" in result.output
    users = api.call("GET", "/api/v1/users/list", token=owner["token"]).get_json()["users"]
    assert [u["username"] for u in users] == ["owner"]


def _key_ids(app) -> list[str]:
    from app.extensions import db
    from app.models import Message
    with app.app_context():
        return list(db.session.scalars(sa.select(Message.key_id).order_by(Message.id)))


def test_rotate_message_key_keeps_old_messages_readable(api, app, owner):
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "before rotation")
    result = app.test_cli_runner().invoke(args=["rotate-message-key"])
    assert result.exit_code == 0, result.output
    with open(app.config["MESSAGE_KEY_FILE"]) as handle:
        keys = json.load(handle)
    assert keys["current"] in result.output and len(keys["keys"]) >= 2
    assert stat.S_IMODE(os.stat(app.config["MESSAGE_KEY_FILE"]).st_mode) == 0o600
    send(api, owner["token"], channel_id, "after rotation")
    old_key, new_key = _key_ids(app)
    assert old_key != new_key and new_key == keys["current"]
    messages = load(api, owner["token"], channel_id)
    assert [m["message"] for m in messages] == ["before rotation", "after rotation"]
    # The digest key is not rotated: equal texts keep equal digests across keys.
    send(api, owner["token"], channel_id, "before rotation")
    messages = load(api, owner["token"], channel_id)
    assert messages[0]["hashed_message"] == messages[2]["hashed_message"]


def test_rotation_by_another_process_reaches_a_running_server(api, app, owner, services):
    """The CLI runs beside the server: the server must encrypt new messages under the new key."""
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "old key")
    env = {**os.environ, **services["env"], "MESSAGE_KEY_FILE": app.config["MESSAGE_KEY_FILE"]}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "rotate-message-key"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    with open(app.config["MESSAGE_KEY_FILE"]) as handle:
        current = json.load(handle)["current"]
    from app import crypto

    def server_key() -> str:
        with app.app_context():
            return crypto._keys()["current"]
    # The server looks at the file at most once a second (app/crypto.py): within that it sees it.
    wait_until(lambda: server_key() == current, timeout=3, what="the server to take the new key")
    send(api, owner["token"], channel_id, "new key")
    assert _key_ids(app)[-1] == current
    assert [m["message"] for m in load(api, owner["token"], channel_id)] == ["old key", "new key"]


def test_concurrent_rotations_never_lose_a_key(app, tmp_path):
    """Rotation is read-modify-write of one file: two at once must not drop the other's key."""
    from app import crypto
    path = str(tmp_path / "keys" / "messages.key")
    with app.app_context():
        app.config["MESSAGE_KEY_FILE"], saved = path, app.config["MESSAGE_KEY_FILE"]
        try:
            crypto.encrypt("", "warm-up")

            def rotate_many():
                for _ in range(15):
                    crypto.rotate_key(path)

            threads = [threading.Thread(target=rotate_many) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            app.config["MESSAGE_KEY_FILE"] = saved
    with open(path) as handle:
        keys = json.load(handle)
    assert len(keys["keys"]) == 1 + 8 * 15
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
