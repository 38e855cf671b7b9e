"""Event-log test helpers: reading a socket up to `resumed`, and sending through a real stack."""
import json
import time

import websocket

from tests.ws_support import frames_within, http

SHOWN = {"message", "message_updated", "message_deleted", "reaction_added", "reaction_removed", "message_pinned",
         "message_unpinned", "mention", "member_added", "channel_created", "channel_updated", "channel_deleted",
         "channel_removed"}


def logged(frames: list[dict]) -> list[dict]:
    """The frames that come from the event log (typing, presence and the like are left out)."""
    return [frame for frame in frames if frame["type"] in SHOWN]


def until_resumed(ws, timeout: float = 10) -> tuple[list[dict], dict]:
    """The logged frames a socket receives up to its resumed (or resync_required) frame, and that frame."""
    frames, deadline = [], time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no resumed within {timeout} s (got {[f['type'] for f in frames]})"
        ws.settimeout(remaining)
        frame = json.loads(ws.recv())
        if frame["type"] in ("resumed", "resync_required"):
            return logged(frames), frame
        frames.append(frame)


def logged_within(ws, seconds: float) -> list[dict]:
    """The logged frames that arrive within the given time (or until the server closes the socket)."""
    return logged(frames_within(ws, seconds, until_closed=True))


def resume_connect(stack, path: str, token: str, since: int, timeout: float = 5) -> websocket.WebSocket:
    """Open path?since=<since> (the token in the query too)."""
    return websocket.create_connection(f"{stack.ws_url}{path}?since={since}&auth_token={token}", timeout=timeout)


def stack_send(stack, token: str, channel_id: str, text: str) -> str:
    response = http(stack, "POST", f"/api/v1/channels/{channel_id}/send_message", token, json={"message": text})
    assert response.status_code == 201, response.text
    return response.json()["message_id"]


def assert_in_order_once(frames: list[dict]) -> None:
    seqs = [frame["seq"] for frame in frames]
    assert seqs == sorted(set(seqs)), seqs
