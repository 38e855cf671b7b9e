"""General routes: server info, latest release, liveness and readiness probes, the docs page."""
import json
import re

import pytest
import redis as redis_lib
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.api_helpers import another_app, assert_error


def _set_server_avatar(app, path):
    from app.extensions import db
    from app.models import ServerSettings
    with app.app_context():
        ServerSettings.get().avatar_url = path
        db.session.commit()


@pytest.fixture
def redis_down(app, monkeypatch):
    """Point the app's Redis client at a loopback port nothing listens on."""
    from app.extensions import redis
    dead = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5,
                           retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(redis, "client", dead)
    monkeypatch.setitem(app.extensions, "readyz_redis", dead)  # the probe /readyz uses


def test_info_is_public_and_complete(api):
    response = api.call("GET", "/api/v1/info")
    assert response.status_code == 200
    info = response.get_json()["server_info"]
    for field in ("server_name", "server_description", "version", "is_private", "creation_date", "avatar_url",
                  "banner_url", "welcome_message"):
        assert field in info, field
    assert info["server_name"] == "PufferBlow" and info["version"]
    assert info["creation_date"].endswith("Z")
    assert info["avatar_url"] is None


def test_info_avatar_url_is_absolute(api, app, monkeypatch):
    _set_server_avatar(app, "/api/v1/cdn/file/server.png")
    monkeypatch.setitem(app.config, "ALLOWED_HOSTS", ["localhost", "chat.example"])
    info = api.call("GET", "/api/v1/info", headers={"Host": "chat.example:7575"}).get_json()["server_info"]
    assert info["avatar_url"] == "http://chat.example:7575/api/v1/cdn/file/server.png"
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://chat.example.org")
    info = api.call("GET", "/api/v1/info").get_json()["server_info"]
    assert info["avatar_url"] == "https://chat.example.org/api/v1/cdn/file/server.png"


def test_latest_release_works_offline(api, app):
    response = api.call("GET", "/api/v1/system/latest-release")
    assert response.status_code == 200
    release = response.get_json()["release"]
    assert release["version"] == app.config["SERVER_VERSION"]
    assert {"version", "url", "published_at"} <= set(release)


def test_latest_release_reports_a_known_release(api, app):
    from app import keys
    from app.extensions import redis
    known = {"version": "9.9.9", "url": "https://example.org/r/9.9.9", "published_at": "2026-01-01T00:00:00Z"}
    with app.app_context():
        redis.set(keys.latest_release(), json.dumps(known))
    release = api.call("GET", "/api/v1/system/latest-release").get_json()["release"]
    assert {key: release[key] for key in known} == known


def test_latest_release_answers_without_redis(api, redis_down):
    response = api.call("GET", "/api/v1/system/latest-release")
    assert response.status_code == 200 and response.get_json()["release"]["version"]


def test_healthz(api):
    response = api.call("GET", "/healthz")
    assert response.status_code == 200 and response.get_json()["status"] == "ok"


def test_readyz_when_everything_answers(api):
    response = api.call("GET", "/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}


def test_readyz_is_503_without_redis(api, redis_down):
    body = assert_error(api.call("GET", "/readyz"), 503)
    assert body["checks"]["database"] == "ok" and body["checks"]["redis"].startswith("error")
    assert api.call("GET", "/healthz").status_code == 200


def test_readyz_answers_503_quickly_while_redis_hangs(api, app, monkeypatch):
    """A Redis that accepts connections and never answers: /readyz waits only READYZ_REDIS_TIMEOUT."""
    import socket
    import time
    with socket.create_server(("127.0.0.1", 0)) as silent:
        monkeypatch.setitem(app.extensions, "readyz_redis", redis_lib.Redis(
            host="127.0.0.1", port=silent.getsockname()[1], socket_timeout=app.config["READYZ_REDIS_TIMEOUT"],
            socket_connect_timeout=app.config["READYZ_REDIS_TIMEOUT"], retry=Retry(NoBackoff(), 0)))
        started = time.monotonic()
        body = assert_error(api.call("GET", "/readyz"), 503)
        assert time.monotonic() - started < app.config["READYZ_REDIS_TIMEOUT"] + 0.5
        assert body["checks"]["redis"].startswith("error")


def test_readyz_is_503_without_the_database(app, tmp_path):
    """A second app whose database does not answer."""
    with another_app(app, str(tmp_path), SQLALCHEMY_DATABASE_URI="postgresql://postgres@127.0.0.1:1/nothing",
                     SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"connect_timeout": 2}}) as broken:
        body = assert_error(broken.test_client().get("/readyz"), 503)
    assert body["checks"]["database"].startswith("error") and body["checks"]["redis"] == "ok"


def test_docs_page_renders(api):
    response = api.call("GET", "/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "openapi.json" in page and "<script>" in page and "SwaggerUIBundle" in page


def test_docs_page_loads_swagger_ui_from_this_server_only(api):
    page = api.call("GET", "/docs").get_data(as_text=True)
    assert "validatorUrl: null" in page  # the online validator would send the document out
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(not re.match(r"[a-z]+:|//", url) for url in assets), assets
    for url in assets:
        response = api.call("GET", "/" + url)
        assert response.status_code == 200 and len(response.data) > 100, url
    script = api.call("GET", "/docs/swagger-ui-bundle.js")
    assert "javascript" in script.mimetype and b"SwaggerUIBundle" in script.data
    assert "css" in api.call("GET", "/docs/swagger-ui.css").mimetype


def test_docs_serves_only_the_bundles_files(api):
    for name in ("__init__.py", "index.j2", "..%2F__init__.py", "swagger-ui.js.map"):
        assert_error(api.call("GET", f"/docs/{name}"), 404)
