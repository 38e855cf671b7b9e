"""/api/v1/channels: channels, membership, history, sending, read state and deletion."""
import re

import sqlalchemy as sa
from flask import Blueprint, Response
from sqlalchemy.exc import IntegrityError

from ..accounts.auth import Caller, current_caller, login_required, staff_required
from ..admin import audit
from ..database import reads_only
from ..errors import APIError, ValidationError
from ..extensions import db
from ..messaging import channel_rules, edits, events, history, messages, send
from ..models import Channel, ChannelMember, User
from ..endpoint import endpoint
from ..fields import Fields, Files, Flag, Integer, Text
from ..realtime.audience import channel_audience
from .responses import ok

bp = Blueprint("channels", __name__, url_prefix="/api/v1/channels")

CHANNEL_NAME_RE = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
ChannelName = Text(max_len=64, min_len=1, strip=True, pattern=CHANNEL_NAME_RE,
                   pattern_message="must not contain control characters")
MessageCursor = Text(max_len=36, pattern=messages.MESSAGE_ID_RE, pattern_message="must be a message_id")


@bp.get("", strict_slashes=False)
@endpoint("What the channels API offers")
def info():
    return ok(message="Channels API: list, create, delete, membership, messages and read state. See /docs.")


@bp.route("/list/", methods=["GET", "POST"], strict_slashes=False)
@login_required
@endpoint("Channels you may see, with your unread counts", statuses={200: "channels"})
def list_channels():
    return ok(channels=messages.channel_list(current_caller()))


def _name_key_fits(name: str | None) -> None:
    if name and len(name.lower()) > 64:  # lower-casing may lengthen text ("İ"): name_key holds 64
        raise ValidationError([{"path": "channel_name", "message": "must be at most 64 characters"}])


class NewChannel(Fields):
    channel_name: ChannelName
    is_private: Flag = False


@bp.post("/create/", strict_slashes=False)
@staff_required
@endpoint("Create a channel (admin or owner)", NewChannel, {201: "Channel created", 409: "CHANNEL_NAME_TAKEN"})
def create_channel(form: NewChannel):
    name, is_private = form.channel_name, form.is_private
    _name_key_fits(name)
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
@staff_required
@endpoint("Delete a channel and its history (admin or owner)", statuses={200: "Deleted", 404: "UNKNOWN_CHANNEL"})
def delete_channel(channel_id: str):
    channel = messages.visible_channel(current_caller(), channel_id)
    audience = channel_audience(channel)  # members are gone after the delete
    db.session.delete(db.session.get(Channel, channel.id))
    audit.record("channel_deleted", "Channel deleted", f"#{channel.name} was deleted", channel_id=channel.id)
    events.channel_deleted(channel_id, audience)
    db.session.commit()
    return ok(message=f"Channel ID: '{channel_id}' deleted successfully")


class ChannelChange(Fields):
    channel_name: ChannelName = None
    description: Text(max_len=1024) = None
    is_private: Flag = None
    slow_mode: Integer(0, channel_rules.MAX_SLOW_MODE, description="Seconds between a user's messages") = None
    read_only: Flag = None


@bp.put("/<channel_id>/update")
@staff_required
@endpoint("Change a channel's name, description, privacy, slow_mode or read_only (admin or owner)", ChannelChange,
          {200: "channel_data", 400: "INVALID_FORM_BODY: a field breaks its rule, or nothing to change",
           404: "UNKNOWN_CHANNEL", 409: "CHANNEL_NAME_TAKEN"})
def update_channel(form: ChannelChange, channel_id: str):
    _name_key_fits(form.channel_name)
    changes = {field: value for field, value in form.model_dump().items() if value is not None}
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


class NewMember(Fields):
    to_add_user_id: Text(max_len=64)


class OldMember(Fields):
    to_remove_user_id: Text(max_len=64, description="Required unless user_id is sent") = None
    user_id: Text(max_len=64, description="The same as to_remove_user_id") = None


def _member_target(channel_id: str, value: str | None, name: str) -> tuple[messages.ChannelRow, User]:
    if not value:
        raise ValidationError([{"path": name, "message": "is required"}])
    channel = messages.visible_channel(current_caller(), channel_id)
    user = db.session.get(User, value)
    if user is None:
        raise APIError(404, "User not found", "UNKNOWN_USER")
    if not channel.is_private:
        raise APIError(400, "Public channels are open to everyone; membership applies to private channels",
                       "CHANNEL_NOT_PRIVATE")
    return channel, user


MEMBER_STATUSES = {400: "CHANNEL_NOT_PRIVATE: membership applies to private channels",
                   404: "UNKNOWN_CHANNEL or UNKNOWN_USER"}


@bp.put("/<channel_id>/add_user")
@staff_required
@endpoint("Add a user to a private channel (admin or owner)", NewMember, {200: "Added", **MEMBER_STATUSES})
def add_user(form: NewMember, channel_id: str):
    channel, user = _member_target(channel_id, form.to_add_user_id, "to_add_user_id")
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
@staff_required
@endpoint("Remove a user from a private channel (admin or owner)", OldMember,
          {200: "Removed", **MEMBER_STATUSES, 404: "UNKNOWN_CHANNEL, UNKNOWN_USER or UNKNOWN_MEMBER"})
def remove_user(form: OldMember, channel_id: str):
    channel, user = _member_target(channel_id, form.to_remove_user_id or form.user_id, "to_remove_user_id")
    membership = db.session.get(ChannelMember, (channel.id, user.id))
    if membership is None:
        raise APIError(404, "The user is not a member of this channel", "UNKNOWN_MEMBER")
    db.session.delete(membership)
    audit.record("member_removed", "Member removed", f"{user.username} left #{channel.name}", channel_id=channel.id)
    events.membership_revoked(channel, user.id)
    db.session.commit()
    return ok(message=f"User ID: '{user.id}' removed from Channel ID: '{channel.id}'")


class History(Fields):
    page: Integer(1, 1_000_000, description="1 is the newest page") = 1
    messages_per_page: Integer(1, "MESSAGES_PER_PAGE_MAX") = 20
    before: MessageCursor = None
    after: MessageCursor = None
    limit: Integer(1, "CURSOR_LIMIT_MAX", description="With before or after") = 50


@bp.get("/<channel_id>/load_messages")
@reads_only
@login_required
@endpoint("Message history: page 1 is the newest; or before/after cursors with limit", History,
          {200: "messages", 404: "UNKNOWN_CHANNEL"})
def load_messages(query: History, channel_id: str):
    page, per_page, before, after, limit = query.page, query.messages_per_page, query.before, query.after, query.limit
    me = current_caller()
    channel = messages.visible_channel(me, channel_id)
    if before or after:
        return ok(messages=history.around(channel, me.id, before, after, limit))
    return ok(messages=history.page(channel, me.id, page, per_page))


class NewMessage(Fields):
    message: Text(max_len=1_000_000) = ""
    attachments: Files = []
    reply_to: Text(max_len=64, description="A message_id of the same channel") = None


@bp.post("/<channel_id>/send_message")
@login_required
@endpoint("Send a message (JSON, or a multipart form with attachments); reply_to answers a message of the channel",
          NewMessage, {201: "Sent", 400: "Empty, too long, or a reply to another channel",
                       403: "READ_ONLY_CHANNEL or TIMED_OUT", 404: "UNKNOWN_CHANNEL or an unknown reply_to",
                       413: "An attachment is too large (bytes or pixels)", 415: "An attachment's type is not accepted",
                       503: "IMAGE_DECODE_BUSY: every image decode slot is busy; retry",
                       429: "SLOW_MODE: wait before sending again"})
def send_message(form: NewMessage, channel_id: str):
    message = send.send_message(current_caller(), channel_id, form.message, form.attachments, form.reply_to or None)
    return ok(201, message="message sent successfully", message_id=message.id, attachments=message.attachments)


class NamedMessage(Fields):
    message_id: Text(max_len=36)


def _named_message(channel_id: str, message_id: str) -> tuple[Caller, messages.ChannelRow, messages.MessageRow]:
    """The caller, the channel and the message named by the message_id parameter (404s else)."""
    me = current_caller()
    channel = messages.visible_channel(me, channel_id)
    return me, channel, messages.channel_message(channel, message_id)


@bp.put("/<channel_id>/mark_message_as_read")
@login_required
@endpoint("Mark a message (and everything before it) read for you", NamedMessage,
          {201: "Marked", 404: "UNKNOWN_CHANNEL or UNKNOWN_MESSAGE"})
def mark_message_as_read(form: NamedMessage, channel_id: str):
    me, channel, message = _named_message(channel_id, form.message_id)
    messages.advance_read_state(me.id, channel.id, message.id)
    db.session.commit()
    events.read_receipt(me, channel, message.id)
    return ok(201, message="The message_id was successfully marked as read")


@bp.delete("/<channel_id>/delete_message")
@login_required
@endpoint("Delete a message: its sender, an admin or the owner", NamedMessage,
          {204: ("Deleted (empty body)", None), 403: "Not yours", 404: "UNKNOWN_CHANNEL or UNKNOWN_MESSAGE"})
def delete_message(form: NamedMessage, channel_id: str):
    me, channel, message = _named_message(channel_id, form.message_id)
    edits.delete_message(me, channel, message)
    return Response(status=204)
