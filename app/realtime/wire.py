"""Send live events to Redis from a thread of their own, so requests never wait for Redis."""
import atexit
import logging
import os
import queue
import threading

import redis as redis_lib

from ..extensions import redis

log = logging.getLogger(__name__)
CLIENT_NAME = "pufferblow-publisher"  # how its connections show in Redis's CLIENT LIST


class Publisher:
    """One thread per process sends published events to Redis in order; under load every event
    that queued up meanwhile goes in one write, so a request never waits for Redis.

    The thread has a connection of its own on which Redis is told not to reply (CLIENT REPLY
    OFF): publishing is then only a socket write, with no replies to wait for and parse.
    """

    BATCH = 256

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.connection: redis_lib.Connection | None = None
        self.pid = 0

    def put(self, channel: str, payload: str) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use, or a forked child: its own queue and thread
                self.queue, self.pid, self.connection = queue.SimpleQueue(), os.getpid(), None
                self.thread = threading.Thread(target=self._run, name="realtime-publisher", daemon=True)
                self.thread.start()
                atexit.register(self.flush)
        self.queue.put((channel, payload))

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            self._send(batch)

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
