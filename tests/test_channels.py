"""Channels: private-channel privacy, membership and per-user read state."""
import pytest

from tests.api_helpers import add_member, assert_error, channel_entry, error_paths, load, make_channel, send

CHANNELS = "/api/v1/channels"


def _names(api, token) -> set[str]:
    response = api.call("POST", f"{CHANNELS}/list/", token=token)
    assert response.status_code == 200
    return {c["channel_name"] for c in response.get_json()["channels"]}


def _mark(api, token, channel_id, message_id):
    return api.call("PUT", f"{CHANNELS}/{channel_id}/mark_message_as_read", token=token,
                    json={"message_id": message_id})


def test_channels_info_is_public(api):
    response = api.call("GET", CHANNELS)
    assert response.status_code == 200 and response.get_json()["message"]
    assert api.call("GET", CHANNELS + "/").status_code == 200


# --- create ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["owner", "admin"])
def test_staff_create_channels(api, request, role):
    account = request.getfixturevalue(role)
    response = api.call("POST", f"{CHANNELS}/create/", token=account["token"], json={"channel_name": "general"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "Channel created successfully"
    data = body["channel_data"]
    assert data["channel_name"] == "general" and data["is_private"] is False
    assert data["created_at"].endswith("Z") and len(data["channel_id"]) == 36


def test_create_without_trailing_slash(api, owner):
    response = api.call("POST", f"{CHANNELS}/create", token=owner["token"], json={"channel_name": "noslash"})
    assert response.status_code == 201
    assert api.call("POST", f"{CHANNELS}/list", token=owner["token"]).status_code == 200


def test_users_cannot_create_channels(api, user):
    assert_error(api.call("POST", f"{CHANNELS}/create/", token=user["token"], json={"channel_name": "x"}), 403,
                 "MISSING_ACCESS")
    assert_error(api.call("POST", f"{CHANNELS}/create/", json={"channel_name": "x"}), 401)
    assert_error(api.call("POST", f"{CHANNELS}/create/", token=user["id"] + ".anything",
                          json={"channel_name": "x"}), 401)
    assert _names(api, user["token"]) == set()


def test_channel_names_are_unique_regardless_of_case(api, owner):
    make_channel(api, owner["token"], "General")
    for name in ("general", "GENERAL", "  General  "):
        response = api.call("POST", f"{CHANNELS}/create/", token=owner["token"], json={"channel_name": name})
        assert_error(response, 409, "CHANNEL_NAME_TAKEN")


@pytest.mark.parametrize("body", [
    {}, {"channel_name": ""}, {"channel_name": "   "}, {"channel_name": "x" * 65}, {"channel_name": "bad\nname"},
    {"channel_name": "nul\x00"}, {"channel_name": 5}, {"channel_name": "ok", "is_private": "perhaps"},
    {"channel_name": "ok", "is_private": 3}, {"channel_name": "İ" * 64},
])
def test_create_refuses_bad_fields(api, owner, body):
    assert error_paths(api.call("POST", f"{CHANNELS}/create/", token=owner["token"], json=body))
    assert _names(api, owner["token"]) == set()


def test_channel_name_is_trimmed_and_may_use_any_printable_text(api, owner):
    response = api.call("POST", f"{CHANNELS}/create/", token=owner["token"], json={"channel_name": "  café ☕ talk "})
    assert response.get_json()["channel_data"]["channel_name"] == "café ☕ talk"
    make_channel(api, owner["token"], "x" * 64)


# --- list and private channels ---------------------------------------------------------------

def test_list_fields(api, owner, user):
    channel_id = make_channel(api, owner["token"], "general")
    entry = channel_entry(api, user["token"], channel_id)
    for field in ("channel_id", "channel_name", "is_private", "created_at", "unread_count", "last_read_message_id"):
        assert field in entry, field
    assert entry["unread_count"] == 0 and entry["last_read_message_id"] is None


def test_list_needs_a_token(api):
    assert_error(api.call("POST", f"{CHANNELS}/list/"), 401)


def test_private_channels_are_listed_only_for_members_and_staff(api, owner, admin, user, other_user):
    make_channel(api, owner["token"], "public")
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, admin["token"], secret, user["id"])
    assert _names(api, owner["token"]) == {"public", "secret"}
    assert _names(api, admin["token"]) == {"public", "secret"}
    assert _names(api, user["token"]) == {"public", "secret"}
    assert _names(api, other_user["token"]) == {"public"}


def _user_routes(channel_id, message_id):
    return [
        ("GET", f"{CHANNELS}/{channel_id}/load_messages", {}),
        ("GET", f"{CHANNELS}/{channel_id}/load_messages", {"before": message_id}),
        ("POST", f"{CHANNELS}/{channel_id}/send_message", {"message": "hello?"}),
        ("PUT", f"{CHANNELS}/{channel_id}/mark_message_as_read", {"message_id": message_id}),
        ("DELETE", f"{CHANNELS}/{channel_id}/delete_message", {"message_id": message_id}),
    ]


def test_private_channel_is_404_to_non_members_on_every_route(api, owner, user, other_user):
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    message_id = send(api, user["token"], secret, "members only")
    missing = "00000000-0000-4000-8000-000000000000"
    for (method, path, body), (_, missing_path, _) in zip(_user_routes(secret, message_id),
                                                          _user_routes(missing, message_id)):
        hidden = api.call(method, path, token=other_user["token"], json=body)
        unknown = api.call(method, missing_path, token=other_user["token"], json=body)
        assert_error(hidden, 404, "UNKNOWN_CHANNEL")
        # Exactly what a channel that does not exist answers: nothing reveals it.
        assert hidden.get_json() == unknown.get_json(), (method, path)
    assert [m["message"] for m in load(api, user["token"], secret)] == ["members only"]


def test_staff_routes_do_not_reveal_private_channels_to_users(api, owner, user):
    secret = make_channel(api, owner["token"], "secret", private=True)
    missing = "00000000-0000-4000-8000-000000000000"
    for method, suffix, body in [("DELETE", "delete", {}), ("PUT", "add_user", {"to_add_user_id": user["id"]}),
                                 ("DELETE", "remove_user", {"to_remove_user_id": user["id"]})]:
        hidden = api.call(method, f"{CHANNELS}/{secret}/{suffix}", token=user["token"], json=body)
        unknown = api.call(method, f"{CHANNELS}/{missing}/{suffix}", token=user["token"], json=body)
        # The role check comes first, so a user learns nothing about the channel either way.
        assert_error(hidden, 403, "MISSING_ACCESS")
        assert hidden.get_json() == unknown.get_json()
    assert channel_entry(api, owner["token"], secret) is not None


def test_staff_use_every_route_of_a_private_channel_without_membership(api, owner, admin):
    secret = make_channel(api, owner["token"], "secret", private=True)
    message_id = send(api, admin["token"], secret, "staff note")
    assert [m["message"] for m in load(api, owner["token"], secret)] == ["staff note"]
    assert _mark(api, owner["token"], secret, message_id).status_code == 201
    response = api.call("DELETE", f"{CHANNELS}/{secret}/delete_message", token=owner["token"],
                        json={"message_id": message_id})
    assert response.status_code == 204


# --- membership ------------------------------------------------------------------------------

def test_add_and_remove_members(api, owner, admin, user):
    secret = make_channel(api, owner["token"], "secret", private=True)
    response = api.call("PUT", f"{CHANNELS}/{secret}/add_user", token=admin["token"],
                        json={"to_add_user_id": user["id"]})
    assert response.status_code == 200
    assert response.get_json()["message"] == f"User ID: '{user['id']}' added to Channel ID: '{secret}'"
    assert send(api, user["token"], secret, "hi")
    # Adding twice is harmless.
    assert api.call("PUT", f"{CHANNELS}/{secret}/add_user", token=admin["token"],
                    json={"to_add_user_id": user["id"]}).status_code == 200

    response = api.call("DELETE", f"{CHANNELS}/{secret}/remove_user", token=admin["token"],
                        json={"to_remove_user_id": user["id"]})
    assert response.status_code == 200
    assert response.get_json()["message"] == f"User ID: '{user['id']}' removed from Channel ID: '{secret}'"
    assert_error(api.call("GET", f"{CHANNELS}/{secret}/load_messages", token=user["token"]), 404)
    assert channel_entry(api, user["token"], secret) is None


@pytest.mark.parametrize("transport", ["json", "query", "form"])
def test_remove_user_accepts_user_id_too(api, owner, user, transport):
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    fields = {"user_id": user["id"]}
    kwargs = {"json": fields} if transport == "json" else {"query": fields} if transport == "query" else \
        {"data": fields}
    response = api.call("DELETE", f"{CHANNELS}/{secret}/remove_user", token=owner["token"], **kwargs)
    assert response.status_code == 200
    assert channel_entry(api, user["token"], secret) is None


def test_membership_refusals(api, owner, user, other_user):
    secret = make_channel(api, owner["token"], "secret", private=True)
    public = make_channel(api, owner["token"], "public")
    missing = "00000000-0000-4000-8000-000000000000"
    add = f"{CHANNELS}/{secret}/add_user"
    remove = f"{CHANNELS}/{secret}/remove_user"
    assert error_paths(api.call("PUT", add, token=owner["token"])) == ["to_add_user_id"]
    assert error_paths(api.call("DELETE", remove, token=owner["token"])) == ["to_remove_user_id"]
    assert_error(api.call("PUT", add, token=owner["token"], json={"to_add_user_id": "ghost"}), 404, "UNKNOWN_USER")
    assert_error(api.call("PUT", f"{CHANNELS}/{missing}/add_user", token=owner["token"],
                          json={"to_add_user_id": user["id"]}), 404, "UNKNOWN_CHANNEL")
    assert_error(api.call("DELETE", remove, token=owner["token"], json={"to_remove_user_id": user["id"]}), 404)
    assert_error(api.call("PUT", f"{CHANNELS}/{public}/add_user", token=owner["token"],
                          json={"to_add_user_id": user["id"]}), 400)
    # Users may not manage membership, not even of channels they belong to.
    add_member(api, owner["token"], secret, user["id"])
    assert_error(api.call("PUT", add, token=user["token"], json={"to_add_user_id": other_user["id"]}), 403)
    assert_error(api.call("DELETE", remove, token=user["token"], json={"to_remove_user_id": user["id"]}), 403)
    assert_error(api.call("PUT", add, json={"to_add_user_id": other_user["id"]}), 401)
    assert channel_entry(api, other_user["token"], secret) is None


# --- delete ----------------------------------------------------------------------------------

def test_staff_delete_a_channel_and_its_history(api, owner, admin, user):
    channel_id = make_channel(api, owner["token"], "doomed")
    send(api, user["token"], channel_id, "last words")
    response = api.call("DELETE", f"{CHANNELS}/{channel_id}/delete", token=admin["token"])
    assert response.status_code == 200 and response.get_json()["message"]
    assert channel_entry(api, user["token"], channel_id) is None
    assert_error(api.call("GET", f"{CHANNELS}/{channel_id}/load_messages", token=owner["token"]), 404)
    assert_error(api.call("DELETE", f"{CHANNELS}/{channel_id}/delete", token=admin["token"]), 404, "UNKNOWN_CHANNEL")
    # The name is free again.
    make_channel(api, owner["token"], "doomed")


def test_users_cannot_delete_channels(api, owner, user):
    channel_id = make_channel(api, owner["token"], "kept")
    assert_error(api.call("DELETE", f"{CHANNELS}/{channel_id}/delete", token=user["token"]), 403)
    assert_error(api.call("DELETE", f"{CHANNELS}/{channel_id}/delete"), 401)
    assert channel_entry(api, user["token"], channel_id) is not None


# --- read state and unread counts ------------------------------------------------------------

def test_unread_counts_are_per_user(api, owner, user, other_user):
    channel_id = make_channel(api, owner["token"], "general")
    ids = [send(api, owner["token"], channel_id, f"m{i}") for i in range(3)]
    assert channel_entry(api, owner["token"], channel_id)["unread_count"] == 0  # your own messages are read
    assert channel_entry(api, user["token"], channel_id)["unread_count"] == 3
    assert channel_entry(api, other_user["token"], channel_id)["unread_count"] == 3

    response = _mark(api, user["token"], channel_id, ids[1])
    assert response.status_code == 201
    assert response.get_json()["message"] == "The message_id was successfully marked as read"
    entry = channel_entry(api, user["token"], channel_id)
    assert entry["unread_count"] == 1 and entry["last_read_message_id"] == ids[1]
    # Marking it read for alice did not mark it for bob.
    entry = channel_entry(api, other_user["token"], channel_id)
    assert entry["unread_count"] == 3 and entry["last_read_message_id"] is None


def test_read_position_never_moves_back(api, owner, user):
    channel_id = make_channel(api, owner["token"], "general")
    ids = [send(api, owner["token"], channel_id, f"m{i}") for i in range(4)]
    _mark(api, user["token"], channel_id, ids[2])
    assert _mark(api, user["token"], channel_id, ids[0]).status_code == 201
    entry = channel_entry(api, user["token"], channel_id)
    assert entry["last_read_message_id"] == ids[2] and entry["unread_count"] == 1


def test_your_own_messages_are_never_unread(api, owner, user):
    channel_id = make_channel(api, owner["token"], "general")
    send(api, owner["token"], channel_id, "one")
    send(api, owner["token"], channel_id, "two")
    assert channel_entry(api, user["token"], channel_id)["unread_count"] == 2
    reply = send(api, user["token"], channel_id, "reply")
    assert channel_entry(api, user["token"], channel_id)["unread_count"] == 2
    assert channel_entry(api, owner["token"], channel_id)["unread_count"] == 1
    _mark(api, user["token"], channel_id, reply)
    entry = channel_entry(api, user["token"], channel_id)
    assert entry["unread_count"] == 0 and entry["last_read_message_id"] == reply


def test_unread_counts_per_channel(api, owner, user):
    first = make_channel(api, owner["token"], "first")
    second = make_channel(api, owner["token"], "second")
    send(api, owner["token"], first, "a")
    for text in "bcd":
        send(api, owner["token"], second, text)
    assert channel_entry(api, user["token"], first)["unread_count"] == 1
    assert channel_entry(api, user["token"], second)["unread_count"] == 3


def test_mark_as_read_refusals(api, owner, user):
    channel_id = make_channel(api, owner["token"], "general")
    elsewhere = make_channel(api, owner["token"], "elsewhere")
    foreign = send(api, owner["token"], elsewhere, "not here")
    assert error_paths(api.call("PUT", f"{CHANNELS}/{channel_id}/mark_message_as_read", token=user["token"])) \
        == ["message_id"]
    assert_error(_mark(api, user["token"], channel_id, foreign), 404, "UNKNOWN_MESSAGE")
    assert_error(_mark(api, user["token"], channel_id, "00000000-0000-7000-8000-000000000000"), 404)
    assert_error(_mark(api, user["token"], channel_id, "not a message id!"), 404)
    assert error_paths(_mark(api, user["token"], channel_id, "f" * 37)) == ["message_id"]
    assert_error(_mark(api, None, channel_id, foreign), 401)
    assert channel_entry(api, user["token"], channel_id)["last_read_message_id"] is None


# --- who receives a channel's live events ----------------------------------------------------

def test_channel_audience_is_everyone_or_the_members_and_staff(api, app, owner, admin, user, other_user):
    from app.messaging import messages
    from app.realtime.audience import channel_audience
    public = make_channel(api, owner["token"], "public")
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    with app.app_context():
        assert channel_audience(messages.channel_row(public)) is None
        assert sorted(channel_audience(messages.channel_row(secret))) == sorted([owner["id"], admin["id"], user["id"]])


def test_channel_rows_say_whether_the_account_is_a_member(api, app, owner, user):
    from app.messaging import messages
    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    with app.app_context():
        row = messages.channel_row(secret, user["id"])
        assert (row.id, row.name, row.is_private, row.is_member) == (secret, "secret", True, True)
        assert messages.channel_row(secret, owner["id"]).is_member is False
        assert messages.channel_row(secret).is_member is False  # read for no account
        assert messages.channel_row("x" * 65) is None
