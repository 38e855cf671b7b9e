"""The blocked addresses, refused before every route (WebSocket handshakes included).

Each process keeps the list in a ProcessCache. Every BLOCKED_IPS_REFRESH_SECONDS a background
thread reads the list's version token from Redis (writing a first one if there is none) and
rereads the table only when the token changed (or when Redis does not answer). Requests never
wait for it: they serve the last known list, so a hung Redis or a slow database delays no
request. Only the very first load of a process (no list yet) happens in a request.
"""
import ipaddress
import logging
import os
import threading
import uuid

import redis as redis_lib
import sqlalchemy as sa
from flask import Flask, current_app

from .. import keys
from ..cache import ProcessCache
from ..errors import error_response
from ..extensions import db, redis
from ..models import BlockedIP
from .addresses import Address, Network, client_address

log = logging.getLogger(__name__)
MAX_VERDICTS = 10_000


class BlockList:
    """One loaded copy of the list: exact addresses in a set, ranges in a tuple."""

    def __init__(self, version: bytes | None, networks: list[Network]) -> None:
        self.version = version
        self.hosts = frozenset(net.network_address for net in networks if net.num_addresses == 1)
        self.ranges = tuple(net for net in networks if net.num_addresses > 1)
        self.verdicts: dict[Address, bool] = {}  # address -> blocked, for this copy

    def blocks(self, address: Address) -> bool:
        verdict = self.verdicts.get(address)
        if verdict is None:
            verdict = address in self.hosts or any(
                address.version == net.version and address in net for net in self.ranges)
            if len(self.verdicts) > MAX_VERDICTS:  # many distinct clients: start over rather than grow
                self.verdicts = {}
            self.verdicts[address] = verdict
        return verdict


def version_client(url: str, timeout: float) -> redis_lib.Redis:
    """The client for the version token: a short timeout bounds the wait of the reloading request."""
    return redis_lib.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class Guard:
    """One app's block list: its cache, the version key and the client that reads the token."""

    def __init__(self, app: Flask) -> None:
        with app.app_context():
            self.version_key = keys.blocked_ips_version()
        self.client = version_client(app.config["REDIS_URL"], app.config["BLOCKED_IPS_REDIS_TIMEOUT"])
        self.cache: ProcessCache[BlockList] = ProcessCache(self._load, ttl=app.config["BLOCKED_IPS_REFRESH_SECONDS"])
        self.app = app
        self._forked()
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        self.refreshing = threading.Lock()  # one background refresh at a time
        self.refresher: threading.Thread | None = None

    def _load(self, key: str) -> BlockList:
        previous = self.cache.peek(key)
        try:
            version = self.client.get(key)
            if version is None:
                # No change published since Redis started: publish a first token, or every
                # refresh would reread the table for want of one to compare.
                self.client.set(key, uuid.uuid4().hex, nx=True)
                version = self.client.get(key)
        except redis_lib.RedisError:  # no Redis: reread the table itself, at the same bounded pace
            version = None
        if previous is not None and version is not None and version == previous.version:
            return previous
        try:
            networks = [ipaddress.ip_network(value) for value in db.session.scalars(sa.select(BlockedIP.network))]
        except Exception:  # no database: keep the last list; /readyz reports the outage
            db.session.rollback()
            log.exception("could not load the blocked addresses; keeping the previous list")
            return previous if previous is not None else BlockList(None, [])
        return BlockList(version, networks)

    def current(self) -> BlockList:
        """The last known list; a stale one is refreshed in the background, never in the request."""
        previous = self.cache.peek(self.version_key)
        if previous is None:
            return self.cache.get(self.version_key)
        if not self.cache.fresh(self.version_key) and self.refreshing.acquire(blocking=False):
            self.refresher = threading.Thread(target=self._refresh, name="blocklist-refresh", daemon=True)
            self.refresher.start()
        return previous

    def _refresh(self) -> None:
        try:
            with self.app.app_context():
                try:
                    self.cache.get(self.version_key)
                finally:
                    db.session.remove()
        except Exception:
            log.exception("could not refresh the blocked addresses")
        finally:
            self.refreshing.release()

    def join(self, timeout: float = 10) -> None:
        """Wait for a background refresh in progress (tests)."""
        if self.refresher is not None:
            self.refresher.join(timeout)

    def reload(self) -> BlockList:
        """Load the list now (after a change made by this process)."""
        self.cache.expire(self.version_key)
        return self.cache.get(self.version_key)


def is_blocked(address: Address | None) -> bool:
    return address is not None and current_app.extensions["blocklist"].current().blocks(address)


def blocklist_changed() -> None:
    """Make every process reload the block list; call after committing a change."""
    guard = current_app.extensions["blocklist"]
    try:
        redis.set(guard.version_key, uuid.uuid4().hex)
    except redis_lib.RedisError:
        log.warning("could not publish the block-list change; other processes reload it from the database")
        guard.cache.clear()  # the token did not change: only a fresh load shows the change here
        return
    guard.reload()  # the new token makes the load reread the table; this process sees the change at once


def init_app(app: Flask) -> None:
    guard = app.extensions["blocklist"] = Guard(app)

    @app.before_request
    def refuse_blocked_addresses():
        # flask-sock routes are Flask routes, so WebSocket handshakes are refused here too.
        address = client_address() if app.config["BLOCKED_IPS_ENABLED"] else None
        if address is not None and guard.current().blocks(address):
            return error_response(403, "Your address is blocked on this server", "IP_BLOCKED")
        return None
