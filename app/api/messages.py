"""/api/v1/messages: messages by id (read, edit, delete), history by channel_id, and reactions."""
from flask import Blueprint, current_app

from ..accounts.auth import current_caller, login_required
from ..messaging import edits, history, messages, reactions
from ..messaging.frames import seen_by, serialize
from ..openapi import doc
from ..params import Params
from .responses import ok

bp = Blueprint("messages", __name__, url_prefix="/api/v1/messages")

CURSOR_RE = messages.MESSAGE_ID_RE


@bp.get("", strict_slashes=False)
@doc("Messages of a channel, oldest first: the newest `limit` (1 to 100, default 50), or before/after a cursor",
     {"channel_id": "str*", "before": "str", "after": "str", "limit": "int"},
     responses={200: "messages", 404: "Unknown channel"})
@login_required
def list_messages():
    params = Params()
    channel_id = params.text("channel_id", max_len=64)
    before = params.text("before", required=False, max_len=36, pattern=CURSOR_RE, pattern_message="must be a message_id")
    after = params.text("after", required=False, max_len=36, pattern=CURSOR_RE, pattern_message="must be a message_id")
    limit = params.integer("limit", default=50, minimum=1, maximum=current_app.config["CURSOR_LIMIT_MAX"])
    params.done()
    me = current_caller()
    channel = messages.visible_channel(me, channel_id)
    return ok(messages=history.around(channel, me.id, before, after, limit))


@bp.get("/<message_id>")
@doc("One message", responses={200: "message_data", 404: "Unknown message"})
@login_required
def get_message(message_id: str):
    me = current_caller()
    _channel, message = messages.readable_message(me, message_id)
    return ok(message_data=serialize([message], me.id)[0])


@bp.put("/<message_id>")
@doc("Edit your message (content; message is also accepted)", {"content": "str", "message": "str"},
     responses={200: "Updated: message_data", 400: "Empty or too long", 403: "Not yours", 404: "Unknown message"})
@login_required
def edit_message(message_id: str):
    params = Params()
    content = params.text("content", required=False, max_len=1_000_000)
    text = content if content is not None else params.text("message", required=False, default="", max_len=1_000_000)
    params.done()
    me = current_caller()
    message = edits.edit_message(me, message_id, text)
    return ok(message="Message updated successfully", message_data=seen_by(message, me.id))


@bp.delete("/<message_id>")
@doc("Delete a message: its sender, an admin or the owner", responses={200: "Deleted", 403: "Not yours",
                                                                     404: "Unknown message"})
@login_required
def delete_message(message_id: str):
    me = current_caller()
    channel, message = messages.readable_message(me, message_id)
    edits.delete_message(me, channel, message)
    return ok(message="Message deleted successfully", message_id=message.id, channel_id=channel.id)


def _emoji() -> str:
    params = Params()
    emoji = params.text("emoji", max_len=200)
    params.done()
    return emoji


@bp.post("/<message_id>/reactions")
@doc("React with one emoji or a :short_name: (again: no change; at most 20 different per message)",
     {"emoji": "str*"}, responses={200: "Reacted: the emoji's count", 400: "Not an emoji, or too many",
                                   404: "Unknown message"})
@login_required
def add_reaction(message_id: str):
    emoji = _emoji()
    count = reactions.add(current_caller(), message_id, emoji)
    return ok(message="Reaction added", message_id=message_id.lower(), emoji=emoji, count=count)


@bp.delete("/<message_id>/reactions/<path:emoji>")
@doc("Take your reaction back", responses={200: "Removed: the emoji's count", 400: "Not an emoji",
                                           404: "Unknown message"})
@login_required
def remove_reaction(message_id: str, emoji: str):
    count = reactions.remove(current_caller(), message_id, emoji)
    return ok(message="Reaction removed", message_id=message_id.lower(), emoji=emoji, count=count)


@bp.get("/<message_id>/reactions")
@doc("A message's reactions: [{emoji, count, user_ids, me}]", responses={200: "reactions", 404: "Unknown message"})
@login_required
def list_reactions(message_id: str):
    me = current_caller()
    _channel, message = messages.readable_message(me, message_id)
    return ok(message_id=message.id, reactions=reactions.reactions_of([message.id], me.id).get(message.id, []))
