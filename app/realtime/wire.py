"""The wire: how a live event is encoded, the plain frame every socket can share, and the
publisher thread that carries events to Redis so requests never wait for it."""
import atexit
import json
import logging
import os
import queue
import threading

import redis as redis_lib

from .. import keys, metrics
from ..extensions import redis

log = logging.getLogger(__name__)
CLIENT_NAME = "pufferblow-publisher"  # how its connections show in Redis's CLIENT LIST


def encode_event(kind: str, frame: dict, channel_id: str | None = None, audience: list[str] | None = None,
                 **extra) -> str:
    """One event as published: the client frame is serialised once, here, for every socket."""
    return json.dumps({"kind": kind, "channel_id": channel_id, "audience": audience, "frame": json.dumps(frame),
                       **extra})


def decode_event(data: bytes | str) -> dict:
    return json.loads(data)


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


class Publisher:
    """One thread per process sends published events to Redis in order; under load every event
    that queued up meanwhile goes in one write, so a request never waits for Redis.

    The thread has a connection of its own on which Redis is told not to reply (CLIENT REPLY
    OFF): publishing is then only a socket write, with no replies to wait for and parse.
    A forked child starts with an empty queue and no thread (os.register_at_fork).
    """

    BATCH = 256

    def __init__(self):
        self._reset()
        os.register_at_fork(after_in_child=self._reset)
        atexit.register(self.flush)

    def _reset(self) -> None:
        # A lock held by another thread at fork time would stay held in the child: make a new one.
        # The parent's connection is dropped, not closed: its socket still serves the parent.
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.connection: redis_lib.Connection | None = None

    def put(self, channel: str, payload: str) -> None:
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="realtime-publisher", daemon=True)
                    self.thread.start()
        self.queue.put((channel, payload))

    def _run(self) -> None:
        while True:
            self._send([self.queue.get()])

    def _send(self, batch: list) -> bool:
        while len(batch) < self.BATCH:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        try:
            if self.connection is None:
                self.connection = self._connect()
            commands = [("PUBLISH", channel, payload) for channel, payload in batch]
            self.connection.send_packed_command(self.connection.pack_commands(commands), check_health=False)
            return True
        except redis_lib.RedisError:
            # The changes are committed; a client that missed them catches up with load_messages?after=.
            log.warning("could not publish %d live events", len(batch), exc_info=True)
            if self.connection is not None:
                self.connection.disconnect()
            self.connection = None  # the next batch connects again
            return False

    @staticmethod
    def _connect() -> redis_lib.Connection:
        pool = redis.connection_pool
        connection = pool.connection_class(**{**pool.connection_kwargs, "client_name": CLIENT_NAME})
        connection.connect()
        connection.send_command("CLIENT", "REPLY", "OFF", check_health=False)
        return connection

    def flush(self) -> None:
        """Send what is still queued (at process exit), unless Redis is gone."""
        while not self.queue.empty() and self._send([]):
            pass


publisher = Publisher()  # one per process


def publish(kind: str, frame: dict, channel_id: str | None = None, audience: list[str] | None = None,
            **extra) -> None:
    """Send an event to every web process; audience (user ids) None means everyone."""
    publisher.put(keys.events_channel(), encode_event(kind, frame, channel_id, audience, **extra))
    metrics.EVENTS_PUBLISHED.labels(kind).inc()
