"""Request bodies: malformed, non-object, nested and oversized JSON (400/413); NUL and lone surrogates."""
import pytest

from tests.api_helpers import assert_error, error_paths


def test_malformed_json_is_400(api, owner):
    response = api.call("POST", "/api/v1/users/signup", data='{"username": "x", ', content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"], data="{nope",
                        content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


def test_deeply_nested_json_is_400(api):
    response = api.call("POST", "/api/v1/users/signup", data="[" * 50_000, content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")
    response = api.call("POST", "/api/v1/users/signup", data='{"a":' * 20_000 + "1" + "}" * 20_000,
                        content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


@pytest.mark.parametrize("body", ["[]", '["username"]', '"text"', "42", "null", "true"])
def test_json_body_that_is_not_an_object_is_400(api, body):
    response = api.call("POST", "/api/v1/users/signup", data=body, content_type="application/json")
    assert_error(response, 400, "INVALID_JSON")


def test_malformed_json_is_400_even_with_a_bearer_token(api, owner):
    response = api.call("POST", "/api/v1/channels/list/", data="{nope", content_type="application/json",
                        headers={"Authorization": f"Bearer {owner['token']}"})
    assert_error(response, 400, "INVALID_JSON")


def test_empty_json_body_counts_as_no_fields(api):
    response = api.call("POST", "/api/v1/users/signup", data="", content_type="application/json")
    assert sorted(error_paths(response)) == ["password", "username"]


def test_non_string_fields_are_validation_errors(api):
    response = api.call("POST", "/api/v1/users/signup", json={"username": ["a"], "password": 12345678})
    assert sorted(error_paths(response)) == ["password", "username"]


def test_body_over_max_content_length_is_413(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    big = "x" * 5000
    assert_error(api.call("POST", "/api/v1/users/signup", json={"username": "big", "password": big}), 413)
    assert_error(api.call("POST", "/api/v1/users/signup", data={"username": "big", "password": big}), 413)
    response = api.call("POST", "/api/v1/users/signup", data={"username": "big", "password": big},
                        content_type="multipart/form-data")
    assert_error(response, 413)


def test_json_over_its_own_limit_is_413(api, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_JSON_BYTES", 1000)
    response = api.call("POST", "/api/v1/users/signup", json={"username": "big", "password": "p" * 2000})
    assert_error(response, 413)


def test_default_limits_accept_a_normal_request_and_refuse_a_huge_one(api, app):
    huge = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)
    assert_error(api.call("POST", "/api/v1/users/signup", data=huge, content_type="application/json"), 413)


@pytest.mark.parametrize("method,path,body,field", [
    ("POST", "/api/v1/users/signin", {"username": "ab\x00c", "password": "whatever1"}, "username"),
    ("POST", "/api/v1/users/signup", {"username": "abc", "password": "pass\x00word"}, "password"),
    ("PUT", "/api/v1/users/profile", {"about": "a\x00b"}, "about"),
    ("POST", "/api/v1/users/profile", {"user_id": "a\x00b"}, "user_id"),
    ("POST", "/api/v1/channels/create/", {"channel_name": "a\x00b"}, "channel_name"),
])
def test_nul_characters_are_refused_as_bad_input(api, owner, method, path, body, field):
    """PostgreSQL cannot hold NUL in text: it must be a 400, never reach a query."""
    assert field in error_paths(api.call(method, path, token=owner["token"], json=body))


@pytest.mark.parametrize("method,path,raw,field", [
    ("POST", "/api/v1/users/signup", '{"username": "abcd", "password": "\\ud800aaaaaaaaa"}', "password"),
    ("POST", "/api/v1/users/signin", '{"username": "abcd", "password": "\\ud800aaaaaaaaa"}', "password"),
    ("PUT", "/api/v1/users/profile", '{"about": "\\udfff"}', "about"),
    ("POST", "/api/v1/channels/create/", '{"channel_name": "x\\ud800"}', "channel_name"),
])
def test_lone_surrogates_are_refused_as_bad_input(api, owner, method, path, raw, field):
    """JSON may escape half a surrogate pair, which has no UTF-8 form: a 400, not a crash."""
    response = api.call(method, path, token=owner["token"], data=raw, content_type="application/json")
    assert field in error_paths(response)


@pytest.mark.parametrize("path", ["/api/v1/channels/a%00b/load_messages", "/api/v1/users/a%00b/roles",
                                  "/api/v1/channels/%00/delete"])
def test_nul_characters_in_the_url_match_no_route(api, owner, path):
    method = "GET" if path.endswith("load_messages") else "PUT" if path.endswith("roles") else "DELETE"
    assert_error(api.call(method, path, token=owner["token"], json={"is_admin": True}), 404)


def test_every_bad_field_is_listed_at_once_from_the_query_string(api, owner):
    response = api.call("GET", "/api/v1/reports", token=owner["token"], query={"limit": "abc", "status": "nope"})
    assert sorted(error_paths(response)) == ["limit", "status"]
    body = response.get_json()
    assert {e["message"] for e in body["errors"]} == {"must be an integer", "must be one of dismissed, open, resolved"}


def test_form_fields_are_read_with_text_numbers_and_flags(api, owner):
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"],
                        data={"channel_name": "  formed  ", "is_private": "yes"})
    assert response.status_code == 201
    assert response.get_json()["channel_data"]["channel_name"] == "formed"
    assert response.get_json()["channel_data"]["is_private"] is True
    assert error_paths(api.call("POST", "/api/v1/channels/create/", token=owner["token"],
                                data={"channel_name": "x", "is_private": "perhaps"})) == ["is_private"]


def test_a_json_field_wins_over_the_same_query_parameter(api, owner):
    response = api.call("POST", "/api/v1/channels/create/", token=owner["token"], json={"channel_name": "from-json"},
                        query={"channel_name": "from-query"})
    assert response.get_json()["channel_data"]["channel_name"] == "from-json"


def test_a_missing_file_is_missing_file(api, owner):
    response = api.call("POST", "/api/v1/cdn/upload", token=owner["token"], data={"directory": "uploads"},
                        content_type="multipart/form-data")
    body = assert_error(response, 400, "MISSING_FILE")
    assert body["errors"] == [{"path": "file", "message": "is required"}]
