"""The client's address and the blocked-address check that runs before every route.

The block list is cached in each process; a change writes a new token to a Redis key and every
process reloads its copy when it sees the token change (checked at most every
BLOCKED_IPS_REFRESH_SECONDS), so a block reaches all workers within about a second.
"""
import functools
import ipaddress
import logging
import threading
import time
import uuid

import sqlalchemy as sa
from flask import Flask, current_app, g, request

from ..errors import error_response
from ..extensions import db, redis

log = logging.getLogger(__name__)

VERSION_KEY = "pufferblow:blocked_ips:version"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class _BlockList:
    """One process's copy of the block list: exact addresses in a set, ranges in a list."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.version: bytes | None = None
        self.checked_at = 0.0
        self.loaded = False
        self.hosts: frozenset = frozenset()
        self.ranges: tuple[Network, ...] = ()
        self.verdicts: dict = {}  # address -> blocked, for the list as loaded

    def invalidate(self) -> None:
        self.checked_at, self.loaded = 0.0, False

    def refresh(self) -> None:
        now = time.monotonic()
        pace = current_app.config["BLOCKED_IPS_REFRESH_SECONDS"]
        if now - self.checked_at < pace:
            return
        with self.lock:
            if now - self.checked_at < pace:
                return
            try:
                version = redis.get(VERSION_KEY)
            except Exception:  # no Redis: reread the table itself, at the same bounded pace
                version = None
                self.loaded = False
            if not self.loaded or version != self.version:
                try:
                    self._load()
                    self.version, self.loaded = version, True
                except Exception:  # no database: keep the last list; /readyz reports the outage
                    db.session.rollback()
                    log.exception("could not load the blocked addresses; keeping the previous list")
            self.checked_at = now

    def _load(self) -> None:
        from ..models import BlockedIP

        networks = [ipaddress.ip_network(value) for value in db.session.scalars(sa.select(BlockedIP.network))]
        self.hosts = frozenset(net.network_address for net in networks if net.num_addresses == 1)
        self.ranges = tuple(net for net in networks if net.num_addresses > 1)
        self.verdicts = {}

    def blocks(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        verdict = self.verdicts.get(address)
        if verdict is None:
            verdict = address in self.hosts or any(
                address.version == net.version and address in net for net in self.ranges)
            if len(self.verdicts) > 10_000:  # many distinct clients: start over rather than grow
                self.verdicts = {}
            self.verdicts[address] = verdict
        return verdict


_blocklist = _BlockList()


@functools.lru_cache(maxsize=4096)
def _parse(value: str | None):
    try:
        address = ipaddress.ip_address((value or "").strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address) -> bool:
    return any(address in net for net in current_app.extensions["netguard_proxies"])


def client_address():
    """The client's address: the socket peer, or the X-Forwarded-For hop a trusted proxy reports."""
    if "client_address" in g:
        return g.client_address
    address = _parse(request.remote_addr)
    if address is not None and current_app.extensions["netguard_proxies"] and _trusted(address):
        # Walk from the nearest hop: the first address not belonging to a trusted proxy is the client.
        for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop_address = _parse(hop)
            if hop_address is None:
                break
            address = hop_address
            if not _trusted(hop_address):
                break
    g.client_address = address
    return address


def client_ip() -> str | None:
    address = client_address()
    return str(address) if address is not None else None


def is_blocked(address) -> bool:
    _blocklist.refresh()
    return address is not None and _blocklist.blocks(address)


def blocklist_changed() -> None:
    """Make every process reload the block list; call after committing a change."""
    _blocklist.invalidate()
    try:
        redis.set(VERSION_KEY, uuid.uuid4().hex)
    except Exception:
        log.warning("could not publish the block-list change; other processes reload it from the database")


def parse_network(value: str) -> Network:
    """An address or CIDR range, normalised (host bits cleared); ValueError when it is neither."""
    return ipaddress.ip_network(value.strip(), strict=False)


def init_app(app: Flask) -> None:
    app.config.setdefault("BLOCKED_IPS_REFRESH_SECONDS", 1.0)
    app.extensions["netguard_proxies"] = tuple(parse_network(p) for p in app.config["TRUSTED_PROXIES"])
    _blocklist.invalidate()

    @app.before_request
    def refuse_blocked_addresses():
        # flask-sock routes are Flask routes, so WebSocket handshakes are refused here too.
        if app.config["BLOCKED_IPS_ENABLED"] and is_blocked(client_address()):
            return error_response(403, "Your address is blocked on this server", "IP_BLOCKED")
        return None
