"""The per-process publisher: every event reaches Redis, in the order each thread published it;
a forked child starts with its own publisher and hub state. A connection's outbox over a local
socket pair: order kept across its writer, and a peer that stops reading never makes send() wait."""
import json
import os
import select
import signal
import socket
import threading
import time

import redis as redis_lib


def test_a_burst_of_events_arrives_complete_and_in_order(app, services):
    from app import keys
    from app.realtime import wire

    with app.app_context():
        channel = keys.events_channel()
    subscriber = redis_lib.Redis.from_url(services["redis_url"]).pubsub()
    subscriber.subscribe(channel)
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"

    def burst(thread_no: int) -> None:
        with app.app_context():
            for seq in range(125):
                wire.publish("channel", {"type": "test", "thread": thread_no, "seq": seq}, "c")

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
    from app import keys
    from app.realtime import wire
    from app.realtime.wire import CLIENT_NAME

    admin = redis_lib.Redis.from_url(services["redis_url"])
    with app.app_context():
        channel = keys.events_channel()
        wire.publish("channel", {"type": "test", "seq": -1}, "c")
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
            wire.publish("channel", {"type": "test", "seq": seq}, "c")
            seq += 1
            message = subscriber.get_message(timeout=0.2)
            if message and message["type"] == "message":
                received = json.loads(json.loads(message["data"])["frame"])
        subscriber.close()
    assert received is not None and received["seq"] >= 0


def test_a_forked_child_starts_with_a_fresh_publisher_and_hub(app, services):
    """os.register_at_fork hooks: the child gets an empty queue and no threads, and its own first
    publish starts a thread of its own whose events reach Redis."""
    from app import keys
    from app.realtime import wire
    from app.realtime.hub import hub

    with app.app_context():
        channel = keys.events_channel()
        wire.publish("channel", {"type": "test", "seq": "parent"}, "c")  # the parent's thread runs
    parent = (wire.publisher.thread, wire.publisher.queue, hub.process_id)
    assert parent[0] is not None and parent[0].is_alive()
    subscriber = redis_lib.Redis.from_url(services["redis_url"]).pubsub()
    subscriber.subscribe(channel)
    assert subscriber.get_message(timeout=5)["type"] == "subscribe"
    read_end, write_end = os.pipe()
    done_read, done_write = os.pipe()  # closed by the parent: the child may exit
    pid = os.fork()
    if pid == 0:  # the child: report its state, publish once, and leave without running pytest's exit
        code = 1
        try:
            state = {"thread_none": wire.publisher.thread is None,
                     "queue_fresh": wire.publisher.queue is not parent[1] and wire.publisher.queue.empty(),
                     "lock_free": not wire.publisher.lock.locked(),
                     "hub_fresh": hub.process_id != parent[2] and not hub.started and not hub.connections()}
            with app.app_context():
                wire.publish("channel", {"type": "test", "seq": "child"}, "c")
            state["thread_started"] = wire.publisher.thread is not None and wire.publisher.thread is not parent[0]
            os.write(write_end, json.dumps(state).encode())
            os.close(done_write)
            select.select([done_read], [], [], 15)  # live on until the parent has the event (its thread sends it)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    os.close(done_read)
    ready = []
    try:
        ready, _, _ = select.select([read_end], [], [], 15)
        state = json.loads(os.read(read_end, 4096) or b"{}") if ready else {}
        received, deadline = None, time.monotonic() + 10
        while received is None and time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.5)
            if message and message["type"] == "message":
                frame = json.loads(json.loads(message["data"])["frame"])
                received = frame if frame["seq"] == "child" else None
    finally:
        os.close(read_end)
        os.close(done_write)
        if not ready:  # a child that hangs must not hang the suite
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        subscriber.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert state == {"thread_none": True, "queue_fresh": True, "lock_free": True, "hub_fresh": True,
                     "thread_started": True}
    assert received == {"type": "test", "seq": "child"}
    assert wire.publisher.thread is parent[0] and wire.publisher.queue is parent[1]  # the parent is untouched


class _Accepted:
    """What a connection uses of an accepted simple-websocket socket: sock, connected, close()."""

    def __init__(self, sock: socket.socket):
        self.sock, self.connected, self.closed_with = sock, True, None

    def close(self, reason=None, message=None):
        self.closed_with, self.connected = (reason, message), False


def _frames(data: bytes) -> list[str]:
    """Split unmasked server text frames; every frame must be whole."""
    texts = []
    while data:
        assert data[0] == 0x81
        size, start = data[1] & 0x7F, 2
        if size >= 126:
            start = 4 if size == 126 else 10
            size = int.from_bytes(data[2:start], "big")
        texts.append(data[start:start + size].decode())
        assert len(data) >= start + size
        data = data[start + size:]
    return texts


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_outbox_keeps_order_from_before_the_handshake_on():
    from app.realtime.connection import Connection
    from app.realtime.wire import plain_frame

    ours, peer = socket.socketpair()
    conn = Connection("u", "name", None, outbox_frames=1000)
    texts = [json.dumps({"seq": n, "pad": "x" * (n * 997 % 70_000)}) for n in range(300)]
    for text in texts[:5]:  # before the handshake completes: they wait in the outbox
        assert conn.send(text, plain_frame(text))
    accepted = _Accepted(ours)
    conn.attach(accepted)
    received = []
    reader = threading.Thread(target=lambda: received.append(_read_all(peer)))
    reader.start()
    for text in texts[5:]:  # some go straight out, some (large, or behind others) through the writer
        assert conn.send(text, plain_frame(text))
    conn.close(4001, "auth_token revoked")  # what is queued goes first, then the close frame
    conn.join(10)
    ours.shutdown(socket.SHUT_WR)
    reader.join(10)
    assert _frames(received[0]) == texts
    assert accepted.closed_with == (4001, "auth_token revoked")


def test_a_peer_that_stops_reading_never_makes_send_wait_and_overflows_with_4008():
    from app.realtime.connection import CLOSE_TOO_SLOW, Connection
    from app.realtime.wire import plain_frame

    ours, peer = socket.socketpair()
    conn = Connection("u", "name", None, outbox_frames=4)
    accepted = _Accepted(ours)
    conn.attach(accepted)
    text = json.dumps({"pad": "x" * 100_000})
    frame = plain_frame(text)
    started, results = time.monotonic(), []
    for _ in range(40):  # the peer reads nothing meanwhile
        results.append(conn.send(text, frame))
    assert time.monotonic() - started < 1  # no send waited for the peer
    assert results[-1] is False and conn.closed and results.count(True) < 40
    received = []
    reader = threading.Thread(target=lambda: received.append(_read_all(peer)))
    reader.start()  # the peer reads at last: what was in flight, then the close frame
    conn.join(10)
    assert accepted.closed_with == (CLOSE_TOO_SLOW, "Too slow: events backed up")
    ours.shutdown(socket.SHUT_WR)
    reader.join(10)
    assert 0 < len(_frames(received[0])) < results.count(True)  # whole frames only; the overflow was dropped
