"""Conversation routes under other areas' prefixes: channel pins, the caller's mentions, direct conversations.

The views are routed on the blueprints owning their prefixes: channels (/api/v1/channels) and
users (/api/v1/users).
"""
from ..accounts.auth import current_caller, login_required
from ..messaging import dms, mentions, messages, pins
from ..messaging.frames import serialize
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from .channels import bp as channels_bp
from .responses import ok
from .users import bp as users_bp

TAG = "conversations"  # the OpenAPI group these views are listed under


@channels_bp.get("/<channel_id>/pins")
@login_required
@endpoint("A channel's pinned messages, newest pin first", statuses={200: "messages", 404: "UNKNOWN_CHANNEL"}, tag=TAG)
def list_pins(channel_id: str):
    me = current_caller()
    return ok(messages=pins.pinned_messages(me, messages.visible_channel(me, channel_id)))


@channels_bp.put("/<channel_id>/pins/<message_id>")
@login_required
@endpoint("Pin a message (admin or owner; either member of a direct conversation); at most 50 per channel",
          statuses={200: "Pinned", 400: "Too many pins", 403: "Not allowed", 404: "Unknown channel or message"}, tag=TAG)
def pin_message(channel_id: str, message_id: str):
    pins.pin(current_caller(), channel_id, message_id)
    return ok(message="Message pinned", channel_id=channel_id, message_id=message_id.lower())


@channels_bp.delete("/<channel_id>/pins/<message_id>")
@login_required
@endpoint("Unpin a message (admin or owner; either member of a direct conversation)",
          statuses={200: "Unpinned", 403: "Not allowed", 404: "Unknown channel or message"}, tag=TAG)
def unpin_message(channel_id: str, message_id: str):
    pins.unpin(current_caller(), channel_id, message_id)
    return ok(message="Message unpinned", channel_id=channel_id, message_id=message_id.lower())


class MentionsPage(Fields):
    before: Text(max_len=36, pattern=messages.MESSAGE_ID_RE, pattern_message="must be a message_id") = None
    limit: Integer(1, 100) = 50


@users_bp.get("/mentions")
@login_required
@endpoint("Your mentions, newest first; next_before pages on", MentionsPage, {200: "mentions"}, tag=TAG)
def list_mentions(query: MentionsPage):
    me = current_caller()
    rows, next_before = mentions.page(me, query.before, query.limit)
    return ok(mentions=serialize(rows, me.id), next_before=next_before)


@users_bp.post("/<user_id>/dm")
@login_required
@endpoint("Your direct conversation with a user: created once, then the same one",
          statuses={200: "The existing conversation", 201: "Created", 400: "Yourself", 404: "Unknown user"}, tag=TAG)
def open_dm(user_id: str):
    channel, other, created = dms.open_dm(current_caller(), user_id)
    return ok(201 if created else 200, message="Direct conversation", channel_data=dms.dm_object(channel, other))
