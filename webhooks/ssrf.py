"""The SSRF guard: webhook URLs must be http(s) and reach only public addresses.

Checked when an endpoint is registered (every address its host resolves to) and again on every
connection a send opens: :class:`GuardedBackend` resolves the host itself, refuses if any
address is loopback, private (RFC 1918, IPv6 ULA), link-local (cloud metadata at
169.254.169.254 included), multicast, reserved or unspecified, and connects to the address it
checked, so a DNS answer that changes between check and connect (rebinding) cannot slip
through. TLS still verifies the certificate against the URL's host name. Redirects are never
followed. ``allow_private`` (SHAREGRAPH_WEBHOOK_ALLOW_PRIVATE_ADDRESSES) turns the address
check off: for tests against loopback receivers and for closed networks.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore

from sharegraph.errors import BadUserInput, quote

METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata"})


class BlockedAddress(Exception):
    """A send was refused before connecting: the host resolves to a non-public address."""


def forbidden(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    sixtofour = ip.sixtofour if isinstance(ip, ipaddress.IPv6Address) else None
    if sixtofour is not None and forbidden(str(sixtofour)):
        return True  # 6to4 (2002::/16) carries an IPv4 address a 6to4 route delivers to
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _blocked(addresses: Iterable[str]) -> list[str]:
    return [a for a in addresses if forbidden(a)]


async def check_url(url: str, *, allow_private: bool) -> str:
    """The URL, if an endpoint may be registered with it; else BAD_USER_INPUT with a reason."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise BadUserInput(f"not a URL: {error}", reason="BAD_URL") from error
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadUserInput(
            f"the URL must be http:// or https:// with a host, not {quote(url)}",
            reason="BAD_URL",
        )
    if parts.username or parts.password:
        raise BadUserInput("the URL may not carry credentials", reason="BAD_URL")
    if allow_private:
        return url.strip()
    host = parts.hostname
    if host.lower() in METADATA_HOSTS:
        raise BadUserInput(f"{quote(host)} is a metadata address", reason="PRIVATE_ADDRESS")
    try:
        addresses = await resolve(host, port)
    except OSError as error:
        raise BadUserInput(f"{quote(host)} does not resolve: {error}", reason="BAD_URL") from error
    blocked = _blocked(addresses)
    if blocked:
        raise BadUserInput(
            f"{quote(host)} resolves to a non-public address ({', '.join(blocked)}); webhooks "
            "go to public addresses only",
            reason="PRIVATE_ADDRESS",
        )
    return url.strip()


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend with the address check on every connection."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend, *, allow_private: bool) -> None:
        self.inner = inner
        self.allow_private = allow_private

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        if self.allow_private:
            return await self.inner.connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = await asyncio.wait_for(resolve(host, port), timeout)
        blocked = _blocked(addresses)
        if blocked or not addresses:
            raise BlockedAddress(f"{host} resolves to a non-public address ({', '.join(blocked)})")
        return await self.inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not webhook destinations")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
