"""POST /system/logs and /system/logs/clear over the server's own log file."""
import json
import logging
import os
import stat

from app import logs
from app.logs import log_path
from tests.api_helpers import Api, another_app, assert_error, error_paths

LOGS = "/api/v1/system/logs"


def _write(app, entries):
    path = log_path(app)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        for level, logger, message in entries:
            handle.write(json.dumps({"timestamp": "2026-01-01T00:00:00.000+00:00", "level": level,
                                     "logger": logger, "message": message}) + "\n")
    return path


def test_roles(api, app, owner, admin):
    _write(app, [("INFO", "x", "hello")])
    assert api.call("POST", LOGS, token=owner["token"]).status_code == 200
    assert_error(api.call("POST", LOGS, token=admin["token"]), 403)
    assert_error(api.call("POST", LOGS), 401)
    assert_error(api.call("POST", LOGS + "/clear", token=admin["token"]), 403)
    assert_error(api.call("POST", LOGS + "/clear"), 401)


def test_newest_lines_oldest_first_with_filters(api, app, owner):
    entries = [("DEBUG", "app.a", f"debug {i}") for i in range(3)] + [("INFO", "app.b", f"info {i}") for i in range(300)]
    entries += [("WARNING", "app.c", "disk almost full"), ("ERROR", "app.d", "Boom happened"),
                ("CRITICAL", "app.e", "down")]
    _write(app, entries)
    body = api.call("POST", LOGS, token=owner["token"], json={"lines": 2}).get_json()
    assert body["status_code"] == 200 and body["total_lines"] == len(entries) and body["filtered"] is False
    assert [e["message"] for e in body["logs"]] == ["Boom happened", "down"]
    assert set(body["logs"][0]) == {"timestamp", "level", "logger", "message"}
    assert len(api.call("POST", LOGS, token=owner["token"]).get_json()["logs"]) == 100  # the default
    warn = api.call("POST", LOGS, token=owner["token"], json={"level": "warning"}).get_json()
    assert [e["level"] for e in warn["logs"]] == ["WARNING", "ERROR", "CRITICAL"] and warn["filtered"] is True
    found = api.call("POST", LOGS, token=owner["token"], query={"search": "BOOM"}).get_json()
    assert [e["message"] for e in found["logs"]] == ["Boom happened"]
    both = api.call("POST", LOGS, token=owner["token"], json={"search": "info 29", "level": "INFO", "lines": 5000})
    assert [e["message"] for e in both.get_json()["logs"]] == ["info 29"] + [f"info {i}" for i in range(290, 300)]
    debug = api.call("POST", LOGS, token=owner["token"], json={"level": "DEBUG", "lines": 5000}).get_json()
    assert len(debug["logs"]) == len(entries)


def test_validation(api, app, owner):
    for body, path in (({"lines": 0}, "lines"), ({"lines": 5001}, "lines"), ({"lines": "many"}, "lines"),
                       ({"level": "LOUD"}, "level"), ({"search": 5}, "search"), ({"search": "x" * 201}, "search")):
        assert error_paths(api.call("POST", LOGS, token=owner["token"], json=body)) == [path], body


def test_requests_are_logged_and_clear_empties_the_file(api, app, owner, tmp_path):
    request_log = logging.getLogger(logs.REQUEST_LOGGER)
    saved = request_log.level
    try:
        # An app with a data dir of its own: the log file is created by the server, not the test.
        with another_app(app, str(tmp_path), LOG_REQUESTS=True) as fresh:
            client = Api(fresh.test_client())
            client.call("GET", "/api/v1/info")
            path = log_path(fresh)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            found = client.call("POST", LOGS, token=owner["token"], json={"search": "/api/v1/info"}).get_json()["logs"]
            assert found and found[-1]["logger"] == "pufferblow.request"
            assert found[-1]["message"] == "GET /api/v1/info 200"
            with open(path) as handle:
                lines = [json.loads(line) for line in handle if "/api/v1/info" in line]
            assert {"request_id", "route", "status", "duration_ms", "user_id"} <= set(lines[-1])
            cleared = client.call("POST", LOGS + "/clear", token=owner["token"])
            assert cleared.status_code == 200 and cleared.get_json()["cleared_bytes"] > 0
            after = client.call("POST", LOGS, token=owner["token"], json={"search": "/api/v1/info"}).get_json()
            assert after["logs"] == []
    finally:
        request_log.setLevel(saved)
        logs.setup_logging(app)  # the suite's app writes to its own data dir again
