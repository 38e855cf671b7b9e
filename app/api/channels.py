"""/api/v1/channels: channels, membership, history, sending, read state and deletion."""
import re

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request
from sqlalchemy.exc import IntegrityError

from ..accounts.auth import Caller, current_caller, login_required, staff_required
from ..admin import audit
from ..errors import APIError, ValidationError
from ..extensions import db
from ..messaging import channel_rules, edits, events, messages, send
from ..messaging.frames import serialize
from ..models import Channel, ChannelMember, User
from ..openapi import doc
from ..params import Params
from ..realtime.audience import channel_audience
from .responses import ok

bp = Blueprint("channels", __name__, url_prefix="/api/v1/channels")

CHANNEL_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
CURSOR_RE = messages.MESSAGE_ID_RE


@bp.get("", strict_slashes=False)
@doc("What the channels API offers", auth=None)
def info():
    return ok(message="Channels API: list, create, delete, membership, messages and read state. See /docs.")


@bp.route("/list/", methods=["GET", "POST"], strict_slashes=False)
@doc("Channels you may see, with your unread counts", responses={200: "channels"})
@login_required
def list_channels():
    return ok(channels=messages.channel_list(current_caller()))


@bp.post("/create/", strict_slashes=False)
@doc("Create a channel (admin or owner)", {"channel_name": "str*", "is_private": "bool"}, auth="admin",
     responses={201: "Channel created", 409: "Name taken"})
@staff_required
def create_channel():
    params = Params()
    name = params.text("channel_name", strip=True, min_len=1, max_len=64, pattern=CHANNEL_NAME_RE,
                       pattern_message="must not contain control characters")
    is_private = params.flag("is_private")
    if name and len(name.lower()) > 64:  # lower-casing may lengthen text ("İ"): name_key holds 64
        params.errors.append({"path": "channel_name", "message": "must be at most 64 characters"})
    params.done()
    taken = APIError(409, "A channel with this name already exists", "CHANNEL_NAME_TAKEN")
    if db.session.scalar(sa.select(Channel.id).where(Channel.name_key == name.lower())):
        raise taken
    channel = Channel(name=name, name_key=name.lower(), is_private=is_private, created_by=current_caller().id)
    db.session.add(channel)
    audit.record("channel_created", "Channel created", f"#{name} was created", private=is_private)
    try:
        db.session.flush()
        events.channel_created(messages.channel_row(channel.id), channel.to_dict())
        db.session.commit()
    except IntegrityError:  # a concurrent request took the name between the check and the insert
        db.session.rollback()
        raise taken
    return ok(201, message="Channel created successfully", channel_data=channel.to_dict())


@bp.delete("/<channel_id>/delete")
@doc("Delete a channel and its history (admin or owner)", auth="admin", responses={200: "Deleted", 404: "Unknown"})
@staff_required
def delete_channel(channel_id: str):
    channel = messages.visible_channel(current_caller(), channel_id)
    audience = channel_audience(channel)  # members are gone after the delete
    db.session.delete(db.session.get(Channel, channel.id))
    audit.record("channel_deleted", "Channel deleted", f"#{channel.name} was deleted", channel_id=channel.id)
    events.channel_deleted(channel_id, audience)
    db.session.commit()
    return ok(message=f"Channel ID: '{channel_id}' deleted successfully")


@bp.put("/<channel_id>/update")
@doc("Change a channel's name, description, privacy, slow_mode (0 to 21600 s) or read_only (admin or owner)",
     {"channel_name": "str", "description": "str", "is_private": "bool", "slow_mode": "int", "read_only": "bool"},
     auth="admin", responses={200: "channel_data", 400: "Invalid field", 404: "Unknown channel", 409: "Name taken"})
@staff_required
def update_channel(channel_id: str):
    params = Params()
    changes = {
        "channel_name": params.text("channel_name", required=False, strip=True, min_len=1, max_len=64,
                                    pattern=CHANNEL_NAME_RE, pattern_message="must not contain control characters"),
        "description": params.text("description", required=False, max_len=1024),
        "is_private": params.flag("is_private", default=None),
        "slow_mode": params.integer("slow_mode", minimum=0, maximum=channel_rules.MAX_SLOW_MODE),
        "read_only": params.flag("read_only", default=None),
    }
    name = changes["channel_name"]
    if name and len(name.lower()) > 64:
        params.errors.append({"path": "channel_name", "message": "must be at most 64 characters"})
    params.done()
    changes = {field: value for field, value in changes.items() if value is not None}
    if not changes:
        raise ValidationError([{"path": "body", "message": "send at least one setting to change"}])
    channel = messages.visible_channel(current_caller(), channel_id)
    fields = sorted(changes)
    row = channel_rules.update_channel(channel, changes)
    audit.record("moderation", "Channel settings changed", f"#{row.name}: {', '.join(fields)}",
                 action="channel_updated", channel_id=channel.id, fields=fields)
    try:
        db.session.flush()
        channel_rules.channel_updated(channel.id)
        db.session.commit()
    except IntegrityError:  # a concurrent request took the name
        db.session.rollback()
        raise APIError(409, "A channel with this name already exists", "CHANNEL_NAME_TAKEN")
    return ok(message="Channel updated successfully", updated_fields=fields, channel_data=row.to_dict())


def _member_target(channel_id: str, *names: str) -> tuple[messages.ChannelRow, User]:
    params = Params()
    value = next((v for v in (params.text(n, required=False, max_len=64) for n in names) if v), None)
    if value is None:
        params.errors.append({"path": names[0], "message": "is required"})
    params.done()
    channel = messages.visible_channel(current_caller(), channel_id)
    user = db.session.get(User, value)
    if user is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    if not channel.is_private:
        raise APIError(400, "Public channels are open to everyone; membership applies to private channels",
                       "CHANNEL_NOT_PRIVATE")
    return channel, user


@bp.put("/<channel_id>/add_user")
@doc("Add a user to a private channel (admin or owner)", {"to_add_user_id": "str*"}, auth="admin",
     responses={200: "Added", 404: "Unknown channel or user"})
@staff_required
def add_user(channel_id: str):
    channel, user = _member_target(channel_id, "to_add_user_id")
    if db.session.get(ChannelMember, (channel.id, user.id)) is None:
        db.session.add(ChannelMember(channel_id=channel.id, user_id=user.id))
        audit.record("member_added", "Member added", f"{user.username} joined #{channel.name}", channel_id=channel.id)
        try:
            db.session.flush()
            events.member_added(channel, user.id)
            db.session.commit()
        except IntegrityError:  # a concurrent request added the same member a moment ago
            db.session.rollback()
    return ok(message=f"User ID: '{user.id}' added to Channel ID: '{channel.id}'")


@bp.delete("/<channel_id>/remove_user")
@doc("Remove a user from a private channel (admin or owner)", {"to_remove_user_id": "str*", "user_id": "str"},
     auth="admin", responses={200: "Removed", 404: "Unknown channel, user or membership"})
@staff_required
def remove_user(channel_id: str):
    channel, user = _member_target(channel_id, "to_remove_user_id", "user_id")
    membership = db.session.get(ChannelMember, (channel.id, user.id))
    if membership is None:
        raise APIError(404, "The user is not a member of this channel", "UNKNOWN_MEMBER")
    db.session.delete(membership)
    audit.record("member_removed", "Member removed", f"{user.username} left #{channel.name}", channel_id=channel.id)
    events.membership_revoked(channel, user.id)
    db.session.commit()
    return ok(message=f"User ID: '{user.id}' removed from Channel ID: '{channel.id}'")


@bp.get("/<channel_id>/load_messages")
@doc("Message history: page 1 is the newest; or before/after cursors with limit",
     {"page": "int", "messages_per_page": "int", "before": "str", "after": "str", "limit": "int"},
     responses={200: "messages", 404: "Unknown channel"})
@login_required
def load_messages(channel_id: str):
    config = current_app.config
    params = Params()
    page = params.integer("page", default=1, minimum=1, maximum=1_000_000)
    per_page = params.integer("messages_per_page", default=20, minimum=1, maximum=config["MESSAGES_PER_PAGE_MAX"])
    before = params.text("before", required=False, max_len=36, pattern=CURSOR_RE, pattern_message="must be a message_id")
    after = params.text("after", required=False, max_len=36, pattern=CURSOR_RE, pattern_message="must be a message_id")
    limit = params.integer("limit", default=50, minimum=1, maximum=config["CURSOR_LIMIT_MAX"])
    params.done()
    me = current_caller()
    channel = messages.visible_channel(me, channel_id)
    if before or after:
        rows = messages.messages_around(channel, before, after, limit)
    else:
        rows = messages.page_of_messages(channel, page, per_page)
    return ok(messages=serialize(rows, me.id))


def _uploaded_attachments() -> list:
    if request.mimetype != "multipart/form-data":  # files come only in a multipart form
        return []
    return [f for f in request.files.getlist("attachments") if f and f.filename]


@bp.post("/<channel_id>/send_message")
@doc("Send a message (JSON or multipart form with attachments); reply_to answers a message of the channel",
     {"message": "str", "attachments": "files", "reply_to": "str"},
     responses={201: "Sent", 400: "Empty, too long, or a reply to another channel",
                404: "Unknown channel or reply_to"})
@login_required
def send_message(channel_id: str):
    params = Params()
    text = params.text("message", required=False, default="", max_len=1_000_000)
    reply_to = params.text("reply_to", required=False, max_len=64) or None
    params.done()
    message = send.send_message(current_caller(), channel_id, text, _uploaded_attachments(), reply_to)
    return ok(201, message="message sent successfully", message_id=message.id, attachments=message.attachments)


def _named_message(channel_id: str) -> tuple[Caller, messages.ChannelRow, messages.MessageRow]:
    """The caller, the channel and the message named by the message_id parameter (404s else)."""
    me = current_caller()
    params = Params()
    message_id = params.text("message_id", max_len=36)
    params.done()
    channel = messages.visible_channel(me, channel_id)
    return me, channel, messages.channel_message(channel, message_id)


@bp.put("/<channel_id>/mark_message_as_read")
@doc("Mark a message (and everything before it) read for you", {"message_id": "str*"},
     responses={201: "Marked", 404: "Unknown channel or message"})
@login_required
def mark_message_as_read(channel_id: str):
    me, channel, message = _named_message(channel_id)
    messages.advance_read_state(me.id, channel.id, message.id)
    db.session.commit()
    events.read_receipt(me, channel, message.id)
    return ok(201, message="The message_id was successfully marked as read")


@bp.delete("/<channel_id>/delete_message")
@doc("Delete a message: its sender, an admin or the owner", {"message_id": "str*"},
     responses={204: "Deleted (empty body)", 403: "Not yours", 404: "Unknown channel or message"})
@login_required
def delete_message(channel_id: str):
    me, channel, message = _named_message(channel_id)
    edits.delete_message(me, channel, message)
    return Response(status=204)
