"""Faults on real processes: Redis killed or hung, a gunicorn worker killed; the event log lets
every client end with every message exactly once."""
import os
import signal
import threading
import time

import pytest
import requests

from scripts.embedded_redis import start_redis, stop_redis
from scripts.stack import Stack
from tests.api_helpers import make_channel
from tests.events_support import assert_in_order_once, logged_within, resume_connect, stack_send, until_resumed
from tests.ws_support import STACK_ENV, connect, next_frame, socket_processes, wait_until


@pytest.fixture
def own_redis(services, tmp_path):
    """A Redis of this test's own, which it may kill, restart or stop."""
    url, process = start_redis(str(tmp_path), persist=False)
    state = {"url": url, "process": process, "dir": str(tmp_path)}
    yield state
    try:
        os.kill(state["process"].pid, signal.SIGCONT)
    except ProcessLookupError:
        pass
    stop_redis(state["process"])


def _messages(frames: list[dict]) -> list[str]:
    return [frame["message_id"] for frame in frames if frame["type"] == "message"]


def test_redis_killed_during_sends_then_restarted_every_socket_ends_with_every_message_once(
        services, own_redis, api, owner, user, other_user):
    channel_id = make_channel(api, owner["token"], "general")
    env = {**services["env"], "REDIS_URL": own_redis["url"]}
    with Stack(env, web_workers=2, threads=16, extra_env=STACK_ENV) as stack:
        sockets = [connect(stack, "/ws", account["token"]) for account in (user, other_user)]
        for ws in sockets:
            ws.send('{"type": "ping"}')
            next_frame(ws, "pong")
        stack_send(stack, owner["token"], channel_id, "before")
        starts = [next_frame(ws, "message", timeout=10)["seq"] for ws in sockets]
        sent, slowest = [], 0.0
        for n in range(30):
            if n == 10:
                own_redis["process"].kill()  # SIGKILL
                own_redis["process"].wait()
            if n == 20:
                own_redis["url"], own_redis["process"] = start_redis(own_redis["dir"], persist=False,
                                                                     url=own_redis["url"])
            started = time.monotonic()
            sent.append(stack_send(stack, owner["token"], channel_id, f"during {n}"))
            slowest = max(slowest, time.monotonic() - started)
        assert slowest < 1.0, f"a send took {slowest:.2f} s while Redis was away"
        for ws, since in zip(sockets, starts):
            # The open socket: its worker reads what it missed from the log once Redis is back.
            live = logged_within(ws, 6)
            assert_in_order_once(live)
            assert _messages(live) == sent
            ws.close()
        for account, since in zip((user, other_user), starts):
            frames, resumed = until_resumed(resume_connect(stack, "/ws", account["token"], since))
            assert_in_order_once(frames)
            assert _messages(frames) == sent and resumed["seq"] == frames[-1]["seq"]


def test_a_killed_worker_s_clients_resume_on_the_other_with_nothing_missing(app, services, api, owner):
    channel_id = make_channel(api, owner["token"], "general")
    accounts = [api.signup(f"reader{n}") for n in range(10)]
    with Stack(services["env"], web_workers=2, threads=16, extra_env=STACK_ENV) as stack:
        sockets = {a["id"]: connect(stack, "/ws", a["token"]) for a in accounts}
        for ws in sockets.values():
            ws.send('{"type": "ping"}')
            next_frame(ws, "pong")
        processes = wait_until(lambda: len(found := socket_processes(app, list(sockets))) == 2 and found,
                               timeout=10, what="sockets on both workers")
        stack_send(stack, owner["token"], channel_id, "before")
        last = {uid: next_frame(ws, "message", timeout=10)["seq"] for uid, ws in sockets.items()}
        victim = int(sorted(processes)[0].split(":")[1])
        os.kill(victim, signal.SIGKILL)
        sent = []
        for n in range(10):
            for attempt in range(3):  # a connection the dying worker had accepted fails: send again
                try:
                    sent.append(stack_send(stack, owner["token"], channel_id, f"after {n}"))
                    break
                except requests.ConnectionError:
                    time.sleep(0.2)
        assert len(sent) == 10
        dropped = 0
        for account in accounts:
            ws = sockets[account["id"]]
            frames = logged_within(ws, 3)
            got = _messages(frames)
            if got != sent:  # its worker died: resume after the last seq it had
                dropped += 1
                assert ws.connected is False or got == [], got
                since = frames[-1]["seq"] if frames else last[account["id"]]
                replayed, _ = until_resumed(resume_connect(stack, "/ws", account["token"], since))
                frames = frames + replayed
                got = _messages(frames)
            assert_in_order_once(frames)
            assert got == sent
            ws.close()
        assert dropped >= 1, "no socket was on the killed worker"


def test_a_hung_redis_stalls_neither_healthz_nor_load_messages(services, own_redis, api, owner):
    channel_id = make_channel(api, owner["token"], "general")
    env = {**services["env"], "REDIS_URL": own_redis["url"]}
    with Stack(env, web_workers=2, threads=16, extra_env=STACK_ENV) as stack:
        stack_send(stack, owner["token"], channel_id, "hello")
        history = f"{stack.url}/api/v1/channels/{channel_id}/load_messages"
        for _ in range(20):  # both workers answer once (and note the caller's presence) beforehand
            assert requests.get(history, params={"auth_token": owner["token"]}, timeout=5).status_code == 200
        os.kill(own_redis["process"].pid, signal.SIGSTOP)
        try:
            started, timings = time.monotonic(), []
            ready = requests.get(stack.url + "/readyz", timeout=5)
            assert ready.status_code == 503 and time.monotonic() - started < 1.5
            while time.monotonic() - started < 5:
                for url, params in ((stack.url + "/healthz", {}), (history, {"auth_token": owner["token"]})):
                    before = time.monotonic()
                    response = requests.get(url, params=params, timeout=5)
                    timings.append(time.monotonic() - before)
                    assert response.status_code == 200, response.text
        finally:
            os.kill(own_redis["process"].pid, signal.SIGCONT)
        assert max(timings) < 0.2, f"slowest {max(timings) * 1000:.0f} ms over {len(timings)} requests"
        wait_until(lambda: requests.get(stack.url + "/readyz", timeout=5).status_code == 200, timeout=10,
                   what="ready again")
