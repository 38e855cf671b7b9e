def test_signup_signin_and_profile(api):
    first = api.signup("owner")
    response = api.call("GET", "/api/v1/users/signin", query={"username": "OWNER", "password": "correct horse battery"})
    assert response.status_code == 200
    body = api.call("POST", "/api/v1/users/profile", token=first["token"]).get_json()
    assert body["user_data"]["roles_ids"] == ["owner", "admin", "user"]


def test_channel_message_roundtrip(api, owner):
    created = api.call("POST", "/api/v1/channels/create/", token=owner["token"], json={"channel_name": "general"})
    assert created.status_code == 201
    channel_id = created.get_json()["channel_data"]["channel_id"]
    sent = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"], json={"message": "hi"})
    assert sent.status_code == 201, sent.get_json()
    loaded = api.call("GET", f"/api/v1/channels/{channel_id}/load_messages", token=owner["token"]).get_json()
    assert [m["message"] for m in loaded["messages"]] == ["hi"]


def test_readyz_reports_database_and_redis(api):
    response = api.call("GET", "/readyz")
    assert response.status_code == 200
    assert response.get_json()["checks"] == {"database": "ok", "redis": "ok"}
