"""/api/v1/blocked-ips: addresses and ranges refused on every route (owner only)."""
import sqlalchemy as sa
from flask import Blueprint

from ..admin import audit
from ..limits import addresses, blocklist
from ..accounts.auth import current_caller, owner_required
from ..errors import APIError, ValidationError
from ..extensions import db
from ..models import BlockedIP
from ..endpoint import doc
from ..params import Params
from .responses import ok

bp = Blueprint("blocked_ips", __name__, url_prefix="/api/v1/blocked-ips")


def _network(params: Params, value: str | None = None) -> str | None:
    """The normalised network of the ip parameter (or of value, from the URL)."""
    if value is None:
        value = params.text("ip", max_len=64, strip=True, min_len=1)
    elif len(value) > 64:
        params.errors.append({"path": "ip", "message": "must be at most 64 characters"})
    params.done()
    try:
        return str(addresses.parse_network(value))
    except ValueError:
        raise ValidationError([{"path": "ip", "message": "must be an IPv4 or IPv6 address or a CIDR range"}])


@bp.route("/list", methods=["GET", "POST"])
@doc("Every blocked address and range", auth="owner", responses={200: "blocked_ips"})
@owner_required
def list_blocked():
    rows = db.session.scalars(sa.select(BlockedIP).order_by(BlockedIP.blocked_at, BlockedIP.network))
    return ok(blocked_ips=[row.to_dict() for row in rows])


@bp.post("/block")
@doc("Block an address or CIDR range on every route and WebSocket", {"ip": "str*", "reason": "str"},
     auth="owner", responses={201: "Blocked", 400: "Invalid address or your own address", 409: "Already blocked"})
@owner_required
def block():
    params = Params()
    reason = params.text("reason", required=False, default="", max_len=500, strip=True)
    network = _network(params)
    mine = addresses.client_address()
    if mine is not None and mine in addresses.parse_network(network):
        raise APIError(400, "Refusing to block your own current address", "CANNOT_BLOCK_SELF")
    if db.session.get(BlockedIP, network) is not None:
        raise APIError(409, f"{network} is already blocked", "IP_ALREADY_BLOCKED")
    row = BlockedIP(network=network, reason=reason, blocked_by=current_caller().id)
    db.session.add(row)
    audit.record("ip_blocked", "IP address blocked", f"{row.display}: {reason}"[:1000], network=network)
    db.session.commit()
    blocklist.blocklist_changed()
    return ok(201, message=f"IP {row.display} blocked successfully", blocked_ip=row.to_dict())


@bp.post("/unblock")
@doc("Unblock an address or range exactly as it was blocked", {"ip": "str*"}, auth="owner",
     responses={200: "Unblocked", 404: "Not blocked"})
@owner_required
def unblock():
    return _unblock(_network(Params()))


@bp.delete("/unblock/<path:ip>")
@doc("Unblock an address or range; a range's slash URL-encoded (10.0.0.0%2F8)", auth="owner",
     responses={200: "Unblocked", 400: "Invalid address", 404: "Not blocked"})
@owner_required
def unblock_by_path(ip: str):
    return _unblock(_network(Params(), ip.strip()))


def _unblock(network: str):
    row = db.session.get(BlockedIP, network)
    if row is None:
        raise APIError(404, f"{network} is not blocked", "IP_NOT_BLOCKED")
    db.session.delete(row)
    audit.record("ip_unblocked", "IP address unblocked", row.display, network=network)
    db.session.commit()
    blocklist.blocklist_changed()
    return ok(message=f"IP {row.display} unblocked successfully")
