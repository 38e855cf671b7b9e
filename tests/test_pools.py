"""Database pools: sized from the process's concurrency, overridable, and opening no connection
per request once warm, in process and under gunicorn."""
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

import pytest
import requests
from sqlalchemy import event
from sqlalchemy import text as sa_text

from app.database import pool_options
from app.extensions import db
from scripts.stack import Stack
from tests.api_helpers import ROOT, make_channel, send

OPENED_RE = re.compile(r"^pufferblow_db_connections_opened_total (\S+)$", re.MULTILINE)
SETTINGS = {"DB_POOL_SIZE": 0, "DB_CONCURRENCY": 8, "DB_POOL_SIZE_CAP": 40, "DB_MAX_OVERFLOW": 0,
            "DB_POOL_TIMEOUT": 30.0, "DB_POOL_RECYCLE": 3600, "DB_POOL_PRE_PING": True, "DB_POOL_PING_IDLE": 0}


def test_pool_size_follows_the_concurrency_up_to_the_cap():
    postgres = "postgresql+psycopg://db/x"
    assert pool_options(SETTINGS, postgres) == {"pool_size": 8, "max_overflow": 0, "pool_timeout": 30.0,
                                                "pool_recycle": 3600, "pool_pre_ping": True}
    assert pool_options({**SETTINGS, "DB_CONCURRENCY": 600}, postgres)["pool_size"] == 40
    assert pool_options({**SETTINGS, "DB_CONCURRENCY": 600, "DB_POOL_SIZE": 100}, postgres)["pool_size"] == 100
    assert pool_options({**SETTINGS, "DB_CONCURRENCY": 0}, postgres)["pool_size"] == 1
    assert pool_options(SETTINGS, "sqlite:////tmp/x.db")["pool_pre_ping"] is False  # a file cannot drop it
    assert pool_options(SETTINGS, "sqlite:///:memory:") == {}


def test_pool_settings_come_from_the_environment():
    env = {**os.environ, "DB_POOL_SIZE": "7", "DB_MAX_OVERFLOW": "3", "DB_POOL_RECYCLE": "60",
           "DB_POOL_TIMEOUT": "4", "DB_POOL_PRE_PING": "0", "DB_CONCURRENCY": "5"}
    code = ("import config; c = config.Config; print(c.DB_POOL_SIZE, c.DB_MAX_OVERFLOW, c.DB_POOL_RECYCLE, "
            "c.DB_POOL_TIMEOUT, c.DB_POOL_PRE_PING, c.DB_CONCURRENCY)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["7", "3", "60", "4.0", "False", "5"]


def test_the_app_engine_uses_the_configured_pool(app):
    with app.app_context():
        pool = db.engine.pool
        assert pool.size() == min(app.config["DB_CONCURRENCY"], app.config["DB_POOL_SIZE_CAP"])
        assert pool._max_overflow == app.config["DB_MAX_OVERFLOW"] == 0


def _hammer(app, token, paths, threads, per_thread):
    """threads clients at once, each its own test client, per_thread requests over paths."""
    failures = []

    def client(index):
        http, auth = app.test_client(), {"Authorization": f"Bearer {token}"}
        for n in range(per_thread):
            path = paths[(index + n) % len(paths)]
            try:
                if path.endswith("send_message"):
                    status = http.post(path, json={"message": f"m {index} {n}"}, headers=auth).status_code
                else:
                    status = http.get(path, headers=auth).status_code
            except Exception as exc:  # a thread's exception would otherwise be only a warning
                status = repr(exc)
            if status not in (200, 201):
                failures.append((path, status))

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures, failures[:5]


def test_no_connection_is_opened_per_request_once_warm(api, app, owner):
    channel = make_channel(api, owner["token"], "busy")
    for n in range(60):
        send(api, owner["token"], channel, f"history {n}")
    paths = ["/api/v1/info", f"/api/v1/channels/{channel}/load_messages", f"/api/v1/messages?channel_id={channel}",
             f"/api/v1/channels/{channel}/send_message", "/api/v1/system/server-info"]
    threads = app.config["DB_CONCURRENCY"]
    opened = []
    with app.app_context():
        engine = db.engine
    listener = lambda *_args: opened.append(1)  # noqa: E731
    event.listen(engine, "connect", listener)
    try:
        # Start cold, then warm as the busiest moment would: every thread holding a connection.
        engine.dispose()
        held = [engine.connect() for _ in range(threads)]
        for connection in held:
            connection.close()
        warm = len(opened)
        assert warm == threads  # the counter sees connections being opened
        _hammer(app, owner["token"], paths, threads, 60)
        assert len(opened) == warm, f"{len(opened) - warm} connections opened after warm-up"
    finally:
        event.remove(engine, "connect", listener)


def _opened(url: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as response:
        match = OPENED_RE.search(response.read().decode())
    assert match, "the connection counter is missing from /metrics"
    return float(match.group(1))


def test_gunicorn_workers_size_their_pools_from_their_threads(api, owner, services):
    """2 workers of 4 threads under 16 concurrent clients: at most 8 connections ever."""
    channel = make_channel(api, owner["token"], "served")
    send(api, owner["token"], channel, "hello")
    paths = ["/api/v1/info", f"/api/v1/channels/{channel}/load_messages", f"/api/v1/messages?channel_id={channel}"]
    with Stack(services["env"], web_workers=2, threads=4) as stack:
        def load(rounds):
            statuses = []

            def client(index):
                with requests.Session() as http:
                    for n in range(rounds):
                        try:
                            statuses.append(http.get(stack.url + paths[(index + n) % len(paths)], timeout=30,
                                                     headers={"Authorization": f"Bearer {owner['token']}"}).status_code)
                        except requests.RequestException as exc:
                            statuses.append(repr(exc))
            workers = [threading.Thread(target=client, args=(i,)) for i in range(16)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            assert set(statuses) == {200}, [s for s in statuses if s != 200][:5]

        load(20)
        warm = _opened(stack.url)
        load(40)
        # Without overflow a connection, once opened, serves its worker for good: 1,000 requests
        # from 16 clients opened no more than the 2 x 4 the pools hold.
        assert 0 < warm <= _opened(stack.url) <= 8


def test_only_a_connection_idle_past_the_setting_is_pinged(monkeypatch):
    """The checkout hook pings a connection idle past DB_POOL_PING_IDLE, and only that one; a
    ping that finds it dropped makes the pool replace it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError
    from sqlalchemy.pool import QueuePool

    from app.database import ping_idle_connections
    engine = create_engine("sqlite://", poolclass=QueuePool)
    ping_idle_connections(engine, 0.2)
    pings, dropped = [], []

    def ping(dbapi_connection):
        pings.append(dbapi_connection)
        if dropped:
            dropped.clear()
            raise OperationalError("SELECT 1", {}, Exception("server closed the connection"))
        return True
    monkeypatch.setattr(engine.dialect, "do_ping", ping)
    monkeypatch.setattr(engine.dialect, "is_disconnect", lambda exc, *_: "closed the connection" in str(exc))
    with engine.connect() as conn:
        first = conn.connection.dbapi_connection
        conn.execute(text("SELECT 1"))
    with engine.connect() as conn:  # back at once: not pinged
        assert conn.connection.dbapi_connection is first
    assert pings == []
    time.sleep(0.25)
    with engine.connect() as conn:  # idle past the setting: pinged, still alive
        assert conn.connection.dbapi_connection is first
    assert pings == [first]
    time.sleep(0.25)
    dropped.append(True)
    with engine.connect() as conn:  # pinged and found dropped: a new connection serves
        assert conn.connection.dbapi_connection is not first
        assert conn.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_a_connection_the_server_dropped_while_idle_is_replaced(app, api, owner):
    """On PostgreSQL: every pooled connection's backend terminated while idle; the next requests
    are served by new connections, none fails."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("a SQLite file cannot drop a connection")
        seconds = app.config["DB_POOL_PING_IDLE"]
    channel = make_channel(api, owner["token"], "idle")
    send(api, owner["token"], channel, "before")
    import psycopg
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        pids = [row[0] for row in db.session.execute(sa_text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"))]
        db.session.remove()
    with psycopg.connect(url, autocommit=True) as admin:
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(seconds + 0.5)
    for n in range(5):
        assert api.call("GET", f"/api/v1/channels/{channel}/load_messages", token=owner["token"]).status_code == 200
    send(api, owner["token"], channel, "after")
