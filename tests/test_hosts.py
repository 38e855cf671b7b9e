"""Several hosts: two gunicorn hosts and a Celery host in network namespaces share one view.

Hosts a and b run gunicorn, host w the Celery worker and beat, each in a network namespace of
its own, sharing a fresh PostgreSQL database and a Redis over the namespaces' network
(tests/hosts_support.py). Clients connect from addresses of their own. Skipped where the machine
cannot create network namespaces or PostgreSQL does not answer. The tests run in file order on
one fleet; the last one kills host a's web process.
"""
import os
import time

import pytest
import websocket

from tests.hosts_network import namespaces_unavailable
from tests.hosts_support import AUTH_LIMIT, Fleet, admin_database_url, postgres_unavailable
from tests.ws_support import next_frame, wait_until

PASSWORD = "correct horse battery"
SYNC_WAIT = 0.5  # longer than RATELIMIT_SYNC_SECONDS, the most a host's view of the shared counts lags


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    reason = namespaces_unavailable()
    if reason:
        pytest.skip(f"several hosts need network namespaces: {reason}")
    admin_url = admin_database_url()
    reason = postgres_unavailable(admin_url)
    if reason:
        pytest.skip(f"several hosts share a PostgreSQL database: {reason}")
    running = Fleet(str(tmp_path_factory.mktemp("hosts")), admin_url)
    try:
        yield running.start()
    finally:
        running.close()


@pytest.fixture(scope="module")
def people(fleet):
    """The owner signed up on host a, a reader signed up on host b, a channel made on host a."""
    main, a, b = fleet.clients["main"], fleet.hosts["a"], fleet.hosts["b"]
    status, owner = main.call("POST", a, "/api/v1/users/signup", body={"username": "owner", "password": PASSWORD})
    assert status == 201, owner
    status, reader = main.call("POST", b, "/api/v1/users/signup", body={"username": "reader", "password": PASSWORD})
    assert status == 201, reader
    status, channel = main.call("POST", a, "/api/v1/channels/create/", owner["auth_token"],
                                {"channel_name": "fleet"})
    assert status == 201, channel
    return {"owner": owner["auth_token"], "reader": reader["auth_token"],
            "channel": channel["channel_data"]["channel_id"]}


def test_every_process_of_a_host_runs_in_that_hosts_namespace(fleet):
    root = os.stat("/proc/self/ns/net").st_ino
    for host in fleet.hosts.values():
        assert host.namespace_inode() != root
        assert host.network_namespaces() == {host.namespace_inode()}, host.name


def registered(ws: websocket.WebSocket) -> websocket.WebSocket:
    """A pong proves the socket is open and registered with its host's hub."""
    ws.send('{"type": "ping"}')
    next_frame(ws, "pong")
    return ws


def send(fleet, host: str, token: str, channel: str, text: str) -> str:
    status, body = fleet.clients["main"].call("POST", fleet.hosts[host], f"/api/v1/channels/{channel}/send_message",
                                              token, {"message": text})
    assert status == 201, body
    return body["message_id"]


def test_a_message_sent_to_host_a_reaches_sockets_on_host_b(fleet, people):
    main, b = fleet.clients["main"], fleet.hosts["b"]
    on_b = [registered(main.socket(b, f"/ws/channels/{people['channel']}", people["reader"])),
            registered(main.socket(b, "/ws", people["reader"]))]
    on_a = registered(main.socket(fleet.hosts["a"], "/ws", people["reader"]))
    message_id = send(fleet, "a", people["owner"], people["channel"], "hello from host a")
    for ws in [*on_b, on_a]:
        frame = next_frame(ws, "message", timeout=10)
        assert (frame["message_id"], frame["message"]) == (message_id, "hello from host a")
        ws.close()
    # Host b decrypts what host a stored: one database, one key file.
    status, body = main.call("GET", b, f"/api/v1/channels/{people['channel']}/load_messages", people["reader"])
    assert status == 200, body
    assert [m["message"] for m in body["messages"]] == ["hello from host a"]


def test_a_rate_limit_counted_on_host_a_applies_on_host_b(fleet, people):
    limited, a, b = fleet.clients["limited"], fleet.hosts["a"], fleet.hosts["b"]
    wrong = {"username": "reader", "password": "not the password"}
    for _ in range(AUTH_LIMIT):
        status, body = limited.call("POST", a, "/api/v1/users/signin", body=wrong)
        assert status == 401, body
    time.sleep(SYNC_WAIT)
    for host in (b, a):
        status, body = limited.call("POST", host, "/api/v1/users/signin", body=wrong)
        assert (status, body["code"]) == (429, "RATE_LIMITED"), (host.name, body)
    # The count is the address's: another client signs in on host b as before.
    status, body = fleet.clients["main"].call("POST", b, "/api/v1/users/signin",
                                              body={"username": "reader", "password": PASSWORD})
    assert status == 200, body


def test_a_blocked_address_is_refused_on_both_hosts(fleet, people):
    blocked, main = fleet.clients["blocked"], fleet.clients["main"]
    hosts = [fleet.hosts["a"], fleet.hosts["b"]]
    for host in hosts:
        assert blocked.call("GET", host, "/api/v1/info")[0] == 200
    status, body = main.call("POST", hosts[0], "/api/v1/blocked-ips/block", people["owner"],
                             {"ip": blocked.address, "reason": "abuse"})
    assert status == 201, body
    for host in hosts:  # each process rereads the list within BLOCKED_IPS_REFRESH_SECONDS
        wait_until(lambda: blocked.call("GET", host, "/api/v1/info")[0] == 403, timeout=10,
                   what=f"the block on host {host.name}")
        status, body = blocked.call("POST", host, "/api/v1/users/signin", body={"username": "reader",
                                                                               "password": PASSWORD})
        assert (status, body["code"]) == (403, "IP_BLOCKED"), body
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            blocked.socket(host, "/ws", people["reader"])
        assert refused.value.status_code == 403
        assert main.call("GET", host, "/api/v1/info")[0] == 200  # only that address


def test_the_worker_host_runs_a_task_queued_on_host_a(fleet, people):
    main = fleet.clients["main"]
    status, body = main.call("POST", fleet.hosts["a"], "/api/v1/background-tasks/run", people["owner"],
                             {"task_id": "server_stats_update"})
    assert status == 202, body

    def finished():
        status, run = main.call("GET", fleet.hosts["b"], f"/api/v1/background-tasks/runs/{body['run_id']}",
                                people["owner"])
        assert status == 200, run
        return run["run"] if run["state"] in ("succeeded", "failed") else None

    run = wait_until(finished, timeout=20, interval=0.2, what="the run on host w")
    assert run["state"] == "succeeded", run
    for role in ("celery-worker", "celery-beat"):
        fleet.hosts["w"].check_alive(role)


def test_killing_host_a_web_process_leaves_host_b_clients_served(fleet, people):
    main, a, b = fleet.clients["main"], fleet.hosts["a"], fleet.hosts["b"]
    on_b = registered(main.socket(b, f"/ws/channels/{people['channel']}", people["reader"]))
    on_a = registered(main.socket(a, f"/ws/channels/{people['channel']}", people["reader"]))
    a.kill("gunicorn")
    with pytest.raises((websocket.WebSocketException, OSError)):  # host a's socket is gone with it
        on_a.settimeout(5)
        on_a.recv()
    with pytest.raises(OSError):
        main.call("GET", a, "/healthz", timeout=3)
    for n in range(3):
        message_id = send(fleet, "b", people["owner"], people["channel"], f"after host a {n}")
        assert next_frame(on_b, "message", timeout=10)["message_id"] == message_id
    status, body = main.call("GET", b, f"/api/v1/channels/{people['channel']}/load_messages", people["reader"])
    assert status == 200, body
    assert [m["message"] for m in body["messages"]][-3:] == [f"after host a {n}" for n in range(3)]
    assert main.call("GET", b, "/readyz")[0] == 200
    on_b.close()
