"""/api/v1/invites: invite codes (admin or owner) and their public preview."""
from flask import Blueprint

from ..accounts.auth import current_caller, staff_required
from ..admin import audit, invites
from ..extensions import db
from ..ids import iso
from ..endpoint import doc
from ..params import Params
from .responses import ok

bp = Blueprint("invites", __name__, url_prefix="/api/v1/invites")
TAG = "moderation"
MAX_EXPIRES_IN = 365 * 24 * 3600



@bp.post("", strict_slashes=False)
@doc("Create an invite: max_uses (0 = unlimited), expires_in seconds, private channel_ids joined on use",
     {"max_uses": "int", "expires_in": "int", "channel_ids": "str"}, auth="admin", tag=TAG,
     responses={201: "invite", 400: "Invalid field", 404: "Unknown or public channel"})
@staff_required
def create_invite():
    params = Params()
    max_uses = params.integer("max_uses", default=0, minimum=0, maximum=1_000_000)
    expires_in = params.integer("expires_in", minimum=1, maximum=MAX_EXPIRES_IN)
    channel_ids = params.id_list("channel_ids", invites.MAX_INVITE_CHANNELS, 64)
    params.done()
    invite = invites.create(current_caller().id, max_uses, expires_in, channel_ids)
    audit.record("moderation", "Invite created", f"max_uses {max_uses}, expires {iso(invite.expires_at) or 'never'}",
                 action="invite_created", code_prefix=invite.code[:4])
    db.session.commit()
    return ok(201, invite=invite.to_dict(invites.invite_url(invite.code)))


@bp.get("", strict_slashes=False)
@doc("Invites not revoked, newest first (admin or owner)", auth="admin", tag=TAG, responses={200: "invites"})
@staff_required
def list_invites():
    return ok(invites=[invite.to_dict(invites.invite_url(invite.code)) for invite in invites.listed()])


@bp.delete("/<code>")
@doc("Revoke an invite (admin or owner)", auth="admin", tag=TAG, responses={200: "Revoked", 404: "Unknown invite"})
@staff_required
def revoke_invite(code: str):
    invite = invites.revoke(code)
    audit.record("moderation", "Invite revoked", f"uses {invite.uses}", action="invite_revoked",
                 code_prefix=invite.code[:4])
    db.session.commit()
    return ok(message="Invite revoked")


@bp.get("/<code>")
@doc("Public preview: the server name and whether the code is usable (the same answer for unknown codes)",
     auth=None, tag=TAG, responses={200: "invite"})
def preview_invite(code: str):
    return ok(invite=invites.preview(code))
