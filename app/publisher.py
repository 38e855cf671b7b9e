"""Send live events to Redis from a thread of their own, so requests never wait for Redis."""
import atexit
import logging
import os
import queue
import threading

import redis as redis_lib

from .extensions import redis

log = logging.getLogger(__name__)


class Publisher:
    """One thread per process sends published events to Redis in order; under load every event
    that queued up meanwhile goes in one pipelined round trip, so a request never waits for Redis."""

    BATCH = 256

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: queue.SimpleQueue = queue.SimpleQueue()
        self.thread: threading.Thread | None = None
        self.pid = 0

    def put(self, channel: str, payload: str) -> None:
        with self.lock:
            if self.pid != os.getpid():  # first use, or a forked child: its own queue and thread
                self.queue, self.pid = queue.SimpleQueue(), os.getpid()
                self.thread = threading.Thread(target=self._run, name="realtime-publisher", daemon=True)
                self.thread.start()
                atexit.register(self.flush)
        self.queue.put((channel, payload))

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            self._send(batch)

    def _send(self, batch: list) -> None:
        while len(batch) < self.BATCH:
            try:
                batch.append(self.queue.get_nowait())
            except queue.Empty:
                break
        try:
            pipe = redis.pipeline(transaction=False)
            for channel, payload in batch:
                pipe.publish(channel, payload)
            pipe.execute()
        except redis_lib.RedisError:
            # The changes are committed; a client that missed them catches up with load_messages?after=.
            log.warning("could not publish %d live events", len(batch), exc_info=True)

    def flush(self) -> None:
        """Send what is still queued (at process exit)."""
        while not self.queue.empty():
            self._send([])
