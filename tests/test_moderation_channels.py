"""Channel rules (slow mode, read-only, settings) and reports over HTTP (in-process app)."""
import threading
import time

from tests.api_helpers import another_app, assert_error, load, make_channel, send, Api
from tests.filedata import upload


def _update(api, token, channel, **body):
    return api.call("PUT", f"/api/v1/channels/{channel}/update", token=token, json=body)


def _post(api, token, channel, text="hi"):
    return api.call("POST", f"/api/v1/channels/{channel}/send_message", token=token, json={"message": text})


def test_channel_settings_are_validated_and_stored(api, owner, admin, user):
    channel = make_channel(api, owner["token"], "general")
    make_channel(api, owner["token"], "taken")
    assert_error(_update(api, user["token"], channel, read_only=True), 403, "MISSING_ACCESS")
    assert_error(_update(api, admin["token"], channel, slow_mode=21601), 400, "INVALID_FORM_BODY")
    assert_error(_update(api, admin["token"], channel), 400, "INVALID_FORM_BODY")
    assert_error(_update(api, admin["token"], channel, channel_name="Taken"), 409, "CHANNEL_NAME_TAKEN")
    assert_error(_update(api, admin["token"], "no-such-channel", read_only=True), 404, "UNKNOWN_CHANNEL")
    response = _update(api, admin["token"], channel, channel_name="chat", description="Talk here",
                       slow_mode=30, read_only=False, is_private=False)
    assert response.status_code == 200, response.get_json()
    data = response.get_json()["channel_data"]
    assert (data["channel_name"], data["description"], data["slow_mode"], data["read_only"]) == \
        ("chat", "Talk here", 30, False)
    assert response.get_json()["updated_fields"] == ["channel_name", "description", "is_private", "read_only",
                                                     "slow_mode"]
    listed = api.call("POST", "/api/v1/channels/list/", token=user["token"]).get_json()["channels"]
    assert listed[0]["channel_name"] == "chat" and listed[0]["slow_mode"] == 30


def test_private_switch_hides_the_channel(api, owner, user):
    channel = make_channel(api, owner["token"], "general")
    assert _update(api, owner["token"], channel, is_private=True).status_code == 200
    assert_error(_post(api, user["token"], channel), 404, "UNKNOWN_CHANNEL")


def test_slow_mode_refuses_early_messages_staff_exempt(api, owner, user):
    channel = make_channel(api, owner["token"], "general")
    _update(api, owner["token"], channel, slow_mode=120)
    send(api, user["token"], channel, "first")
    refused = _post(api, user["token"], channel, "second")
    body = assert_error(refused, 429, "SLOW_MODE")
    assert 1 <= body["retry_after"] <= 120 and refused.headers["Retry-After"] == str(body["retry_after"])
    send(api, owner["token"], channel, "staff one")
    send(api, owner["token"], channel, "staff two")  # staff are exempt
    _update(api, owner["token"], channel, slow_mode=0)
    send(api, user["token"], channel, "free again")


def test_a_refused_message_does_not_use_the_slow_mode_slot(api, owner, user):
    channel = make_channel(api, owner["token"], "calm")
    _update(api, owner["token"], channel, slow_mode=600)
    too_long = _post(api, user["token"], channel, "x" * 100_000)
    assert too_long.status_code == 400
    reply_to_nothing = api.call("POST", f"/api/v1/channels/{channel}/send_message", token=user["token"],
                                json={"message": "hi", "reply_to": "0190a0b0-0000-7000-8000-000000000000"})
    assert reply_to_nothing.status_code in (400, 404), reply_to_nothing.get_json()
    bad_file = api.call("POST", f"/api/v1/channels/{channel}/send_message", token=user["token"],
                        data={"message": "look", "attachments": upload(b"<html><script>x</script>", "x.png")},
                        content_type="multipart/form-data")
    assert bad_file.status_code in (400, 415), bad_file.get_json()
    send(api, user["token"], channel, "the first that counts")
    assert_error(_post(api, user["token"], channel, "too soon"), 429, "SLOW_MODE")
    _update(api, owner["token"], channel, slow_mode=1)  # a shorter interval applies at once
    time.sleep(1.1)
    send(api, user["token"], channel, "after the new interval")


def test_slow_mode_lets_one_of_several_simultaneous_messages_through(app, api, owner, user):
    channel = make_channel(api, owner["token"], "busy")
    _update(api, owner["token"], channel, slow_mode=600)
    statuses, barrier = [], threading.Barrier(6)

    def post(n):
        client = Api(app.test_client())
        barrier.wait()
        statuses.append(_post(client, user["token"], channel, f"racer {n}").status_code)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 429, 429, 429, 429, 429]
    assert len(load(api, owner["token"], channel)) == 1


def test_a_deleted_message_no_longer_holds_the_slow_mode_window(api, owner, user):
    channel = make_channel(api, owner["token"], "calm")
    _update(api, owner["token"], channel, slow_mode=600)
    message_id = send(api, user["token"], channel, "oops")
    refused = assert_error(_post(api, user["token"], channel, "again"), 429, "SLOW_MODE")
    assert 590 <= refused["retry_after"] <= 600
    deleted = api.call("DELETE", f"/api/v1/messages/{message_id}", token=user["token"])
    assert deleted.status_code == 200, deleted.get_json()
    send(api, user["token"], channel, "what I meant")


def test_read_only_channel_only_staff_post(api, owner, admin, user):
    channel = make_channel(api, owner["token"], "news")
    _update(api, owner["token"], channel, read_only=True)
    assert_error(_post(api, user["token"], channel), 403, "READ_ONLY_CHANNEL")
    send(api, admin["token"], channel, "announcement")
    send(api, owner["token"], channel, "another")
    assert len(load(api, user["token"], channel)) == 2  # everyone still reads


def test_reports_filed_listed_and_resolved(api, owner, admin, user, other_user):
    channel = make_channel(api, owner["token"], "general")
    bad = send(api, other_user["token"], channel, "buy cheap pills")
    assert_error(api.call("POST", "/api/v1/reports", token=user["token"], json={"category": "spam"}), 400)
    too_many = api.call("POST", "/api/v1/reports", token=user["token"],
                        json={"category": "spam", "message_ids": [bad] * 5 + [f"m{n}" for n in range(6)]})
    assert_error(too_many, 400, "INVALID_FORM_BODY")
    assert_error(api.call("POST", "/api/v1/reports", token=user["token"],
                          json={"category": "spam", "message_ids": ["00000000-0000-0000-0000-000000000000"]}),
                 404, "UNKNOWN_MESSAGE")
    assert_error(api.call("POST", "/api/v1/reports", token=user["token"], json={"category": "rude", "user_id": bad}),
                 400, "INVALID_FORM_BODY")
    assert_error(api.call("POST", "/api/v1/reports", json={"category": "spam", "message_ids": [bad]}), 401)
    filed = api.call("POST", "/api/v1/reports", token=user["token"],
                     json={"category": "spam", "message_ids": [bad], "description": "ads"})
    assert filed.status_code == 201, filed.get_json()
    report = filed.get_json()["report"]
    assert (report["status"], report["user_id"], report["reporter_id"]) == ("open", other_user["id"], user["id"])
    by_user = api.call("POST", "/api/v1/reports", token=user["token"], json={"category": "harassment",
                                                                            "user_id": other_user["id"]})
    assert by_user.status_code == 201
    assert_error(api.call("GET", "/api/v1/reports", token=user["token"]), 403, "MISSING_ACCESS")
    open_reports = api.call("GET", "/api/v1/reports", token=admin["token"], query={"status": "open"}).get_json()
    texts = {r["report_id"]: [m["message"] for m in r["messages"]] for r in open_reports["reports"]}
    assert texts[report["report_id"]] == ["buy cheap pills"]  # decrypted for staff
    bad_status = api.call("PUT", f"/api/v1/reports/{report['report_id']}", token=admin["token"], json={"status": "open"})
    assert_error(bad_status, 400, "INVALID_FORM_BODY")
    assert_error(api.call("PUT", "/api/v1/reports/nope", token=admin["token"], json={"status": "resolved"}),
                 404, "UNKNOWN_REPORT")
    done = api.call("PUT", f"/api/v1/reports/{report['report_id']}", token=admin["token"],
                    json={"status": "resolved", "note": "banned the spammer"})
    assert done.get_json()["report"]["status"] == "resolved"
    still_open = api.call("GET", "/api/v1/reports", token=admin["token"], query={"status": "open"}).get_json()
    assert [r["report_id"] for r in still_open["reports"]] == [by_user.get_json()["report"]["report_id"]]
    activity = api.call("GET", "/api/v1/system/recent-activity", token=owner["token"], query={"limit": 20}).get_json()
    actions = {a["metadata"].get("action") for a in activity["activities"] if a["type"] == "moderation"}
    assert {"report_created", "report_resolved"} <= actions


def test_reports_are_rate_limited(app, services, owner, user):
    with another_app(app, services["data_dir"], RATELIMIT_ENABLED=True, RATELIMIT_REPORTS="2/minute",
                     RATELIMIT_USER="1000/minute") as limited:
        client = Api(limited.test_client())
        body = {"category": "other", "user_id": owner["id"]}
        codes = [client.call("POST", "/api/v1/reports", token=user["token"], json=body).status_code for _ in range(3)]
    assert codes == [201, 201, 429]
