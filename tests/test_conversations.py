"""Conversations over HTTP: /messages by channel and by id, edits, deletes, replies and reactions."""
import pytest

from tests.api_helpers import add_member, assert_error, error_paths, load, make_channel, send

MESSAGES = "/api/v1/messages"
UNKNOWN = "0190a0b0-0000-7000-8000-000000000000"


@pytest.fixture
def private(api, owner):
    return make_channel(api, owner["token"], "staff-room", private=True)


def _get(api, token, message_id):
    return api.call("GET", f"{MESSAGES}/{message_id}", token=token)


def _edit(api, token, message_id, **body):
    return api.call("PUT", f"{MESSAGES}/{message_id}", token=token, json=body)


def _react(api, token, message_id, emoji):
    return api.call("POST", f"{MESSAGES}/{message_id}/reactions", token=token, json={"emoji": emoji})


def _reply(api, token, channel_id, text, reply_to):
    return api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=token,
                    json={"message": text, "reply_to": reply_to})


# --- reading ---------------------------------------------------------------------------------

def test_messages_by_channel_match_load_messages(api, owner, user, general):
    ids = [send(api, owner["token"], general, f"m{n}") for n in range(5)]
    response = api.call("GET", MESSAGES, token=user["token"], query={"channel_id": general})
    assert response.status_code == 200
    listed = response.get_json()["messages"]
    assert [m["message_id"] for m in listed] == ids  # oldest first
    assert listed == load(api, user["token"], general, limit=50, after="0")
    newest = api.call("GET", MESSAGES, token=user["token"], query={"channel_id": general, "limit": 2}).get_json()
    assert [m["message_id"] for m in newest["messages"]] == ids[-2:]
    before = api.call("GET", MESSAGES, token=user["token"],
                      query={"channel_id": general, "before": ids[2], "limit": 10}).get_json()["messages"]
    assert [m["message_id"] for m in before] == ids[:2]
    after = api.call("GET", MESSAGES, token=user["token"],
                     query={"channel_id": general, "after": ids[2], "limit": 1}).get_json()["messages"]
    assert [m["message_id"] for m in after] == [ids[3]]


def test_messages_by_channel_refusals(api, owner, user, general, private):
    assert error_paths(api.call("GET", MESSAGES, token=user["token"])) == ["channel_id"]
    for limit in (0, 101, "x"):
        assert error_paths(api.call("GET", MESSAGES, token=user["token"],
                                    query={"channel_id": general, "limit": limit})) == ["limit"]
    assert_error(api.call("GET", MESSAGES, token=user["token"], query={"channel_id": private}), 404, "UNKNOWN_CHANNEL")
    assert_error(api.call("GET", MESSAGES, query={"channel_id": general}), 401)


def test_message_by_id(api, owner, user, general, private):
    message_id = send(api, owner["token"], general, "by id")
    response = _get(api, user["token"], message_id)
    assert response.status_code == 200
    data = response.get_json()["message_data"]
    assert data == load(api, user["token"], general)[0]
    assert (data["edited_at"], data["reply_to"], data["reactions"], data["pinned"], data["mentions"]) == \
        (None, None, [], False, [])
    assert _get(api, user["token"], message_id.upper()).get_json()["message_data"]["message_id"] == message_id
    hidden = send(api, owner["token"], private, "secret")
    for bad in (hidden, UNKNOWN, "not-an-id", "x" * 80):
        assert_error(_get(api, user["token"], bad), 404, "UNKNOWN_MESSAGE")
    assert _get(api, owner["token"], hidden).status_code == 200


# --- editing ---------------------------------------------------------------------------------

def test_sender_edits_with_content_or_message(api, app, owner, user, general):
    message_id = send(api, user["token"], general, "tpyo")
    original = _get(api, user["token"], message_id).get_json()["message_data"]
    response = _edit(api, user["token"], message_id, content="typo fixed")
    assert response.status_code == 200
    data = response.get_json()["message_data"]
    assert data["message"] == "typo fixed" and data["edited_at"].endswith("Z")
    assert data["hashed_message"] != original["hashed_message"] and len(data["hashed_message"]) == 64
    assert _edit(api, user["token"], message_id, message="second edit").status_code == 200
    [stored] = load(api, owner["token"], general)
    assert stored["message"] == "second edit" and stored["edited_at"]
    # Encrypted at rest like any message, under the channel.
    from app import crypto
    from app.extensions import db
    from app.models import Message
    with app.app_context():
        row = db.session.get(Message, message_id)
        assert b"second edit" not in row.ciphertext
        assert crypto.decrypt(row.key_id, row.ciphertext, general) == "second edit"
        assert row.hashed_message == crypto.digest("second edit")


def test_edit_refusals(api, app, owner, user, other_user, general, private):
    message_id = send(api, user["token"], general, "mine")
    assert_error(_edit(api, other_user["token"], message_id, content="hijack"), 403, "MISSING_ACCESS")
    assert_error(_edit(api, owner["token"], message_id, content="even staff"), 403, "MISSING_ACCESS")
    for body in ({}, {"content": ""}, {"content": "   "}, {"message": "\n"}):
        assert_error(_edit(api, user["token"], message_id, **body), 400, "EMPTY_MESSAGE")
    assert_error(_edit(api, user["token"], message_id, content="x" * 2001), 400, "MESSAGE_TOO_LONG")
    assert error_paths(_edit(api, user["token"], message_id, content=5)) == ["content"]
    hidden = send(api, owner["token"], private, "secret")
    assert_error(_edit(api, user["token"], hidden, content="peek"), 404, "UNKNOWN_MESSAGE")
    assert_error(_edit(api, user["token"], UNKNOWN, content="nothing"), 404, "UNKNOWN_MESSAGE")
    assert load(api, owner["token"], general)[0]["message"] == "mine"


# --- deleting --------------------------------------------------------------------------------

def test_delete_by_id_answers_200_with_json(api, owner, user, other_user, general, private):
    mine = send(api, user["token"], general, "mine")
    theirs = send(api, other_user["token"], general, "theirs")
    assert_error(api.call("DELETE", f"{MESSAGES}/{theirs}", token=user["token"]), 403, "MISSING_ACCESS")
    response = api.call("DELETE", f"{MESSAGES}/{mine}", token=user["token"])
    assert response.status_code == 200 and response.get_json()["message_id"] == mine
    assert api.call("DELETE", f"{MESSAGES}/{theirs}", token=owner["token"]).status_code == 200  # staff
    assert load(api, owner["token"], general) == []
    assert_error(api.call("DELETE", f"{MESSAGES}/{mine}", token=user["token"]), 404, "UNKNOWN_MESSAGE")
    hidden = send(api, owner["token"], private, "secret")
    assert_error(api.call("DELETE", f"{MESSAGES}/{hidden}", token=user["token"]), 404, "UNKNOWN_MESSAGE")


# --- replies ---------------------------------------------------------------------------------

def test_reply_carries_the_original_and_survives_its_deletion(api, owner, user, general):
    original = send(api, owner["token"], general, "what do you think? " + "long " * 40)
    response = _reply(api, user["token"], general, "I agree", original)
    assert response.status_code == 201
    reply_id = response.get_json()["message_id"]
    reply = _get(api, user["token"], reply_id).get_json()["message_data"]
    assert reply["reply_to"]["message_id"] == original and reply["reply_to"]["sender_user_id"] == owner["id"]
    assert reply["reply_to"]["username"] == "owner"
    assert reply["reply_to"]["excerpt"].startswith("what do you think?") and len(reply["reply_to"]["excerpt"]) == 100
    assert load(api, owner["token"], general)[1]["reply_to"] == reply["reply_to"]
    api.call("DELETE", f"{MESSAGES}/{original}", token=owner["token"])
    assert _get(api, user["token"], reply_id).get_json()["message_data"]["reply_to"] == \
        {"message_id": original, "deleted": True}


def test_reply_refusals(api, owner, user, general, private):
    elsewhere = make_channel(api, owner["token"], "random")
    other = send(api, owner["token"], elsewhere, "over there")
    assert_error(_reply(api, user["token"], general, "wrong place", other), 400, "REPLY_OTHER_CHANNEL")
    assert_error(_reply(api, user["token"], general, "ghost", UNKNOWN), 404, "UNKNOWN_MESSAGE")
    hidden = send(api, owner["token"], private, "secret")
    assert_error(_reply(api, user["token"], general, "peek", hidden), 404, "UNKNOWN_MESSAGE")
    assert load(api, owner["token"], general) == []


# --- reactions -------------------------------------------------------------------------------

@pytest.mark.parametrize("emoji", ["👍", "👍🏽", "❤️", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "1️⃣", "#️⃣", "🏴󠁧󠁢󠁳󠁣󠁴󠁿", "🧑🏾‍💻",
                                   ":thumbsup:", ":+1:", "☕"])
def test_emoji_that_are_one(api, owner, general, emoji):
    message_id = send(api, owner["token"], general, "react")
    response = _react(api, owner["token"], message_id, emoji)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["count"] == 1


@pytest.mark.parametrize("emoji", ["a", "ab", "👍👍", "🇫", "hello", "", " ", ":no spaces:", "1", "\u200d", "👍a",
                                   "🏽", "1\u20e3x", "::", ":" + "x" * 40 + ":", "✓", "\u2764\ufe0e\u200d"])
def test_text_that_is_not_an_emoji_is_400(api, owner, general, emoji):
    message_id = send(api, owner["token"], general, "react")
    response = _react(api, owner["token"], message_id, emoji)
    assert response.status_code == 400
    assert response.get_json()["code"] in {"INVALID_EMOJI", "INVALID_FORM_BODY"}


def test_reactions_are_idempotent_counted_and_listed(api, owner, user, other_user, general):
    message_id = send(api, owner["token"], general, "react to me")
    assert _react(api, user["token"], message_id, "👍").get_json()["count"] == 1
    assert _react(api, user["token"], message_id, "👍").get_json()["count"] == 1  # again: no change
    assert _react(api, other_user["token"], message_id, "👍").get_json()["count"] == 2
    assert _react(api, other_user["token"], message_id, ":tada:").get_json()["count"] == 1
    listed = api.call("GET", f"{MESSAGES}/{message_id}/reactions", token=user["token"]).get_json()["reactions"]
    assert listed == [{"emoji": "👍", "count": 2, "user_ids": [user["id"], other_user["id"]], "me": True},
                      {"emoji": ":tada:", "count": 1, "user_ids": [other_user["id"]], "me": False}]
    assert load(api, user["token"], general)[0]["reactions"] == listed
    assert load(api, owner["token"], general)[0]["reactions"][0]["me"] is False
    removed = api.call("DELETE", f"{MESSAGES}/{message_id}/reactions/👍", token=user["token"])
    assert removed.status_code == 200 and removed.get_json()["count"] == 1
    again = api.call("DELETE", f"{MESSAGES}/{message_id}/reactions/👍", token=user["token"])
    assert again.status_code == 200 and again.get_json()["count"] == 1
    assert_error(api.call("DELETE", f"{MESSAGES}/{message_id}/reactions/nope", token=user["token"]), 400,
                 "INVALID_EMOJI")


def test_at_most_twenty_distinct_reactions(api, owner, user, general):
    message_id = send(api, owner["token"], general, "popular")
    for n in range(20):
        assert _react(api, owner["token"], message_id, f":e{n}:").status_code == 200
    assert_error(_react(api, user["token"], message_id, ":e20:"), 400, "TOO_MANY_REACTIONS")
    assert _react(api, user["token"], message_id, ":e3:").get_json()["count"] == 2  # an existing one still counts


def test_reactions_on_hidden_or_unknown_messages_are_404(api, owner, user, private):
    hidden = send(api, owner["token"], private, "secret")
    for message_id in (hidden, UNKNOWN):
        assert_error(_react(api, user["token"], message_id, "👍"), 404, "UNKNOWN_MESSAGE")
        assert_error(api.call("GET", f"{MESSAGES}/{message_id}/reactions", token=user["token"]), 404)
        assert_error(api.call("DELETE", f"{MESSAGES}/{message_id}/reactions/👍", token=user["token"]), 404)
    add_member(api, owner["token"], private, user["id"])
    assert _react(api, user["token"], hidden, "👍").status_code == 200


def test_deleting_a_message_drops_its_reactions(api, app, owner, general):
    message_id = send(api, owner["token"], general, "short-lived")
    _react(api, owner["token"], message_id, "👍")
    api.call("DELETE", f"{MESSAGES}/{message_id}", token=owner["token"])
    from app.extensions import db
    from app.models import Reaction
    with app.app_context():
        assert db.session.query(Reaction).count() == 0


def test_new_routes_are_documented(api):
    paths = api.call("GET", "/openapi.json").get_json()["paths"]
    for path in ("/api/v1/messages", "/api/v1/messages/{message_id}", "/api/v1/messages/{message_id}/reactions",
                 "/api/v1/messages/{message_id}/reactions/{emoji}", "/api/v1/channels/{channel_id}/pins",
                 "/api/v1/channels/{channel_id}/pins/{message_id}", "/api/v1/users/mentions",
                 "/api/v1/users/{user_id}/dm"):
        assert path in paths, path
    assert "reply_to" in str(paths["/api/v1/channels/{channel_id}/send_message"]["post"])
