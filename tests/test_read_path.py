"""The read path: settings served from the per-process cache, history pages in a fixed number of
statements whatever their size, and the same message objects as the generic serialiser."""
import datetime
import functools
import re
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
from flask import Flask
from flask.json.provider import DefaultJSONProvider
import sqlalchemy as sa
from sqlalchemy import event

from app.admin.settings import settings_changed
from app.database import Prepared
from app.extensions import db
from app.json_provider import FastJSONProvider
from app.ids import iso, uuid7
from app.messaging import history
from app.messaging.frames import serialize
from app.messaging.messages import message_rows, unread_count
from app.models import Message
from tests.api_helpers import add_member, load, make_channel, send


@contextmanager
def statements(app, monkeypatch):
    """Count the SQL statements run meanwhile: through SQLAlchemy and through Prepared."""
    counted = {"sql": 0}

    def before(*_args):
        counted["sql"] += 1

    original = Prepared._run

    def prepared_run(self, *args, **kwargs):
        counted["sql"] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Prepared, "_run", prepared_run)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", before)
        monkeypatch.setattr(Prepared, "_run", original)


@pytest.mark.parametrize("path", ["/api/v1/info", "/api/v1/system/server-info"])
def test_server_info_runs_no_sql_on_a_cache_hit(api, app, owner, monkeypatch, path):
    assert api.call("GET", path).status_code == 200  # fills the cache
    runs = []
    for _ in range(3):  # the fewest of three: the counter sees every thread, and a background
        with statements(app, monkeypatch) as counted:  # reload (relay, block list) may land in one
            for _ in range(20):
                assert api.call("GET", path).status_code == 200
        runs.append(counted["sql"])
    assert min(runs) == 0, runs
    settings_changed()  # a miss reads the row: the counter sees it
    with statements(app, monkeypatch) as counted:
        assert api.call("GET", path).status_code == 200
    assert counted["sql"] > 0


def test_a_settings_change_is_seen_at_once(api, owner):
    for path in ("/api/v1/info", "/api/v1/system/server-info"):
        assert api.call("GET", path).status_code == 200
    response = api.call("PUT", "/api/v1/system/server-info", token=owner["token"],
                        json={"server_name": "Renamed", "max_message_length": 1234})
    assert response.status_code == 200, response.get_json()
    assert api.call("GET", "/api/v1/info").get_json()["server_info"]["server_name"] == "Renamed"
    info = api.call("GET", "/api/v1/system/server-info").get_json()["server_info"]
    assert (info["server_name"], info["max_message_length"]) == ("Renamed", 1234)


def _rich_channel(api, owner, user, other_user, count: int, private: bool = False) -> tuple[str, list[str]]:
    """count messages by three senders, each replying to the one before, with reactions, pins
    and mentions; the first replies to a message that is then deleted."""
    channel = make_channel(api, owner["token"], "rich", private=private)
    if private:
        for member in (user, other_user):
            add_member(api, owner["token"], channel, member["id"])
    gone = send(api, owner["token"], channel, "soon deleted")
    ids, previous = [], gone
    people = [owner, user, other_user]
    for n in range(count):
        author = people[n % 3]
        response = api.call("POST", f"/api/v1/channels/{channel}/send_message", token=author["token"],
                            json={"message": f"message {n} for <@{people[(n + 1) % 3]['id']}>", "reply_to": previous})
        assert response.status_code == 201, response.get_json()
        previous = response.get_json()["message_id"]
        ids.append(previous)
        for reactor, emoji in ((owner, "👍"), (user, "🎉"), (other_user, "👍")):
            assert api.call("POST", f"/api/v1/messages/{previous}/reactions", token=reactor["token"],
                            json={"emoji": emoji}).status_code == 200
        if n % 4 == 0:
            assert api.call("PUT", f"/api/v1/channels/{channel}/pins/{previous}",
                            token=owner["token"]).status_code in (200, 201)
    assert api.call("DELETE", f"/api/v1/messages/{gone}", token=owner["token"]).status_code == 200
    return channel, ids


def test_history_pages_take_the_same_statements_whatever_their_size(api, app, owner, user, other_user,
                                                                     monkeypatch):
    channel, ids = _rich_channel(api, owner, user, other_user, 24)

    def messages_route():
        response = api.call("GET", "/api/v1/messages", token=user["token"], query={"channel_id": channel, "limit": 24})
        assert response.status_code == 200
        return response.get_json()["messages"]

    reads = {label: functools.partial(load, api, user["token"], channel, **query) for label, query in {
        "newest 3": {"messages_per_page": 3}, "newest 24": {"messages_per_page": 24},
        "before 3": {"before": ids[-1], "limit": 3}, "before 23": {"before": ids[-1], "limit": 23},
        "after 20": {"after": ids[2], "limit": 20}, "page 2": {"page": 2, "messages_per_page": 10}}.items()}
    reads["messages 24"] = messages_route
    counts = {}
    for label, read in reads.items():
        runs = []
        for _ in range(3):  # the fewest of three: a periodic cache reload may land in one
            with statements(app, monkeypatch) as counted:
                page = read()
            runs.append(counted["sql"])
        assert page and all(m["reactions"] and m["reply_to"] for m in page)
        counts[label] = min(runs)
    assert len(messages_route()) == 24
    # The token, the channel, the page with its joins and reactions.
    assert set(counts.values()) == {3}, counts


def test_history_lists_reactions_in_the_order_they_were_given(api, owner, user, other_user):
    """Emojis by their first reaction, and each emoji's users, in time order: not by name or id."""
    channel = make_channel(api, owner["token"], "reacted")
    message = send(api, owner["token"], channel, "react to me")
    people = sorted([owner, user, other_user], key=lambda person: person["id"], reverse=True)
    given = [(people[0], "👍"), (people[1], "🎉"), (people[2], "🎉"), (people[1], "👍"), (people[2], ":zz_top:"),
             (people[0], ":aa_first:")]
    for reactor, emoji in given:
        assert api.call("POST", f"/api/v1/messages/{message}/reactions", token=reactor["token"],
                        json={"emoji": emoji}).status_code == 200
    expected = [("👍", [people[0]["id"], people[1]["id"]]), ("🎉", [people[1]["id"], people[2]["id"]]),
                (":zz_top:", [people[2]["id"]]), (":aa_first:", [people[0]["id"]])]
    page = load(api, user["token"], channel, messages_per_page=5)
    assert [(r["emoji"], r["user_ids"]) for r in page[0]["reactions"]] == expected
    one = api.call("GET", f"/api/v1/messages/{message}", token=user["token"]).get_json()
    assert [(r["emoji"], r["user_ids"]) for r in one["message_data"]["reactions"]] == expected


def test_a_quiet_channel_page_starts_in_the_channel_index(api, app, owner, general):
    """A page is read from the (channel_id, id) index even where the statistics make walking the
    primary key look cheaper (on PostgreSQL "=" on the channel let the planner do so, and read
    every newer message of a busy channel before reaching a quiet one's)."""
    quiet = make_channel(api, owner["token"], "quiet")
    with app.app_context():
        def rows(channel: str, count: int) -> list[dict]:
            return [{"id": uuid7(), "channel_id": channel, "sender_id": owner["id"], "key_id": "k", "ciphertext": b"x",
                     "hashed_message": "h", "attachments": []} for _ in range(count)]
        older, newer = rows(quiet, 1000), rows(general, 4000)
        db.session.execute(sa.insert(Message), older + newer)
        db.session.commit()
        connection = db.session.connection()
        connection.exec_driver_sql("ANALYZE")  # the quiet channel holds a fifth of the rows, all older
        # A cursor after every message: the page is the channel's newest, as far back as they go.
        for kind, extra in (("newest", {}), ("before", {"before": "ffffffff-ffff-7fff-bfff-ffffffffffff"})):
            statement = history.page_statement(connection.dialect.name, kind, 50, False)
            sql, names, _binds, _results = statement.plan(connection.dialect)
            values = {"channel_id": quiet, "offset": 0, **extra}
            if connection.dialect.name == "postgresql":
                plan = "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql, values))
                scans = [line for line in plan.splitlines() if "Scan" in line and " on messages " in line
                         and " on messages original" not in line]  # the page, not the replied originals
                assert scans and all("ix_messages_channel_id_id" in line for line in scans), plan
            else:
                plan = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, tuple(values[n] for n in names)).all()
                assert any("ix_messages_channel_id_id (channel_id=?" in row[3] for row in plan), plan
            assert [row.id for row in statement.all(values)] == [row["id"] for row in older[-50:]]
            # The limit is written into the SQL: PostgreSQL may then keep one plan for every channel
            # rather than plan each page again, and that plan reads the same page.
            assert "limit" not in (names or re.findall(r"%\((\w+)\)s", sql))
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
                assert [row.id for row in statement.all(values)] == [row["id"] for row in older[-50:]]
                connection.exec_driver_sql("RESET plan_cache_mode")
        # Its unread count, read up to its last message and from one before it.
        assert unread_count(SimpleNamespace(id="another reader"), quiet, older[-1]["id"]) == 0
        assert unread_count(SimpleNamespace(id="another reader"), quiet, older[-2]["id"]) == 1
        db.session.rollback()


def test_history_reads_outside_a_transaction_on_postgresql(api, app, owner, general, monkeypatch):
    """A reads_only route runs its statements in autocommit on PostgreSQL (no BEGIN, no ROLLBACK);
    the connection is transactional again for the next request, a send."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite begins no transaction for reads")
    send(api, owner["token"], general, "hello")
    seen = []
    original = Prepared._run

    def prepared_run(self, driver, *args, **kwargs):
        seen.append(driver.autocommit)
        return original(self, driver, *args, **kwargs)

    monkeypatch.setattr(Prepared, "_run", prepared_run)
    for _ in range(3):  # every pooled connection it may take
        assert [m["message"] for m in load(api, owner["token"], general)] == ["hello"]
    reads, seen[:] = list(seen), []
    send(api, owner["token"], general, "and again")
    assert reads and all(reads), reads
    assert seen and not any(seen), seen


def test_history_times_read_as_text_equal_the_objects_times(api, app, owner, general):
    """A page reads its times as text written by the database: the same text as iso() of the
    stored value, the fraction of a second dropped, never rounded up."""
    ids = [send(api, owner["token"], general, f"timed {n}") for n in range(2)]
    stored = {ids[0]: (datetime.datetime(2026, 3, 4, 5, 6, 7, 999999), datetime.datetime(2026, 12, 31, 23, 59, 59, 500000)),
              ids[1]: (datetime.datetime(2027, 1, 1), None)}
    with app.app_context():
        for message_id, (sent_at, edited_at) in stored.items():
            db.session.execute(sa.update(Message).where(Message.id == message_id)
                               .values(sent_at=sent_at, edited_at=edited_at))
        db.session.commit()
    expected = [(iso(sent_at), iso(edited_at)) for sent_at, edited_at in stored.values()]
    assert expected == [("2026-03-04T05:06:07Z", "2026-12-31T23:59:59Z"), ("2027-01-01T00:00:00Z", None)]
    for page in (load(api, owner["token"], general, messages_per_page=2), load(api, owner["token"], general, limit=2,
                                                                                before=uuid7())):
        assert [(m["sent_at"], m["edited_at"]) for m in page] == expected


@pytest.mark.parametrize("private", [False, True])
def test_history_objects_equal_the_generic_serialiser(api, app, owner, user, other_user, private):
    channel, ids = _rich_channel(api, owner, user, other_user, 12, private=private)
    page = load(api, user["token"], channel, messages_per_page=12)
    assert [m["message_id"] for m in page] == ids
    assert page[0]["reply_to"]["deleted"] is True
    assert page[1]["reply_to"]["message_id"] == ids[0] and page[1]["reply_to"]["username"] == "owner"
    assert [m["pinned"] for m in page] == [n % 4 == 0 for n in range(12)]
    reactions = {r["emoji"]: (r["count"], set(r["user_ids"]), r["me"]) for r in page[0]["reactions"]}
    assert reactions == {"👍": (2, {owner["id"], other_user["id"]}, False), "🎉": (1, {user["id"]}, True)}
    assert page[0]["mentions"] == [user["id"]]
    with app.test_request_context():
        rows = sorted(message_rows(set(ids)), key=lambda m: m.id)
        expected = serialize(rows, user["id"])
        db.session.remove()
    assert page == expected
    deep = load(api, user["token"], channel, before=ids[5], limit=2)
    assert deep == expected[3:5]


def test_json_responses_hold_what_the_standard_provider_writes(api, owner):
    body = {"status_code": 200, "text": "héllo 👍 \"quoted\" \u2028", "n": [1, 2.5, None, True],
            "nested": {"b": 1, "a": [{}]}, "ints": {3: "three", 4: "four"}, "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
            "big": 2 ** 70}
    fast, standard = Flask("fast"), Flask("standard")
    fast.json, standard.json = FastJSONProvider(fast), DefaultJSONProvider(standard)
    small = {key: value for key, value in body.items() if key != "big"}  # orjson's path; with "big": the fallback
    for payload in (small, body):
        with fast.app_context():
            fast_response = fast.json.response(payload)
            fast_text = fast.json.dumps(payload)
        with standard.app_context():
            expected = standard.json.loads(standard.json.response(payload).get_data())
        assert fast_response.mimetype == "application/json"
        assert standard.json.loads(fast_response.get_data()) == expected == standard.json.loads(fast_text)
        assert expected["when"] == "Fri, 02 Jan 2026 03:04:05 GMT" and expected["ints"] == {"3": "three", "4": "four"}
    response = api.call("GET", "/api/v1/info")
    assert response.get_data().endswith(b"\n") and response.get_json()["status_code"] == 200
