"""Conversation routes under other areas' prefixes: channel pins, the caller's mentions, direct conversations."""
from flask import Blueprint

from ..accounts.auth import current_caller, login_required
from ..messaging import dms, mentions, messages, pins
from ..messaging.frames import serialize
from ..openapi import doc
from ..params import Params
from .responses import ok

bp = Blueprint("conversations", __name__, url_prefix="/api/v1")


@bp.get("/channels/<channel_id>/pins")
@doc("A channel's pinned messages, newest pin first", responses={200: "messages", 404: "Unknown channel"})
@login_required
def list_pins(channel_id: str):
    me = current_caller()
    return ok(messages=pins.pinned_messages(me, messages.visible_channel(me, channel_id)))


@bp.put("/channels/<channel_id>/pins/<message_id>")
@doc("Pin a message (admin or owner; either member of a direct conversation); at most 50 per channel",
     responses={200: "Pinned", 400: "Too many pins", 403: "Not allowed", 404: "Unknown channel or message"})
@login_required
def pin_message(channel_id: str, message_id: str):
    pins.pin(current_caller(), channel_id, message_id)
    return ok(message="Message pinned", channel_id=channel_id, message_id=message_id.lower())


@bp.delete("/channels/<channel_id>/pins/<message_id>")
@doc("Unpin a message (admin or owner; either member of a direct conversation)",
     responses={200: "Unpinned", 403: "Not allowed", 404: "Unknown channel or message"})
@login_required
def unpin_message(channel_id: str, message_id: str):
    pins.unpin(current_caller(), channel_id, message_id)
    return ok(message="Message unpinned", channel_id=channel_id, message_id=message_id.lower())


@bp.get("/users/mentions")
@doc("Your mentions, newest first; next_before pages on", {"before": "str", "limit": "int"},
     responses={200: "mentions"})
@login_required
def list_mentions():
    params = Params()
    before = params.text("before", required=False, max_len=36, pattern=messages.MESSAGE_ID_RE,
                         pattern_message="must be a message_id")
    limit = params.integer("limit", default=50, minimum=1, maximum=100)
    params.done()
    me = current_caller()
    rows, next_before = mentions.page(me, before, limit)
    return ok(mentions=serialize(rows, me.id), next_before=next_before)


@bp.post("/users/<user_id>/dm")
@doc("Your direct conversation with a user: created once, then the same one",
     responses={200: "The existing conversation", 201: "Created", 400: "Yourself", 404: "Unknown user"})
@login_required
def open_dm(user_id: str):
    channel, other, created = dms.open_dm(current_caller(), user_id)
    return ok(201 if created else 200, message="Direct conversation", channel_data=dms.dm_object(channel, other))
