"""Server settings: GET/PUT /system/server-info, validation, roles and the audit entry."""


def test_server_info_is_public_with_every_field(api):
    response = api.call("GET", "/api/v1/system/server-info")
    assert response.status_code == 200
    info = response.get_json()["server_info"]
    for field in ("server_name", "server_description", "version", "is_private", "creation_date", "avatar_url",
                  "banner_url", "welcome_message", "max_message_length", "max_image_size", "max_video_size",
                  "max_file_size", "allowed_image_types", "allowed_video_types", "allowed_file_types"):
        assert field in info, field
    assert info["creation_date"].endswith("Z")


def test_owner_updates_every_field_and_it_is_stored(api, owner):
    changes = {"server_name": "  Reef  ", "server_description": "A calm place", "is_private": True,
               "welcome_message": "Hello!", "max_message_length": 500, "max_image_size": 1024,
               "max_video_size": 4096, "max_file_size": 2048, "allowed_image_types": ["PNG", ".webp"],
               "allowed_video_types": "mp4, webm", "allowed_file_types": ["pdf"]}
    response = api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json=changes)
    assert response.status_code == 200, response.get_json()
    assert set(response.get_json()["updated_fields"]) == set(changes)
    info = api.call("GET", "/api/v1/system/server-info").get_json()["server_info"]
    assert info["server_name"] == "Reef" and info["is_private"] is True
    assert info["max_message_length"] == 500 and info["max_image_size"] == 1024
    assert info["allowed_image_types"] == ["png", "webp"] and info["allowed_video_types"] == ["mp4", "webm"]
    activity = api.call("POST", "/api/v1/system/recent-activity", token=owner["token"]).get_json()["activities"]
    assert activity[0]["action"] == "settings_updated" and activity[0]["user"]["username"] == "owner"
    assert activity[0]["type"] == "setting_changed"


def test_stored_message_length_limit_is_enforced(api, owner):
    channel = api.call("POST", "/api/v1/channels/create/", token=owner["token"], json={"channel_name": "c"})
    channel_id = channel.get_json()["channel_data"]["channel_id"]
    # Sending first fills this process's settings cache: the change must replace it at once.
    assert api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"],
                    json={"message": "123456"}).status_code == 201
    api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={"max_message_length": 5})
    too_long = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"],
                        json={"message": "123456"})
    assert too_long.status_code == 400
    fits = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=owner["token"], json={"message": "12345"})
    assert fits.status_code == 201


def test_invalid_fields_are_all_reported_and_nothing_changes(api, owner):
    response = api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={
        "server_name": "", "max_message_length": 0, "max_image_size": "big", "is_private": "perhaps",
        "allowed_image_types": ["png", "../etc"], "welcome_message": "x" * 2001})
    assert response.status_code == 400
    body = response.get_json()
    assert body["code"] == "INVALID_FORM_BODY"
    paths = {error["path"] for error in body["errors"]}
    assert paths == {"server_name", "max_message_length", "max_image_size", "is_private", "allowed_image_types",
                     "welcome_message"}
    assert api.call("GET", "/api/v1/system/server-info").get_json()["server_info"]["server_name"] == "PufferBlow"


def test_size_limits_are_bounded_by_the_request_limit(api, owner, app):
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={"max_file_size": too_big})
    assert response.status_code == 400


def test_empty_update_is_refused(api, owner):
    assert api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={}).status_code == 400


def test_only_the_owner_changes_settings(api, admin, user):
    for account in (admin, user):
        response = api.call("PUT", "/api/v1/system/server-info", token=account["token"], json={"server_name": "x"})
        assert response.status_code == 403
        assert response.get_json()["code"] == "MISSING_ACCESS"
    assert api.call("PUT", "/api/v1/system/server-info", json={"server_name": "x"}).status_code == 401
    assert api.call("PUT", "/api/v1/system/server-info", token="forged.token", json={"server_name": "x"}).status_code == 400


def test_every_route_is_documented_including_the_administration_routes(app, api):
    from app.openapi import undocumented_rules

    assert undocumented_rules(app) == []
    paths = api.call("GET", "/openapi.json").get_json()["paths"]
    for path in ("/api/v1/blocked-ips/block", "/api/v1/system/server-info", "/api/v1/system/charts/online-users",
                 "/api/v1/system/recent-activity", "/api/v1/background-tasks/runs/{run_id}",
                 "/api/v1/users/signin"):
        assert path in paths, path
    assert set(paths["/api/v1/system/server-info"]) == {"get", "put"}
