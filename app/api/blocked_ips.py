"""/api/v1/blocked-ips: addresses and ranges refused on every route (owner only)."""
import sqlalchemy as sa
from flask import Blueprint

from ..admin import audit
from ..limits import addresses, blocklist
from ..accounts.auth import current_caller, owner_required
from ..errors import APIError, ValidationError
from ..extensions import db
from ..models import BlockedIP
from ..endpoint import endpoint
from ..fields import Fields, Text
from .responses import ok

bp = Blueprint("blocked_ips", __name__, url_prefix="/api/v1/blocked-ips")


Address = Text(max_len=64, min_len=1, strip=True, description="An IPv4 or IPv6 address or a CIDR range")


class Unblock(Fields):
    ip: Address


class Block(Unblock):
    reason: Text(max_len=500, strip=True) = ""


def _network(value: str) -> str:
    """The normalised network of an address or range."""
    if len(value) > 64:
        raise ValidationError([{"path": "ip", "message": "must be at most 64 characters"}])
    try:
        return str(addresses.parse_network(value))
    except ValueError:
        raise ValidationError([{"path": "ip", "message": "must be an IPv4 or IPv6 address or a CIDR range"}])


@bp.route("/list", methods=["GET", "POST"])
@owner_required
@endpoint("Every blocked address and range", statuses={200: "blocked_ips"})
def list_blocked():
    rows = db.session.scalars(sa.select(BlockedIP).order_by(BlockedIP.blocked_at, BlockedIP.network))
    return ok(blocked_ips=[row.to_dict() for row in rows])


@bp.post("/block")
@owner_required
@endpoint("Block an address or CIDR range on every route and WebSocket", Block,
          {201: "Blocked", 400: "An invalid address, or CANNOT_BLOCK_SELF", 409: "IP_ALREADY_BLOCKED"})
def block(form: Block):
    reason = form.reason
    network = _network(form.ip)
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
@owner_required
@endpoint("Unblock an address or range exactly as it was blocked", Unblock,
          {200: "Unblocked", 400: "An invalid address", 404: "IP_NOT_BLOCKED"})
def unblock(form: Unblock):
    return _unblock(_network(form.ip))


@bp.delete("/unblock/<path:ip>")
@owner_required
@endpoint("Unblock an address or range; a range's slash URL-encoded (10.0.0.0%2F8)",
          statuses={200: "Unblocked", 400: "An invalid address", 404: "IP_NOT_BLOCKED"})
def unblock_by_path(ip: str):
    return _unblock(_network(ip.strip()))


def _unblock(network: str):
    row = db.session.get(BlockedIP, network)
    if row is None:
        raise APIError(404, f"{network} is not blocked", "IP_NOT_BLOCKED")
    db.session.delete(row)
    audit.record("ip_unblocked", "IP address unblocked", row.display, network=network)
    db.session.commit()
    blocklist.blocklist_changed()
    return ok(message=f"IP {row.display} unblocked successfully")
