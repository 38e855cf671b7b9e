"""Statistics, usage, charts from stored aggregates, recent activity, metrics and the overview."""
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from app.admin import analytics, charts
from app.extensions import db
from app.ids import utcnow
from app.models import Channel, ChartBucket, Message, OnlineSample, User

MESSAGE_AGES = [timedelta(minutes=m) for m in (1, 7, 30, 59)] + [timedelta(hours=h) for h in (2, 5, 23, 30)] + \
               [timedelta(days=d) for d in (1, 3, 6, 10, 40, 200, 300)]


def make_channel(api, token, name="general", private=False):
    response = api.call("POST", "/api/v1/channels/create/", token=token, json={"channel_name": name, "is_private": private})
    return response.get_json()["channel_data"]["channel_id"]


def send(api, token, channel_id, text="hi"):
    response = api.call("POST", f"/api/v1/channels/{channel_id}/send_message", token=token, json={"message": text})
    assert response.status_code == 201, response.get_json()


def backdate(app, model, column, ages, now):
    """Give the newest rows of a table the given ages (oldest row gets the first age)."""
    with app.app_context():
        rows = db.session.scalars(sa.select(model).order_by(column)).all()
        for row, age in zip(rows[-len(ages):], ages):
            setattr(row, column.key, now - age)
        db.session.commit()


def expected_series(moments, period_name, now):
    """Counts per point computed in the test, from calendar arithmetic alone."""
    period = charts.PERIODS[period_name]
    data = [0] * period.points

    def offset(moment):
        if period.unit == "5min":
            floor = lambda t: t.replace(second=0, microsecond=0) - timedelta(minutes=t.minute % 5)  # noqa: E731
            return int((floor(now) - floor(moment)).total_seconds() // 300)
        if period.unit == "hour":
            floor = lambda t: t.replace(minute=0, second=0, microsecond=0)  # noqa: E731
            return int((floor(now) - floor(moment)).total_seconds() // 3600)
        if period.unit == "day":
            return (now.date() - moment.date()).days
        if period.unit == "week":
            monday = lambda t: t.date() - timedelta(days=t.weekday())  # noqa: E731
            return (monday(now) - monday(moment)).days // 7
        return (now.year * 12 + now.month) - (moment.year * 12 + moment.month)

    for moment in moments:
        index = period.points - 1 - offset(moment)
        if 0 <= index < period.points:
            data[index] += 1
    return data


def chart(api, token, kind, period=None, **kwargs):
    body = {"period": period} if period else {}
    return api.call("POST", f"/api/v1/system/charts/{kind}", token=token, json=body, **kwargs)


def test_charts_match_independent_counts(api, app, owner, admin):
    channel_id = make_channel(api, owner["token"])
    for _ in MESSAGE_AGES:
        send(api, owner["token"], channel_id)
    for index in range(4):
        api.signup(f"member{index}")
    for index in range(3):
        make_channel(api, owner["token"], f"extra{index}")
    now = utcnow()
    backdate(app, Message, Message.sent_at, MESSAGE_AGES, now)
    user_ages = [timedelta(days=20), timedelta(days=3), timedelta(hours=3), timedelta(minutes=2)]
    backdate(app, User, User.created_at, user_ages, now)
    channel_ages = [timedelta(days=100), timedelta(days=8), timedelta(hours=1)]
    backdate(app, Channel, Channel.created_at, channel_ages, now)
    with app.app_context():
        message_times = list(db.session.scalars(sa.select(Message.sent_at)))
        user_times = list(db.session.scalars(sa.select(User.created_at)))
        channel_times = list(db.session.scalars(sa.select(Channel.created_at)))
        charts.update_all()

    for kind, moments in (("message-activity", message_times), ("user-registrations", user_times),
                          ("channel-creation", channel_times)):
        for period in ("1h", "24h", "hourly", "daily", "7d", "30d", "90d", "weekly", "monthly", "1y"):
            response, asked_at = chart(api, admin["token"], kind, period), utcnow()
            assert response.status_code == 200, response.get_json()
            body = response.get_json()["chart_data"]
            assert body["chart_type"] == kind and body["period"] == period
            assert len(body["labels"]) == len(body["datasets"][0]["data"]) == charts.PERIODS[period].points
            assert body["datasets"][0]["data"] == expected_series(moments, period, asked_at), (kind, period)
            raw = response.get_json()["raw_stats"]
            assert raw["total"] == sum(body["datasets"][0]["data"]) and raw["last_updated"].endswith("Z")
    default = chart(api, admin["token"], "message-activity").get_json()["chart_data"]
    assert default["period"] == "daily"
    assert default["datasets"][0]["data"] == expected_series(message_times, "7d", utcnow())


def test_a_chart_request_never_reads_the_message_table(api, app, owner):
    channel_id = make_channel(api, owner["token"])
    send(api, owner["token"], channel_id)
    with app.app_context():
        charts.update_all()
        statements = []

        def capture(conn, cursor, statement, *args):
            statements.append(statement.lower())

        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            data = chart(api, owner["token"], "message-activity", "24h").get_json()["chart_data"]
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    assert data["datasets"][0]["data"][-1] == 1
    assert statements and not any("messages" in statement for statement in statements)


def test_aggregation_is_idempotent_and_follows_deletions(api, app, owner):
    channel_id = make_channel(api, owner["token"])
    for _ in range(3):
        send(api, owner["token"], channel_id)
    with app.app_context():
        charts.update_all()
        first = sorted(db.session.execute(sa.select(ChartBucket.metric, ChartBucket.granularity,
                                                    ChartBucket.bucket_start, ChartBucket.value)).all())
        charts.update_all()
        second = sorted(db.session.execute(sa.select(ChartBucket.metric, ChartBucket.granularity,
                                                     ChartBucket.bucket_start, ChartBucket.value)).all())
        assert first == second
        db.session.execute(sa.delete(Message))
        db.session.commit()
        charts.update_all()
    data = chart(api, owner["token"], "message-activity", "7d").get_json()["chart_data"]["datasets"][0]["data"]
    assert sum(data) == 0


def test_online_users_chart_from_samples(api, app, owner, user, other_user):
    api.call("PUT", "/api/v1/users/profile", token=user["token"], json={"status": "online"})
    api.call("PUT", "/api/v1/users/profile", token=other_user["token"], json={"status": "dnd"})
    now = utcnow()
    with app.app_context():
        sample = analytics.record_online_sample()
        assert sample["online"] == 2 and sample["total"] == 3
        three_hours_ago = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
        db.session.add(OnlineSample(taken_at=three_hours_ago + timedelta(minutes=10), online=7, total=9))
        db.session.add(OnlineSample(taken_at=three_hours_ago + timedelta(minutes=20), online=4, total=9))
        db.session.commit()
        charts.update_all()
    data = chart(api, owner["token"], "online-users", "24h").get_json()["chart_data"]["datasets"][0]["data"]
    assert data[-1] == 2 and data[-4] == 7 and sum(data) == 9


def test_user_status_is_the_current_distribution(api, owner, user, other_user):
    api.call("PUT", "/api/v1/users/profile", token=user["token"], json={"status": "idle"})
    body = chart(api, owner["token"], "user-status").get_json()
    chart_data = body["chart_data"]
    counts = dict(zip(chart_data["labels"], chart_data["datasets"][0]["data"]))
    assert counts == {"online": 0, "offline": 2, "idle": 1, "dnd": 0}
    assert body["raw_stats"]["total"] == 3


def test_chart_refusals(api, owner, user):
    bad = chart(api, owner["token"], "message-activity", "fortnight")
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["path"] == "period"
    assert chart(api, user["token"], "message-activity").status_code == 403
    assert chart(api, None, "message-activity").status_code == 401
    assert api.call("POST", "/api/v1/system/charts/nonsense", token=owner["token"]).status_code == 404
    assert api.call("GET", "/api/v1/system/charts/user-status", token=owner["token"],
                    query={"period": "7d"}).status_code == 200


def test_server_stats_counts(api, app, owner, user):
    make_channel(api, owner["token"], "open")
    private_id = make_channel(api, owner["token"], "secret", private=True)
    for _ in range(3):
        send(api, owner["token"], private_id)
    backdate(app, Message, Message.sent_at, [timedelta(days=10)], utcnow())
    backdate(app, User, User.created_at, [timedelta(days=10)], utcnow())
    api.call("PUT", "/api/v1/users/profile", token=user["token"], json={"status": "online"})
    stats = api.call("GET", "/api/v1/system/server-stats", token=owner["token"]).get_json()["statistics"]
    # backdate() moves the newest rows: the user "alice", one of the three messages.
    assert stats["users"] == {"total": 2, "online": 1, "new_this_week": 1, "new_this_month": 2}
    assert stats["channels"] == {"total": 2, "public": 1, "private": 1}
    assert stats["messages"] == {"total": 3, "past_24h": 2, "past_week": 2, "past_month": 3}
    assert api.call("GET", "/api/v1/system/server-stats", token=user["token"]).status_code == 403


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_server_usage(api, app, owner, user, method, monkeypatch):
    monkeypatch.setitem(app.config, "PUBLIC_SERVER_USAGE", False)  # staff-only, as an operator may choose
    response = api.call(method, "/api/v1/system/server-usage", token=owner["token"], json={} if method == "POST" else None)
    assert response.status_code == 200
    usage = response.get_json()["server_usage"]
    for field in ("cpu_percent", "ram_used_gb", "ram_total_gb", "ram_percent", "storage_used_gb", "storage_total_gb",
                  "storage_percent", "uptime_seconds", "uptime_formatted", "timestamp"):
        assert field in usage, field
    assert 0 < usage["ram_used_gb"] <= usage["ram_total_gb"] and 0 <= usage["storage_percent"] <= 100
    assert api.call(method, "/api/v1/system/server-usage", token=user["token"]).status_code == 403


def test_recent_activity_records_security_events(api, owner, user):
    api.call("POST", "/api/v1/users/signin", json={"username": "alice", "password": "wrong password"})
    api.call("POST", "/api/v1/users/signin", json={"username": "alice", "password": "correct horse battery"})
    channel_id = make_channel(api, owner["token"], "private", private=True)
    api.call("PUT", f"/api/v1/channels/{channel_id}/add_user", token=owner["token"], json={"to_add_user_id": user["id"]})
    api.call("DELETE", f"/api/v1/channels/{channel_id}/remove_user", token=owner["token"],
             json={"to_remove_user_id": user["id"]})
    public_id = make_channel(api, owner["token"], "public")
    send(api, user["token"], public_id)
    message_id = api.call("GET", f"/api/v1/channels/{public_id}/load_messages",
                          token=owner["token"]).get_json()["messages"][0]["message_id"]
    api.call("DELETE", f"/api/v1/channels/{public_id}/delete_message", token=owner["token"],
             json={"message_id": message_id})
    api.call("POST", "/api/v1/users/profile/reset-auth-token", token=owner["token"],
             json={"password": "correct horse battery"})
    owner_token = api.call("POST", "/api/v1/users/signin",
                           json={"username": "owner", "password": "correct horse battery"}).get_json()["auth_token"]
    api.call("DELETE", f"/api/v1/channels/{channel_id}/delete", token=owner_token)
    body = api.call("POST", "/api/v1/system/recent-activity", token=owner_token, json={"limit": 100}).get_json()
    types = [activity["action"] for activity in body["activities"]][::-1]
    assert types == ["user_signup", "user_signup", "signin_failed", "user_signin", "channel_created", "member_added",
                     "member_removed", "channel_created", "message_deleted", "token_reset", "user_signin",
                     "channel_deleted"]
    newest = body["activities"][0]
    assert set(newest) == {"id", "type", "action", "title", "description", "timestamp", "user", "metadata"}
    assert [activity["type"] for activity in body["activities"]][::-1] == [
        "user_joined", "user_joined", "moderation", "user_joined", "channel_created", "user_joined", "moderation",
        "channel_created", "moderation", "moderation", "user_joined", "moderation"]
    assert newest["user"]["username"] == "owner" and newest["metadata"]["ip"] == "127.0.0.1"
    limited = api.call("POST", "/api/v1/system/recent-activity", token=owner_token, json={"limit": 2}).get_json()
    assert len(limited["activities"]) == 2
    assert api.call("POST", "/api/v1/system/recent-activity", token=owner_token, json={"limit": 101}).status_code == 400
    assert api.call("POST", "/api/v1/system/recent-activity", token=user["token"]).status_code == 403


def test_activity_metrics_and_overview(api, app, owner, admin, user):
    channel_id = make_channel(api, owner["token"])
    send(api, owner["token"], channel_id)
    send(api, user["token"], channel_id)
    send(api, user["token"], channel_id)
    backdate(app, Message, Message.sent_at, [timedelta(hours=2)], utcnow())
    api.call("PUT", "/api/v1/users/profile", token=admin["token"], json={"status": "online"})
    metrics = api.call("POST", "/api/v1/system/activity-metrics", token=admin["token"], json={}).get_json()
    metrics = metrics["activity_metrics"]
    assert {key: metrics[key] for key in ("total_users", "total_channels", "messages_per_hour", "active_users_24h",
                                          "current_online")} == {"total_users": 3, "total_channels": 1,
                                                                 "messages_per_hour": 2, "active_users_24h": 2,
                                                                 "current_online": 1}
    assert metrics["last_updated"].endswith("Z")
    overview = api.call("POST", "/api/v1/system/server-overview", token=admin["token"], json={}).get_json()
    overview = overview["server_overview"]
    assert overview["total_users"] == 3 and overview["total_channels"] == 1
    assert overview["messages_last_hour"] == 2 and overview["active_users"] == 2
    assert overview["messages_this_period"] == 3 and overview["period"] == "24h"
    week = api.call("POST", "/api/v1/system/server-overview", token=admin["token"], json={"period": "1h"}).get_json()
    assert week["server_overview"]["messages_this_period"] == 2
    for path in ("/api/v1/system/activity-metrics", "/api/v1/system/server-overview"):
        assert api.call("POST", path, token=user["token"]).status_code == 403
        assert api.call("POST", path).status_code == 401
