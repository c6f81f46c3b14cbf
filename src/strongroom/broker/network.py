"""Where the broker may connect: public addresses only (SSRF defence), checked at the moment of connecting.

An agent chooses a connector and fills path placeholders; it never chooses a host. The remaining way to
reach an internal service is DNS: a connector's host (or a rebinding attacker's answer for it) resolving
to a loopback, private, link-local (cloud metadata, 169.254.169.254), multicast, reserved or unspecified
address, any other special-purpose block of the IANA registries (site-local ``fec0::/10``, documentation,
discard, benchmarking, 6to4, Teredo), or an IPv6 form embedding a non-public IPv4 address
(``::ffff:10.0.0.1``, NAT64 ``64:ff9b::a00:1``). Those are refused unless the connector sets
``allow_private_network``.

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

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the translator reaches the IPv4 inside

# The IANA special-purpose address registries (iana-ipv4-special-registry, iana-ipv6-special-registry, as of
# 2025), every block not marked globally reachable, with the deprecated and non-unicast blocks beside them.
# Listed here rather than left to ``ipaddress``'s properties: those miss blocks (fec0::/10, 3fff::/20) and
# change from one Python version to the next. The properties are still asked too, so either can refuse.
_SPECIAL_V4 = tuple(
    (ipaddress.IPv4Network(net), what)
    for net, what in (
        ("0.0.0.0/8", "this-network"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignment"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)
# 192.0.0.9 and 192.0.0.10 (PCP and TURN anycast) are globally reachable inside 192.0.0.0/24.
_GLOBAL_V4 = (ipaddress.IPv4Network("192.0.0.9/32"), ipaddress.IPv4Network("192.0.0.10/32"))
_SPECIAL_V6 = tuple(
    (ipaddress.IPv6Network(net), what)
    for net, what in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("::ffff:0:0:0/96", "IPv4-translated"),
        ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        # Teredo (2001::/32, which embeds an IPv4 address), benchmarking, ORCHID and the rest: the few
        # anycast services in here are never an upstream API, so the whole block is refused.
        ("2001::/23", "IETF protocol assignment (Teredo, benchmarking, ORCHID)"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4 (deprecated; it embeds an IPv4 address)"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6 SIDs)"),
        ("fc00::/7", "unique-local (private)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated, private)"),
        ("ff00::/8", "multicast"),
    )
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


async def default_resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to (the event loop's ``getaddrinfo``), in the resolver's order."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _reason(ip: IPAddress) -> str | None:
    if isinstance(ip, ipaddress.IPv4Address):
        special = next((what for net, what in _SPECIAL_V4 if ip in net), None)
        if special is not None and not any(ip in net for net in _GLOBAL_V4):
            return special
    else:
        special = next((what for net, what in _SPECIAL_V6 if ip in net), None)
        if special is not None:
            return special
        if ip not in _GLOBAL_UNICAST_V6:
            return "not global unicast (outside 2000::/3)"
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("site-local", isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local),
        ("non-global", not ip.is_global and not any(ip in net for net in _GLOBAL_V4)),
    )
    return next((name for name, hit in checks if hit), None)


def forbidden_reason(address: str) -> str | None:
    """Why the broker may not connect to ``address`` without ``allow_private_network``, or None if it is public.

    An address is public when no special-purpose block holds it (``_SPECIAL_V4``, ``_SPECIAL_V6``; IPv6 only
    inside 2000::/3) and ``ipaddress`` calls it global. An IPv4-mapped (``::ffff:a.b.c.d``) or NAT64
    (``64:ff9b::a.b.c.d``) address is judged by the IPv4 address inside, the one the packets reach.
    A zone id (``fe80::1%eth0``) only ever names a non-global address: refused.
    """
    if "%" in address:
        return "scoped (zone id)"
    try:
        ip: IPAddress = ipaddress.ip_address(address)
    except ValueError:
        return "unparseable"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # the socket reaches the IPv4 address: judge that one alone
            inner = _reason(ip.ipv4_mapped)
            return None if inner is None else f"{inner} (IPv4-mapped)"
        if ip in _NAT64:
            inner = _reason(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
            return None if inner is None else f"{inner} (IPv4 inside NAT64)"
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
