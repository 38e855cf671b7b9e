"""Small helpers the HTTP tests share: the API client, channels, messages, error-shape checks, a second app."""
import os
import time
from contextlib import contextmanager

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "correct horse battery"


class Api:
    """A client that speaks the API as a script would: JSON by default, any token transport."""

    def __init__(self, flask_client):
        self.client = flask_client

    def call(self, method, path, token=None, json=None, data=None, query=None, headers=None, **kwargs):
        query = dict(query or {})
        if token is not None:
            query.setdefault("auth_token", token)
        response = self.client.open(path, method=method, json=json, data=data, query_string=query,
                                    headers=headers or {}, **kwargs)
        # The contract's first promise, checked on every call any test makes.
        if response.is_json and path != "/openapi.json":
            assert response.get_json()["status_code"] == response.status_code, response.get_json()
        return response

    def signup(self, username, password=PASSWORD):
        response = self.call("POST", "/api/v1/users/signup", json={"username": username, "password": password})
        assert response.status_code == 201, response.get_json()
        token = response.get_json()["auth_token"]
        return {"username": username, "token": token, "id": token.split(".", 1)[0]}


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is a JSON error {status_code, detail, code} with this status (and code)."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json, response.get_data(as_text=True)[:200]
    body = response.get_json()
    assert body["status_code"] == status
    assert isinstance(body["detail"], str) and body["detail"]
    assert isinstance(body["code"], str) and body["code"].isupper()
    if code is not None:
        assert body["code"] == code, body
    return body


def error_paths(response) -> list[str]:
    """The field paths of a validation error (400 INVALID_FORM_BODY)."""
    body = assert_error(response, 400, "INVALID_FORM_BODY")
    assert all(isinstance(e["message"], str) and e["message"] for e in body["errors"])
    return [e["path"] for e in body["errors"]]


def make_channel(api, token: str, name: str, private: bool = False) -> str:
    response = api.call("POST", "/api/v1/channels/create/", token=token,
                        json={"channel_name": name, "is_private": private})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["channel_data"]["channel_id"]


def send(api, token: str, channel_id: str, text: str) -> str:
    response = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=token, json={"message": text})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["message_id"]


def load(api, token: str, channel_id: str, **query) -> list[dict]:
    response = api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", token=token, query=query)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["messages"]


def add_member(api, token: str, channel_id: str, user_id: str) -> None:
    response = api.call("PUT", f"/api/v1/channels/{channel_id}/add_user", token=token,
                        json={"to_add_user_id": user_id})
    assert response.status_code == 200, response.get_json()


def channel_entry(api, token: str, channel_id: str) -> dict | None:
    """This user's entry for a channel in /channels/list/, or None when it is hidden."""
    response = api.call("POST", "/api/v1/channels/list/", token=token)
    assert response.status_code == 200, response.get_json()
    return next((c for c in response.get_json()["channels"] if c["channel_id"] == channel_id), None)


@contextmanager
def another_app(app, data_dir: str, **overrides):
    """A second app from the factory with other settings; the suite's app is rebound afterwards."""
    from app import create_app
    from app.extensions import redis
    settings = {"DATA_DIR": data_dir, "REDIS_URL": app.config["REDIS_URL"],
                "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"], **overrides}
    try:
        yield create_app("config.TestConfig", **settings)
    finally:
        # The factory binds the shared Redis client and the default Celery app to the newest app.
        redis.init_app(app)
        app.extensions["celery"].set_default()


def declare_queues(app) -> None:
    """Declare the Celery queue bindings again: each test starts with a flushed Redis."""
    celery = app.extensions["celery"]
    with celery.connection_for_write() as connection:
        for queue in celery.amqp.queues.values():
            queue.bind(connection).declare()


def eventually(condition, timeout: float = 20.0, interval: float = 0.05) -> bool:
    """Poll condition() until it is true (True) or timeout seconds have passed (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False
