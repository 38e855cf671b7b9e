"""Moderation meets conversations: timed-out users neither edit nor react; banned users cannot be messaged."""
from tests.api_helpers import assert_error, make_channel, send


def _time_out(api, admin, user, seconds=600):
    response = api.call("POST", f"/api/v1/users/{user['id']}/timeout", token=admin["token"], json={"duration": seconds})
    assert response.status_code == 200, response.get_json()


def test_a_timed_out_user_cannot_edit_or_react(api, admin, user):
    general = make_channel(api, admin["token"], "general")
    mine = send(api, user["token"], general, "before the timeout")
    theirs = send(api, admin["token"], general, "from staff")
    _time_out(api, admin, user)
    edit = api.call("PUT", f"/api/v1/messages/{mine}", token=user["token"], json={"content": "changed"})
    assert assert_error(edit, 403, "TIMED_OUT")["until"]
    react = api.call("POST", f"/api/v1/messages/{theirs}/reactions", token=user["token"], json={"emoji": "👍"})
    assert_error(react, 403, "TIMED_OUT")
    message = api.call("GET", f"/api/v1/messages/{mine}", token=user["token"]).get_json()["message_data"]
    assert message["message"] == "before the timeout" and message["edited_at"] is None
    assert api.call("DELETE", f"/api/v1/users/{user['id']}/timeout", token=admin["token"]).status_code == 200
    assert api.call("PUT", f"/api/v1/messages/{mine}", token=user["token"], json={"content": "changed"}).status_code == 200
    reacted = api.call("POST", f"/api/v1/messages/{theirs}/reactions", token=user["token"], json={"emoji": "👍"})
    assert reacted.status_code == 200 and reacted.get_json()["count"] == 1


def test_a_banned_user_cannot_be_messaged(api, admin, user, other_user):
    dm = api.call("POST", f"/api/v1/users/{user['id']}/dm", token=other_user["token"])
    assert dm.status_code == 201, dm.get_json()
    channel_id = dm.get_json()["channel_data"]["channel_id"]
    send(api, other_user["token"], channel_id, "hello")
    assert api.call("POST", f"/api/v1/users/{user['id']}/ban", token=admin["token"]).status_code == 200
    refused = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=other_user["token"],
                       json={"message": "are you there?"})
    assert_error(refused, 403, "USER_BANNED")
    assert_error(api.call("POST", f"/api/v1/users/{user['id']}/dm", token=admin["token"]), 403, "USER_BANNED")
    assert api.call("DELETE", f"/api/v1/users/{user['id']}/ban", token=admin["token"]).status_code == 200
    send(api, other_user["token"], channel_id, "welcome back")
