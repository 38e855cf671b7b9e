"""Non-default settings: pings every second (heartbeats), permessage-deflate turned on, and a
presence TTL of 3 s (entries refreshed, and the sweep queued, every second)."""
import json
import time
import zlib

import pytest
import sqlalchemy as sa

from tests.api_helpers import make_channel, send
from scripts.stack import Stack
from tests.ws_support import STACK_ENV, connect, next_frame, open_raw, read_raw_frame


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
        time.sleep(0.3)
    assert ws.connected
    ws.close()


def test_compressed_and_plain_sockets_both_get_the_message(stack, api, owner, user):
    """With compression on, a socket that offers permessage-deflate gets its own compressed frames."""
    general = make_channel(api, owner["token"], "general")
    raw, reader, head = open_raw(stack, f"/ws/channels/{general}", user["token"], deflate=True)
    assert b"permessage-deflate" in head.lower()
    plain = connect(stack, f"/ws/channels/{general}", user["token"])
    send(api, owner["token"], general, "squeezed " * 50)
    first, payload = read_raw_frame(reader)
    assert first & 0x40  # RSV1: this frame is compressed
    text = zlib.decompressobj(-zlib.MAX_WBITS).decompress(payload + b"\x00\x00\xff\xff")
    assert json.loads(text)["message"] == "squeezed " * 50
    assert next_frame(plain, "message")["message"] == "squeezed " * 50
    raw.close(), plain.close()


def test_open_sockets_stay_counted_and_dead_ones_are_swept(stack, app, api, owner, user):
    """Live entries are refreshed past the TTL; a lapsed one is swept by a web process's own tick."""
    from app.realtime import presence
    from app.extensions import db, redis
    from app.models import User
    watcher = connect(stack, "/ws", owner["token"])
    with app.app_context():
        redis.zadd(presence.presence_key(user["id"]), {"gone-host:1:dead:socket": time.time() - 1})
        redis.sadd(presence.presence_users_key(), user["id"])
        db.session.execute(sa.update(User).where(User.id == user["id"]).values(status="online"))
        db.session.commit()
    deadline = time.monotonic() + 6  # twice the TTL: the watcher's own entry must have been refreshed
    swept = False
    while time.monotonic() < deadline:
        watcher.send('{"type": "ping"}')
        frame = next_frame(watcher, timeout=2)
        swept = swept or (frame["type"] == "presence" and frame["user_id"] == user["id"]
                          and frame["status"] == "offline")
        assert not (frame["type"] == "presence" and frame["user_id"] == owner["id"] and frame["status"] == "offline")
        time.sleep(0.2)
    assert swept
    with app.app_context():
        assert presence.live_socket_count(owner["id"]) == 1 and presence.live_socket_count(user["id"]) == 0
    watcher.close()
