"""The per-process publisher: every event reaches Redis, in the order each thread published it."""
import json
import threading
import time

import redis as redis_lib


def test_a_burst_of_events_arrives_complete_and_in_order(app, services):
    from app.realtime import hub

    with app.app_context():
        channel = hub.namespace() + ":events"
    subscriber = redis_lib.Redis.from_url(services["redis_url"]).pubsub()
    subscriber.subscribe(channel)
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"

    def burst(thread_no: int) -> None:
        with app.app_context():
            for seq in range(125):
                hub.publish("channel", {"type": "test", "thread": thread_no, "seq": seq}, "c")

    threads = [threading.Thread(target=burst, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    received: dict[int, list[int]] = {n: [] for n in range(4)}
    deadline = time.monotonic() + 10
    while sum(map(len, received.values())) < 500 and time.monotonic() < deadline:
        message = subscriber.get_message(timeout=1)
        if message and message["type"] == "message":
            frame = json.loads(json.loads(message["data"])["frame"])
            received[frame["thread"]].append(frame["seq"])
    subscriber.close()
    assert received == {n: list(range(125)) for n in range(4)}


def test_publishing_resumes_after_redis_drops_the_connection(app, services):
    """The publisher's connection reads no replies, so a dead one shows only on a later write:
    it must then connect again, and later events must arrive."""
    from app.realtime import hub
    from app.realtime.wire import CLIENT_NAME

    admin = redis_lib.Redis.from_url(services["redis_url"])
    with app.app_context():
        channel = hub.namespace() + ":events"
        hub.publish("channel", {"type": "test", "seq": -1}, "c")
        deadline = time.monotonic() + 5
        while not [c for c in admin.client_list() if c["name"] == CLIENT_NAME] and time.monotonic() < deadline:
            time.sleep(0.05)
        killed = [admin.client_kill_filter(_id=c["id"]) for c in admin.client_list() if c["name"] == CLIENT_NAME]
        assert killed
        subscriber = admin.pubsub()
        subscriber.subscribe(channel)
        assert subscriber.get_message(timeout=5)["type"] == "subscribe"
        received, deadline, seq = None, time.monotonic() + 10, 0
        while received is None and time.monotonic() < deadline:
            hub.publish("channel", {"type": "test", "seq": seq}, "c")
            seq += 1
            message = subscriber.get_message(timeout=0.2)
            if message and message["type"] == "message":
                received = json.loads(json.loads(message["data"])["frame"])
        subscriber.close()
    assert received is not None and received["seq"] >= 0
