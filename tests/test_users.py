"""Roles and users: accounts, sign-in, profiles, tokens, the user list and the admin role."""
import pytest

from tests.api_helpers import PASSWORD, assert_error, error_paths

SIGNUP = "/api/v1/users/signup"
SIGNIN = "/api/v1/users/signin"
PROFILE = "/api/v1/users/profile"
RESET = "/api/v1/users/profile/reset-auth-token"
LIST = "/api/v1/users/list"


def _signup(api, username, password=PASSWORD):
    return api.call("POST", SIGNUP, json={"username": username, "password": password})


def _me(api, token) -> dict:
    response = api.call("POST", PROFILE, token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["user_data"]


def _roles(api, owner_token, user_id, **body):
    return api.call("PUT", f"/api/v1/users/{user_id}/roles", token=owner_token, json=body)


# --- sign-up ---------------------------------------------------------------------------------

def test_signup_answers_201_with_a_token(api):
    response = _signup(api, "first")
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "Account created successfully"
    user_id, secret = body["auth_token"].split(".", 1)
    assert len(secret) >= 32
    assert body["auth_token_expire_time"].endswith("Z")
    assert _me(api, body["auth_token"])["user_id"] == user_id


def test_first_account_is_owner_and_later_ones_are_users(api):
    first = api.signup("first")
    second = api.signup("second")
    assert _me(api, first["token"])["roles_ids"] == ["owner", "admin", "user"]
    me = _me(api, second["token"])
    assert me["roles_ids"] == ["user"] and me["is_owner"] is False and me["is_admin"] is False


@pytest.mark.parametrize("username", ["abc", "a" * 32, "A.b-c_9", "___", "Zoë"[:2] + "e"])
def test_valid_usernames(api, username):
    assert _signup(api, username).status_code == 201


@pytest.mark.parametrize("username", ["ab", "a" * 33, "has space", "at@sign", "Zoë", "tab\tname", "", "a/b",
                                      "emoji😀x", "a" * 100])
def test_invalid_usernames(api, username):
    assert error_paths(_signup(api, username)) == ["username"]


def test_usernames_are_unique_regardless_of_case(api):
    api.signup("Alice")
    assert_error(_signup(api, "alice"), 409, "USERNAME_TAKEN")
    assert_error(_signup(api, "ALICE"), 409, "USERNAME_TAKEN")
    assert_error(_signup(api, "Alice"), 409, "USERNAME_TAKEN")


@pytest.mark.parametrize("password", ["12345678", "x" * 72, "é" * 36, "é" * 4, "pass word", "ünïcødé!"])
def test_valid_passwords(api, password):
    assert _signup(api, "pw_user", password).status_code == 201
    assert api.call("POST", SIGNIN, json={"username": "pw_user", "password": password}).status_code == 200


@pytest.mark.parametrize("password", ["1234567", "", "x" * 73, "é" * 37, "😀😀😀" + "x" * 61, "ab"])
def test_invalid_passwords(api, password):
    """8 to 72 UTF-8 bytes: bcrypt would silently ignore anything past byte 72."""
    assert error_paths(_signup(api, "pw_user", password)) == ["password"]


def test_signup_requires_both_fields(api):
    assert sorted(error_paths(api.call("POST", SIGNUP))) == ["password", "username"]
    assert error_paths(api.call("POST", SIGNUP, json={"username": "solo"})) == ["password"]


def test_signup_by_form_and_query(api):
    assert api.call("POST", SIGNUP, data={"username": "formy", "password": PASSWORD}).status_code == 201
    assert api.call("POST", SIGNUP, query={"username": "query", "password": PASSWORD}).status_code == 201


# --- sign-in ---------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signin_gives_a_new_working_token(api, method):
    account = api.signup("carol")
    kwargs = {"query": {"username": "carol", "password": PASSWORD}} if method == "GET" else \
        {"json": {"username": "carol", "password": PASSWORD}}
    response = api.call(method, SIGNIN, **kwargs)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "Signin successfully"
    assert body["auth_token"] != account["token"]
    assert body["auth_token"].split(".")[0] == account["id"]
    assert body["auth_token_expire_time"].endswith("Z")
    # Each sign-in is its own session: the first token still works too.
    assert _me(api, body["auth_token"])["username"] == "carol"
    assert _me(api, account["token"])["username"] == "carol"


def test_signin_username_is_case_insensitive(api):
    api.signup("Carol")
    response = api.call("POST", SIGNIN, json={"username": "cAROL", "password": PASSWORD})
    assert response.status_code == 200
    assert _me(api, response.get_json()["auth_token"])["username"] == "Carol"


def test_signin_does_not_reveal_which_accounts_exist(api):
    api.signup("carol")
    wrong_password = api.call("POST", SIGNIN, json={"username": "carol", "password": "wrong password"})
    unknown_user = api.call("POST", SIGNIN, json={"username": "nobody", "password": "wrong password"})
    body_a, body_b = assert_error(wrong_password, 401), assert_error(unknown_user, 401)
    assert body_a == body_b


def test_unknown_user_costs_as_much_as_a_wrong_password(api, app, monkeypatch):
    """No enumeration by timing: a miss must run bcrypt at the configured cost too."""
    import time
    monkeypatch.setitem(app.config, "BCRYPT_ROUNDS", 10)
    api.signup("slowhash")

    def fastest(username):
        timings = []
        for _ in range(3):
            start = time.perf_counter()
            assert api.call("POST", SIGNIN, json={"username": username, "password": "wrong password"}) \
                .status_code == 401
            timings.append(time.perf_counter() - start)
        return min(timings)

    known, unknown = fastest("slowhash"), fastest("nobody-here")
    assert unknown > known / 2, (known, unknown)


def test_signin_refuses_bad_input(api):
    assert sorted(error_paths(api.call("POST", SIGNIN))) == ["password", "username"]
    assert_error(api.call("POST", SIGNIN, json={"username": "carol", "password": "x" * 100}), 401)


# --- profiles --------------------------------------------------------------------------------

def test_own_profile_has_every_field(api, user):
    data = _me(api, user["token"])
    for field in ("user_id", "username", "about", "avatar_url", "banner_url", "status", "roles", "roles_ids",
                  "last_seen", "created_at", "updated_at"):
        assert field in data, field
    assert data["user_id"] == user["id"] and data["username"] == "alice"
    assert data["status"] in {"online", "offline", "idle", "dnd"}
    assert data["roles_ids"] == ["user"]


def test_other_users_profile_is_public(api, user, other_user):
    response = api.call("POST", PROFILE, token=user["token"], json={"user_id": other_user["id"]})
    assert response.status_code == 200
    data = response.get_json()["user_data"]
    assert data["user_id"] == other_user["id"] and data["username"] == "bob"
    assert "roles_ids" in data
    assert "last_seen" not in data


def test_profile_of_unknown_user_is_404(api, user):
    assert_error(api.call("POST", PROFILE, token=user["token"], json={"user_id": "no-such-user"}), 404, "UNKNOWN_USER")


def test_profile_needs_a_token(api, user):
    assert_error(api.call("POST", PROFILE, json={"user_id": user["id"]}), 401)


def test_update_every_field_at_once(api, user):
    response = api.call("PUT", PROFILE, token=user["token"], json={
        "new_username": "alicia", "status": "dnd", "about": "hello there",
        "new_password": "new password!", "old_password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"]
    assert sorted(body["updated_fields"]) == ["about", "password", "status", "username"]
    data = _me(api, user["token"])
    assert (data["username"], data["status"], data["about"]) == ("alicia", "dnd", "hello there")
    assert_error(api.call("POST", SIGNIN, json={"username": "alicia", "password": PASSWORD}), 401)
    assert api.call("POST", SIGNIN, json={"username": "alicia", "password": "new password!"}).status_code == 200
    assert_error(api.call("POST", SIGNIN, json={"username": "alice", "password": "new password!"}), 401)


@pytest.mark.parametrize("status", ["online", "offline", "idle", "dnd"])
def test_every_status_value(api, user, status):
    response = api.call("PUT", PROFILE, token=user["token"], json={"status": status})
    assert response.get_json()["updated_fields"] == ["status"]
    assert _me(api, user["token"])["status"] == status


@pytest.mark.parametrize("body,path", [
    ({"status": "away"}, "status"), ({"status": "ONLINE"}, "status"), ({"status": 1}, "status"),
    ({"new_username": "x"}, "new_username"), ({"new_username": "bad name"}, "new_username"),
    ({"about": "a" * 1001}, "about"), ({"new_password": "short", "old_password": PASSWORD}, "new_password"),
    ({"new_password": "long enough password"}, "old_password"), ({}, "body"),
    ({"new_password": "é" * 37, "old_password": PASSWORD}, "new_password"),
])
def test_update_refuses_bad_fields(api, user, body, path):
    assert path in error_paths(api.call("PUT", PROFILE, token=user["token"], json=body))


def test_update_with_bad_field_applies_nothing(api, user):
    response = api.call("PUT", PROFILE, token=user["token"], json={"about": "changed", "status": "away"})
    assert error_paths(response) == ["status"]
    assert _me(api, user["token"])["about"] == ""


def test_wrong_old_password_is_401_and_applies_nothing(api, user):
    response = api.call("PUT", PROFILE, token=user["token"], json={
        "new_password": "another password", "old_password": "not my password", "new_username": "mallory"})
    assert_error(response, 401)
    assert _me(api, user["token"])["username"] == "alice"
    assert api.call("POST", SIGNIN, json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_new_username_taken_regardless_of_case(api, user, other_user):
    assert_error(api.call("PUT", PROFILE, token=user["token"], json={"new_username": "BOB"}), 409, "USERNAME_TAKEN")
    assert _me(api, user["token"])["username"] == "alice"


def test_changing_the_case_of_your_own_name(api, user):
    response = api.call("PUT", PROFILE, token=user["token"], json={"new_username": "ALICE"})
    assert response.get_json()["updated_fields"] == ["username"]
    assert api.call("POST", SIGNIN, json={"username": "alice", "password": PASSWORD}).status_code == 200


def test_renamed_user_frees_the_old_name(api, user):
    api.call("PUT", PROFILE, token=user["token"], json={"new_username": "alicia"})
    assert _signup(api, "alice").status_code == 201


def test_update_by_form(api, user):
    response = api.call("PUT", PROFILE, data={"auth_token": user["token"], "status": "idle"})
    assert response.status_code == 200
    assert _me(api, user["token"])["status"] == "idle"


def test_update_needs_a_token(api, user):
    assert_error(api.call("PUT", PROFILE, json={"status": "idle"}), 401)


# --- reset-auth-token ------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_reset_auth_token_kills_every_old_token_at_once(api, user, method):
    second = api.call("POST", SIGNIN, json={"username": "alice", "password": PASSWORD}).get_json()["auth_token"]
    response = api.call(method, RESET, token=user["token"], json={"password": PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "auth_token reset successfully"
    assert body["auth_token_expire_time"].endswith("Z")
    assert_error(api.call("POST", PROFILE, token=user["token"]), 401)
    assert_error(api.call("POST", PROFILE, token=second), 401)
    assert _me(api, body["auth_token"])["username"] == "alice"


def test_reset_auth_token_wrong_password_keeps_the_token(api, user):
    assert_error(api.call("POST", RESET, token=user["token"], json={"password": "not my password"}), 401)
    assert _me(api, user["token"])["username"] == "alice"


def test_reset_auth_token_refusals(api, user):
    assert error_paths(api.call("POST", RESET, token=user["token"])) == ["password"]
    assert_error(api.call("POST", RESET, json={"password": PASSWORD}), 401)
    assert_error(api.call("POST", RESET, token=user["id"] + ".forged", json={"password": PASSWORD}), 401)


def test_reset_auth_token_does_not_touch_other_users(api, user, other_user):
    api.call("POST", RESET, token=user["token"], json={"password": PASSWORD})
    assert _me(api, other_user["token"])["username"] == "bob"


# --- the user list ---------------------------------------------------------------------------

def test_user_list_fields(api, owner, admin, user):
    response = api.call("GET", LIST, token=user["token"])
    assert response.status_code == 200
    users = {u["username"]: u for u in response.get_json()["users"]}
    assert set(users) == {"owner", "admin", "alice"}
    for entry in users.values():
        for field in ("user_id", "username", "status", "created_at", "is_owner", "is_admin"):
            assert field in entry, field
    assert (users["owner"]["is_owner"], users["owner"]["is_admin"]) == (True, True)
    assert (users["admin"]["is_owner"], users["admin"]["is_admin"]) == (False, True)
    assert (users["alice"]["is_owner"], users["alice"]["is_admin"]) == (False, False)
    assert users["alice"]["user_id"] == user["id"]


def test_user_list_needs_a_token(api, user):
    assert_error(api.call("GET", LIST), 401)
    assert_error(api.call("GET", LIST, token=user["id"] + ".anything"), 401)


# --- roles (owner only) ----------------------------------------------------------------------

def test_owner_grants_and_revokes_admin(api, owner, user):
    response = _roles(api, owner["token"], user["id"], is_admin=True)
    assert response.status_code == 200
    assert response.get_json()["user_data"]["is_admin"] is True
    assert _me(api, user["token"])["roles_ids"] == ["admin", "user"]
    assert api.call("POST", "/api/v1/channels/create/", token=user["token"],
                    json={"channel_name": "staff-made"}).status_code == 201

    response = _roles(api, owner["token"], user["id"], is_admin="false")
    assert response.status_code == 200
    assert _me(api, user["token"])["roles_ids"] == ["user"]
    assert_error(api.call("POST", "/api/v1/channels/create/", token=user["token"], json={"channel_name": "again"}), 403)


def test_roles_route_accepts_post_and_form(api, owner, user):
    response = api.call("POST", f"/api/v1/users/{user['id']}/roles", data={"auth_token": owner["token"],
                                                                           "is_admin": "true"})
    assert response.status_code == 200
    assert "admin" in _me(api, user["token"])["roles_ids"]


def test_only_the_owner_grants_roles(api, owner, admin, user, other_user):
    assert_error(_roles(api, admin["token"], user["id"], is_admin=True), 403, "MISSING_ACCESS")
    assert_error(_roles(api, user["token"], user["id"], is_admin=True), 403, "MISSING_ACCESS")
    assert_error(_roles(api, user["token"], other_user["id"], is_admin=True), 403)
    assert_error(_roles(api, admin["token"], admin["id"], is_admin=False), 403)
    assert_error(api.call("PUT", f"/api/v1/users/{user['id']}/roles", json={"is_admin": True}), 401)
    assert _me(api, user["token"])["roles_ids"] == ["user"]
    assert "admin" in _me(api, admin["token"])["roles_ids"]


def test_roles_refusals(api, owner, user):
    assert_error(_roles(api, owner["token"], "no-such-user", is_admin=True), 404, "UNKNOWN_USER")
    assert_error(_roles(api, owner["token"], owner["id"], is_admin=False), 400)
    assert error_paths(_roles(api, owner["token"], user["id"])) == ["is_admin"]
    assert error_paths(_roles(api, owner["token"], user["id"], is_admin="maybe")) == ["is_admin"]
    assert error_paths(_roles(api, owner["token"], user["id"], is_admin=[1])) == ["is_admin"]
    assert _me(api, owner["token"])["roles_ids"] == ["owner", "admin", "user"]


# --- the account row of the request path -----------------------------------------------------

def test_caller_rows_match_the_account(api, app, owner, user):
    from app.accounts.auth import Caller, caller_for_token, callers_by_id
    from app.extensions import db
    from app.models import User
    with app.app_context():
        from_token = caller_for_token(user["token"])
        assert from_token == Caller.of(db.session.get(User, user["id"]))
        assert (from_token.username, from_token.roles, from_token.is_staff) == ("alice", ["user"], False)
        found = callers_by_id({owner["id"], user["id"], "no-such-user"})
        assert set(found) == {owner["id"], user["id"]}
        assert found[owner["id"]].roles == ["owner", "admin", "user"] and found[owner["id"]].is_staff
        assert callers_by_id(set()) == {}
