"""The relay in one process, on the real Redis: this process's commits are published from memory
in seq order, a gap is waited for and then read from the log, and a lost cursor reads the log at once."""
import json
import time

import pytest
import redis as redis_lib
import sqlalchemy as sa

from app import keys
from app.extensions import db, redis
from app.realtime import log as event_log
from app.realtime import relay as relay_module


@pytest.fixture
def relay(app, monkeypatch):
    """A relay of its own that never starts a thread: the test runs it, as the thread would."""
    instance = relay_module.Relay()
    monkeypatch.setattr(instance, "wake", lambda app=None: None)
    monkeypatch.setattr(relay_module, "relay", instance)
    with app.app_context():
        yield instance
        db.session.remove()


@pytest.fixture
def published(services):
    """The payloads published on the events channel, read as they come."""
    subscriber = redis_lib.Redis.from_url(services["redis_url"]).pubsub()

    def read(count: int, timeout: float = 5.0) -> list[dict]:
        found, deadline = [], time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.1)
            if message and message["type"] == "message":
                found.append(json.loads(message["data"]))
        return found

    read.subscriber = subscriber
    yield read
    subscriber.close()


def _subscribe(published):
    published.subscriber.subscribe(keys.events_channel())
    assert published.subscriber.get_message(timeout=5)["type"] == "subscribe"


def _commit(*names: str) -> list[int]:
    """One transaction recording a broadcast event per name; their seqs."""
    for name in names:
        event_log.record("broadcast", {"type": "test", "name": name})
    held = list(db.session.info["events_recorded"])
    db.session.commit()
    return [seq for seq, _event in held]


def _cursor_at_newest(relay) -> int:
    """Commit a probe event and count it published (seqs go on after earlier tests' emptied logs)."""
    [newest] = _commit("probe")
    relay.committed.clear()
    redis.set(keys.relay_cursor(), newest)
    return newest


def test_this_processs_commits_are_published_from_memory_in_order(relay, published, monkeypatch):
    _subscribe(published)
    start = _cursor_at_newest(relay)
    seqs = _commit("a", "b") + _commit("c")
    assert seqs == [start + 1, start + 2, start + 3]

    def no_read(*_args, **_kwargs):
        raise AssertionError("the log was read")
    monkeypatch.setattr(event_log, "after", no_read)
    assert relay.run_once() is False
    events = published(3)
    assert [(e["seq"], json.loads(e["frame"])["name"]) for e in events] == [(start + 1, "a"), (start + 2, "b"),
                                                                             (start + 3, "c")]
    assert json.loads(events[0]["frame"])["seq"] == start + 1  # the frame carries its seq first
    assert redis.get(keys.relay_cursor()) == str(start + 3).encode()
    monkeypatch.undo()
    assert relay.run_once() is False and not relay.committed  # nothing left: nothing published twice
    assert published(1, timeout=0.3) == []


def test_a_gap_is_waited_for_then_read_from_the_log(relay, published, monkeypatch):
    _subscribe(published)
    start = _cursor_at_newest(relay)
    [other] = _commit("another process's")
    relay.committed.clear()  # as if another process had committed it and not published it yet
    [mine] = _commit("mine")
    assert relay.run_once() is True  # waiting for the other process
    assert published(1, timeout=0.3) == [] and [seq for seq, *_ in relay.committed] == [mine]
    monkeypatch.setattr(relay_module, "GAP_WAIT", 0.0)  # the other process never published it
    assert relay.run_once() is False
    assert [e["seq"] for e in published(2)] == [other, mine] and other == start + 1
    assert redis.get(keys.relay_cursor()) == str(mine).encode()


def test_events_another_process_published_meanwhile_are_skipped(relay, published):
    _subscribe(published)
    _cursor_at_newest(relay)
    [other] = _commit("another process's")
    relay.committed.clear()
    [mine] = _commit("mine")
    assert relay.run_once() is True
    somebody_else = relay_module.Relay()
    assert somebody_else.run_once() is False  # publishes both from the log
    assert relay.run_once() is False  # mine is at the cursor now: skipped
    assert [e["seq"] for e in published(3, timeout=1)] == [other, mine]


def test_a_lost_cursor_reads_the_log_at_once(relay, published):
    _subscribe(published)
    _cursor_at_newest(relay)
    redis.delete(keys.relay_cursor())  # Redis restarted without its data
    [seq] = _commit("after the restart")
    relay.known = seq - 1  # what this process had published before
    assert relay.run_once() is False  # no wait: no other process will fill a lost cursor
    assert [e["seq"] for e in published(1)] == [seq]
    assert redis.get(keys.relay_cursor()) == str(seq).encode()


def test_the_first_event_of_a_transaction_takes_the_order_lock(app):
    """On PostgreSQL the event insert itself takes the lock that orders commits, held to the end."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's write lock orders the commits")
        held = sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 AND objid = :key"
                       " AND granted")
        event_log.record("broadcast", {"type": "test", "name": "locked"})
        with db.engine.connect() as other:
            assert other.execute(held, {"key": event_log.ADVISORY_KEY}).scalar() == 1
            event_log.record("broadcast", {"type": "test", "name": "same transaction"})  # no second lock
            db.session.rollback()
            assert other.execute(held, {"key": event_log.ADVISORY_KEY}).scalar() == 0
