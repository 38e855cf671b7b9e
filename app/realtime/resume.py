"""Resuming a socket: replay the logged events it missed, then go on live with no gap and no
duplicate.

Every socket has a Stream, the gate its logged events pass: each seq once, in order. While a
replay runs the stream holds the live frames the hub hands it; the replay reads the log after
`since` until it is done, sends `resumed`, and the held frames above the last replayed seq follow.
A live frame at or below what the socket already has (a relay running late) is dropped.
"""
import json
import threading
import time

from ..extensions import db
from . import log as event_log
from .connection import CLOSE_TOO_SLOW, CLOSE_UNKNOWN_CHANNEL, TOO_SLOW_REASON, Connection

HOLD_LIMIT = 10_000  # live frames held during one replay; beyond it the socket closes with 4008


class Stream:
    """One socket's logged events: last is the highest seq it was given."""

    def __init__(self, holding: bool = False):
        self.lock = threading.Lock()
        self.last = 0
        self.holding = holding
        self.held: list[tuple[int, str, bytes | None]] = []

    def deliver(self, conn: Connection, seq: int, text: str, frame: bytes | None = None) -> bool:
        """From the hub: send a live frame now, hold it during a replay, or drop one already given."""
        with self.lock:
            if seq <= self.last:
                return False
            if self.holding:
                if len(self.held) >= HOLD_LIMIT:
                    self.held = []
                    conn.close(CLOSE_TOO_SLOW, TOO_SLOW_REASON, drop=True)
                    return False
                self.held.append((seq, text, frame))
                return True
            self.last = seq
            return conn.send(text, frame)

    def hold(self) -> None:
        with self.lock:
            self.holding = True

    def release(self, conn: Connection, replayed: int) -> None:
        """Go live: send the held frames above what was replayed, then pass frames straight on."""
        with self.lock:
            self.last = max(self.last, replayed)
            for seq, text, frame in sorted(self.held, key=lambda item: item[0]):
                if seq > self.last:
                    self.last = seq
                    conn.send(text, frame)
            self.held, self.holding = [], False


def _wait_for_room(conn: Connection) -> None:
    """Keep a long replay within the socket's outbox: wait while its writer has half of it queued."""
    while not conn.closed and conn.outbox.qsize() > conn.outbox_frames // 2:
        time.sleep(0.005)


def _closes(conn: Connection, row) -> bool:
    """Whether a one-channel socket ends here: its channel was deleted or its user removed."""
    if row.kind == "channel_deleted":
        return True
    return row.kind == "revoke" and json.loads(row.extra or "{}").get("user_id") == conn.user_id


def resume(conn: Connection, since: int) -> None:
    """Replay to the socket every logged event after `since` its user may see (the audience of
    each event, taken when it happened, decides), then {"type": "resumed", "seq": N}; a `since`
    whose events may have been pruned gets {"type": "resync_required"} instead."""
    stream = conn.stream
    stream.hold()
    cursor = replayed = max(since, stream.last)  # the socket itself already carried up to stream.last
    try:
        if event_log.too_old(since):
            cursor = stream.last
            conn.send(json.dumps({"type": "resync_required", "seq": event_log.newest()}))
            return
        channels = [conn.channel_id] if conn.channel_id else None
        while not conn.closed:
            rows = event_log.after(cursor, channel_ids=channels)
            for row in rows:
                cursor = row.seq
                if conn.channel_id and _closes(conn, row):
                    conn.close(CLOSE_UNKNOWN_CHANNEL, "Channel deleted" if row.kind == "channel_deleted"
                               else "No longer a member of this channel")
                    return
                if event_log.visible(row, conn.user_id, conn.channel_id):
                    _wait_for_room(conn)
                    conn.send(event_log.with_seq(row))
                    replayed = row.seq
            if len(rows) < event_log.BATCH:
                break
        db.session.remove()  # the socket goes back to waiting: hold no database connection
        conn.send(json.dumps({"type": "resumed", "seq": replayed}))
    finally:
        db.session.remove()
        stream.release(conn, cursor)
