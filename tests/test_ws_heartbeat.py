"""Heartbeats: protocol pings keep live sockets open and close a peer that stops answering."""
import base64
import os
import socket
import time

import pytest

from scripts.stack import Stack
from tests.ws_support import STACK_ENV, connect, create_channel, next_frame


@pytest.fixture(scope="module")
def stack(app, services):
    env = {**STACK_ENV, "REALTIME_PING_INTERVAL": "1"}
    with Stack(services["env"], web_workers=1, threads=16, celery_worker=True, extra_env=env) as running:
        yield running


def test_a_silent_peer_is_pinged_then_closed(stack, api, owner):
    general = create_channel(api, owner["token"], "general")
    host, port = stack.url.split("//", 1)[1].split(":")
    raw = socket.create_connection((host, int(port)), timeout=10)
    raw.sendall((f"GET /ws/channels/{general}?auth_token={owner['token']} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n\r\n").encode())
    reader = raw.makefile("rb")
    assert b" 101 " in reader.readline()
    while reader.readline() != b"\r\n":
        pass
    opcodes, close_code = [], None
    while close_code is None:  # never answer: pings, then a close for the missing pong
        first, second = reader.read(2)
        payload = reader.read(second & 0x7F)
        opcodes.append(first & 0x0F)
        if first & 0x0F == 0x8:
            close_code = int.from_bytes(payload[:2], "big")
    assert opcodes[0] == 0x9 and close_code == 1008
    raw.close()


def test_an_answering_peer_stays_open(stack, api, owner):
    general = create_channel(api, owner["token"], "general")
    ws = connect(stack, f"/ws/channels/{general}", owner["token"])
    deadline = time.monotonic() + 3.5
    while time.monotonic() < deadline:  # websocket-client answers pings while it reads
        ws.send('{"type": "ping"}')
        assert next_frame(ws, "pong")["type"] == "pong"
        time.sleep(0.3)
    assert ws.connected
    ws.close()
