"""Messages: sending, history paging and cursors, message ids, limits and deletion."""
import io
import json
import uuid

import pytest

from tests.api_helpers import assert_error, error_paths, load, make_channel, send

CHANNELS = "/api/v1/channels"


@pytest.fixture
def channel(api, owner):
    return make_channel(api, owner["token"], "general")


def _send(api, token, channel_id, **kwargs):
    return api.call("POST", f"{CHANNELS}/{channel_id}/send_message", token=token, **kwargs)


def _delete(api, token, channel_id, message_id):
    return api.call("DELETE", f"{CHANNELS}/{channel_id}/delete_message", token=token, json={"message_id": message_id})


def _texts(messages) -> list[str]:
    return [m["message"] for m in messages]


def _set_max_length(app, value):
    from app.extensions import db
    from app.models import ServerSettings
    from app.admin.settings import settings_changed
    with app.app_context():
        ServerSettings.get().max_message_length = value
        db.session.commit()
        settings_changed()


# --- sending ---------------------------------------------------------------------------------

def test_send_answers_201_with_the_message_id(api, owner, user, channel):
    response = _send(api, user["token"], channel, json={"message": "hello world"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "message sent successfully"
    assert body["attachments"] == []
    assert uuid.UUID(body["message_id"]).version == 7
    [message] = load(api, owner["token"], channel)
    assert message["message_id"] == body["message_id"]


def test_message_object_fields(api, owner, user, channel):
    send(api, user["token"], channel, "fields")
    [message] = load(api, owner["token"], channel)
    assert message["sender_user_id"] == user["id"] and message["username"] == "alice"
    assert message["channel_id"] == channel and message["message"] == "fields"
    assert len(message["hashed_message"]) == 64 and message["hashed_message"] != "fields"
    assert message["sent_at"].endswith("Z") and message["attachments"] == []
    assert message["sender_status"] in {"online", "offline", "idle", "dnd"}
    assert message["sender_roles"] == ["user"]
    assert "sender_avatar_url" in message


def test_sender_avatar_url_is_absolute_while_the_profile_keeps_a_path(api, app, owner, user, channel, monkeypatch):
    from app.extensions import db
    from app.models import User
    with app.app_context():
        db.session.get(User, user["id"]).avatar_url = "/api/v1/cdn/file/avatars/a.png"
        db.session.commit()
    send(api, user["token"], channel, "with avatar")
    monkeypatch.setitem(app.config, "ALLOWED_HOSTS", ["localhost", "chat.example"])
    response = api.call("GET", f"{CHANNELS}/{channel}/load_messages", token=owner["token"],
                        headers={"Host": "chat.example:7575"})
    assert response.get_json()["messages"][0]["sender_avatar_url"] == \
        "http://chat.example:7575/api/v1/cdn/file/avatars/a.png"
    monkeypatch.setitem(app.config, "PUBLIC_URL", "https://chat.example.org")
    [message] = load(api, owner["token"], channel)
    assert message["sender_avatar_url"] == "https://chat.example.org/api/v1/cdn/file/avatars/a.png"
    profile = api.call("POST", "/api/v1/users/profile", token=user["token"]).get_json()["user_data"]
    assert profile["avatar_url"] == "/api/v1/cdn/file/avatars/a.png"


def test_message_shows_the_senders_current_name(api, owner, user, channel):
    send(api, user["token"], channel, "before rename")
    api.call("PUT", "/api/v1/users/profile", token=user["token"], json={"new_username": "alicia", "status": "dnd"})
    [message] = load(api, owner["token"], channel)
    assert (message["username"], message["sender_status"]) == ("alicia", "dnd")


@pytest.mark.parametrize("transport", ["json", "form", "multipart", "query"])
def test_send_by_every_transport(api, owner, channel, transport):
    fields = {"message": f"via {transport}"}
    kwargs = {"json": fields} if transport == "json" else {"query": fields} if transport == "query" else \
        {"data": fields} if transport == "form" else {"data": fields, "content_type": "multipart/form-data"}
    assert _send(api, owner["token"], channel, **kwargs).status_code == 201
    assert _texts(load(api, owner["token"], channel)) == [f"via {transport}"]


def test_text_round_trips_exactly(api, owner, channel):
    texts = ["  padded  ", "line one\nline two", "emoji 😀 and ünïcødé", "<b>not html</b>", "'; --", "\u202eright-to-left"]
    for text in texts:
        send(api, owner["token"], channel, text)
    assert _texts(load(api, owner["token"], channel)) == texts


def test_message_length_limit_comes_from_server_settings(api, app, owner, channel):
    assert _send(api, owner["token"], channel, json={"message": "x" * 2000}).status_code == 201
    assert _send(api, owner["token"], channel, json={"message": "é" * 2000}).status_code == 201
    assert_error(_send(api, owner["token"], channel, json={"message": "x" * 2001}), 400, "MESSAGE_TOO_LONG")
    _set_max_length(app, 10)
    assert _send(api, owner["token"], channel, json={"message": "y" * 10}).status_code == 201
    assert_error(_send(api, owner["token"], channel, json={"message": "y" * 11}), 400, "MESSAGE_TOO_LONG")
    assert len(load(api, owner["token"], channel)) == 3


@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "   "}, {"message": "\n\t"}, {"message": None}])
def test_empty_message_is_400(api, owner, channel, body):
    assert_error(_send(api, owner["token"], channel, json=body), 400, "EMPTY_MESSAGE")
    assert load(api, owner["token"], channel) == []


@pytest.mark.parametrize("value", [5, ["hi"], {"text": "hi"}, True, "nul\x00byte"])
def test_message_must_be_text(api, owner, channel, value):
    assert error_paths(_send(api, owner["token"], channel, json={"message": value})) == ["message"]


def test_message_with_a_lone_surrogate_is_400(api, owner, channel):
    response = _send(api, owner["token"], channel, data='{"message": "half \\ud83d pair"}',
                     content_type="application/json")
    assert error_paths(response) == ["message"]
    assert _send(api, owner["token"], channel, data='{"message": "whole \\ud83d\\ude00 pair"}',
                 content_type="application/json").status_code == 201
    assert _texts(load(api, owner["token"], channel)) == ["whole 😀 pair"]


def test_attachments_field_does_not_crash_the_route(api, owner, channel):
    response = _send(api, owner["token"], channel, json={"message": "with field", "attachments": []})
    assert response.status_code == 201
    # Files come only in a multipart form: URLs in a JSON body are not attachments.
    response = _send(api, owner["token"], channel, json={"message": "urls", "attachments": ["/x.png"]})
    assert response.status_code == 201 and response.get_json()["attachments"] == []
    # A PNG signature with no image after it is judged by its content and refused.
    upload = {"message": "file", "attachments": (io.BytesIO(b"\x89PNG\r\n\x1a\n"), "a.png")}
    response = _send(api, owner["token"], channel, data=upload, content_type="multipart/form-data")
    assert_error(response, 400, "INVALID_IMAGE")
    assert _texts(load(api, owner["token"], channel)) == ["with field", "urls"]


def test_at_most_ten_attachments(api, owner, channel):
    files = [(io.BytesIO(b"data"), f"f{i}.txt") for i in range(11)]
    response = _send(api, owner["token"], channel, data={"message": "many", "attachments": files},
                     content_type="multipart/form-data")
    assert_error(response, 400, "TOO_MANY_ATTACHMENTS")


def test_send_refusals(api, owner, user, channel):
    assert_error(_send(api, None, channel, json={"message": "anon"}), 401)
    assert_error(_send(api, owner["id"] + ".anything", channel, json={"message": "forged"}), 401)
    assert_error(_send(api, user["token"], "00000000-0000-4000-8000-000000000000", json={"message": "x"}), 404,
                 "UNKNOWN_CHANNEL")
    assert_error(_send(api, user["token"], "x" * 300, json={"message": "x"}), 404)
    assert load(api, owner["token"], channel) == []


# --- ids and paging --------------------------------------------------------------------------

def test_message_ids_sort_in_sending_order(api, owner, channel):
    ids = [send(api, owner["token"], channel, str(i)) for i in range(30)]
    assert ids == sorted(ids) and len(set(ids)) == 30
    assert all(uuid.UUID(i).version == 7 and i == i.lower() for i in ids)


def test_message_ids_follow_causal_order_across_processes():
    """Another process (a second gunicorn worker) makes the next id a few microseconds later."""
    import subprocess
    import sys

    from app.ids import uuid7
    from tests.api_helpers import ROOT
    child = subprocess.Popen([sys.executable, "-c", "import sys\nfrom app.ids import uuid7\n"
                              "for _ in sys.stdin: print(uuid7(), flush=True)"],
                             cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        out_of_order = 0
        for _ in range(500):
            mine = uuid7()
            child.stdin.write("\n")
            child.stdin.flush()
            theirs = child.stdout.readline().strip()
            out_of_order += not (mine < theirs < uuid7())
    finally:
        child.stdin.close()
        child.wait(10)
    assert out_of_order == 0


@pytest.fixture
def history(api, owner, channel):
    """45 messages "0".."44" and their ids, oldest first."""
    return [send(api, owner["token"], channel, str(i)) for i in range(45)]


def _numbers(messages) -> list[int]:
    return [int(m["message"]) for m in messages]


def test_pages_newest_first_each_oldest_first(api, owner, channel, history):
    assert _numbers(load(api, owner["token"], channel)) == list(range(25, 45))  # default: page 1, 20 per page
    assert _numbers(load(api, owner["token"], channel, page=2)) == list(range(5, 25))
    assert _numbers(load(api, owner["token"], channel, page=3)) == list(range(0, 5))
    assert load(api, owner["token"], channel, page=4) == []
    assert _numbers(load(api, owner["token"], channel, page=1, messages_per_page=50)) == list(range(45))
    assert _numbers(load(api, owner["token"], channel, page=2, messages_per_page=7)) == list(range(31, 38))


def test_paging_parameters_from_json_body(api, owner, channel, history):
    response = api.call("GET", f"{CHANNELS}/{channel}/load_messages", token=owner["token"],
                        json={"page": 2, "messages_per_page": 10})
    assert _numbers(response.get_json()["messages"]) == list(range(25, 35))


@pytest.mark.parametrize("query,path", [
    ({"messages_per_page": 51}, "messages_per_page"), ({"messages_per_page": 0}, "messages_per_page"),
    ({"page": 0}, "page"), ({"page": -1}, "page"), ({"page": "two"}, "page"), ({"messages_per_page": "1.5"},
                                                                              "messages_per_page"),
    ({"limit": 0}, "limit"), ({"limit": 101}, "limit"), ({"limit": "many"}, "limit"),
    ({"before": "not-a-cursor!"}, "before"), ({"after": "zz"}, "after"), ({"before": "0" * 37}, "before"),
])
def test_paging_refuses_bad_values(api, owner, channel, query, path):
    response = api.call("GET", f"{CHANNELS}/{channel}/load_messages", token=owner["token"], query=query)
    assert path in error_paths(response)


def test_before_and_after_cursors(api, owner, channel, history):
    assert _numbers(load(api, owner["token"], channel, before=history[10], limit=5)) == [5, 6, 7, 8, 9]
    assert _numbers(load(api, owner["token"], channel, after=history[10], limit=5)) == [11, 12, 13, 14, 15]
    assert _numbers(load(api, owner["token"], channel, before=history[3], limit=100)) == [0, 1, 2]
    assert _numbers(load(api, owner["token"], channel, after=history[40])) == [41, 42, 43, 44]
    assert _numbers(load(api, owner["token"], channel, after=history[5], before=history[9])) == [6, 7, 8]
    assert load(api, owner["token"], channel, before=history[0]) == []
    assert load(api, owner["token"], channel, after=history[-1]) == []
    assert _numbers(load(api, owner["token"], channel, before=history[44])) == list(range(0, 44))[-50:]
    assert len(load(api, owner["token"], channel, after=history[0], limit=1)) == 1


def test_cursor_default_limit_is_50_and_max_is_100(api, owner, channel):
    ids = [send(api, owner["token"], channel, str(i)) for i in range(120)]
    assert _numbers(load(api, owner["token"], channel, before=ids[-1])) == list(range(69, 119))
    assert _numbers(load(api, owner["token"], channel, before=ids[-1], limit=100)) == list(range(19, 119))
    assert _numbers(load(api, owner["token"], channel, after=ids[0], limit=100)) == list(range(1, 101))


def test_walking_back_with_before_returns_everything_once(api, owner, channel, history):
    seen, cursor = [], None
    while True:
        page = load(api, owner["token"], channel, **({"before": cursor} if cursor else {}), limit=7)
        if not page:
            break
        seen = _numbers(page) + seen
        cursor = page[0]["message_id"]
    assert seen == list(range(45))


def test_cursors_are_case_insensitive_like_every_uuid(api, owner, channel, history):
    upper = history[20].upper()
    assert _numbers(load(api, owner["token"], channel, before=upper, limit=3)) == [17, 18, 19]
    assert _numbers(load(api, owner["token"], channel, after=upper, limit=3)) == [21, 22, 23]


def test_message_ids_are_case_insensitive_on_input(api, owner, user, channel):
    first = send(api, owner["token"], channel, "first")
    second = send(api, owner["token"], channel, "second")
    response = api.call("PUT", f"{CHANNELS}/{channel}/mark_message_as_read", token=user["token"],
                        json={"message_id": first.upper()})
    assert response.status_code == 201
    entry = api.call("POST", f"{CHANNELS}/list/", token=user["token"]).get_json()["channels"][0]
    assert entry["last_read_message_id"] == first and entry["unread_count"] == 1
    assert _delete(api, owner["token"], channel, second.upper()).status_code == 204
    assert _texts(load(api, owner["token"], channel)) == ["first"]


def test_cursor_need_not_be_a_message_of_this_channel(api, owner, channel, history):
    other = make_channel(api, owner["token"], "other")
    marker = send(api, owner["token"], other, "marker")
    send(api, owner["token"], channel, "45")
    assert _numbers(load(api, owner["token"], channel, after=marker)) == [45]


def test_history_is_per_channel(api, owner, channel):
    other = make_channel(api, owner["token"], "other")
    send(api, owner["token"], channel, "here")
    send(api, owner["token"], other, "there")
    assert _texts(load(api, owner["token"], channel)) == ["here"]
    assert _texts(load(api, owner["token"], other)) == ["there"]


def test_load_messages_refusals(api, owner, user, channel):
    path = f"{CHANNELS}/{channel}/load_messages"
    assert_error(api.call("GET", path), 401)
    assert_error(api.call("GET", path, token=owner["id"] + ".anything"), 401)
    assert_error(api.call("GET", f"{CHANNELS}/nope/load_messages", token=user["token"]), 404)


# --- deletion --------------------------------------------------------------------------------

@pytest.mark.parametrize("deleter", ["user", "admin", "owner"])
def test_sender_and_staff_delete_with_204_and_empty_body(api, request, user, channel, deleter):
    message_id = send(api, user["token"], channel, "delete me")
    send(api, user["token"], channel, "keep me")
    response = _delete(api, request.getfixturevalue(deleter)["token"], channel, message_id)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert _texts(load(api, user["token"], channel)) == ["keep me"]
    assert_error(_delete(api, user["token"], channel, message_id), 404, "UNKNOWN_MESSAGE")


def test_others_cannot_delete_a_message(api, owner, user, other_user, channel):
    message_id = send(api, user["token"], channel, "mine")
    assert_error(_delete(api, other_user["token"], channel, message_id), 403, "MISSING_ACCESS")
    owners = send(api, owner["token"], channel, "the owner's")
    assert_error(_delete(api, user["token"], channel, owners), 403)
    assert_error(_delete(api, None, channel, message_id), 401)
    assert_error(_delete(api, user["id"] + ".anything", channel, message_id), 401)
    assert _texts(load(api, owner["token"], channel)) == ["mine", "the owner's"]


def test_delete_message_refusals(api, owner, channel):
    other = make_channel(api, owner["token"], "other")
    foreign = send(api, owner["token"], other, "elsewhere")
    assert error_paths(api.call("DELETE", f"{CHANNELS}/{channel}/delete_message", token=owner["token"])) \
        == ["message_id"]
    assert_error(_delete(api, owner["token"], channel, foreign), 404, "UNKNOWN_MESSAGE")
    assert_error(_delete(api, owner["token"], channel, "00000000-0000-7000-8000-000000000000"), 404)
    assert _texts(load(api, owner["token"], other)) == ["elsewhere"]


def test_delete_by_query_and_form(api, owner, channel):
    first = send(api, owner["token"], channel, "a")
    second = send(api, owner["token"], channel, "b")
    response = api.call("DELETE", f"{CHANNELS}/{channel}/delete_message", token=owner["token"],
                        query={"message_id": first})
    assert response.status_code == 204
    response = api.call("DELETE", f"{CHANNELS}/{channel}/delete_message",
                        data={"auth_token": owner["token"], "message_id": second})
    assert response.status_code == 204
    assert load(api, owner["token"], channel) == []


def test_deleting_the_read_position_keeps_counts_right(api, owner, user, channel):
    ids = [send(api, owner["token"], channel, str(i)) for i in range(3)]
    api.call("PUT", f"{CHANNELS}/{channel}/mark_message_as_read", token=user["token"], json={"message_id": ids[1]})
    _delete(api, owner["token"], channel, ids[1])
    entry = next(c for c in api.call("POST", f"{CHANNELS}/list/", token=user["token"]).get_json()["channels"])
    assert entry["unread_count"] == 1


# --- the send service and its live frame -----------------------------------------------------

@pytest.fixture
def published(monkeypatch):
    """The events messaging records in the log or publishes, as (kind, frame, channel_id, audience, extra)."""
    from app.messaging import events
    seen = []

    def prepare(kind, frame, channel_id=None, audience=None, **extra):
        return kind, frame, channel_id, audience, extra
    for name in ("publish", "record"):
        monkeypatch.setattr(events, name, lambda *args, **extra: seen.append(prepare(*args, **extra)))
    monkeypatch.setattr(events, "prepare", prepare)
    monkeypatch.setattr(events, "add", seen.append)
    return seen


def test_the_live_frame_is_the_stored_message_built_without_decrypting(api, owner, user, published, monkeypatch):
    """The send holds the plaintext: it builds the frame from it, and it equals what history gives."""
    from app import crypto
    from app.messaging import frames
    from tests.api_helpers import add_member
    from tests.filedata import image_bytes

    secret = make_channel(api, owner["token"], "secret", private=True)
    add_member(api, owner["token"], secret, user["id"])
    decrypt = crypto.decrypt
    monkeypatch.setattr(frames.crypto, "decrypt", lambda *args: pytest.fail("decrypted on the send path"))
    upload = {"message": "with a picture", "attachments": (io.BytesIO(image_bytes()), "p.png")}
    response = _send(api, user["token"], secret, data=upload, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    monkeypatch.setattr(frames.crypto, "decrypt", decrypt)
    [(kind, frame, channel_id, audience, extra)] = [event for event in published if event[1]["type"] == "message"]
    assert (kind, channel_id, frame["type"]) == ("channel", secret, "message")
    assert set(audience) == {owner["id"], user["id"]} and extra == {}
    [stored] = load(api, owner["token"], secret)
    assert {key: value for key, value in frame.items() if key != "type"} == stored
    assert "sig=" in stored["attachments"][0]  # a private channel's attachment links are signed


def test_with_celery_fanout_the_commit_queues_the_relay_for_a_worker(api, app, owner, channel, monkeypatch):
    from app.models import Event
    from app.realtime import relay
    from app.tasks import FANOUT_DELIVER
    queued, woken = [], []
    monkeypatch.setitem(app.config, "REALTIME_FANOUT", "celery")
    monkeypatch.setattr(relay, "enqueue", lambda name, *args: queued.append((name, *args)))
    monkeypatch.setattr(relay.relay, "wake", lambda *args: woken.append(args))
    message_id = send(api, owner["token"], channel, "through the workers")
    assert queued == [(FANOUT_DELIVER,)] and woken == []
    from app.extensions import db
    from app.realtime.log import frame_text
    with app.app_context():
        [(row, frame)] = [(r, json.loads(frame_text(r))) for r in db.session.query(Event).all()
                          if json.loads(frame_text(r))["type"] == "message"]
    assert (row.kind, row.channel_id, row.audience, frame["type"], frame["message_id"]) == (
        "channel", channel, None, "message", message_id)
    [stored] = load(api, owner["token"], channel)
    assert {key: value for key, value in frame.items() if key != "type"} == stored


def test_a_refused_send_publishes_nothing_and_stores_nothing(api, owner, user, channel, published):
    assert_error(_send(api, owner["token"], channel, json={"message": ""}), 400, "EMPTY_MESSAGE")
    secret = make_channel(api, owner["token"], "secret", private=True)
    assert_error(_send(api, user["token"], secret, json={"message": "let me in"}), 404, "UNKNOWN_CHANNEL")
    assert [event for event in published if event[1]["type"] == "message"] == []
    assert load(api, owner["token"], channel) == []


def test_typing_is_published_once_per_interval(api, app, owner, channel, published):
    from app.accounts.auth import caller_for_token
    from app.messaging import events, messages
    with app.app_context():
        caller = caller_for_token(owner["token"])
        row = messages.visible_channel(caller, channel)
        for _ in range(3):
            events.typing(caller, row)
    [(kind, frame, channel_id, _, extra)] = published
    assert (kind, frame["type"], channel_id, extra) == ("channel", "typing", channel, {"exclude_user": owner["id"]})
