"""flask backup / restore: taken while messages are sent, restored into a fresh data dir and database."""
import os
import subprocess
import sys
import tarfile
import threading

import pytest
import requests
import sqlalchemy as sa

from scripts.stack import Stack
from tests.api_helpers import PASSWORD, ROOT, make_channel, send
from tests.filedata import unique_png, upload


def flask_cli(env: dict, *args: str, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300, input=input_text)


def _fresh_database(services, tmp_path) -> str:
    """An empty database beside the suite's: a new SQLite file, or a new PostgreSQL database."""
    url = services["database_url"]
    if url.startswith("sqlite"):
        return "sqlite:///" + str(tmp_path / "restored" / "pufferblow.db")
    base, name = url.rsplit("/", 1)
    restored = name.split("?")[0] + "_restored"
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{restored}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{restored}"'))
    engine.dispose()
    return f"{base}/{restored}"


def test_backup_while_sending_restores_everything(api, owner, user, services, tmp_path):
    channel_id = make_channel(api, owner["token"], "general")
    before = {send(api, user["token"], channel_id, f"before {i}") for i in range(5)}
    avatar = unique_png(7)
    response = api.call("POST", "/api/v1/users/profile/avatar", token=user["token"],
                        data={"file": upload(avatar, "me.png")}, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    avatar_url = response.get_json()["avatar_url"]
    archive = str(tmp_path / "backup.tar.gz")
    sent, stop, failures = [], threading.Event(), []
    with Stack(services["env"], web_workers=2, threads=4) as stack:
        def keep_sending():
            count = 0
            while not stop.is_set() and count < 400:
                reply = requests.post(f"{stack.url}/api/v1/channels/{channel_id}/send_message", timeout=10,
                                      json={"auth_token": owner["token"], "message": f"during {count}"})
                if reply.status_code != 201:
                    failures.append(reply.text)
                sent.append(f"during {count}")
                count += 1

        sender = threading.Thread(target=keep_sending)
        sender.start()
        try:
            result = flask_cli(services["env"], "backup", archive)
        finally:
            stop.set()
            sender.join(60)
    assert result.returncode == 0, result.stderr
    assert not failures and len(sent) > 0
    assert oct(os.stat(archive).st_mode)[-3:] == "600"
    with tarfile.open(archive) as opened:
        names = opened.getnames()
    assert "keys/messages.key" in names and any(name.startswith("files/blobs/") for name in names)

    fresh = {**services["env"], "PUFFERBLOW_DATA_DIR": str(tmp_path / "restored"),
             "DATABASE_URL": _fresh_database(services, tmp_path), "REDIS_PREFIX": "restored"}
    if fresh["DATABASE_URL"].startswith("postgresql"):
        assert flask_cli(fresh, "db", "upgrade").returncode == 0
    restored = flask_cli(fresh, "restore", archive)
    assert restored.returncode == 0, restored.stderr
    again = flask_cli(fresh, "restore", archive)
    assert again.returncode == 1 and "not empty" in again.stderr  # a restored target is not empty any more

    with Stack(fresh, web_workers=1, threads=4) as stack:
        for name in ("owner", "alice"):
            signin = requests.post(stack.url + "/api/v1/users/signin", json={"username": name, "password": PASSWORD},
                                   timeout=10)
            assert signin.status_code == 200, signin.text
        token = signin.json()["auth_token"]
        texts, cursor = [], "00000000-0000-0000-0000-000000000000"  # after the oldest possible id
        while True:
            query = {"auth_token": token, "limit": 100, "after": cursor}
            page = requests.get(f"{stack.url}/api/v1/channels/{channel_id}/load_messages", params=query, timeout=10)
            assert page.status_code == 200, page.text
            messages = page.json()["messages"]
            if not messages:
                break
            texts += [m["message"] for m in messages]
            cursor = messages[-1]["message_id"]
        served = requests.get(stack.url + avatar_url, timeout=10)
    assert served.status_code == 200 and served.content == avatar
    assert {t for t in texts if t.startswith("before")} == {f"before {i}" for i in range(5)} and len(before) == 5
    during = [t for t in texts if t.startswith("during")]
    assert during and set(during) <= set(sent) and len(during) == len(set(during))
    # A consistent snapshot: the messages it holds are a prefix of those sent, with no gap.
    assert sorted(during, key=lambda t: int(t.split()[1])) == [f"during {i}" for i in range(len(during))]


@pytest.mark.parametrize("what", ["key file", "files"])
def test_restore_refuses_a_data_dir_that_holds_data(api, owner, services, tmp_path, what):
    archive = str(tmp_path / "backup.tar.gz")
    assert flask_cli(services["env"], "backup", archive).returncode == 0
    target = tmp_path / "target"
    if what == "key file":
        (target / "keys").mkdir(parents=True)
        (target / "keys" / "messages.key").write_text("{}")
    else:
        (target / "files" / "blobs").mkdir(parents=True)
        (target / "files" / "blobs" / "x").write_bytes(b"x")
    env = {**services["env"], "PUFFERBLOW_DATA_DIR": str(target), "DATABASE_URL": _fresh_database(services, tmp_path)}
    if env["DATABASE_URL"].startswith("postgresql"):
        assert flask_cli(env, "db", "upgrade").returncode == 0
    refused = flask_cli(env, "restore", archive)
    assert refused.returncode == 1 and "not empty" in refused.stderr, refused.stderr
    assert flask_cli(env, "restore", "--force", archive).returncode == 0
