"""flask export-user / reset-password, through Flask's CLI runner as an operator would run them."""
import json
import zipfile

from tests.api_helpers import PASSWORD, make_channel, send
from tests.filedata import unique_png, upload

SIGNIN = "/api/v1/users/signin"


def _signin(api, username, password):
    return api.call("POST", SIGNIN, json={"username": username, "password": password})


def test_export_user_holds_profile_decrypted_messages_and_files(api, app, owner, user, tmp_path):
    channel_id = make_channel(api, owner["token"], "general")
    send(api, user["token"], channel_id, "mine, in clear")
    send(api, owner["token"], channel_id, "someone else's")
    avatar = unique_png(11)
    response = api.call("POST", "/api/v1/users/profile/avatar", token=user["token"],
                        data={"file": upload(avatar, "me.png")}, content_type="multipart/form-data")
    assert response.status_code == 201
    runner = app.test_cli_runner()
    result = runner.invoke(args=["export-user", "ALICE", "--output", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out" / "user.json").read_text())
    assert document["profile"]["username"] == "alice" and document["profile"]["user_id"] == user["id"]
    assert [m["message"] for m in document["messages"]] == ["mine, in clear"]
    assert [m["channel_name"] for m in document["memberships"]] == ["general"] or document["memberships"] == []
    [entry] = document["files"]
    assert entry["kind"] == "avatar" and entry["size"] == len(avatar)
    assert (tmp_path / "out" / entry["export_name"]).read_bytes() == avatar
    assert "password_hash" not in json.dumps(document) and user["token"] not in json.dumps(document)

    zipped = runner.invoke(args=["export-user", "alice", "-o", str(tmp_path / "alice.zip")])
    assert zipped.exit_code == 0, zipped.output
    with zipfile.ZipFile(tmp_path / "alice.zip") as archive:
        assert json.loads(archive.read("user.json")) == document
        assert archive.read(entry["export_name"]) == avatar
    assert runner.invoke(args=["export-user", "nobody", "-o", str(tmp_path / "x")]).exit_code == 1


def test_reset_password_prompts_validates_and_signs_out(api, app, owner, user):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["reset-password", "alice"], input="short\nshort\n")
    assert short.exit_code == 2 and "at least 8 bytes" in short.output
    mismatch = runner.invoke(args=["reset-password", "alice"], input="new password 1\nnew password 2\n")
    assert mismatch.exit_code != 0
    assert _signin(api, "alice", PASSWORD).status_code == 200  # nothing changed yet
    result = runner.invoke(args=["reset-password", "alice"], input="brand new secret\nbrand new secret\n")
    assert result.exit_code == 0, result.output
    assert "brand new secret" not in result.output
    assert api.call("POST", "/api/v1/users/profile", token=user["token"]).status_code == 401  # revoked
    assert _signin(api, "alice", PASSWORD).status_code == 401
    assert _signin(api, "alice", "brand new secret").status_code == 200
    assert api.call("POST", "/api/v1/users/profile", token=owner["token"]).status_code == 200  # others untouched
    assert runner.invoke(args=["reset-password", "nobody"], input="long enough\nlong enough\n").exit_code == 1
