"""Across real processes: one shared rate-limit count over two gunicorn workers, blocked addresses on
every worker (HTTP and WebSocket handshakes), a task run on a real Celery worker, and Redis going away."""
import http.client
import subprocess
import time
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
import requests

from scripts.embedded_redis import redis_binary, start_redis, stop_redis
from scripts.stack import CeleryWorker, Stack

PASSWORD = "correct horse battery"
HANDSHAKE = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
             "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def signup(base, username):
    response = requests.post(base + "/api/v1/users/signup", json={"username": username, "password": PASSWORD})
    assert response.status_code == 201, response.text
    return response.json()["auth_token"]


def request_from(source, base, method, path, headers=None):
    """One request on a new connection whose source address is `source`."""
    parts = urlsplit(base)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10, source_address=(source, 0))
    try:
        connection.request(method, path, headers={"Connection": "close", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def settles_to(source, base, status, timeout=8.0, hold=1.5):
    """Poll until every request answers `status` for `hold` seconds on end; False at the deadline.

    Each worker rereads the block list within BLOCKED_IPS_REFRESH_SECONDS (1 s) of a change, and
    the requests may all reach one worker: holding longer than that interval covers both.
    """
    deadline = time.monotonic() + timeout
    held_since = None
    while time.monotonic() < deadline:
        if request_from(source, base, "GET", "/api/v1/info")[0] == status:
            held_since = held_since or time.monotonic()
            if time.monotonic() - held_since >= hold:
                return True
        else:
            held_since = None
        time.sleep(0.05)
    return False


@pytest.fixture
def stack_env(app, services):
    return services["env"]


def test_rate_limit_count_is_shared_by_two_gunicorn_workers(stack_env):
    # Sync on every request, so the headers show the exact shared count; batching is tested in-process.
    extra = {"RATELIMIT_ENABLED": "1", "RATELIMIT_OWNER": "30/minute", "RATELIMIT_SYNC_SECONDS": "0"}
    with Stack(stack_env, web_workers=2, threads=4, extra_env=extra) as stack:
        token = signup(stack.url, "owner")
        pids, remaining = set(), []
        for _ in range(30):
            # A new connection each time, so both workers take their share.
            response = requests.post(stack.url + "/api/v1/system/server-usage", json={"auth_token": token},
                                     headers={"Connection": "close"})
            assert response.status_code == 200, response.text
            pids.add(response.json()["server_usage"]["process_id"])
            remaining.append(int(response.headers["X-RateLimit-Remaining"]))
        refused = requests.post(stack.url + "/api/v1/system/server-usage", json={"auth_token": token})
    assert len(pids) == 2, "both workers must have answered"
    assert remaining == list(range(29, -1, -1)), "one count, whichever worker answers"
    assert refused.status_code == 429 and refused.json()["code"] == "RATE_LIMITED"
    assert int(refused.headers["Retry-After"]) >= 1


def test_blocked_address_refused_on_every_worker_for_http_and_websocket(stack_env):
    with Stack(stack_env, web_workers=2, threads=4) as stack:
        token = signup(stack.url, "owner")
        # Warm both workers' caches with the empty list first.
        for _ in range(6):
            assert request_from("127.0.0.2", stack.url, "GET", "/api/v1/info")[0] == 200
        blocked = requests.post(stack.url + "/api/v1/blocked-ips/block", json={"auth_token": token, "ip": "127.0.0.2",
                                                                                "reason": "test"})
        assert blocked.status_code == 201, blocked.text
        assert settles_to("127.0.0.2", stack.url, 403)
        for _ in range(10):
            status, body = request_from("127.0.0.2", stack.url, "GET", "/api/v1/info")
            assert status == 403 and b"IP_BLOCKED" in body
            status, body = request_from("127.0.0.2", stack.url, "GET", f"/ws?auth_token={token}", HANDSHAKE)
            assert status == 403 and b"IP_BLOCKED" in body
        for _ in range(6):
            assert request_from("127.0.0.1", stack.url, "GET", "/api/v1/info")[0] == 200
            # The handshake from an allowed address is accepted.
            assert request_from("127.0.0.1", stack.url, "GET", f"/ws?auth_token={token}", HANDSHAKE)[0] == 101
        requests.post(stack.url + "/api/v1/blocked-ips/unblock", json={"auth_token": token, "ip": "127.0.0.2"})
        assert settles_to("127.0.0.2", stack.url, 200)


def test_background_task_runs_on_a_real_celery_worker(api, owner, user, stack_env):
    with CeleryWorker(stack_env):
        runs = {}
        for task_id in ("chart_data_update", "auth_token_cleanup", "github_releases_check"):
            response = api.call("POST", "/api/v1/background-tasks/run", token=owner["token"], json={"task_id": task_id})
            assert response.status_code == 202, response.get_json()
            runs[task_id] = response.get_json()["run_id"]
        deadline = time.monotonic() + 30
        states = {}
        while time.monotonic() < deadline:
            states = {task_id: api.call("GET", f"/api/v1/background-tasks/runs/{run_id}",
                                        token=owner["token"]).get_json()["run"] for task_id, run_id in runs.items()}
            if all(run["state"] in {"succeeded", "failed"} for run in states.values()):
                break
            time.sleep(0.2)
    assert {task_id: run["state"] for task_id, run in states.items()} == dict.fromkeys(runs, "succeeded")
    assert states["auth_token_cleanup"]["result"] == {"deleted": 0}
    assert "messages.day" in states["chart_data_update"]["result"]["buckets"]
    assert states["github_releases_check"]["result"]["version"]
    status = api.call("POST", "/api/v1/background-tasks/status", token=owner["token"]).get_json()["tasks"]
    assert all(status[task_id]["runs"] == 1 and status[task_id]["errors"] == 0 for task_id in runs)


def _start_redis_on(port, password, data_dir):
    args = [redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--requirepass", password, "--dir", data_dir,
            "--save", "", "--appendonly", "no", "--daemonize", "no"]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    client = redis_lib.Redis(host="127.0.0.1", port=port, password=password, socket_timeout=0.5)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis_lib.RedisError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis did not restart")


def test_api_keeps_answering_without_redis_and_limits_recover(stack_env, tmp_path):
    url, process = start_redis(str(tmp_path), persist=False)
    parts = urlsplit(url)
    own = redis_lib.Redis.from_url(url)
    extra = {"REDIS_URL": url, "RATELIMIT_ENABLED": "1", "RATELIMIT_ANONYMOUS": "1000/minute",
             "RATELIMIT_RECOVERY_SECONDS": "1", "RATELIMIT_SYNC_SECONDS": "0"}
    try:
        with Stack(stack_env, web_workers=1, threads=4, extra_env=extra) as stack:
            first = requests.get(stack.url + "/api/v1/info")
            assert first.status_code == 200 and first.headers["X-RateLimit-Limit"] == "1000"
            assert own.keys("LIMITS:*pufferblow*")
            stop_redis(process)
            for _ in range(5):
                response = requests.get(stack.url + "/api/v1/info")
                assert response.status_code == 200, response.text
                assert response.headers["X-RateLimit-Limit"] == "1000"  # counted in memory meanwhile
            assert requests.post(stack.url + "/api/v1/users/signup",
                                 json={"username": "owner", "password": PASSWORD}).status_code == 201
            with open(stack.web.log_path, "rb") as log:
                assert b"rate limit storage unreachable" in log.read()
            process = _start_redis_on(parts.port, parts.password, str(tmp_path))
            own = redis_lib.Redis.from_url(url)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not own.keys("LIMITS:*pufferblow*"):
                requests.get(stack.url + "/api/v1/info")
                time.sleep(0.2)
            keys = own.keys("LIMITS:*pufferblow*")
            assert keys, "the limiter went back to Redis"
            before = int(own.get(keys[0]))
            assert before >= 7, "what was counted during the outage was added to the shared count"
            requests.get(stack.url + "/api/v1/info")
            assert int(own.get(keys[0])) == before + 1
            with open(stack.web.log_path, "rb") as log:
                assert b"shared counting resumed" in log.read()
    finally:
        stop_redis(process)
