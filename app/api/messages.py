"""/api/v1/messages: messages by id (read, edit, delete), history by channel_id, and reactions."""
from flask import Blueprint

from ..accounts.auth import current_caller, login_required
from ..database import reads_only
from ..messaging import edits, history, messages, reactions
from ..messaging.frames import seen_by, serialize
from ..endpoint import endpoint
from ..fields import Fields, Integer, Text
from .responses import ok

bp = Blueprint("messages", __name__, url_prefix="/api/v1/messages")

MessageCursor = Text(max_len=36, pattern=messages.MESSAGE_ID_RE, pattern_message="must be a message_id")


class ChannelHistory(Fields):
    channel_id: Text(max_len=64)
    before: MessageCursor = None
    after: MessageCursor = None
    limit: Integer(1, "CURSOR_LIMIT_MAX") = 50


@bp.get("", strict_slashes=False)
@reads_only
@login_required
@endpoint("Messages of a channel, oldest first: the newest `limit`, or before/after a cursor", ChannelHistory,
          {200: "messages", 404: "UNKNOWN_CHANNEL"})
def list_messages(query: ChannelHistory):
    me = current_caller()
    channel = messages.visible_channel(me, query.channel_id)
    return ok(messages=history.around(channel, me.id, query.before, query.after, query.limit))


@bp.get("/<message_id>")
@reads_only
@login_required
@endpoint("One message", statuses={200: "message_data", 404: "UNKNOWN_MESSAGE"})
def get_message(message_id: str):
    me = current_caller()
    _channel, message = messages.readable_message(me, message_id)
    return ok(message_data=serialize([message], me.id)[0])


class MessageEdit(Fields):
    content: Text(max_len=1_000_000) = None
    message: Text(max_len=1_000_000, description="Used when content is not sent") = ""


@bp.put("/<message_id>")
@login_required
@endpoint("Edit your message (content; message is also accepted)", MessageEdit,
          {200: "Updated: message_data", 400: "Empty or too long", 403: "Not yours", 404: "UNKNOWN_MESSAGE"})
def edit_message(form: MessageEdit, message_id: str):
    text = form.content if form.content is not None else form.message
    me = current_caller()
    message = edits.edit_message(me, message_id, text)
    return ok(message="Message updated successfully", message_data=seen_by(message, me.id))


@bp.delete("/<message_id>")
@login_required
@endpoint("Delete a message: its sender, an admin or the owner",
          statuses={200: "Deleted", 403: "Not yours", 404: "UNKNOWN_MESSAGE"})
def delete_message(message_id: str):
    me = current_caller()
    channel, message = messages.readable_message(me, message_id)
    edits.delete_message(me, channel, message)
    return ok(message="Message deleted successfully", message_id=message.id, channel_id=channel.id)


class Reaction(Fields):
    emoji: Text(max_len=200, description="One emoji or a :short_name:")


@bp.post("/<message_id>/reactions")
@login_required
@endpoint("React with one emoji or a :short_name: (again: no change; at most 20 different per message)", Reaction,
          {200: "Reacted: the emoji's count", 400: "Not an emoji, or too many", 404: "UNKNOWN_MESSAGE"})
def add_reaction(form: Reaction, message_id: str):
    emoji = form.emoji
    count = reactions.add(current_caller(), message_id, emoji)
    return ok(message="Reaction added", message_id=message_id.lower(), emoji=emoji, count=count)


@bp.delete("/<message_id>/reactions/<path:emoji>")
@login_required
@endpoint("Take your reaction back", statuses={200: "Removed: the emoji's count", 400: "Not an emoji",
                                               404: "UNKNOWN_MESSAGE"})
def remove_reaction(message_id: str, emoji: str):
    count = reactions.remove(current_caller(), message_id, emoji)
    return ok(message="Reaction removed", message_id=message_id.lower(), emoji=emoji, count=count)


@bp.get("/<message_id>/reactions")
@reads_only
@login_required
@endpoint("A message's reactions: [{emoji, count, user_ids, me}]", statuses={200: "reactions", 404: "UNKNOWN_MESSAGE"})
def list_reactions(message_id: str):
    me = current_caller()
    _channel, message = messages.readable_message(me, message_id)
    return ok(message_id=message.id, reactions=reactions.reactions_of([message.id], me.id).get(message.id, []))
