"""The client's address: the socket peer, or what a trusted proxy reports in X-Forwarded-For."""
import functools
import ipaddress

from flask import Flask, current_app, g, request

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(value: str) -> Network:
    """An address or CIDR range, normalised (host bits cleared); ValueError when it is neither."""
    return ipaddress.ip_network(value.strip(), strict=False)


@functools.lru_cache(maxsize=4096)
def _parse(value: str | None) -> Address | None:
    try:
        address = ipaddress.ip_address((value or "").strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is still that IPv4 client.
    return getattr(address, "ipv4_mapped", None) or address


def _trusted(address: Address) -> bool:
    return any(address in net for net in current_app.extensions["trusted_proxies"])


def client_address() -> Address | None:
    """The client's address (None when the peer is not an address), computed once per request."""
    if "client_address" in g:
        return g.client_address
    address = _parse(request.remote_addr)
    if address is not None and current_app.extensions["trusted_proxies"] and _trusted(address):
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


def init_app(app: Flask) -> None:
    """Read TRUSTED_PROXIES (addresses or ranges) once."""
    app.extensions["trusted_proxies"] = tuple(parse_network(p) for p in app.config["TRUSTED_PROXIES"])
