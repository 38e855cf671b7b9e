"""Conversations over HTTP: pins, mentions and direct conversations (and who may read them)."""
import threading

from tests.api_helpers import add_member, assert_error, channel_entry, load, make_channel, send
from tests.filedata import unique_png, upload

UNKNOWN = "0190a0b0-0000-7000-8000-000000000000"


def _pin(api, token, channel_id, message_id, method="PUT"):
    return api.call(method, f"/api/v1/channels/{channel_id}/pins/{message_id}", token=token)


def _pins(api, token, channel_id):
    response = api.call("GET", f"/api/v1/channels/{channel_id}/pins", token=token)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["messages"]


def _dm(api, token, user_id):
    return api.call("POST", f"/api/v1/users/{user_id}/dm", token=token)


# --- pins ------------------------------------------------------------------------------------

def test_staff_pin_and_unpin_newest_first(api, admin, user, general):
    first, second = send(api, user["token"], general, "one"), send(api, user["token"], general, "two")
    assert _pin(api, admin["token"], general, first).status_code == 200
    assert _pin(api, admin["token"], general, second).status_code == 200
    assert _pin(api, admin["token"], general, second).status_code == 200  # again: no change
    pins = _pins(api, user["token"], general)
    assert [p["message_id"] for p in pins] == [second, first]
    assert all(p["pinned"] and p["pinned_by"] == admin["id"] and p["pinned_at"].endswith("Z") for p in pins)
    assert [m["pinned"] for m in load(api, user["token"], general)] == [True, True]
    assert _pin(api, admin["token"], general, first, "DELETE").status_code == 200
    assert _pin(api, admin["token"], general, first, "DELETE").status_code == 200
    assert [p["message_id"] for p in _pins(api, user["token"], general)] == [second]
    assert [m["pinned"] for m in load(api, user["token"], general)] == [False, True]


def test_pin_refusals(api, owner, user, general):
    message_id = send(api, user["token"], general, "pin me")
    assert_error(_pin(api, user["token"], general, message_id), 403, "MISSING_ACCESS")
    assert_error(_pin(api, user["token"], general, message_id, "DELETE"), 403, "MISSING_ACCESS")
    assert_error(_pin(api, owner["token"], general, UNKNOWN), 404, "UNKNOWN_MESSAGE")
    elsewhere = make_channel(api, owner["token"], "random")
    assert_error(_pin(api, owner["token"], elsewhere, message_id), 404, "UNKNOWN_MESSAGE")
    private = make_channel(api, owner["token"], "staff-room", private=True)
    hidden = send(api, owner["token"], private, "secret")
    assert_error(_pin(api, user["token"], private, hidden), 404, "UNKNOWN_CHANNEL")
    assert_error(api.call("GET", f"/api/v1/channels/{private}/pins", token=user["token"]), 404, "UNKNOWN_CHANNEL")


def test_at_most_fifty_pins_per_channel(api, owner, general):
    ids = [send(api, owner["token"], general, f"m{n}") for n in range(51)]
    for message_id in ids[:50]:
        assert _pin(api, owner["token"], general, message_id).status_code == 200
    assert_error(_pin(api, owner["token"], general, ids[50]), 400, "TOO_MANY_PINS")
    _pin(api, owner["token"], general, ids[0], "DELETE")
    assert _pin(api, owner["token"], general, ids[50]).status_code == 200


# --- mentions --------------------------------------------------------------------------------

def test_mentions_resolve_by_id_and_name(api, owner, user, other_user, general):
    text = f"hi <@{user['id']}> and @BOB, also @nobody and <@{UNKNOWN}>"
    message_id = send(api, owner["token"], general, text)
    [message] = load(api, owner["token"], general)
    assert message["message_id"] == message_id and message["mentions"] == [user["id"], other_user["id"]]
    assert send(api, owner["token"], general, "mail me at me@bob.example") and \
        load(api, owner["token"], general)[1]["mentions"] == []


def test_unread_mentions_in_the_channel_list_and_the_mentions_page(api, owner, user, general):
    first = send(api, owner["token"], general, "@alice look")
    send(api, owner["token"], general, "nothing for alice")
    second = send(api, owner["token"], general, f"<@{user['id']}> again")
    send(api, user["token"], general, "@alice talking to myself")  # not a mention of oneself to notify
    assert channel_entry(api, user["token"], general)["unread_mentions"] == 2
    assert channel_entry(api, owner["token"], general)["unread_mentions"] == 0
    api.call("PUT", f"/api/v1/channels/{general}/mark_message_as_read", token=user["token"], json={"message_id": first})
    assert channel_entry(api, user["token"], general)["unread_mentions"] == 1
    page = api.call("GET", "/api/v1/users/mentions", token=user["token"], query={"limit": 1}).get_json()
    assert [m["message_id"] for m in page["mentions"]] == [second] and page["next_before"] == second
    rest = api.call("GET", "/api/v1/users/mentions", token=user["token"],
                    query={"before": page["next_before"]}).get_json()
    assert [m["message_id"] for m in rest["mentions"]] == [first] and rest["next_before"] is None


def test_mentions_in_a_private_channel_notify_only_its_readers(api, owner, user, other_user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    add_member(api, owner["token"], private, user["id"])
    send(api, owner["token"], private, "@alice and @bob")
    [message] = load(api, owner["token"], private)
    assert message["mentions"] == [user["id"], other_user["id"]]  # the text names both
    assert api.call("GET", "/api/v1/users/mentions", token=user["token"]).get_json()["mentions"]
    assert api.call("GET", "/api/v1/users/mentions", token=other_user["token"]).get_json()["mentions"] == []


def test_an_edit_resolves_mentions_again(api, owner, user, other_user, general):
    message_id = send(api, owner["token"], general, "hello @alice")
    api.call("PUT", f"/api/v1/messages/{message_id}", token=owner["token"], json={"content": "hello @bob"})
    assert load(api, owner["token"], general)[0]["mentions"] == [other_user["id"]]
    assert api.call("GET", "/api/v1/users/mentions", token=user["token"]).get_json()["mentions"] == []
    assert len(api.call("GET", "/api/v1/users/mentions", token=other_user["token"]).get_json()["mentions"]) == 1


# --- direct conversations --------------------------------------------------------------------

def test_dm_is_created_once_and_listed_for_both(api, owner, user, other_user):
    created = _dm(api, user["token"], other_user["id"])
    assert created.status_code == 201
    data = created.get_json()["channel_data"]
    assert data["is_dm"] is True and data["is_private"] is True and data["other_user"]["user_id"] == other_user["id"]
    again = _dm(api, other_user["token"], user["id"])
    assert again.status_code == 200 and again.get_json()["channel_data"]["channel_id"] == data["channel_id"]
    assert again.get_json()["channel_data"]["other_user"]["username"] == "alice"
    for account, other in ((user, other_user), (other_user, user)):
        entry = channel_entry(api, account["token"], data["channel_id"])
        assert entry["is_dm"] is True and entry["other_user"]["user_id"] == other["id"]
    assert channel_entry(api, owner["token"], data["channel_id"]) is None  # the owner does not see it


def test_dm_refusals(api, user):
    assert_error(_dm(api, user["token"], user["id"]), 400, "INVALID_TARGET")
    assert_error(_dm(api, user["token"], UNKNOWN), 404, "UNKNOWN_USER")
    assert_error(_dm(api, None, UNKNOWN), 401)


def test_only_the_two_members_read_a_dm_staff_included(api, owner, admin, user, other_user):
    channel_id = _dm(api, user["token"], other_user["id"]).get_json()["channel_data"]["channel_id"]
    message_id = send(api, user["token"], channel_id, "just between us")
    assert load(api, other_user["token"], channel_id)[0]["message"] == "just between us"
    for staff in (owner, admin):
        token = staff["token"]
        assert_error(api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", token=token), 404)
        assert_error(api.call("GET", "/api/v1/messages", token=token, query={"channel_id": channel_id}), 404)
        assert_error(api.call("GET", f"/api/v1/messages/{message_id}", token=token), 404, "UNKNOWN_MESSAGE")
        assert_error(api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=token,
                              json={"message": "intrude"}), 404)
        assert_error(api.call("DELETE", f"/api/v1/messages/{message_id}", token=token), 404)
        assert_error(_pin(api, token, channel_id, message_id), 404)
        assert_error(api.call("PUT", f"/api/v1/channels/{channel_id}/add_user", token=token,
                              json={"to_add_user_id": staff["id"]}), 404)
    # Either member pins in a direct conversation.
    assert _pin(api, other_user["token"], channel_id, message_id).status_code == 200
    assert [p["message_id"] for p in _pins(api, user["token"], channel_id)] == [message_id]


def test_concurrent_dm_requests_make_one_conversation(app, api, user, other_user):
    results = []

    def ask(token, target):
        client = app.test_client()
        response = client.post(f"/api/v1/users/{target}/dm", query_string={"auth_token": token})
        results.append((response.status_code, response.get_json()["channel_data"]["channel_id"]))

    threads = [threading.Thread(target=ask, args=(user["token"], other_user["id"]) if n % 2 else
                                (other_user["token"], user["id"])) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({channel_id for _, channel_id in results}) == 1, results
    assert sorted(status for status, _ in results).count(201) == 1


def test_dm_attachments_are_not_served_to_staff(api, owner, user, other_user):
    channel_id = _dm(api, user["token"], other_user["id"]).get_json()["channel_data"]["channel_id"]
    response = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=user["token"],
                        data={"message": "a picture", "attachments": [upload(unique_png(7), "p.png")]},
                        content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    signed = response.get_json()["attachments"][0]
    assert "sig=" in signed  # the sender's answer carries the signed link, as history does
    url = signed.split("?")[0]  # access by token alone:
    assert api.call("GET", url, token=other_user["token"]).status_code == 200
    assert api.call("GET", url, token=owner["token"]).status_code == 404
