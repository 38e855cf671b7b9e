"""What the PufferBlow web client and Python SDK read: public usage, chart colours, activity
types, DELETE unblock, GET reads, malformed tokens and empty credentials."""
import re

import pytest

from app.admin import analytics
from app.admin.audit import ACTIVITY_TYPES, activity_entry
from app.models import AuditEvent
from tests.api_helpers import PASSWORD, assert_error, error_paths, make_channel

USAGE = "/api/v1/system/server-usage"
COLOUR = re.compile(r"rgba\(\d{1,3}, \d{1,3}, \d{1,3}, (0(\.\d+)?|1)\)")
CLIENT_TYPES = {"user_joined", "channel_created", "moderation", "message_sent", "setting_changed", "file_upload"}


# --- server-usage ----------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["GET", "POST"])
def test_server_usage_answers_without_a_token(api, owner, method):
    response = api.call(method, USAGE, json={} if method == "POST" else None)
    assert response.status_code == 200, response.get_json()
    usage = response.get_json()["server_usage"]
    for field in ("cpu_percent", "ram_used_gb", "ram_total_gb", "ram_percent", "storage_used_gb",
                  "storage_total_gb", "storage_percent", "uptime_formatted", "disk_read_mb_per_sec",
                  "disk_write_mb_per_sec"):
        assert field in usage, field
    assert isinstance(usage["disk_read_mb_per_sec"], float) and usage["disk_read_mb_per_sec"] >= 0
    assert isinstance(usage["disk_write_mb_per_sec"], float) and usage["disk_write_mb_per_sec"] >= 0


def test_server_usage_staff_only_when_not_public(api, app, owner, admin, user, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_SERVER_USAGE", False)
    assert_error(api.call("POST", USAGE), 401, "MISSING_AUTH_TOKEN")
    assert_error(api.call("POST", USAGE, token=user["token"]), 403, "MISSING_ACCESS")
    assert api.call("POST", USAGE, token=admin["token"]).status_code == 200
    assert api.call("POST", USAGE, token=owner["token"]).status_code == 200


def test_disk_rates_are_measured_between_samples(monkeypatch):
    samples = iter([(1_000_000, 2_000_000, 10.0), (4_000_000, 2_000_000, 12.0), (3_000_000, 2_500_000, 13.0)])
    monkeypatch.setattr(analytics, "_disk_sample", lambda: next(samples))
    monkeypatch.setattr(analytics, "_disk_previous", None)
    # First call: the rate over the baseline taken before the CPU measurement.
    assert analytics.disk_rates((0, 0, 9.0)) == (1.0, 2.0)
    # Then: since this process's previous sample (3 MB read in 2 s).
    assert analytics.disk_rates((0, 0, 0.0)) == (1.5, 0.0)
    # A counter that went backwards (a disk detached) reads as no traffic, never negative.
    assert analytics.disk_rates((0, 0, 0.0)) == (0.0, 0.5)


# --- charts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["user-registrations", "message-activity", "online-users", "channel-creation"])
def test_series_datasets_carry_colours(api, owner, kind):
    dataset = api.call("POST", f"/api/v1/system/charts/{kind}", token=owner["token"],
                       json={"period": "7d"}).get_json()["chart_data"]["datasets"][0]
    assert COLOUR.fullmatch(dataset["backgroundColor"]) and COLOUR.fullmatch(dataset["borderColor"])
    assert dataset["backgroundColor"] != dataset["borderColor"]  # a translucent fill under an opaque line


def test_status_pie_has_one_colour_per_status(api, owner, user):
    data = api.call("POST", "/api/v1/system/charts/user-status", token=owner["token"]).get_json()["chart_data"]
    dataset = data["datasets"][0]
    for field in ("backgroundColor", "borderColor"):
        assert len(dataset[field]) == len(data["labels"]) == len(dataset["data"])
        assert all(COLOUR.fullmatch(colour) for colour in dataset[field])
        assert len(set(dataset[field])) == len(data["labels"])


# --- recent-activity -------------------------------------------------------------------------

def test_activity_types_are_the_clients_words(api, owner, user):
    channel_id = make_channel(api, owner["token"], "general")
    api.call("PUT", "/api/v1/system/server-info", token=owner["token"], json={"server_name": "Reef"})
    api.call("DELETE", f"/api/v1/channels/{channel_id}/delete", token=owner["token"])
    activities = api.call("POST", "/api/v1/system/recent-activity", token=owner["token"],
                          json={"limit": 100}).get_json()["activities"]
    pairs = [(a["type"], a["action"]) for a in activities][::-1]
    assert pairs == [("user_joined", "user_signup"), ("user_joined", "user_signup"),
                     ("channel_created", "channel_created"), ("setting_changed", "settings_updated"),
                     ("moderation", "channel_deleted")]


def test_every_mapped_type_is_a_client_word_and_unknown_types_default():
    assert set(ACTIVITY_TYPES.values()) <= CLIENT_TYPES
    unknown = activity_entry(AuditEvent(id="1", type="something_new", title="t", description="", details={}))
    assert (unknown["type"], unknown["action"]) == ("moderation", "something_new")
    # Events stored as "moderation" name their precise action in their details.
    ban = activity_entry(AuditEvent(id="2", type="moderation", title="t", description="", details={"action": "ban"}))
    assert (ban["type"], ban["action"]) == ("moderation", "ban")


# --- DELETE unblock --------------------------------------------------------------------------

@pytest.mark.parametrize("blocked,path", [("203.0.113.7", "203.0.113.7"), ("10.0.0.0/8", "10.0.0.0%2F8"),
                                          ("2001:db8::/32", "2001:db8::%2F32")])
def test_unblock_by_delete(api, owner, blocked, path):
    assert api.call("POST", "/api/v1/blocked-ips/block", token=owner["token"], json={"ip": blocked}).status_code == 201
    response = api.call("DELETE", f"/api/v1/blocked-ips/unblock/{path}", token=owner["token"])
    assert response.status_code == 200, response.get_json()
    listed = api.call("POST", "/api/v1/blocked-ips/list", token=owner["token"]).get_json()["blocked_ips"]
    assert listed == []
    assert_error(api.call("DELETE", f"/api/v1/blocked-ips/unblock/{path}", token=owner["token"]), 404, "IP_NOT_BLOCKED")


def test_unblock_by_delete_refusals(api, owner, admin):
    api.call("POST", "/api/v1/blocked-ips/block", token=owner["token"], json={"ip": "203.0.113.7"})
    assert_error(api.call("DELETE", "/api/v1/blocked-ips/unblock/203.0.113.7", token=admin["token"]), 403)
    assert_error(api.call("DELETE", "/api/v1/blocked-ips/unblock/203.0.113.7"), 401)
    assert error_paths(api.call("DELETE", "/api/v1/blocked-ips/unblock/not-an-ip", token=owner["token"])) == ["ip"]
    assert api.call("POST", "/api/v1/blocked-ips/list", token=owner["token"]).get_json()["blocked_ips"]


# --- the Python SDK --------------------------------------------------------------------------

def test_channel_list_and_profile_by_get(api, owner, user):
    make_channel(api, owner["token"], "general")
    listed = api.call("GET", "/api/v1/channels/list/", token=user["token"])
    assert listed.status_code == 200 and [c["channel_name"] for c in listed.get_json()["channels"]] == ["general"]
    me = api.call("GET", "/api/v1/users/profile", token=user["token"])
    assert me.status_code == 200 and me.get_json()["user_data"]["username"] == "alice"
    other = api.call("GET", "/api/v1/users/profile", token=user["token"], query={"user_id": owner["id"]})
    assert other.get_json()["user_data"]["username"] == "owner"
    assert_error(api.call("GET", "/api/v1/channels/list/"), 401)
    assert_error(api.call("GET", "/api/v1/users/profile", token="abcdwqwpdopok"), 400, "MALFORMED_AUTH_TOKEN")


def test_malformed_token_is_anonymous_to_the_rate_limiter(app, api, owner, tmp_path):
    from tests.api_helpers import another_app
    with another_app(app, str(tmp_path), RATELIMIT_ENABLED=True) as limited:
        client = limited.test_client()
        response = client.post("/api/v1/users/profile", json={"auth_token": "abcdwqwpdopok"})
        assert response.status_code == 400 and response.get_json()["code"] == "MALFORMED_AUTH_TOKEN"
        assert response.headers["X-RateLimit-Limit"] == app.config["RATELIMIT_ANONYMOUS"].split("/")[0]


@pytest.mark.parametrize("body,paths", [({"username": "", "password": PASSWORD}, ["username"]),
                                        ({"username": "alice", "password": ""}, ["password"]),
                                        ({"username": "", "password": ""}, ["username", "password"])])
def test_signin_with_empty_credentials_is_a_validation_error(api, user, body, paths):
    assert error_paths(api.call("POST", "/api/v1/users/signin", json=body)) == paths
    assert error_paths(api.call("GET", "/api/v1/users/signin", query=body)) == paths


def test_unknown_username_answers_like_a_wrong_password(api, user):
    unknown = assert_error(api.call("POST", "/api/v1/users/signin", json={"username": "nobody", "password": PASSWORD}), 401)
    wrong = assert_error(api.call("POST", "/api/v1/users/signin", json={"username": "alice", "password": "wrong one"}), 401)
    assert unknown == wrong and unknown["code"] == "INVALID_CREDENTIALS"
