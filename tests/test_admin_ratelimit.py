"""Rate limits on the shared Redis storage: headers, 429s, per-IP / per-user / owner limits, sign-in limit,
WebSocket frames and a storage that does not answer."""
import logging
import socket
import time
import uuid

import pytest

from app.limits.limiter import frame_allowed
from app.limits.storage import UNREACHABLE
from tests.api_helpers import PASSWORD, Api


@pytest.fixture
def limited(app, services):
    """A second app from the factory with rate limiting on (the suite's app keeps it off)."""
    from app import create_app

    def build(**overrides):
        flask_app = create_app("config.TestConfig", DATA_DIR=services["data_dir"], REDIS_URL=services["redis_url"],
                               SQLALCHEMY_DATABASE_URI=services["database_url"], **{"RATELIMIT_ENABLED": True, **overrides})
        return Api(flask_app.test_client())
    yield build
    app.extensions["celery"].set_default()  # the factory made the last app's Celery the default and current
    app.extensions["celery"].set_current()


def from_ip(api, address, method="GET", path="/api/v1/info", **kwargs):
    return api.call(method, path, environ_base={"REMOTE_ADDR": address}, **kwargs)


def test_default_limits_and_headers_on_every_response(limited):
    api = limited()
    owner = api.signup("owner")
    user = api.signup("alice")
    cases = [(None, "GET", "/api/v1/info", 200, "100"), (None, "GET", "/no/such/route", 404, "100"),
             ("bad.token", "POST", "/api/v1/users/profile", 400, "100"),  # malformed: 400, counted as anonymous
             (user["token"], "POST", "/api/v1/users/profile", 200, "200"),
             (owner["token"], "POST", "/api/v1/users/profile", 200, "500")]
    for token, method, path, status, limit in cases:
        response = api.call(method, path, token=token)
        assert response.status_code == status
        headers = response.headers
        assert headers["X-RateLimit-Limit"] == limit, path
        assert 0 <= int(headers["X-RateLimit-Remaining"]) < int(limit)
        assert 0 < int(headers["X-RateLimit-Reset"]) - time.time() <= 61
        assert 0 <= int(headers["X-RateLimit-Reset-After"]) <= 61


def test_anonymous_limit_per_address_with_429_body(limited):
    api = limited(RATELIMIT_ANONYMOUS="5/minute")
    remaining = [int(from_ip(api, "10.0.0.1").headers["X-RateLimit-Remaining"]) for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    refused = from_ip(api, "10.0.0.1")
    assert refused.status_code == 429
    body = refused.get_json()
    assert body["status_code"] == 429 and body["code"] == "RATE_LIMITED" and body["detail"]
    assert 1 <= body["retry_after"] <= 60
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["X-RateLimit-Remaining"] == "0"
    assert from_ip(api, "10.0.0.2").status_code == 200  # another address has its own count


def test_signed_in_users_are_counted_per_account(limited):
    api = limited(RATELIMIT_USER="4/minute", RATELIMIT_OWNER="8/minute", RATELIMIT_ANONYMOUS="50/minute")
    owner, user = api.signup("owner"), api.signup("alice")
    statuses = [api.call("POST", "/api/v1/users/profile", token=user["token"],
                         environ_base={"REMOTE_ADDR": f"10.0.1.{n}"}).status_code for n in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # a new address does not reset an account's count
    owner_statuses = [api.call("POST", "/api/v1/users/profile", token=owner["token"]).status_code for _ in range(9)]
    assert owner_statuses == [200] * 8 + [429]
    assert from_ip(api, "10.0.1.0").status_code == 200  # the address itself is not used up


def test_sign_in_and_sign_up_share_a_stricter_per_address_limit(limited):
    api = limited(RATELIMIT_AUTH="3/minute")
    assert from_ip(api, "10.0.2.1", "POST", "/api/v1/users/signup",
                   json={"username": "owner", "password": PASSWORD}).status_code == 201
    signin = {"username": "owner", "password": "wrong password"}
    statuses = [from_ip(api, "10.0.2.1", "POST", "/api/v1/users/signin", json=signin).status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    refused = from_ip(api, "10.0.2.1", "POST", "/api/v1/users/signin", json={**signin, "password": PASSWORD})
    assert refused.status_code == 429 and refused.headers["X-RateLimit-Limit"] == "3"
    assert from_ip(api, "10.0.2.1").status_code == 200  # other routes keep the general limit
    assert from_ip(api, "10.0.2.2", "POST", "/api/v1/users/signin",
                   json={**signin, "password": PASSWORD}).status_code == 200


def test_disabled_limiter_sends_no_headers(api):
    response = api.call("GET", "/api/v1/info")
    assert response.status_code == 200 and "X-RateLimit-Limit" not in response.headers


def test_batched_counting_reaches_the_shared_count(limited, app):
    """Two apps stand for two worker processes: each counts locally and syncs at most every 0.3 s."""
    import redis as redis_lib

    first = limited(RATELIMIT_ANONYMOUS="1000/minute", RATELIMIT_SYNC_SECONDS=0.3)
    second = limited(RATELIMIT_ANONYMOUS="1000/minute", RATELIMIT_SYNC_SECONDS=0.3)
    store = redis_lib.Redis.from_url(app.config["REDIS_URL"])

    def shared_count():
        keys = store.keys("LIMITS:*ip:10.0.3.1/global*")
        return int(store.get(keys[0])) if keys else 0

    remaining = [int(from_ip(first, "10.0.3.1").headers["X-RateLimit-Remaining"]) for _ in range(5)]
    assert remaining == [999, 998, 997, 996, 995]  # this process's own view is exact
    assert shared_count() == 1  # the first hit synced; the next four wait for the interval
    time.sleep(0.35)
    assert int(from_ip(first, "10.0.3.1").headers["X-RateLimit-Remaining"]) == 994
    assert shared_count() == 6
    assert int(from_ip(second, "10.0.3.1").headers["X-RateLimit-Remaining"]) == 993  # sees the other's hits


def test_near_the_limit_every_request_syncs(limited, app):
    """Far from the limit hits wait for the interval; within 10% of it every hit goes to Redis."""
    first = limited(RATELIMIT_ANONYMOUS="10/minute", RATELIMIT_SYNC_SECONDS=60)
    second = limited(RATELIMIT_ANONYMOUS="10/minute", RATELIMIT_SYNC_SECONDS=60)
    assert [from_ip(first, "10.0.4.1").status_code for _ in range(9)] == [200] * 9  # the 9th synced all nine
    last = from_ip(second, "10.0.4.1")
    assert last.status_code == 200 and last.headers["X-RateLimit-Remaining"] == "0"
    assert from_ip(second, "10.0.4.1").status_code == 429
    assert from_ip(first, "10.0.4.1").status_code == 429


def test_websocket_frames_share_one_count_per_user_across_processes(limited):
    """Two apps stand for two processes; frames are counted even where HTTP limits are off."""
    settings = {"REALTIME_FRAME_LIMIT": 5, "REALTIME_FRAME_WINDOW": 60}
    first = limited(**settings).client.application
    second = limited(RATELIMIT_ENABLED=False, **settings).client.application
    user = uuid.uuid4().hex
    answers = []
    for index in range(7):
        with (first if index % 2 else second).app_context():
            answers.append(frame_allowed(user))
    assert [allowed for allowed, _ in answers] == [True] * 5 + [False] * 2
    assert all(1 <= retry_after <= 61 for _, retry_after in answers)
    with first.app_context():
        assert frame_allowed(uuid.uuid4().hex)[0]  # another user has a count of their own


def test_unreachable_storage_counts_in_this_process(limited, caplog):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = limited(RATELIMIT_STORAGE_URI=f"pufferblow+redis://127.0.0.1:{port}/0", RATELIMIT_ANONYMOUS="3/minute",
                  RATELIMIT_RECOVERY_SECONDS=60)
    with caplog.at_level(logging.WARNING):
        responses = [from_ip(api, "10.0.5.1") for _ in range(4)]
    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [response.headers["X-RateLimit-Remaining"] for response in responses] == ["2", "1", "0", "0"]
    assert UNREACHABLE in caplog.text
