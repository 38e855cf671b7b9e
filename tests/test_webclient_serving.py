"""A built single-page client served from WEB_CLIENT_DIR at /, beside the API on one origin."""
import pytest

from app.openapi import undocumented_rules
from tests.api_helpers import Api, another_app, assert_error

INDEX = b"<!doctype html><title>client</title><script src=/assets/app.3f2a1b.js></script>"
SCRIPT = b"console.log('client')"


@pytest.fixture
def client_app(app, tmp_path):
    build = tmp_path / "dist"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_bytes(INDEX)
    (build / "assets" / "app.3f2a1b.js").write_bytes(SCRIPT)
    (build / "assets" / "plain.js").write_bytes(b"1")
    (build / "favicon.ico").write_bytes(b"icon")
    (tmp_path / "secret.txt").write_bytes(b"outside the build")
    with another_app(app, str(tmp_path / "data"), WEB_CLIENT_DIR=str(build)) as served:
        yield served


@pytest.fixture
def web(client_app):
    return Api(client_app.test_client())


def test_index_and_client_routes(web):
    for path in ("/", "/some/client/route", "/login", "/channels/abc-123"):
        response = web.call("GET", path)
        assert response.status_code == 200, path
        assert response.data == INDEX and response.mimetype == "text/html"
        assert response.headers["Cache-Control"] == "no-cache"


def test_hashed_assets_are_cached_for_a_year(web):
    response = web.call("GET", "/assets/app.3f2a1b.js")
    assert response.status_code == 200 and response.data == SCRIPT
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    for path in ("/assets/plain.js", "/favicon.ico"):  # not hashed: a short lifetime
        response = web.call("GET", path)
        assert response.status_code == 200 and "immutable" not in response.headers["Cache-Control"]
        assert "max-age=300" in response.headers["Cache-Control"]


def test_missing_files_are_404_not_index(web):
    for path in ("/assets/gone.a1b2c3.js", "/robots.txt", "/assets/chunk"):
        response = web.call("GET", path)
        assert response.status_code == 404 and response.data != INDEX, path


@pytest.mark.parametrize("path", ["/../secret.txt", "/assets/../../secret.txt", "/%2e%2e/secret.txt",
                                  "/assets/..%2F..%2Fsecret.txt", "/..%5Csecret.txt"])
def test_paths_outside_the_build_are_refused(web, path):
    response = web.call("GET", path)
    assert b"outside the build" not in response.data
    assert response.status_code == 404 or response.data == INDEX


def test_the_api_keeps_precedence(web, owner):
    assert web.call("GET", "/healthz").get_json()["status"] == "ok"
    assert web.call("GET", "/api/v1/info").status_code == 200
    assert web.call("GET", "/openapi.json").is_json
    assert web.call("GET", "/docs").data != INDEX
    assert web.call("GET", "/readyz").is_json
    for path in ("/api/v1/nope", "/api", "/api/", "/cdn/nope", "/ws/nope", "/healthz/x"):
        assert_error(web.call("GET", path), 404)
    assert_error(web.call("GET", "/api/v1/users/signup"), 405, "METHOD_NOT_ALLOWED")
    assert_error(web.call("POST", "/some/client/route"), 405)
    token = web.signup("webuser")["token"]
    assert web.call("GET", "/api/v1/users/profile", token=token).get_json()["user_data"]["username"] == "webuser"


def test_without_the_setting_nothing_is_served_at_root(api, app):
    assert_error(api.call("GET", "/"), 404)
    assert_error(api.call("GET", "/some/client/route"), 404)


def test_client_routes_are_documented(client_app):
    assert undocumented_rules(client_app) == []
