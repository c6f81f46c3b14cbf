"""Where the broker may connect: public addresses only (SSRF defence), checked at the moment of connecting.

An agent chooses a connector and fills path placeholders; it never chooses a host. The remaining way to
reach an internal service is DNS: a connector's host (or a rebinding attacker's answer for it) resolving
to a loopback, private, link-local (cloud metadata, 169.254.169.254), multicast, reserved or unspecified
address, or an IPv6 form embedding one (``::ffff:10.0.0.1``, 6to4, NAT64). Those are refused unless the
connector sets ``allow_private_network``.

Pinning, and why it is done in the network backend: the check runs inside httpcore's connect step. The
host is resolved once, every address is checked, and the socket connects to one of exactly those
addresses, so no second lookup can answer differently between check and connect (DNS rebinding). The URL
keeps the host name, so TLS SNI, certificate verification, the Host header and the connection pool all
use the name. Rewriting the URL to the IP (with a Host header and the ``sni_hostname`` extension) was
rejected: httpcore pools connections by URL origin, so a TLS connection verified for one name would be
reused for another name on the same address without its certificate ever being checked. A pooled
connection is only ever one that connected to a checked address.
"""

from __future__ import annotations

import asyncio
import ipaddress
import select
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from strongroom.errors import AccessDenied

Resolver = Callable[[str], Awaitable[list[str]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


async def default_resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (the event loop's ``getaddrinfo``), in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _reason(ip: IPAddress) -> str | None:
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def forbidden_reason(address: str) -> str | None:
    """Why the broker may not connect to ``address`` without ``allow_private_network``, or None if it is public."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "unparseable"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the socket reaches the IPv4 address: judge that one alone
            inner = _reason(ip.ipv4_mapped)
            return None if inner is None else f"{inner} (IPv4-mapped)"
        embedded = ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = _reason(embedded)
            if inner is not None:
                return f"{inner} (IPv4 inside 6to4 or NAT64)"
    return _reason(ip)


async def checked_addresses(
    host: str, resolve: Resolver, *, allow_private: bool, timeout: float | None = None
) -> list[str]:
    """The addresses of ``host`` the broker may connect to: all of them, or ``AccessDenied`` if any is refused.

    A mixed answer (one public address, one private) is refused whole: it is what a rebinding attack looks like.
    """
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await asyncio.wait_for(resolve(host), timeout)
        except (OSError, UnicodeError):
            addresses = []
    if not addresses:
        raise httpcore.ConnectError(f"upstream host {host!r} could not be resolved")
    if not allow_private:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise AccessDenied(
                    f"upstream host {host!r} resolves to a {reason} address: refused "
                    "(allow_private_network is off for this connector)"
                )
    return addresses


class PinningBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses ``checked_addresses`` allowed."""

    def __init__(self, resolve: Resolver, *, allow_private: bool) -> None:
        self._resolve = resolve
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await checked_addresses(host, self._resolve, allow_private=self._allow_private, timeout=timeout)
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                return _SocketStream(
                    await self._inner.connect_tcp(
                        address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                    )
                )
            except httpcore.ConnectError as exc:
                failure = exc
        raise failure or httpcore.ConnectError(f"upstream host {host!r} has no address")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the broker does not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _SocketStream(httpcore.AsyncNetworkStream):
    """httpcore's stream with its socket looked up once.

    httpcore asks every idle pooled connection whether its socket is readable (closed by the server) each
    time it assigns a request; anyio rebuilds its table of socket attributes for every such question, which
    was a twentieth of a brokered call's CPU.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return _SocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return _readable(self._socket)
        return self._inner.get_extra_info(info)


def _readable(sock: socket.socket | None) -> bool:
    """Whether a read would return at once (data, or the end of a closed connection); a gone socket counts."""
    descriptor = -1 if sock is None else sock.fileno()
    if descriptor < 0:
        return True
    poll = select.poll()
    poll.register(descriptor, select.POLLIN)
    return bool(poll.poll(0))


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request conversion, error mapping) over a pool that connects through ``PinningBackend``.

    httpx takes no network backend, so the pool it builds is replaced by an equal one that has ours; its
    ``_pool`` attribute is the one private name relied on (the same from httpx 0.23 to 0.28). Proxies from
    the environment are never used: a proxy would connect on our behalf, past the check.
    """

    def __init__(self, resolve: Resolver, *, allow_private: bool, limits: httpx.Limits) -> None:
        ssl_context = httpx.create_ssl_context()
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=PinningBackend(resolve, allow_private=allow_private),
        )


__all__ = ["PinnedTransport", "PinningBackend", "Resolver", "checked_addresses", "default_resolve", "forbidden_reason"]
