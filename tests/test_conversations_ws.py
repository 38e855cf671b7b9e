"""Conversation events through real sockets against gunicorn (2 workers) and Redis."""
import pytest

from tests.api_helpers import add_member, make_channel, send
from scripts.stack import Stack
from tests.ws_support import STACK_ENV, connect, frames_within, http, next_frame, refusal, socket_processes, without_seq


@pytest.fixture(scope="module")
def stack(app, services):
    with Stack(services["env"], web_workers=2, threads=32, extra_env=STACK_ENV) as running:
        yield running


def _ready(*sockets):
    for ws in sockets:  # a pong proves the socket is registered
        ws.send('{"type": "ping"}')
        next_frame(ws, "pong")


def test_edit_reaction_and_pin_events(stack, api, owner, user, general):
    channel_ws, all_ws = connect(stack, f"/ws/channels/{general}", user["token"]), connect(stack, "/ws", user["token"])
    _ready(channel_ws, all_ws)
    message_id = send(api, user["token"], general, "first draft")
    api.call("PUT", f"/api/v1/messages/{message_id}", token=user["token"], json={"content": "final"})
    stored = api.call("GET", f"/api/v1/messages/{message_id}", token=owner["token"]).get_json()["message_data"]
    api.call("POST", f"/api/v1/messages/{message_id}/reactions", token=owner["token"], json={"emoji": "🎉"})
    api.call("POST", f"/api/v1/messages/{message_id}/reactions", token=user["token"], json={"emoji": "🎉"})
    api.call("DELETE", f"/api/v1/messages/{message_id}/reactions/🎉", token=owner["token"])
    api.call("PUT", f"/api/v1/channels/{general}/pins/{message_id}", token=owner["token"])
    api.call("DELETE", f"/api/v1/channels/{general}/pins/{message_id}", token=owner["token"])
    for ws in (channel_ws, all_ws):
        updated = next_frame(ws, "message_updated")
        assert {k: v for k, v in without_seq(updated).items() if k != "type"} == stored
        assert updated["message"] == "final" and updated["edited_at"]
        added = [next_frame(ws, "reaction_added") for _ in range(2)]
        assert [(f["emoji"], f["count"], f["user_id"]) for f in added] == [("🎉", 1, owner["id"]), ("🎉", 2, user["id"])]
        removed = next_frame(ws, "reaction_removed")
        assert (removed["message_id"], removed["channel_id"], removed["count"]) == (message_id, general, 1)
        assert next_frame(ws, "message_pinned")["message_id"] == message_id
        assert next_frame(ws, "message_unpinned")["message_id"] == message_id
        ws.close()


def test_mention_event_reaches_the_mentioned_user_on_ws(stack, api, owner, user, other_user, general):
    elsewhere = make_channel(api, owner["token"], "random")
    watching_other = connect(stack, f"/ws/channels/{elsewhere}", user["token"])
    all_ws = connect(stack, "/ws", user["token"])
    bystander = connect(stack, "/ws", other_user["token"])
    _ready(watching_other, all_ws, bystander)
    message_id = send(api, owner["token"], general, "ping @alice")
    frame = next_frame(all_ws, "mention")
    assert (frame["message_id"], frame["channel_id"]) == (message_id, general)
    assert frame["message_data"]["mentions"] == [user["id"]] and frame["message_data"]["message"] == "ping @alice"
    assert not [f for f in frames_within(bystander, 0.5) if f["type"] == "mention"]
    # Edited to name someone new: that user is told.
    api.call("PUT", f"/api/v1/messages/{message_id}", token=owner["token"], json={"content": "ping @alice @bob"})
    assert next_frame(bystander, "mention")["message_id"] == message_id
    assert not [f for f in frames_within(all_ws, 0.5) if f["type"] == "mention"]  # alice was told already
    for ws in (watching_other, all_ws, bystander):
        ws.close()


def test_mention_in_a_hidden_channel_tells_nobody_outside(stack, api, owner, user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    ws = connect(stack, "/ws", user["token"])
    _ready(ws)
    send(api, owner["token"], private, "secret plans, @alice must not know")
    assert not [f for f in frames_within(ws, 0.7) if f["type"] in {"mention", "message"}]
    ws.close()


def test_removed_member_stops_receiving_edits_and_reactions_at_once(stack, api, owner, user, other_user):
    private = make_channel(api, owner["token"], "staff-room", private=True)
    for account in (user, other_user):
        add_member(api, owner["token"], private, account["id"])
    message_id = send(api, owner["token"], private, "before")
    leaving, staying = connect(stack, "/ws", user["token"]), connect(stack, "/ws", other_user["token"])
    _ready(leaving, staying)
    api.call("DELETE", f"/api/v1/channels/{private}/remove_user", token=owner["token"],
             json={"to_remove_user_id": user["id"]})
    assert next_frame(leaving, "channel_removed")["channel_id"] == private
    api.call("PUT", f"/api/v1/messages/{message_id}", token=owner["token"], json={"content": "after"})
    api.call("POST", f"/api/v1/messages/{message_id}/reactions", token=owner["token"], json={"emoji": "👀"})
    assert next_frame(staying, "message_updated")["message"] == "after"
    assert next_frame(staying, "reaction_added")["emoji"] == "👀"
    assert not [f for f in frames_within(leaving, 0.7) if f["type"] in {"message_updated", "reaction_added"}]
    leaving.close(), staying.close()


def test_dm_events_reach_its_two_members_only(stack, api, owner, user, other_user):
    channel_id = api.call("POST", f"/api/v1/users/{other_user['id']}/dm",
                          token=user["token"]).get_json()["channel_data"]["channel_id"]
    status, body = refusal(stack, f"/ws/channels/{channel_id}", token=owner["token"])
    assert (status, body["code"]) == (404, "UNKNOWN_CHANNEL")
    staff_ws, member_ws = connect(stack, "/ws", owner["token"]), connect(stack, f"/ws/channels/{channel_id}",
                                                                        other_user["token"])
    _ready(staff_ws, member_ws)
    message_id = send(api, user["token"], channel_id, "just us")
    api.call("POST", f"/api/v1/messages/{message_id}/reactions", token=user["token"], json={"emoji": "🤫"})
    assert next_frame(member_ws, "message")["message"] == "just us"
    assert next_frame(member_ws, "reaction_added")["count"] == 1
    assert not [f for f in frames_within(staff_ws, 0.7) if f.get("channel_id") == channel_id]
    staff_ws.close(), member_ws.close()


def test_updates_and_reactions_reach_sockets_on_both_workers(stack, app, api, owner, general):
    accounts = [api.signup(f"reader{n}") for n in range(10)]
    sockets = [connect(stack, f"/ws/channels/{general}" if n % 2 else "/ws", accounts[n % 6]["token"])
               for n in range(12)]
    _ready(*sockets)
    assert len(socket_processes(app, [a["id"] for a in accounts])) == 2  # both workers hold sockets
    message_id = send(api, owner["token"], general, "draft")
    edit = http(stack, "PUT", f"/api/v1/messages/{message_id}", owner["token"], json={"content": "edited"})
    assert edit.status_code == 200, edit.text
    react = http(stack, "POST", f"/api/v1/messages/{message_id}/reactions", accounts[0]["token"], json={"emoji": "🚀"})
    assert react.status_code == 200, react.text
    for ws in sockets:
        assert next_frame(ws, "message_updated", timeout=10)["message"] == "edited"
        frame = next_frame(ws, "reaction_added", timeout=10)
        assert (frame["message_id"], frame["emoji"], frame["count"]) == (message_id, "🚀", 1)
        ws.close()


def test_deleting_by_id_sends_message_deleted(stack, api, user, general):
    ws = connect(stack, f"/ws/channels/{general}", user["token"])
    _ready(ws)
    message_id = send(api, user["token"], general, "gone soon")
    assert api.call("DELETE", f"/api/v1/messages/{message_id}", token=user["token"]).status_code == 200
    assert without_seq(next_frame(ws, "message_deleted")) == {"type": "message_deleted", "message_id": message_id,
                                                              "channel_id": general}
    ws.close()


def test_staff_sockets_close_on_nothing_of_a_dm(stack, api, owner, user, other_user):
    """A staff /ws socket stays open and untouched while a DM's members talk."""
    ws = connect(stack, "/ws", owner["token"])
    _ready(ws)
    channel_id = api.call("POST", f"/api/v1/users/{other_user['id']}/dm",
                          token=user["token"]).get_json()["channel_data"]["channel_id"]
    send(api, user["token"], channel_id, "@owner cannot see this")
    assert not [f for f in frames_within(ws, 0.7) if f["type"] in {"message", "mention"}]
    ws.send('{"type": "ping"}')
    assert next_frame(ws, "pong") == {"type": "pong"}
    ws.close()
