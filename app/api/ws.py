"""WebSockets: /ws (every channel you may see) and /ws/channels/<channel_id> (one channel).

The handshake is checked before the socket is accepted, so refusals are plain JSON HTTP errors.
"""
import json
import logging

from flask import Blueprint, current_app, g, request
from simple_websocket import ConnectionClosed

from ..limits.limiter import frame_allowed
from ..messaging import events, messages
from ..realtime import presence, websocket
from ..realtime.connection import Connection
from ..realtime.hub import hub
from ..realtime.resume import Stream, resume
from ..accounts import moderation
from ..accounts.auth import Caller, current_caller, request_token, token_digest
from ..errors import APIError
from ..extensions import db, sock
from ..models import AuthToken, User
from ..endpoint import endpoint, read, role_checked_by_hook
from ..fields import Fields, Integer

log = logging.getLogger(__name__)
bp = Blueprint("ws", __name__)
MAX_SEQ = 2**63 - 1


class Resume(Fields):
    since: Integer(0, MAX_SEQ, description="Replay the logged events after this seq first") = None


_RESPONSES = {101: ("Switching protocols: live events follow", None),
              429: "TOO_MANY_SOCKETS: the account already holds MAX_SOCKETS_PER_USER open sockets"}


@bp.before_request
def handshake():
    """Refuse before accepting (401 token, 404 unknown or hidden channel, 429 too many sockets); else
    register the socket."""
    user = current_caller()
    channel_id = (request.view_args or {}).get("channel_id")
    since = read(Resume).since  # resume after this seq (None: live only)
    if channel_id is not None:
        messages.visible_channel(user, channel_id)
    config = current_app.config
    # The WebSocket library accepts the permessage-deflate offer of a client; without the offer it
    # sends plain frames, which the hub builds once for every socket. Compression off: drop the offer.
    offer = request.environ.get("HTTP_SEC_WEBSOCKET_EXTENSIONS", "")
    if not config["REALTIME_COMPRESSION"]:
        request.environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
    plain = not config["REALTIME_COMPRESSION"] or "permessage-deflate" not in offer.lower()
    digest = token_digest(request_token())
    token_row = db.session.get(AuthToken, digest)
    if token_row is None:  # revoked since current_caller() checked it
        raise APIError(401, "The auth_token is invalid or has expired", "INVALID_AUTH_TOKEN")
    conn = Connection(user.id, user.username, channel_id, digest, token_row.expires_at,
                      outbox_frames=config["REALTIME_OUTBOX_FRAMES"], plain=plain)
    conn.stream = Stream(holding=since is not None)  # from registration on, live frames wait for the replay
    # Registered and counted before the 101 goes out: an event published right after it waits in
    # the outbox rather than being missed, and presence never sees a gap between a client's sockets.
    # The cap is checked here (this process) and on the fleet-wide count after adding this socket
    # to it, so two handshakes at once on different processes cannot both pass.
    limit = config["MAX_SOCKETS_PER_USER"]
    if not hub.register(conn, limit):
        raise _too_many_sockets(limit)
    g.ws_conn = conn  # from here the teardown unregisters and uncounts it, refused or not
    websocket.linger_on_close(request.environ)
    if presence.socket_opened(conn, user.status) > limit > 0:
        raise _too_many_sockets(limit)


def _too_many_sockets(limit: int) -> APIError:
    return APIError(429, f"Too many open sockets: an account may hold {limit} at once; close one first",
                    "TOO_MANY_SOCKETS")


@bp.teardown_request
def forget(_exc=None):
    conn = g.pop("ws_conn", None)
    if conn is None:
        return
    hub.unregister(conn)
    conn.close(None, None)
    try:
        presence.socket_closed(conn)
    except Exception:  # a Redis hiccup here must not hide the closed socket; the sweep catches up
        log.warning("could not record a closed socket", exc_info=True)


@sock.route("/ws", bp=bp)
@role_checked_by_hook("user")
@endpoint("WebSocket: live events of every channel you may see (messages, deletions, read receipts, "
          "typing, presence); `since` replays the logged events after that seq first, then `resumed`",
          Resume, statuses=_RESPONSES, tag="websocket")
def all_channels(query: Resume, ws):
    serve(ws, query.since)


@sock.route("/ws/channels/<channel_id>", bp=bp)
@role_checked_by_hook("user")
@endpoint("WebSocket: live events of one channel; `since` replays that channel's logged events after it first",
          Resume, statuses={**_RESPONSES, 404: "UNKNOWN_CHANNEL"}, tag="websocket")
def one_channel(query: Resume, ws, channel_id):
    serve(ws, query.since)


def serve(ws, since: int | None) -> None:
    """Answer client frames until the socket closes; live events go out through its outbox."""
    conn = g.ws_conn
    db.session.remove()  # a socket may wait for hours: hold no database connection meanwhile
    conn.attach(ws)
    try:
        if since is not None:
            resume(conn, since)
        # No timeout: a closed socket wakes this (the peer's answer to the close frame, or the
        # hub's tick shutting down a peer that does not answer), so idle handlers never wake.
        while not conn.closed:
            data = ws.receive()
            if data is not None:
                handle_frame(conn, data)
                db.session.remove()
    except ConnectionClosed:  # the socket closed
        pass
    finally:
        # The writer's close frame (4001, 4004, 4008, 1001) goes out before the library's own.
        conn.close(None, None, drop=True)
        conn.join(current_app.config["REALTIME_SEND_TIMEOUT"] + 2)


def reply(conn: Connection, frame: dict) -> None:
    conn.send(json.dumps(frame))


def reply_error(conn: Connection, status: int, code: str, detail: str, **extra) -> None:
    reply(conn, {"type": "error", "status_code": status, "code": code, "detail": detail, **extra})


def handle_frame(conn: Connection, data) -> None:
    """Throttle, parse and dispatch one client frame; every failure becomes an error frame."""
    try:
        allowed, retry_after = frame_allowed(conn.user_id)
        if not allowed:
            return reply_error(conn, 429, "RATE_LIMITED", "Too many frames: slow down", retry_after=retry_after)
        try:
            frame = json.loads(data) if isinstance(data, str) else None
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            frame = None
        if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
            return reply_error(conn, 400, "INVALID_FRAME", 'Frames are JSON objects with a string "type"')
        handler = HANDLERS.get(frame["type"])
        if handler is None:
            return reply_error(conn, 400, "UNKNOWN_FRAME_TYPE",
                               f"Unknown frame type; expected one of: {', '.join(sorted(HANDLERS))}")
        handler(conn, frame)
    except APIError as exc:
        db.session.rollback()
        reply_error(conn, exc.status, exc.code, exc.detail)
    except Exception:
        db.session.rollback()
        log.exception("a websocket frame failed")
        reply_error(conn, 500, "INTERNAL_ERROR", "Internal server error")


def _user(conn: Connection) -> Caller:
    """The socket's account as it is now (its name or roles may have changed since the handshake)."""
    user = db.session.get(User, conn.user_id)
    if user is None:
        raise APIError(401, "The account no longer exists", "INVALID_AUTH_TOKEN")
    return Caller.of(user)


def on_ping(conn: Connection, _frame: dict) -> None:
    reply(conn, {"type": "pong"})


def on_typing(conn: Connection, frame: dict) -> None:
    """On /ws the frame names its channel_id; on a channel socket it is that channel."""
    channel_id = conn.channel_id or frame.get("channel_id")
    if not isinstance(channel_id, str):
        raise APIError(400, "channel_id is required on /ws", "INVALID_FRAME")
    user = _user(conn)
    moderation.ensure_can_post(user)  # a timed-out user may not write, so may not seem to
    events.typing(user, messages.visible_channel(user, channel_id))


def on_read_confirmation(conn: Connection, frame: dict) -> None:
    """Mark read for this user only (never for everyone), then emit read_receipt."""
    message_id = frame.get("message_id")
    if not isinstance(message_id, str) or not messages.MESSAGE_ID_RE.fullmatch(message_id):
        raise APIError(400, "message_id is required", "INVALID_FRAME")
    user = _user(conn)
    # A message of a hidden channel answers as an unknown one: the answer reveals nothing.
    channel, message = messages.readable_message(user, message_id)
    if conn.channel_id and message.channel_id != conn.channel_id:
        raise APIError(404, "Message not found", "UNKNOWN_MESSAGE")
    messages.advance_read_state(user.id, channel.id, message.id)
    db.session.commit()
    events.read_receipt(user, channel, message.id)


def on_resume(conn: Connection, frame: dict) -> None:
    """Replay the logged events after `since` this socket may see, then `resumed`."""
    since = frame.get("since")
    if isinstance(since, bool) or not isinstance(since, int) or not 0 <= since <= MAX_SEQ:
        raise APIError(400, "since must be an integer seq of 0 or more", "INVALID_FRAME")
    resume(conn, since)


HANDLERS = {"ping": on_ping, "typing": on_typing, "read_confirmation": on_read_confirmation, "resume": on_resume}
