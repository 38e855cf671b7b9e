"""/api/v1/invites: invite codes (admin or owner) and their public preview."""
from flask import Blueprint

from ..accounts.auth import current_caller, staff_required
from ..admin import audit, invites
from ..extensions import db
from ..ids import iso
from ..endpoint import endpoint
from ..fields import Fields, IdList, Integer
from .responses import ok

bp = Blueprint("invites", __name__, url_prefix="/api/v1/invites")
TAG = "moderation"
MAX_EXPIRES_IN = 365 * 24 * 3600


class NewInvite(Fields):
    max_uses: Integer(0, 1_000_000, description="0: unlimited") = 0
    expires_in: Integer(1, MAX_EXPIRES_IN, description="Seconds; never expires when absent") = None
    channel_ids: IdList(invites.MAX_INVITE_CHANNELS, 64) = []


@bp.post("", strict_slashes=False)
@staff_required
@endpoint("Create an invite: max_uses (0 = unlimited), expires_in seconds, private channel_ids joined on use",
          NewInvite, {201: "invite", 404: "Unknown or public channel"}, tag=TAG)
def create_invite(form: NewInvite):
    max_uses, expires_in, channel_ids = form.max_uses, form.expires_in, form.channel_ids
    invite = invites.create(current_caller().id, max_uses, expires_in, channel_ids)
    audit.record("moderation", "Invite created", f"max_uses {max_uses}, expires {iso(invite.expires_at) or 'never'}",
                 action="invite_created", code_prefix=invite.code[:4])
    db.session.commit()
    return ok(201, invite=invite.to_dict(invites.invite_url(invite.code)))


@bp.get("", strict_slashes=False)
@staff_required
@endpoint("Invites not revoked, newest first (admin or owner)", statuses={200: "invites"}, tag=TAG)
def list_invites():
    return ok(invites=[invite.to_dict(invites.invite_url(invite.code)) for invite in invites.listed()])


@bp.delete("/<code>")
@staff_required
@endpoint("Revoke an invite (admin or owner)", statuses={200: "Revoked", 404: "Unknown invite"}, tag=TAG)
def revoke_invite(code: str):
    invite = invites.revoke(code)
    audit.record("moderation", "Invite revoked", f"uses {invite.uses}", action="invite_revoked",
                 code_prefix=invite.code[:4])
    db.session.commit()
    return ok(message="Invite revoked")


@bp.get("/<code>")
@endpoint("Public preview: the server name and whether the code is usable (the same answer for unknown codes)",
          statuses={200: "invite"}, tag=TAG)
def preview_invite(code: str):
    return ok(invite=invites.preview(code))
