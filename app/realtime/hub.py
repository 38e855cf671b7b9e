"""The hub: this process's sockets, one Redis pub/sub subscriber thread that hands each event to
the sockets that may see it, and a tick thread for periodic work.

publish() (wire.py) reaches every web process on every host through Redis. The subscriber hands
each frame to the socket's Connection, which never makes it wait (connection.py), so no socket
can hold it up. Other rooms add periodic work with every() (presence does) instead of the hub
calling them.
"""
import logging
import os
import socket
import threading
import time
import uuid
from typing import Callable

import redis as redis_lib
from flask import Flask, current_app

from .. import keys, metrics
from ..errors import APIError
from ..extensions import db
from ..ids import utcnow
from . import log as event_log
from .connection import CLOSE_UNAUTHORIZED, CLOSE_UNKNOWN_CHANNEL, Connection
from .wire import decode_event, plain_frame

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0
CLOSE_GRACE = 2.0  # seconds a peer has to answer a close frame before its connection is dropped

Job = Callable[[list[Connection]], None]


class Hub:
    """This process's sockets, indexed by channel and user, its subscriber and its tick."""

    def __init__(self):
        self.jobs: list[tuple[Callable[[dict], float], Job]] = []  # kept across a fork
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        """A fresh, empty hub: a forked child holds none of its parent's sockets or threads."""
        self.lock = threading.Lock()
        self.channel_sockets: dict[str, set[Connection]] = {}
        self.all_sockets: set[Connection] = set()  # /ws: every channel the user may see
        self.user_sockets: dict[str, set[Connection]] = {}
        self.ready = threading.Event()
        self.started = False
        self.app: Flask | None = None
        self.last_seq = 0  # the highest logged seq delivered: events come in seq order, each once
        self.process_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    def every(self, interval: Callable[[dict], float], job: Job) -> None:
        """Run job(connections) in an app context every interval(app.config) seconds, from the tick."""
        self.jobs.append((interval, job))

    def register(self, conn: Connection, limit: int = 0) -> bool:
        """Add the socket; False (and nothing added) when its user already holds limit sockets here."""
        self.start(current_app._get_current_object())
        with self.lock:
            if limit and len(self.user_sockets.get(conn.user_id, ())) >= limit:
                return False
            conn.key = f"{self.process_id}:{uuid.uuid4().hex}"
            group = self.channel_sockets.setdefault(conn.channel_id, set()) if conn.channel_id else self.all_sockets
            group.add(conn)
            self.user_sockets.setdefault(conn.user_id, set()).add(conn)
            metrics.OPEN_SOCKETS.set(sum(map(len, self.user_sockets.values())))
        return True

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

    def start(self, app: Flask, wait: bool = True) -> None:
        """Start the subscriber and the tick once per process; wait until it listens, so no event is missed."""
        with self.lock:
            if not self.started:
                self.started, self.app = True, app
                for target, name in ((self._subscribe, "realtime-subscriber"), (self._tick, "realtime-tick")):
                    threading.Thread(target=target, args=(app,), name=name, daemon=True).start()
        if wait and not self.ready.wait(timeout=10):
            raise APIError(503, "Live events are unavailable (Redis)", "REALTIME_UNAVAILABLE")

    def _subscribe(self, app: Flask) -> None:
        with app.app_context():
            channel = keys.events_channel()
        client = redis_lib.Redis.from_url(app.config["REDIS_URL"], health_check_interval=30, socket_keepalive=True)
        while True:
            pubsub = client.pubsub()
            try:
                pubsub.subscribe(channel)
                while True:
                    message = pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "subscribe":
                        self.ready.set()
                        self.catch_up()  # what the relay published while this subscriber was away
                    elif message and message["type"] == "message":
                        try:
                            self.dispatch(message["data"])
                        except Exception:  # one bad event must not stop delivery for the process
                            log.exception("could not deliver a live event")
            except redis_lib.RedisError:
                # Logged events published meanwhile are read from the log on reconnecting (catch_up).
                self.ready.clear()
                log.warning("realtime subscriber lost Redis; reconnecting", exc_info=True)
                time.sleep(1)
            except Exception:
                log.exception("realtime subscriber error; restarting it")
                time.sleep(1)
            finally:
                pubsub.close()

    def _tick(self, app: Flask) -> None:
        """Every second: drop stalled or unanswering peers, close expired sockets, run the jobs due."""
        due: dict[int, float] = {}
        send_timeout = app.config["REALTIME_SEND_TIMEOUT"]
        while True:
            now = time.monotonic()
            conns = self.connections()
            for conn in conns:
                if conn.stalled(now, send_timeout) or conn.lingers(now, CLOSE_GRACE):
                    conn.abort()
            self.close_expired(conns)
            for index, (interval, job) in enumerate(self.jobs):
                if now >= due.get(index, 0.0):
                    due[index] = now + interval(app.config)
                    try:
                        with app.app_context():
                            job(conns)
                    except Exception:  # Redis or the broker away: try again next time
                        log.warning("realtime tick job %s failed", getattr(job, "__name__", job), exc_info=True)
            time.sleep(TICK_SECONDS)

    def connections(self) -> list[Connection]:
        with self.lock:
            return [c for group in self.user_sockets.values() for c in group]

    def close_all(self, code: int = 1001, reason: str = "Server restarting") -> None:
        """Close every socket of this process ("going away": clients reconnect to another)."""
        for conn in self.connections():
            conn.close(code, reason)

    def close_expired(self, conns: list[Connection] | None = None) -> None:
        """Close the sockets whose auth_token has expired since they opened."""
        now = utcnow()
        for conn in self.connections() if conns is None else conns:
            if conn.expires_at is not None and conn.expires_at <= now:
                conn.close(CLOSE_UNAUTHORIZED, "auth_token expired")

    def dispatch(self, data: bytes) -> None:
        """Queue one published event to this process's sockets that may see it. A logged event
        (with a seq) already delivered is dropped; one after a gap first delivers the gap from the log."""
        event = decode_event(data)
        seq = event.get("seq")
        if seq is not None:
            if seq <= self.last_seq:
                return
            if self.last_seq:
                self.catch_up(seq)
            self.last_seq = seq
        self.deliver(event)
        if seq is not None:
            event_log.arrivals.arrived(seq)

    def catch_up(self, before: int | None = None) -> None:
        """Deliver the logged events after last_seq (and below `before`) from the log itself."""
        if not self.last_seq or self.app is None or (before is not None and before == self.last_seq + 1):
            return
        with self.app.app_context():
            try:
                while True:
                    rows = [r for r in event_log.after(self.last_seq) if before is None or r.seq < before]
                    for row in rows:
                        self.last_seq = row.seq
                        self.deliver(decode_event(event_log.encoded(row)))
                    if len(rows) < event_log.BATCH:
                        break
            finally:
                db.session.remove()

    def deliver(self, event: dict) -> None:
        kind, channel_id, seq = event["kind"], event.get("channel_id"), event.get("seq")
        if kind == "tokens_revoked":  # a token reset: the sockets opened with the old tokens close
            revoked = set(event["digests"])
            for conn in self.connections():
                if conn.user_id == event["user_id"] and conn.token_digest in revoked:
                    conn.close(event.get("close_code", CLOSE_UNAUTHORIZED), event.get("reason", "auth_token revoked"))
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
        exclude = event.get("exclude_user")
        text = event["frame"]
        frame = plain_frame(text)  # the same bytes for every plain socket
        delivered = 0
        for conn in targets:
            if audience is not None and conn.user_id not in audience:
                continue
            if conn.user_id == exclude:
                continue
            # A closed socket declines; its handler's teardown unregisters it. A resuming socket's
            # stream holds the frame until its replay is done.
            stream = conn.stream
            delivered += stream.deliver(conn, seq, text, frame) if stream is not None and seq else conn.send(text, frame)
        metrics.EVENTS_DELIVERED.inc(delivered)


hub = Hub()
