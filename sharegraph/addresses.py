"""Which network addresses the gateway may connect to on a tenant's behalf (webhook receivers,
SFTP destinations): public unicast ones only. One rule for every outbound path, so none of them
can be pointed at loopback, private, link-local (cloud metadata) or reserved ranges."""

from __future__ import annotations

import ipaddress


def is_public(address: str | ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` (an IP, with or without an IPv6 zone) is a public unicast address.
    An IPv4-mapped IPv6 address (``::ffff:a.b.c.d``) is judged as the IPv4 address it maps, and
    a 6to4 one (``2002:AABB:CCDD::``) by the IPv4 address it carries: the connection can reach
    that host."""
    ip = ipaddress.ip_address(address.split("%", 1)[0] if isinstance(address, str) else address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    sixtofour = ip.sixtofour if isinstance(ip, ipaddress.IPv6Address) else None
    if sixtofour is not None and not is_public(sixtofour):
        return False  # 6to4 (2002::/16) carries an IPv4 address a 6to4 route delivers to
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )
