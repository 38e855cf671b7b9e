"""Blocked addresses: the owner's routes, refusals, the 403 every blocked client gets, a hung Redis."""
import socket
import threading
import time

import pytest
import sqlalchemy as sa

from app.extensions import db, redis
from app.limits import addresses, blocklist
from app.models import BlockedIP

BLOCK = "/api/v1/blocked-ips/block"


@pytest.fixture(autouse=True)
def fresh_blocklist(app):
    app.extensions["blocklist"].cache.clear()
    yield
    app.extensions["blocklist"].cache.clear()


def from_address(api, address, method, path, **kwargs):
    return api.call(method, path, environ_base={"REMOTE_ADDR": address}, **kwargs)


def test_block_list_unblock(api, owner):
    created = api.call("POST", BLOCK, token=owner["token"], json={"ip": "203.0.113.7", "reason": "spam"})
    assert created.status_code == 201, created.get_json()
    assert created.get_json()["blocked_ip"]["ip"] == "203.0.113.7"
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "2001:db8::/32", "reason": "range"})
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "198.51.100.77/24"})
    listed = api.call("POST", "/api/v1/blocked-ips/list", token=owner["token"]).get_json()["blocked_ips"]
    assert [(row["ip"], row["reason"]) for row in listed] == [
        ("203.0.113.7", "spam"), ("2001:db8::/32", "range"), ("198.51.100.0/24", "")]
    assert all(row["blocked_at"].endswith("Z") for row in listed)
    removed = api.call("POST", "/api/v1/blocked-ips/unblock", token=owner["token"], json={"ip": "203.0.113.7"})
    assert removed.status_code == 200
    listed = api.call("POST", "/api/v1/blocked-ips/list", token=owner["token"]).get_json()["blocked_ips"]
    assert "203.0.113.7" not in [row["ip"] for row in listed]
    activities = api.call("POST", "/api/v1/system/recent-activity", token=owner["token"],
                          json={"limit": 5}).get_json()["activities"]
    types = [a["action"] for a in activities]
    assert types[:2] == ["ip_unblocked", "ip_blocked"]
    assert [a["type"] for a in activities[:2]] == ["moderation", "moderation"]


def test_refusals(api, owner, admin, user):
    bad = api.call("POST", BLOCK, token=owner["token"], json={"ip": "300.1.1.1"})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["path"] == "ip"
    assert api.call("POST", BLOCK, token=owner["token"], json={}).status_code == 400
    assert api.call("POST", BLOCK, token=owner["token"], json={"ip": "10.0.0.1", "reason": "x" * 501}).status_code == 400
    assert api.call("POST", BLOCK, token=owner["token"], json={"ip": "10.0.0.1"}).status_code == 201
    duplicate = api.call("POST", BLOCK, token=owner["token"], json={"ip": "10.0.0.1/32"})
    assert duplicate.status_code == 409 and duplicate.get_json()["code"] == "IP_ALREADY_BLOCKED"
    missing = api.call("POST", "/api/v1/blocked-ips/unblock", token=owner["token"], json={"ip": "10.9.9.9"})
    assert missing.status_code == 404
    for account in (admin, user):
        assert api.call("POST", "/api/v1/blocked-ips/list", token=account["token"]).status_code == 403
        assert api.call("POST", BLOCK, token=account["token"], json={"ip": "10.0.0.2"}).status_code == 403
    assert api.call("POST", "/api/v1/blocked-ips/list").status_code == 401


def test_owner_cannot_block_own_address(api, owner):
    # The test client connects from 127.0.0.1.
    for value in ("127.0.0.1", "127.0.0.0/8"):
        response = api.call("POST", BLOCK, token=owner["token"], json={"ip": value})
        assert response.status_code == 400
        assert response.get_json()["code"] == "CANNOT_BLOCK_SELF"


def test_blocked_address_gets_403_everywhere_and_others_do_not(api, owner):
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "192.0.2.0/28", "reason": "abuse"})
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "2001:db8::1"})
    for address in ("192.0.2.5", "2001:db8::1", "::ffff:192.0.2.9"):
        for method, path in (("GET", "/healthz"), ("GET", "/api/v1/info"), ("POST", "/api/v1/users/signin"),
                             ("GET", "/no/such/route")):
            response = from_address(api, address, method, path)
            assert response.status_code == 403, (address, path)
            assert response.get_json() == {"status_code": 403, "detail": "Your address is blocked on this server",
                                           "code": "IP_BLOCKED"}
    handshake = from_address(api, "192.0.2.5", "GET", "/api/v1/info",
                             headers={"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert handshake.status_code == 403
    for address in ("192.0.2.16", "2001:db8::2", "127.0.0.1"):
        assert from_address(api, address, "GET", "/healthz").status_code == 200, address
    api.call("POST", "/api/v1/blocked-ips/unblock", token=owner["token"], json={"ip": "192.0.2.0/28"})
    assert from_address(api, "192.0.2.5", "GET", "/healthz").status_code == 200


def test_forwarded_for_is_trusted_only_from_configured_proxies(api, app, owner):
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "198.51.100.9"})
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    # No trusted proxy configured: the header is ignored, the socket address counts.
    assert from_address(api, "10.1.1.1", "GET", "/healthz", headers=forwarded).status_code == 200
    assert from_address(api, "198.51.100.9", "GET", "/healthz", headers={"X-Forwarded-For": "10.2.2.2"}).status_code == 403
    app.extensions["trusted_proxies"] = (addresses.parse_network("10.1.1.0/24"),)
    try:
        assert from_address(api, "10.1.1.1", "GET", "/healthz", headers=forwarded).status_code == 403
        # A client cannot hide behind a hop it adds itself: the nearest untrusted hop counts.
        spoofed = {"X-Forwarded-For": "10.3.3.3, 198.51.100.9, 10.1.1.2"}
        assert from_address(api, "10.1.1.1", "GET", "/healthz", headers=spoofed).status_code == 403
        assert from_address(api, "10.1.1.1", "GET", "/healthz",
                            headers={"X-Forwarded-For": "198.51.100.9, 10.3.3.3"}).status_code == 200
        assert from_address(api, "10.9.9.9", "GET", "/healthz", headers=forwarded).status_code == 200
    finally:
        app.extensions["trusted_proxies"] = ()


def test_a_hung_redis_delays_no_request(api, app, owner):
    guard = app.extensions["blocklist"]
    assert guard.client.connection_pool.connection_kwargs["socket_timeout"] == app.config["BLOCKED_IPS_REDIS_TIMEOUT"]
    api.call("POST", BLOCK, token=owner["token"], json={"ip": "192.0.2.77"})
    assert from_address(api, "192.0.2.77", "GET", "/healthz").status_code == 403
    healthy = guard.client
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections are queued, never answered
        guard.client = blocklist.version_client(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", 1.5)
        try:
            guard.cache.expire(guard.version_key)
            reloader = app.test_client()
            statuses = []
            started = time.monotonic()
            reloading = threading.Thread(target=lambda: statuses.append(reloader.get("/healthz").status_code))
            reloading.start()
            reloading.join(10)
            assert time.monotonic() - started < 1.0, "the request that found the list stale waited for Redis"
            deadline = time.monotonic() + 5
            while not guard.cache._lock.locked() and time.monotonic() < deadline:
                time.sleep(0.01)
            assert guard.cache._lock.locked(), "a background refresh is reloading the list"
            # Meanwhile every other request is answered at once from the previous list.
            assert [from_address(api, "192.0.2.77", "GET", "/healthz").status_code for _ in range(5)] == [403] * 5
            assert from_address(api, "192.0.2.78", "GET", "/healthz").status_code == 200
            assert guard.cache._lock.locked(), "the others did not wait for the reload"
            guard.join()
        finally:
            guard.client = healthy
    assert statuses == [200]
    # Without an answer the table itself was reread: the block still holds.
    assert from_address(api, "192.0.2.77", "GET", "/healthz").status_code == 403


def test_without_a_published_token_the_table_is_read_once(app):
    """A Redis that holds no token yet gets one, so later refreshes compare tokens instead of rereading."""
    guard = app.extensions["blocklist"]
    with app.app_context():
        redis.delete(guard.version_key)
        first = guard.current()
        assert redis.get(guard.version_key) == first.version is not None
        db.session.execute(sa.insert(BlockedIP).values(network="192.0.2.99/32", reason="unpublished"))
        db.session.commit()
        guard.cache.expire(guard.version_key)
        assert guard.current() is first  # served at once; the refresh runs in the background
        guard.join()
        assert guard.cache.peek(guard.version_key) is first  # the token did not change: the table was not reread
        blocklist.blocklist_changed()
        assert guard.current().blocks(addresses.parse_network("192.0.2.99").network_address)
