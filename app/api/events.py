"""/api/v1/events: the event log for clients without a socket, many channels in one long poll."""
import json
import time

from flask import Blueprint, current_app, request

from ..accounts.auth import current_caller, login_required
from ..errors import APIError, ValidationError
from ..extensions import db
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from ..realtime import log as event_log
from ..realtime.hub import hub
from .responses import ok

bp = Blueprint("events", __name__, url_prefix="/api/v1/events")

MAX_TIMEOUT = 30
MAX_LIMIT = 500
MAX_CHANNELS = 100
MAX_SCAN = 5000  # rows checked per look, so a poll over events of others' channels stays bounded
RECHECK_SECONDS = 1.0  # the log is read again this often while waiting, whatever Redis does


class Poll(Fields):
    since: Integer(0, 2**63 - 1, description="The last seq the client has (last_seq of the previous call)")
    limit: Integer(1, MAX_LIMIT) = 100
    timeout: Integer(0, MAX_TIMEOUT, description="Seconds to wait for an event when none is there yet") = 0
    # Read by _channel_ids() from every repetition; declared here for the document and the type.
    channel_id: Text(max_len=64 * MAX_CHANNELS + MAX_CHANNELS,
                     description="A channel to follow; repeat it (or separate ids by commas) for more") = None


def _channel_ids() -> list[str] | None:
    """Repeated channel_id parameters (each may also be a comma-separated list); None: every channel."""
    values = [item.strip() for value in request.args.getlist("channel_id") for item in value.split(",")]
    if not values:
        return None
    if len(values) > MAX_CHANNELS or not all(0 < len(value) <= 64 for value in values):
        raise ValidationError([{"path": "channel_id", "message": f"must be at most {MAX_CHANNELS} channel ids"}])
    return sorted(set(values))


def _look(user_id: str, since: int, limit: int, channels: list[str] | None) -> tuple[list[dict], int]:
    """The visible events after since (at most limit) and the cursor: the last seq checked."""
    found, cursor, scanned = [], since, 0
    while len(found) < limit and scanned < MAX_SCAN:
        rows = event_log.after(cursor, channel_ids=channels)
        for row in rows:
            cursor = row.seq
            if event_log.visible(row, user_id):
                found.append(json.loads(event_log.with_seq(row)))
                if len(found) == limit:
                    break
        scanned += len(rows)
        if len(rows) < event_log.BATCH:
            break
    return found, cursor


@bp.get("", strict_slashes=False)
@login_required
@endpoint("The events you may see after `since`, oldest first (messages, edits, deletions, reactions, pins, "
          "membership, channels), each with its seq; waits up to `timeout` seconds for one. "
          "last_seq is the cursor for the next call", Poll,
          {200: "events and last_seq", 410: "RESYNC_REQUIRED: events after since are no longer kept"})
def poll(query: Poll):
    since, limit, timeout = query.since, query.limit, query.timeout
    channels = _channel_ids()
    user_id = current_caller().id
    if event_log.too_old(since):
        raise APIError(410, "Events after this seq are no longer kept: reload, then poll from last_seq",
                       "RESYNC_REQUIRED", extra={"last_seq": event_log.newest()})
    if timeout:
        hub.start(current_app._get_current_object(), wait=False)  # its subscriber wakes the wait below
    deadline = time.monotonic() + timeout
    while True:
        seen = event_log.arrivals.latest  # committed before this look: the look covers it
        found, cursor = _look(user_id, since, limit, channels)
        remaining = deadline - time.monotonic()
        if found or remaining <= 0:
            return ok(events=found, last_seq=cursor)
        since = cursor
        db.session.remove()  # hold no database connection while waiting
        event_log.arrivals.wait(max(since, seen), min(remaining, RECHECK_SECONDS))
