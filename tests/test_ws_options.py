"""Non-default settings: pings every second (heartbeats), permessage-deflate turned on, and a
presence TTL of 3 s (entries refreshed, and the sweep queued, every second); then a small outbox
in one worker, where a peer that stops reading must hold up no one else."""
import json
import time
import zlib

import pytest
import sqlalchemy as sa

from tests.api_helpers import make_channel, send
from scripts.stack import Stack
from tests.ws_support import (STACK_ENV, connect, frames_within, next_frame, open_raw, raw_close_code,
                              read_raw_frame)


@pytest.fixture(scope="module")
def stack(app, services):
    env = {**STACK_ENV, "REALTIME_PING_INTERVAL": "1", "REALTIME_COMPRESSION": "1", "REALTIME_PRESENCE_TTL": "3"}
    with Stack(services["env"], web_workers=1, threads=16, celery_worker=True, extra_env=env) as running:
        yield running


def test_a_silent_peer_is_pinged_then_closed(stack, api, owner):
    general = make_channel(api, owner["token"], "general")
    raw, reader, _head = open_raw(stack, f"/ws/channels/{general}", owner["token"])
    opcodes, close_code = [], None
    while close_code is None:  # never answer: pings, then a close for the missing pong
        first, payload = read_raw_frame(reader)
        opcodes.append(first & 0x0F)
        if first & 0x0F == 0x8:
            close_code = int.from_bytes(payload[:2], "big")
    assert opcodes[0] == 0x9 and close_code == 1008
    raw.close()


def test_an_answering_peer_stays_open(stack, api, owner):
    general = make_channel(api, owner["token"], "general")
    ws = connect(stack, f"/ws/channels/{general}", owner["token"])
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:  # websocket-client answers pings while it reads
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong")["type"] == "pong"
        assert not frames_within(ws, 0.3)  # reading (and answering pings) meanwhile
    assert ws.connected
    ws.close()


def test_compressed_and_plain_sockets_both_get_the_message(stack, api, owner, user):
    """With compression on, a socket that offers permessage-deflate gets its own compressed frames."""
    general = make_channel(api, owner["token"], "general")
    raw, reader, head = open_raw(stack, f"/ws/channels/{general}", user["token"], deflate=True)
    assert b"permessage-deflate" in head.lower()
    plain = connect(stack, f"/ws/channels/{general}", user["token"])
    send(api, owner["token"], general, "squeezed " * 50)
    inflate = zlib.decompressobj(-zlib.MAX_WBITS)  # one for the socket: the sender may keep its context
    while True:  # (a presence frame may come first)
        first, payload = read_raw_frame(reader)
        assert first & 0x40  # RSV1: this frame is compressed
        frame = json.loads(inflate.decompress(payload + b"\x00\x00\xff\xff"))
        if frame["type"] == "message":
            break
    assert frame["message"] == "squeezed " * 50
    assert next_frame(plain, "message")["message"] == "squeezed " * 50
    raw.close(), plain.close()


def test_open_sockets_stay_counted_and_dead_ones_are_swept(stack, app, api, owner, user):
    """Live entries are refreshed past the TTL; a lapsed one is swept by a web process's own tick."""
    from app import keys
    from app.realtime import presence
    from app.extensions import db, redis
    from app.models import User
    watcher = connect(stack, "/ws", owner["token"])
    with app.app_context():
        redis.zadd(keys.presence(user["id"]), {"gone-host:1:dead:socket": time.time() - 1})
        redis.sadd(keys.presence_users(), user["id"])
        db.session.execute(sa.update(User).where(User.id == user["id"]).values(status="online"))
        db.session.commit()
        # A tick may have queued this minute's sweep before the lapsed entry existed: start a new
        # minute, so the next tick queues it again.
        redis.delete(keys.throttle(presence.SWEEP_THROTTLE))
    deadline = time.monotonic() + 6  # twice the TTL: the watcher's own entry must have been refreshed
    frames = []
    while time.monotonic() < deadline:
        watcher.send('{"type": "ping"}')
        frames += [next_frame(watcher, timeout=2)] + frames_within(watcher, 0.2)
    seen = [(frame["user_id"], frame["status"]) for frame in frames if frame["type"] == "presence"]
    assert (user["id"], "offline") in seen
    assert (owner["id"], "offline") not in seen
    with app.app_context():
        assert presence.live_socket_count(owner["id"]) == 1 and presence.live_socket_count(user["id"]) == 0
    watcher.close()


@pytest.fixture(scope="module")
def slow_stack(app, services):
    """One worker, so the stalled socket and the healthy ones share a hub; an outbox of 8 frames;
    a send timeout long enough for the test to read the close frame before the peer is dropped."""
    env = {**STACK_ENV, "REALTIME_OUTBOX_FRAMES": "8", "REALTIME_SEND_TIMEOUT": "60"}
    with Stack(services["env"], web_workers=1, threads=16, celery_worker=False, extra_env=env) as running:
        yield running


def test_a_peer_that_stops_reading_delays_no_one_and_is_closed_with_4008(slow_stack, app, api, owner, user,
                                                                       other_user):
    from app.realtime.wire import publish
    general = make_channel(api, owner["token"], "general")
    stalled, reader, _head = open_raw(slow_stack, f"/ws/channels/{general}", user["token"], receive_buffer=4096)
    healthy = [connect(slow_stack, f"/ws/channels/{general}", account["token"]) for account in (owner, other_user)]
    for ws in healthy:  # a pong proves the socket is registered
        ws.send('{"type": "ping"}')
        next_frame(ws, "pong")
    # ~10 MB for the stalled socket alone: more than the kernel buffers and its outbox hold.
    with app.app_context():
        for seq in range(200):
            publish("channel", {"type": "flood", "seq": seq, "pad": "x" * 50_000}, general, [user["id"]])
    for n in range(5):  # delivery to the others does not wait for the stalled peer
        started = time.monotonic()
        message_id = send(api, owner["token"], general, f"still live {n}")
        for ws in healthy:
            assert next_frame(ws, "message", timeout=2)["message_id"] == message_id
        assert time.monotonic() - started < 2
    code, frames = raw_close_code(reader)  # read at last: what was in flight, then the close frame
    assert code == 4008
    assert frames < 200  # the overflowing outbox was dropped, not delivered
    stalled.close()
    for ws in healthy:
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong") == {"type": "pong"}
        ws.close()
