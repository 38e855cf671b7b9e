"""Conventions: parameter and token transports, token checks, unknown routes, error bodies, CORS."""
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api_helpers import another_app, assert_error, error_paths, make_channel

PROFILE = "/api/v1/users/profile"


def _profile_name(response) -> str:
    assert response.status_code == 200, response.get_json()
    return response.get_json()["user_data"]["username"]


# --- auth_token transports -------------------------------------------------------------------

def test_token_from_query(api, user):
    assert _profile_name(api.call("POST", PROFILE, query={"auth_token": user["token"]})) == "alice"


def test_token_from_bearer_header(api, user):
    response = api.call("POST", PROFILE, headers={"Authorization": f"Bearer {user['token']}"})
    assert _profile_name(response) == "alice"


def test_bearer_scheme_is_case_insensitive(api, user):
    response = api.call("POST", PROFILE, headers={"Authorization": f"bearer {user['token']}"})
    assert _profile_name(response) == "alice"


def test_token_from_json_body(api, user):
    assert _profile_name(api.call("POST", PROFILE, json={"auth_token": user["token"]})) == "alice"


def test_token_from_form_body(api, user):
    assert _profile_name(api.call("POST", PROFILE, data={"auth_token": user["token"]})) == "alice"


def test_token_from_multipart_form(api, user):
    response = api.call("POST", PROFILE, data={"auth_token": user["token"]}, content_type="multipart/form-data")
    assert _profile_name(response) == "alice"


def test_token_in_json_body_of_a_get(api, owner):
    channel_id = make_channel(api, owner["token"], "general")
    response = api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", json={"auth_token": owner["token"]})
    assert response.status_code == 200


# --- refused tokens --------------------------------------------------------------------------

def test_no_token_is_401(api, owner):
    assert_error(api.call("POST", PROFILE), 401, "MISSING_AUTH_TOKEN")
    assert_error(api.call("POST", PROFILE, headers={"Authorization": "Bearer "}), 401)


@pytest.mark.parametrize("forged", ["{id}.anything", "{id}.{secret}x", "{other}.{secret}"])
def test_forged_token_is_401(api, owner, user, forged):
    """Well-formed ("<user_id>.<secret>") but not verified: 401."""
    secret = owner["token"].split(".", 1)[1]
    token = forged.format(id=owner["id"], other=user["id"], secret=secret)
    assert_error(api.call("POST", PROFILE, token=token), 401, "INVALID_AUTH_TOKEN")
    assert_error(api.call("POST", PROFILE, headers={"Authorization": f"Bearer {token}"}), 401, "INVALID_AUTH_TOKEN")


@pytest.mark.parametrize("malformed", ["{id}.", "{id}", "{id}..{secret}", "not-a-token", ".", "x" * 500,
                                       "forged.token", "{id}.{secret}" + "x" * 200])
def test_malformed_token_is_400(api, owner, user, malformed):
    """Not of the form "<user_id>.<secret>": bad input, 400 with a stable code."""
    secret = owner["token"].split(".", 1)[1]
    token = malformed.format(id=owner["id"], secret=secret)
    assert_error(api.call("POST", PROFILE, token=token), 400, "MALFORMED_AUTH_TOKEN")
    assert_error(api.call("POST", PROFILE, headers={"Authorization": f"Bearer {token}"}), 400, "MALFORMED_AUTH_TOKEN")


@pytest.mark.parametrize("raw", ['{"auth_token": "\\ud800.abc"}', '{"auth_token": "é.abc"}',
                                 '{"auth_token": 12}', '{"auth_token": ["a.b"]}'])
def test_token_that_is_not_ascii_text_is_400(api, owner, raw):
    response = api.call("POST", PROFILE, data=raw, content_type="application/json")
    assert_error(response, 400, "MALFORMED_AUTH_TOKEN")


def test_token_of_another_user_with_swapped_prefix_is_refused(api, owner, user):
    """The id before the dot must be the token's own user: no impersonation by editing it."""
    swapped = owner["id"] + "." + user["token"].split(".", 1)[1]
    assert_error(api.call("POST", PROFILE, token=swapped), 401)


def test_expired_token_is_401(api, app, user):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import AuthToken
    with app.app_context():
        db.session.execute(sa.update(AuthToken).where(AuthToken.user_id == user["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert_error(api.call("POST", PROFILE, token=user["token"]), 401, "INVALID_AUTH_TOKEN")


def test_token_about_to_expire_still_works(api, app, user):
    from app.extensions import db
    from app.ids import utcnow
    from app.models import AuthToken
    with app.app_context():
        db.session.execute(sa.update(AuthToken).where(AuthToken.user_id == user["id"])
                           .values(expires_at=utcnow() + timedelta(minutes=1)))
        db.session.commit()
    assert _profile_name(api.call("POST", PROFILE, token=user["token"])) == "alice"


def test_token_of_deleted_account_is_refused(api, app, user):
    from app.extensions import db
    from app.models import User
    with app.app_context():
        db.session.execute(sa.delete(User).where(User.id == user["id"]))
        db.session.commit()
    assert_error(api.call("POST", PROFILE, token=user["token"]), 401)


def test_expire_time_is_iso_utc_and_matches_storage(api, app):
    from app.extensions import db
    from app.models import AuthToken
    body = api.call("POST", "/api/v1/users/signup", json={"username": "zed", "password": "password1"}).get_json()
    assert body["auth_token_expire_time"].endswith("Z")
    with app.app_context():
        stored = db.session.scalar(sa.select(AuthToken.expires_at))
    assert stored.isoformat(timespec="seconds") + "Z" == body["auth_token_expire_time"]
    from app.ids import utcnow
    assert abs(stored - utcnow() - app.config["AUTH_TOKEN_TTL"]) < timedelta(minutes=1)


# --- parameters from JSON, form and query ----------------------------------------------------

@pytest.mark.parametrize("transport", ["json", "form", "query"])
def test_parameters_from_every_transport(api, owner, transport):
    fields = {"channel_name": f"via-{transport}", "is_private": "true" if transport != "json" else True}
    kwargs = {"json": fields} if transport == "json" else {"data": fields} if transport == "form" else {"query": fields}
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"], **kwargs)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["channel_data"]["channel_name"] == f"via-{transport}"
    assert response.get_json()["channel_data"]["is_private"] is True


def test_json_body_wins_over_form_and_query(api, owner):
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"], json={"channel_name": "from-json"},
                        query={"channel_name": "from-query"})
    assert response.get_json()["channel_data"]["channel_name"] == "from-json"
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"], data={"channel_name": "from-form"},
                        query={"channel_name": "from-query2"})
    assert response.get_json()["channel_data"]["channel_name"] == "from-form"


# --- unknown routes, wrong methods, error shape ----------------------------------------------

@pytest.mark.parametrize("path", ["/nope", "/api/v1/nope", "/api/v1/users/nope", "/api/v1/channels/x/nope", "/"])
def test_unknown_route_is_json_404(api, path):
    assert_error(api.call("GET", path), 404)


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/api/v1/users/signup"), ("GET", "/api/v1/users/signup"), ("PATCH", "/api/v1/users/profile"),
    ("POST", "/api/v1/info"), ("GET", "/api/v1/channels/c/send_message"), ("PUT", "/healthz"),
])
def test_wrong_method_is_json_405_with_allow(api, method, path):
    response = api.call(method, path)
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers.get("Allow")


def test_validation_error_lists_every_field(api):
    response = api.call("POST", "/api/v1/users/signup", json={"username": "a!", "password": "short"})
    assert sorted(error_paths(response)) == ["password", "username"]
    assert "username" in response.get_json()["detail"]


def test_debug_details_only_when_enabled(api, app, monkeypatch):
    plain = api.call("GET", "/api/v1/nope", query={"debug": "1"}).get_json()
    assert "debug" not in plain
    monkeypatch.setitem(app.config, "DEBUG_ERRORS", True)
    assert "debug" not in api.call("GET", "/api/v1/nope").get_json()
    debug = api.call("GET", "/api/v1/nope", query={"debug": "1"}).get_json()
    assert debug["debug"]["exception"] == "NotFound"
    debug = api.call("POST", PROFILE, query={"debug": "1"}).get_json()
    assert debug["debug"]["exception"] == "APIError" and debug["status_code"] == 401


def test_every_response_is_json_with_matching_status(api, owner, user):
    """A tour of successes and failures; the Api wrapper checks status_code == HTTP status on each."""
    channel_id = make_channel(api, owner["token"], "tour")
    calls = [
        ("GET", "/api/v1/info", None), ("GET", "/healthz", None), ("GET", "/readyz", None),
        ("POST", "/api/v1/users/profile", user["token"]), ("GET", "/api/v1/users/list", user["token"]),
        ("POST", "/api/v1/channels/list/", user["token"]), ("GET", "/api/v1/channels", None),
        ("POST", "/api/v1/channels/create/", user["token"]), ("GET", f"/api/v1/channels/{channel_id}/load_messages",
                                                             user["token"]),
        ("POST", f"/api/v1/channels/{channel_id}/send_message", user["token"]),
        ("PUT", f"/api/v1/channels/{channel_id}/mark_message_as_read", user["token"]),
        ("DELETE", f"/api/v1/channels/{channel_id}/delete_message", user["token"]),
    ]
    for method, path, token in calls:
        response = api.call(method, path, token=token)
        assert response.is_json, (method, path)


# --- CORS ------------------------------------------------------------------------------------

def test_cors_preflight_is_answered(api):
    response = api.call("OPTIONS", "/api/v1/channels/list/", headers={
        "Origin": "http://client.example:3000", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status_code == 204 and not response.data  # no body, so no text/html either
    assert response.headers["Access-Control-Allow-Origin"] == "http://client.example:3000"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "content-type" in response.headers["Access-Control-Allow-Headers"].lower()


def test_cors_headers_on_answers_and_errors(api, user):
    origin = {"Origin": "http://client.example:3000"}
    ok = api.call("POST", PROFILE, token=user["token"], headers=origin)
    assert ok.headers["Access-Control-Allow-Origin"] == "http://client.example:3000"
    refused = api.call("POST", PROFILE, headers=origin)
    assert refused.status_code == 401
    assert refused.headers["Access-Control-Allow-Origin"] == "http://client.example:3000"


def test_cors_with_explicit_origins_allows_credentials_only_for_them(app, tmp_path):
    with another_app(app, str(tmp_path), CORS_ORIGINS=["http://chat.example"]) as strict:
        client = strict.test_client()
        preflight = {"Access-Control-Request-Method": "POST"}
        allowed = client.options("/api/v1/users/signin", headers={"Origin": "http://chat.example", **preflight})
        other = client.options("/api/v1/users/signin", headers={"Origin": "http://evil.example", **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://chat.example"
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Access-Control-Allow-Origin" not in other.headers


def test_timestamps_are_iso_utc_with_z(api, owner):
    channel_id = make_channel(api, owner["token"], "times")
    api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"], json={"message": "t"})
    profile = api.call("POST", PROFILE, token=owner["token"]).get_json()["user_data"]
    channel = api.call("POST", "/api/v1/channels/list/", token=owner["token"]).get_json()["channels"][0]
    message = api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", token=owner["token"]).get_json()
    for stamp in (profile["created_at"], profile["updated_at"], channel["created_at"],
                  message["messages"][0]["sent_at"]):
        assert stamp.endswith("Z") and "T" in stamp and "+" not in stamp
