"""WebSocket test helpers: real sockets (websocket-client) against a real gunicorn stack."""
import base64
import json
import os
import socket
import time

import requests
import sqlalchemy as sa
import websocket

from app import keys
from app.extensions import db, redis
from app.models import User

STACK_ENV = {"REALTIME_FRAME_LIMIT": "40", "REALTIME_FRAME_WINDOW": "60"}


def connect(stack, path: str, token: str | None = None, headers: list[str] | None = None,
            timeout: float = 5) -> websocket.WebSocket:
    url = stack.ws_url + path + (f"?auth_token={token}" if token else "")
    return websocket.create_connection(url, timeout=timeout, header=headers or [])


def open_raw(stack, path: str, token: str, deflate: bool = False, receive_buffer: int | None = None):
    """A hand-made handshake (optionally offering permessage-deflate, or with a small fixed
    receive buffer, so a peer that stops reading soon pushes back): (socket, reader, response head)."""
    host, port = stack.url.split("//", 1)[1].split(":")
    raw = socket.socket()
    if receive_buffer:  # set before connecting: it bounds the window the server may fill
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(10)
    raw.connect((host, int(port)))
    offer = "Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else ""
    raw.sendall((f"GET {path}?auth_token={token} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                 "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\n{offer}\r\n").encode())
    reader = raw.makefile("rb")
    head = b"".join(iter(reader.readline, b"\r\n"))
    assert b" 101 " in head.split(b"\r\n", 1)[0], head
    return raw, reader, head


def read_raw_frame(reader) -> tuple[int, bytes]:
    """One server frame from a hand-made socket: (first byte, payload)."""
    first, second = reader.read(2)
    size = second & 0x7F
    if size >= 126:
        size = int.from_bytes(reader.read(2 if size == 126 else 8), "big")
    return first, reader.read(size)


def raw_close_code(reader) -> tuple[int, int]:
    """Read a hand-made socket up to the server's close frame: (its code, data frames before it)."""
    frames = 0
    while True:
        first, payload = read_raw_frame(reader)
        if first & 0x0F == 0x8:
            return int.from_bytes(payload[:2], "big"), frames
        frames += 1


def wait_until(condition, timeout: float = 5, interval: float = 0.05, what: str = "the condition"):
    """Poll condition() until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        time.sleep(interval)
    return result


def refusal(stack, path: str, token: str | None = None, headers: list[str] | None = None):
    """The HTTP status and JSON body of a refused handshake."""
    try:
        connect(stack, path, token, headers).close()
    except websocket.WebSocketBadStatusException as exc:
        return exc.status_code, json.loads(exc.resp_body)
    raise AssertionError("the handshake was accepted")


def next_frame(ws, kind: str | None = None, timeout: float = 5) -> dict:
    """The next frame of the given type (others are skipped); fails after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {kind or 'frame'} within {timeout} s"
        ws.settimeout(remaining)
        try:
            frame = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            raise AssertionError(f"no {kind or 'frame'} within {timeout} s") from None
        if kind is None or frame["type"] == kind:
            return frame


def without_seq(frame: dict) -> dict:
    """A logged event's frame without its seq (checked to be a positive integer)."""
    assert isinstance(frame.get("seq"), int) and frame["seq"] > 0, frame
    return {key: value for key, value in frame.items() if key != "seq"}


def frames_within(ws, seconds: float, until_closed: bool = False) -> list[dict]:
    """Every frame that arrives within the given time; until_closed: a socket the server closes
    meanwhile ends the reading instead of failing it."""
    stops = (websocket.WebSocketTimeoutException, websocket.WebSocketConnectionClosedException) if until_closed \
        else websocket.WebSocketTimeoutException
    frames, deadline = [], time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        ws.settimeout(remaining)
        try:
            frames.append(json.loads(ws.recv()))
        except stops:
            break
    return frames


def close_code(ws, timeout: float = 5) -> int:
    """Wait for the server's close frame and return its code."""
    ws.settimeout(timeout)
    while True:
        opcode, data = ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            return int.from_bytes(data[:2], "big")


def http(stack, method: str, path: str, token: str, **kwargs) -> requests.Response:
    """A request through the stack's gunicorn on a fresh connection (any worker may take it)."""
    return requests.request(method, stack.url + path, params={"auth_token": token}, timeout=10, **kwargs)


def socket_processes(app, user_ids: list[str]) -> set[str]:
    """The web processes holding the users' sockets, read from the shared presence entries."""
    with app.app_context():
        members = [m.decode() for uid in user_ids for m in redis.zrange(keys.presence(uid), 0, -1)]
    return {member.rsplit(":", 1)[0] for member in members}


def stored_status(app, user_id: str) -> str:
    """The status stored in the database (read directly: a request with the account's own token
    would be its use of the API, which counts as presence itself)."""
    with app.app_context():
        status = db.session.scalar(sa.select(User.status).where(User.id == user_id))
        db.session.remove()
    return status


def wait_for_stored_status(app, user_id: str, status: str) -> None:
    """Wait until the stored status (written by the Celery worker) is the one expected."""
    wait_until(lambda: stored_status(app, user_id) == status, timeout=10, interval=0.1, what=f"status {status}")
