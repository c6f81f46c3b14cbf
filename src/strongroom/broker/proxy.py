"""``Broker``: an agent's call to an upstream API, made with a tenant credential the agent never sees.

One call: match the connector operation (the agent chooses only the operation and its placeholder values);
take the credential through ``Vault.use()`` (audited by the vault); build the URL on the connector's one
host; inject the credential; forward over pooled connections that reach only checked addresses
(``broker.network``); read at most ``max_response_bytes``; mask the credential, in every encoding, in the
headers and body that come back (an upstream may echo its request); record one ``broker.call`` audit event.

Errors are ``strongroom.errors`` (``InvalidInput``, ``NotFound``, ``AccessDenied``) plus ``UpstreamError``
(502 or 504). No message carries the credential or the upstream's body, and no exception raised here is
chained to an httpx exception: those hold the request, whose URL or headers hold the credential.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from strongroom.audit import Action, AuditEvent, Outcome
from strongroom.audit.context import AuditContext
from strongroom.broker.connectors import Connector, CredentialPlacement, match_operation
from strongroom.broker.network import PinnedTransport, Resolver, checked_addresses, default_resolve
from strongroom.broker.request import OutgoingParts, agent_parts
from strongroom.caching import BoundedCache
from strongroom.errors import AccessDenied, Expired, InvalidInput, NotFound, StrongroomError, TamperedError
from strongroom.live_values import MIN_CHARS
from strongroom.names import check_name
from strongroom.redact import Redactor, encodings
from strongroom.redact.views import lower, normalise
from strongroom.vault import Vault
from strongroom.vault.policy import check_label

SCRUBBERS_KEPT = 512  # credentials whose scrubbing redactor is kept ready
BROKER_CALL = Action.BROKER_CALL
# Never passed back: cookies would let the agent act as the tenant's session; the rest describe one hop,
# or a body that is no longer what the upstream sent (decoded, cut, masked).
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "set-cookie",
        "set-cookie2",
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
    }
)
_OUTCOMES: dict[type[Exception], str] = {
    InvalidInput: Outcome.INVALID,
    NotFound: Outcome.NOT_FOUND,
    AccessDenied: Outcome.DENIED,
    Expired: Outcome.EXPIRED,
    TamperedError: Outcome.TAMPERED,
}


class UpstreamError(StrongroomError):
    """The upstream failed: unreachable, garbage, a redirect to another host (``status`` 502) or too slow (504).

    The message names the connector and the problem; never the credential or what the upstream sent.
    """

    def __init__(self, message: str, *, status: int = 502, connector: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.connector = connector


@dataclass(frozen=True)
class BrokerResponse:
    """The upstream's answer as the agent may see it: the credential masked, cookies dropped, body capped."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool
    latency_ms: float


@dataclass(frozen=True)
class _Injected:
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    forms: tuple[str, ...]  # what to mask in responses: the credential and what it was wrapped in

    def __repr__(self) -> str:  # it holds the credential: a traceback with locals must not show it
        return f"_Injected(headers={[k for k, _ in self.headers]}, query={[k for k, _ in self.query]})"


def _credential_text(value: str | bytes, placement: CredentialPlacement, tenant: str) -> str:
    """The credential as text fit for its placement, or ``InvalidInput`` (naming the secret, never its value)."""
    text: str | None
    if isinstance(value, bytes):
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            text = None  # raised below, outside the handler: the error's context would hold the bytes
    else:
        text = value
    in_header = placement.kind in ("bearer", "header")
    if (
        text is None
        or len(text) < MIN_CHARS
        or not text.isprintable()
        or (in_header and not text.isascii())
        or text != text.strip()
    ):
        raise InvalidInput(
            f"secret {placement.secret!r} of tenant {tenant!r} cannot be sent as a {placement.kind} "
            f"credential: it must be at least {MIN_CHARS} printable characters without surrounding "
            "spaces (ASCII in a header)"
        )
    return text


def _inject(placement: CredentialPlacement, value: str) -> _Injected:
    if placement.kind == "bearer":
        return _Injected((("Authorization", f"Bearer {value}"),), (), (value,))
    if placement.kind == "header":
        return _Injected(((str(placement.name), value),), (), (value,))
    if placement.kind == "basic":
        pair = f"{placement.username}:{value}" if placement.username is not None else f"{value}:"
        token = base64.b64encode(pair.encode("utf-8")).decode("ascii")
        return _Injected((("Authorization", f"Basic {token}"),), (), (value, pair))
    return _Injected((), ((str(placement.name), value),), (value,))


def _cut_partial_value(text: str, forms: Sequence[str]) -> str:
    """``text`` without a trailing start of a masked value: cutting a body may leave half a credential.

    Compared without case, and in the decoded view too (``strongroom.redact.views``): half a credential
    may have been cut in any of the spellings the scrubbing finds whole.
    """
    tail = text[-(8 * max(map(len, forms), default=0)) :]  # a spelling is at most 6 characters a byte
    cut = len(text) - _partial_suffix(lower(tail), [lower(form) for form in forms])
    decoded, view = normalise(tail)
    found = _partial_suffix(decoded, [normalise(form)[0] for form in forms])
    if found:
        start = len(decoded) - found
        start = view.source_span(start, start + 1)[0] if view is not None else start
        cut = min(cut, len(text) - len(tail) + start)
    return text[:cut]


def _partial_suffix(text: str, forms: Sequence[str]) -> int:
    """The length of the longest end of ``text`` that starts one of ``forms`` (and is shorter than it)."""
    longest = 0
    for form in forms:
        for k in range(min(len(form) - 1, len(text)), longest, -1):
            if text.endswith(form[:k]):
                longest = k
                break
    return longest


class _Undecodable(Exception):
    """The upstream used a content encoding the broker does not decode."""


class _Decoder:
    """Content decoding with a bound on the output: a small gzip body must not inflate to gigabytes."""

    def __init__(self, encoding: str) -> None:
        self._z: Any = None
        self._raw_deflate = False
        if encoding == "gzip":
            self._z = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            self._z = zlib.decompressobj()
            self._raw_deflate = True  # some servers send raw deflate; retried on the first chunk's failure
        elif encoding not in ("", "identity"):
            raise _Undecodable(encoding[:40])

    def feed(self, data: bytes, budget: int) -> tuple[bytes, bool]:
        """Up to ``budget`` decoded bytes and whether more would have followed from this input."""
        if self._z is None:
            return data[:budget], len(data) > budget
        try:
            out = self._z.decompress(data, budget)
        except zlib.error:
            if not self._raw_deflate:
                raise
            self._z, self._raw_deflate = zlib.decompressobj(-zlib.MAX_WBITS), False
            out = self._z.decompress(data, budget)
        self._raw_deflate = False
        return out, bool(self._z.unconsumed_tail)


async def _read_capped(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` decoded bytes of the body, and whether there was more; stops reading there."""
    decoder = _Decoder(response.headers.get("content-encoding", "").strip().lower())
    chunks: list[bytes] = []
    size, truncated = 0, False
    stream = response.stream  # read raw and decoded here, with a bound; the caller closes the response
    if not isinstance(stream, httpx.AsyncByteStream):
        raise TypeError("the transport returned a synchronous stream")
    async for chunk in stream:
        out, more = decoder.feed(chunk, limit - size + 1)
        chunks.append(out)
        size += len(out)
        if more or size > limit:
            truncated = True
            break
    body = b"".join(chunks)
    return body[:limit], truncated or len(body) > limit


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"https": 443, "http": 80}.get(url.scheme)
    return url.scheme, url.host, url.port or default


class Broker:
    """Makes agents' calls to connectors' upstream APIs with tenants' credentials; one per process (pooled).

    ``transport`` replaces the pinned, pooled transport (tests, custom proxies); the broker then checks the
    host's addresses before each call, but cannot pin them: that transport connects on its own. ``resolve``
    replaces DNS (``loop.getaddrinfo``). Connectors with ``allow_private_network`` use a pool of their own,
    so a connection opened for one never serves a connector without it.
    """

    def __init__(
        self,
        vault: Vault,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolve: Callable[[str], Awaitable[list[str]]] | None = None,
        max_connections: int = 100,
    ) -> None:
        if max_connections < 1:
            raise InvalidInput("max_connections must be at least 1")
        self._vault = vault
        self._custom = transport
        self._resolve: Resolver = resolve or default_resolve
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=min(20, max_connections), keepalive_expiry=5.0
        )
        self._transports: dict[bool, httpx.AsyncBaseTransport] = {}
        # Scrubbing redactors by (secret name, credential): building one costs about 0.1 ms, most of a call's
        # own overhead. Keyed by a keyed hash (the key lives and dies with this broker), so the dict's keys
        # hold no credential; the redactors do, as the vault's hot cache holds its ciphertext, bounded.
        self._scrubbers: BoundedCache[bytes, Redactor] = BoundedCache(SCRUBBERS_KEPT)
        self._scrubber_key = os.urandom(32)

    def _scrubber(self, connector: Connector, credential: _Injected) -> Redactor:
        name = connector.credential.secret
        key = hashlib.blake2b(
            "\0".join((name, *credential.forms)).encode("utf-8", "surrogatepass"),
            key=self._scrubber_key,
            digest_size=16,
        ).digest()
        found = self._scrubbers.get(key)
        if found is not None:
            return found
        # Only this credential (upstream data stays intact), in any spelling: escaped, re-cased, wrapped, UTF-16.
        redactor = Redactor(follow_live=False, rules=(), normalise=True)
        for form in credential.forms:  # `encodings` adds base64 at every alignment, the `Bearer ...` echo
            redactor.register(form, name)
        return self._scrubbers.put(key, redactor)

    async def __aenter__(self) -> Broker:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every pooled connection (and the transport handed in, which the broker owns)."""
        transports = [*self._transports.values(), *([self._custom] if self._custom is not None else [])]
        self._transports.clear()
        self._scrubbers.clear()
        for transport in transports:
            await transport.aclose()

    def _transport(self, connector: Connector) -> httpx.AsyncBaseTransport:
        if self._custom is not None:
            return self._custom
        allow = connector.allow_private_network
        if allow not in self._transports:
            self._transports[allow] = PinnedTransport(self._resolve, allow_private=allow, limits=self._limits)
        return self._transports[allow]

    async def call(
        self,
        *,
        tenant: str,
        connector: Connector,
        method: str,
        path: str,
        query: Sequence[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        headers: Sequence[tuple[str, str]] = (),
        actor: str,
        request_id: str | None = None,
        check: Callable[[BrokerResponse], None] | None = None,
        context: AuditContext | None = None,
        answered: Callable[[StrongroomError], tuple[int, str]] | None = None,
    ) -> BrokerResponse:
        """Call ``method path`` of ``connector`` for ``tenant``; ``path`` is raw (percent-encoded) and query-free.

        ``headers`` are the agent's own; credentials, cookies, proxy and hop-by-hop headers among them are
        dropped. One ``broker.call`` audit event is recorded for every call past argument checks, refused or not.
        ``check``: the caller's last look at the answer before the event is recorded (a size limit of its own,
        whether it can send it): a ``StrongroomError`` it raises is the call's outcome, so the one event says
        what the agent got.
        ``context``: the request's (who, on whose behalf, from where: ``strongroom.audit.context``); the broker
        adds the connector and operation for the credential's ``secret.use``, and the outcome for the
        ``broker.call`` event: ``status`` (what the caller got: the upstream's status, or ``answered(error)``,
        the status and code the caller turns an error into; an ``UpstreamError``'s own status without it),
        ``upstream_status`` and ``error``.
        """
        check_name("tenant name", tenant)
        check_label("actor", actor)
        check_label("request_id", request_id)
        started = time.perf_counter()
        shown_method = method.upper() if isinstance(method, str) and method.upper().isalpha() else "?"
        label, version = f"{connector.name}.? {shown_method[:10]}", None
        outcome: str = Outcome.ERROR
        detail = "failed"
        asked = (context or AuditContext()).but(connector=connector.name)
        got: dict[str, int | str | None] = {}
        try:
            operation, params = match_operation(connector, method, path)
            label = f"{connector.name}.{operation.id} {operation.method}"
            asked = asked.but(operation=operation.id)
            use_context = asked.encode()  # once per call: the vault records it as it is
            parts = agent_parts(
                connector, operation, params, query=query, headers=headers, body=body, content_type=content_type
            )
            purpose = f"broker:{connector.name}"
            # The vault checks the secret's destination policy against where this connector sends it (its
            # origin and placement, and whether the operator declared it) before it decrypts anything.
            destination = connector.destination
            secret = self._vault.use_if_hot(
                tenant,
                connector.credential.secret,
                purpose=purpose,
                actor=actor,
                request_id=request_id,
                destination=destination,
                context=use_context,
            )
            if secret is None:  # a cold read does I/O: off the event loop
                secret = await asyncio.to_thread(
                    self._vault.use,
                    tenant,
                    connector.credential.secret,
                    purpose=purpose,
                    actor=actor,
                    request_id=request_id,
                    destination=destination,
                    context=use_context,
                )
            with secret:
                version = secret.version
                value = _credential_text(secret.reveal(), connector.credential, tenant)
                response = await self._forward(
                    connector, operation.method, parts, _inject(connector.credential, value), started=started
                )
            got["upstream_status"] = got["status"] = response.status
            if check is not None:
                check(response)
            outcome = Outcome.OK
            detail = f"{label} -> {response.status} in {response.latency_ms:.0f} ms" + (
                " (truncated)" if response.truncated else ""
            )
            return response
        except StrongroomError as exc:
            outcome = _OUTCOMES.get(type(exc), Outcome.ERROR)
            status = f" {exc.status}" if isinstance(exc, UpstreamError) else ""
            detail = f"{label} -> {type(exc).__name__}{status} after {(time.perf_counter() - started) * 1000:.0f} ms"
            if answered is not None:
                got["status"], got["error"] = answered(exc)
            else:
                got["status"] = exc.status if isinstance(exc, UpstreamError) else None
                got["error"] = type(exc).__name__
            raise
        finally:
            await self._audit(
                self._vault.audit_event(
                    tenant,
                    BROKER_CALL,
                    connector.credential.secret,
                    actor=actor,
                    request_id=request_id,
                    detail=detail,
                    outcome=outcome,
                    version=version,
                    purpose=f"broker:{connector.name}",
                    context=asked.but(**got).encode(),
                )
            )

    async def _audit(self, event: AuditEvent) -> None:
        vault = self._vault
        if vault.audit_mode != "async":  # a database write: not on the event loop
            await asyncio.to_thread(vault.submit_event, event)
        else:
            vault.submit_event(event)

    async def _forward(
        self, connector: Connector, method: str, parts: OutgoingParts, credential: _Injected, *, started: float
    ) -> BrokerResponse:
        redactor = self._scrubber(connector, credential)
        url = parts.url(connector, credential.query)
        timeout = connector.timeout_seconds
        request = httpx.Request(
            method,
            url,
            headers=[*parts.headers, *credential.headers],
            content=parts.body if parts.body or method != "GET" else None,
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        failure: tuple[str, int] | None = None
        denied: str | None = None
        raw, truncated = b"", False
        try:
            async with asyncio.timeout(timeout):
                if self._custom is not None:  # a foreign transport: check the addresses, unpinned
                    await checked_addresses(
                        connector.host, self._resolve, allow_private=connector.allow_private_network, timeout=timeout
                    )
                response = await self._transport(connector).handle_async_request(request)
                try:
                    failure = self._redirect_problem(request.url, response)
                    if failure is None:
                        raw, truncated = await _read_capped(response, connector.max_response_bytes)
                finally:
                    await response.aclose()
        except AccessDenied as exc:
            denied = str(exc)
        except (TimeoutError, httpx.TimeoutException):
            failure = (f"timed out after {timeout:g} s", 504)
        except _Undecodable:
            failure = ("answered with a content encoding the broker does not decode", 502)
        except (httpx.HTTPError, zlib.error, OSError) as exc:
            failure = (_describe(exc), 502)
        except Exception as exc:  # httpcore errors a foreign transport lets through, and the like
            failure = (f"failed ({type(exc).__name__})", 502)
        # Raised here, outside the handlers: an httpx exception holds the request, and so its credential.
        if denied is not None:
            raise AccessDenied(f"connector {connector.name!r}: {denied}")
        if failure is not None:
            raise UpstreamError(
                f"connector {connector.name!r}: the upstream {failure[0]}", status=failure[1], connector=connector.name
            )
        try:
            return self._answer(connector, response, (raw, truncated), credential, redactor=redactor, started=started)
        except (ValueError, RecursionError, UnicodeError):
            problem = "answered with a body the broker could not scrub"  # never passed on unscrubbed
        raise UpstreamError(f"connector {connector.name!r}: the upstream {problem}", connector=connector.name)

    @staticmethod
    def _redirect_problem(url: httpx.URL, response: httpx.Response) -> tuple[str, int] | None:
        """A redirect is passed back, not followed; one to another origin is refused (it may be a lure). A
        status outside 100-599 is not HTTP's: passed on, it would be an invalid answer to the agent."""
        if not 100 <= response.status_code <= 599:
            return ("answered with a status that is not HTTP's (outside 100-599)", 502)
        location = response.headers.get("location")
        if not 300 <= response.status_code < 400 or location is None:
            return None
        try:
            target = url.join(location)
        except httpx.InvalidURL:
            return ("redirected to an unparseable location", 502)
        if _origin(target) != _origin(url):
            return ("redirected to another host, scheme or port", 502)
        return None

    @staticmethod
    def _answer(
        connector: Connector,
        response: httpx.Response,
        read: tuple[bytes, bool],
        credential: _Injected,
        *,
        redactor: Redactor,
        started: float,
    ) -> BrokerResponse:
        raw, truncated = read
        listed = {t.strip().lower() for t in response.headers.get("connection", "").split(",")}
        headers = tuple(
            (masked_name, masked_value)
            for name, value in response.headers.multi_items()
            if name.lower() not in DROPPED_RESPONSE_HEADERS and name.lower() not in listed
            for masked_name, masked_value in ((redactor.redact(name), redactor.redact(value)),)
            if _sendable_header(masked_name, masked_value)
        )
        text = raw.decode("utf-8", "surrogateescape")
        if truncated:
            text = _cut_partial_value(text, [f for v in credential.forms for f in encodings(v)])
        body = redactor.redact_document(text).encode("utf-8", "surrogateescape")  # JSON stays JSON
        if len(body) > connector.max_response_bytes:  # masks can be longer than what they hide
            body, truncated = body[: connector.max_response_bytes], True
        return BrokerResponse(
            status=response.status_code,
            headers=headers,
            body=body,
            truncated=truncated,
            latency_ms=(time.perf_counter() - started) * 1000,
        )


def _sendable_header(name: str, value: str) -> bool:
    """Whether a response header can be passed back as it is: printable ASCII (a tab allowed in the value).

    Others are dropped, not re-encoded. HTTP header text is ASCII (RFC 9110 5.5: other bytes are opaque);
    httpx guesses one encoding (ASCII, else UTF-8, else Latin-1) for all of a response's headers, so the
    broker cannot know what such bytes meant, an ASGI server sends headers as Latin-1 and fails on anything
    past it (a ``Content-Type`` holding a "€" was a 500), and re-encoding would hand the agent bytes the
    upstream never sent. The body is the answer; a dropped ``Content-Type`` reads as
    ``application/octet-stream``.
    """
    return name.isascii() and value.isascii() and name.isprintable() and value.replace("\t", " ").isprintable()


def _describe(exc: Exception) -> str:
    """What went wrong, from the exception's class only: its message may quote the request."""
    if isinstance(exc, httpx.ConnectError):
        return "could not be reached"
    if isinstance(exc, httpx.RemoteProtocolError | httpx.DecodingError | zlib.error):
        return "answered with something that is not valid HTTP"
    return f"failed ({type(exc).__name__})"


__all__ = ["BROKER_CALL", "Broker", "BrokerResponse", "UpstreamError"]
