"""Live events: a per-process hub of sockets fed by one Redis pub/sub subscriber thread.

publish() reaches every web process on every host through Redis; each process's subscriber
thread hands the event to its own sockets that may see it. Sends to one socket take its lock.
"""
import json
import logging
import os
import socket
import threading
import time
import uuid
from datetime import datetime

import redis as redis_lib
from flask import Flask, current_app
from wsproto.events import TextMessage

from .. import keys, metrics
from ..errors import APIError
from ..extensions import redis
from .wire import Publisher
from ..ids import utcnow

log = logging.getLogger(__name__)

# WebSocket close codes: the token is not (or no longer) valid; the channel is unknown or hidden.
CLOSE_UNAUTHORIZED = 4001
CLOSE_UNKNOWN_CHANNEL = 4004
PENDING_LIMIT = 500


def namespace() -> str:
    return keys.namespace()


class Connection:
    """One open socket: who holds it, what it listens to, and the lock its sends take."""

    def __init__(self, user_id: str, username: str, channel_id: str | None, token_digest: str = "",
                 expires_at: datetime | None = None):
        self.key = ""  # "<process id>:<socket id>", given when the hub registers it
        self.user_id, self.username, self.channel_id = user_id, username, channel_id
        # The token it was opened with: the socket closes when that token is revoked or expires.
        self.token_digest, self.expires_at = token_digest, expires_at
        self.lock = threading.Lock()
        self.ws = None
        self.pending: list[str] = []  # frames published between registration and the handshake
        self.closed = False
        self.counted = False  # part of the user's presence count
        self.plain = False  # no extension negotiated: the shared pre-built frame fits this socket

    def attach(self, ws, send_timeout: float) -> None:
        """Bind the accepted socket and flush what arrived during the handshake."""
        with self.lock:
            self.ws = ws
            # Reads wait in select() when pings are on, so the timeout only bounds sends.
            if ws.ping_interval:
                ws.sock.settimeout(send_timeout)
            # Without an extension (e.g. permessage-deflate) a server frame is the same bytes for
            # every socket, so one built per event serves them all. Unknown internals: build per socket.
            self.plain = getattr(getattr(getattr(ws.ws, "connection", None), "_proto", None), "extensions", None) == []
            pending, self.pending = self.pending, []
            for text in pending:
                self._write(text)

    def send(self, text: str, frame: bytes | None = None) -> bool:
        """Send one text message (frame: its pre-built plain frame); False once the socket is gone."""
        with self.lock:
            if self.ws is None and not self.closed:
                # Bounded: only frames published during the few milliseconds of a handshake wait here.
                self.pending.append(text)
                return len(self.pending) <= PENDING_LIMIT
            return self._write(text, frame)

    def _write(self, text: str, frame: bytes | None = None) -> bool:
        if self.closed or not self.ws.connected:
            return False
        try:
            data = frame if frame is not None and self.plain else self.ws.ws.send(TextMessage(data=text))
            # sendall, unlike simple-websocket's send(), never leaves half a frame on a busy socket.
            self.ws.sock.sendall(data)
            return True
        except OSError:
            self._shut(None, None)
            return False

    def close(self, code: int, reason: str) -> None:
        with self.lock:
            self._shut(code, reason)

    def _shut(self, code: int | None, reason: str | None) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws is not None and self.ws.connected:
            if code:
                try:
                    self.ws.close(code, reason)
                except OSError:
                    pass
            self.ws.connected = False
            self.ws.event.set()  # wake the handler thread waiting in receive()


class Hub:
    """This process's sockets, indexed by channel and user, and its subscriber thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.channel_sockets: dict[str, set[Connection]] = {}
        self.all_sockets: set[Connection] = set()  # /ws: every channel the user may see
        self.user_sockets: dict[str, set[Connection]] = {}
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        self.pid = os.getpid()
        self.process_id = f"{socket.gethostname()}:{self.pid}:{uuid.uuid4().hex[:8]}"

    def register(self, conn: Connection) -> None:
        self.start(current_app._get_current_object())
        with self.lock:
            conn.key = f"{self.process_id}:{uuid.uuid4().hex}"
            group = self.channel_sockets.setdefault(conn.channel_id, set()) if conn.channel_id else self.all_sockets
            group.add(conn)
            self.user_sockets.setdefault(conn.user_id, set()).add(conn)
            metrics.OPEN_SOCKETS.set(sum(map(len, self.user_sockets.values())))

    def unregister(self, conn: Connection) -> None:
        with self.lock:
            group = self.channel_sockets.get(conn.channel_id, set()) if conn.channel_id else self.all_sockets
            group.discard(conn)
            if conn.channel_id and not group:
                self.channel_sockets.pop(conn.channel_id, None)
            mine = self.user_sockets.get(conn.user_id, set())
            mine.discard(conn)
            if not mine:
                self.user_sockets.pop(conn.user_id, None)
            metrics.OPEN_SOCKETS.set(sum(map(len, self.user_sockets.values())))

    def start(self, app: Flask) -> None:
        """Start the subscriber once per process and wait until it listens, so no event is missed."""
        with self.lock:
            if self.pid != os.getpid():  # a forked child: start afresh
                self.__init__()
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, args=(app,), name="realtime-subscriber", daemon=True)
                self.thread.start()
        if not self.ready.wait(timeout=10):
            raise APIError(503, "Live events are unavailable (Redis)", "REALTIME_UNAVAILABLE")

    def _run(self, app: Flask) -> None:
        from . import presence# presence builds on this module, so it is imported late
        with app.app_context():
            channel, ttl = namespace() + ":events", app.config["REALTIME_PRESENCE_TTL"]
        client = redis_lib.Redis.from_url(app.config["REDIS_URL"], health_check_interval=30, socket_keepalive=True)
        while True:
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(channel)
                next_refresh = next_expiry_check = 0.0
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "subscribe":
                        self.ready.set()
                    elif message and message["type"] == "message":
                        try:
                            self.dispatch(message["data"])
                        except Exception:  # one bad event must not stop delivery for the process
                            log.exception("could not deliver a live event")
                    if time.monotonic() >= next_expiry_check:
                        next_expiry_check = time.monotonic() + 1
                        self.close_expired()
                    if time.monotonic() >= next_refresh:
                        next_refresh = time.monotonic() + ttl / 3
                        with app.app_context():
                            presence.refresh(self.connections(), ttl)
                            presence.queue_sweep()
            except redis_lib.RedisError:
                # Events published while Redis is away are lost; clients catch up with load_messages?after=.
                self.ready.clear()
                log.warning("realtime subscriber lost Redis; reconnecting", exc_info=True)
                time.sleep(1)
            except Exception:
                log.exception("realtime subscriber error; restarting it")
                time.sleep(1)
            finally:
                pubsub.close()

    def connections(self) -> list[Connection]:
        with self.lock:
            return [c for group in self.user_sockets.values() for c in group]

    def close_all(self, code: int = 1001, reason: str = "Server restarting") -> None:
        """Close every socket of this process ("going away": clients reconnect to another)."""
        for conn in self.connections():
            conn.close(code, reason)

    def close_expired(self) -> None:
        """Close the sockets whose auth_token has expired since they opened."""
        now = utcnow()
        for conn in self.connections():
            if conn.expires_at is not None and conn.expires_at <= now:
                conn.close(CLOSE_UNAUTHORIZED, "auth_token expired")

    def dispatch(self, data: bytes) -> None:
        """Deliver one published event to this process's sockets that may see it."""
        event = json.loads(data)
        kind, channel_id = event["kind"], event.get("channel_id")
        if kind == "tokens_revoked":  # a token reset: the sockets opened with the old tokens close
            revoked = set(event["digests"])
            for conn in self.connections():
                if conn.user_id == event["user_id"] and conn.token_digest in revoked:
                    conn.close(CLOSE_UNAUTHORIZED, "auth_token revoked")
            return
        with self.lock:
            per_channel = list(self.channel_sockets.get(channel_id, ())) if channel_id else []
            everywhere = list(self.all_sockets)
        if kind in ("revoke", "channel_deleted"):  # those sockets close at once; /ws sockets are told
            for conn in per_channel:
                if kind == "channel_deleted" or conn.user_id == event["user_id"]:
                    conn.close(CLOSE_UNKNOWN_CHANNEL, "Channel deleted" if kind == "channel_deleted"
                               else "No longer a member of this channel")
        audience = set(event["audience"]) if event.get("audience") is not None else None
        targets = per_channel + everywhere if kind == "channel" else everywhere
        text = event["frame"]
        frame = plain_frame(text)
        delivered = 0
        for conn in targets:
            if audience is not None and conn.user_id not in audience:
                continue
            if conn.user_id == event.get("exclude_user"):
                continue
            if conn.send(text, frame):
                delivered += 1
            else:
                self.unregister(conn)
        metrics.EVENTS_DELIVERED.inc(delivered)


def plain_frame(text: str) -> bytes:
    """A final, unmasked, uncompressed server text frame (RFC 6455 section 5.2)."""
    payload = text.encode()
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 1 << 16:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


hub = Hub()


publisher = Publisher()  # one per process (a forked child starts its own)


def publish(kind: str, frame: dict, channel_id: str | None = None, audience=None, **extra) -> None:
    """Send an event to every web process; audience (user ids) None means everyone."""
    event = {"kind": kind, "channel_id": channel_id, "audience": audience, "frame": json.dumps(frame), **extra}
    publisher.put(namespace() + ":events", json.dumps(event))
    metrics.EVENTS_PUBLISHED.labels(kind).inc()


def enqueue(task_name: str, *args) -> None:
    """Queue a fan-out task by name (services never import workers); failures are logged, not raised,
    because the change that caused them is already committed."""
    try:
        current_app.extensions["celery"].send_task(task_name, args=list(args))
    except Exception:
        log.warning("could not queue %s", task_name, exc_info=True)
