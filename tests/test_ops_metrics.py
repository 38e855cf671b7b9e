"""GET /metrics across gunicorn workers, who may read it, and secrets kept out of every log."""
import glob
import json
import os
import re
import time

import requests
from prometheus_client.mmap_dict import MmapedDict

from scripts.stack import Stack
from tests.api_helpers import PASSWORD, Api, another_app, assert_error


def _count(text: str, endpoint: str, status: str = "200") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith("pufferblow_http_requests_total{") and f'endpoint="{endpoint}"' in line \
                and f'status="{status}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def _info_counts_by_pid(metrics_dir: str) -> dict[str, float]:
    """general.info requests each process has counted, read from its own metrics file."""
    counts = {}
    for path in glob.glob(os.path.join(metrics_dir, "counter_*.db")):
        pid = re.search(r"_(\d+)\.db$", path).group(1)
        for key, value, _stamp, _pos in MmapedDict.read_all_values_from_file(path):
            _name, sample, labels, _help = json.loads(key)
            if sample == "pufferblow_http_requests_total" and labels.get("endpoint") == "general.info":
                counts[pid] = counts.get(pid, 0) + value
    return counts


def test_metrics_count_requests_from_both_workers(api, owner, services):
    with Stack(services["env"], web_workers=2, threads=4) as stack:
        metrics_dir = stack.env["PROMETHEUS_MULTIPROC_DIR"]
        sent = 0
        # reuse_port spreads new connections over the workers: new connections until both answered.
        while len(_info_counts_by_pid(metrics_dir)) < 2 and sent < 400:
            response = requests.get(stack.url + "/api/v1/info", headers={"Connection": "close"}, timeout=5)
            assert response.status_code == 200
            sent += 1
        by_pid = _info_counts_by_pid(metrics_dir)
        assert len(by_pid) == 2 and sum(by_pid.values()) == sent, by_pid
        metrics = requests.get(stack.url + "/metrics", timeout=5)
        assert metrics.status_code == 200 and metrics.headers["Content-Type"].startswith("text/plain")
        assert _count(metrics.text, "general.info") == sent
        assert 'pufferblow_http_request_duration_seconds_bucket{endpoint="general.info"' in metrics.text
        assert "pufferblow_websockets_open" in metrics.text


def test_metrics_refused_to_other_addresses_and_wrong_tokens(api, app, tmp_path):
    assert api.call("GET", "/metrics").status_code == 200  # the test client's peer is loopback
    outsider = {"environ_base": {"REMOTE_ADDR": "203.0.113.9"}}
    app.config["METRICS_TOKEN"], saved = "metrics-secret-token", app.config["METRICS_TOKEN"]
    try:
        assert_error(api.call("GET", "/metrics", **outsider), 404)
        assert_error(api.call("GET", "/metrics", headers={"Authorization": "Bearer wrong"}, **outsider), 404)
        allowed = api.call("GET", "/metrics", headers={"Authorization": "Bearer metrics-secret-token"}, **outsider)
        assert allowed.status_code == 200 and b"pufferblow_http_requests_total" in allowed.data
    finally:
        app.config["METRICS_TOKEN"] = saved
    with another_app(app, str(tmp_path), METRICS_ALLOWED=["203.0.113.0/24"]) as listed:
        client = Api(listed.test_client())
        assert client.call("GET", "/metrics", **outsider).status_code == 200
        assert_error(client.call("GET", "/metrics", environ_base={"REMOTE_ADDR": "198.51.100.1"}), 404)


def test_no_secret_reaches_any_log(api, owner, services, tmp_path):
    env = {**services["env"], "PUFFERBLOW_DATA_DIR": str(tmp_path), "GUNICORN_ACCESSLOG": str(tmp_path / "access.log")}
    with Stack(env, web_workers=1, threads=4, extra_env={"GUNICORN_LOGLEVEL": "info", "LOG_REQUESTS": "1"}) as stack:
        signin = requests.post(stack.url + "/api/v1/users/signin",
                               params={"username": "owner", "password": PASSWORD}, timeout=10)
        assert signin.status_code == 200, signin.text
        token = signin.json()["auth_token"]
        profile = requests.post(stack.url + "/api/v1/users/profile", params={"auth_token": token}, timeout=10)
        assert profile.status_code == 200
        bad = requests.post(stack.url + "/api/v1/users/profile", params={"auth_token": token + "x"}, timeout=10)
        assert bad.status_code == 401
        requests.get(stack.url + "/healthz", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        time.sleep(0.5)
    access = (tmp_path / "access.log").read_text()
    assert "/api/v1/users/signin" in access and "password=***" in access
    logs = [path for path in glob.glob(str(tmp_path / "**" / "*"), recursive=True) if os.path.isfile(path)
            and not path.endswith(".db") and "metrics-" not in path]
    assert any(path.endswith("server.log") for path in logs), logs
    for path in logs:
        with open(path, "rb") as handle:
            text = handle.read().decode(errors="replace")
        assert PASSWORD not in text, path
        assert token not in text and token.split(".", 1)[1] not in text, path
    server_log = (tmp_path / "logs" / "server.log").read_text()
    assert '"route": "/api/v1/users/signin"' in server_log and '"status": 200' in server_log
