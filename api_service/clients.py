"""Who a client is, for every limit that counts clients: an IPv4 address, or an IPv6 /64."""

from __future__ import annotations

import ipaddress

from flask import request

# One host holds a whole IPv6 /64 (SLAAC and privacy addresses rotate within it): counting each
# address of it apart would let one client be as many clients as it likes.
IPV6_CLIENT_PREFIX = 64


def client_of(address: str | None) -> str:
    """The client an address belongs to: an IPv4 address as it is, an IPv6 address as its /64
    (an IPv4-mapped IPv6 address as the IPv4 address), either without the port a proxy may
    have added; anything unreadable as itself."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(_without_port(address))
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, IPV6_CLIENT_PREFIX), strict=False))
    return str(ip)


def _without_port(address: str) -> str:
    """An X-Forwarded-For entry's address: `a.b.c.d:p` and `[v6]:p` name the address, so that
    one client is not a new one with each source port."""
    if address.startswith("["):
        return address[1:].partition("]")[0]
    if address.count(":") == 1:
        return address.partition(":")[0]
    return address


def current_client() -> str:
    """The client of the request being answered (its address as TRUSTED_PROXIES reveals it)."""
    return client_of(request.remote_addr)
