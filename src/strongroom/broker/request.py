"""What an agent may add to an upstream request (query, headers, body), checked, and the URL it goes to.

Agent input is refused when it could split a request (CR, LF, NUL or another control character in a header
or query value) and dropped when it would speak for the tenant or about the connection (``Authorization``,
``Cookie``, ``Proxy-*``, hop-by-hop headers, the header the credential goes in). The URL is built from the
connector's base URL and the filled template only, and its origin is checked once more after httpx parsed
it, so nothing the agent sends can change the host, port or scheme.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from strongroom.broker.connectors import HEADER_TOKEN, Connector, Operation
from strongroom.broker.paths import template
from strongroom.errors import InvalidInput

MAX_HEADERS = 64
MAX_QUERY_PAIRS = 100
MAX_FIELD_CHARS = 8192
MAX_REQUEST_BODY_BYTES = 1_048_576
# Agent headers never forwarded: credentials and cookies (the broker speaks for the tenant), what describes
# this one hop or the framing (the broker's own business), and client-address claims.
NEVER_FORWARDED = frozenset(
    {
        "authorization",
        "cookie",
        "cookie2",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "trailers",
        "upgrade",
        "expect",
        "accept-encoding",
        "forwarded",
        "via",
        "x-real-ip",
    }
)
NEVER_FORWARDED_PREFIXES = ("proxy-", "x-forwarded-")
USER_AGENT = "strongroom-broker/1"


def _value_ok(text: object) -> bool:
    """Printable ASCII (tab allowed), at most ``MAX_FIELD_CHARS``: no CR, LF, NUL or other control character."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_FIELD_CHARS
        and text.isascii()
        and text.replace("\t", " ").isprintable()
    )


@dataclass(frozen=True)
class OutgoingParts:
    """The agent's checked contribution to one upstream request (no credential in it)."""

    path: str  # on the upstream host: the base URL's path and the filled template
    headers: tuple[tuple[str, str], ...]
    query: tuple[tuple[str, str], ...]
    body: bytes

    def url(self, connector: Connector, extra_query: Sequence[tuple[str, str]]) -> httpx.URL:
        """The upstream URL: the connector's origin, the path and the query, percent-encoded."""
        pairs = [*self.query, *extra_query]
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs)
        default_port = {"https": 443, "http": 80}[connector.scheme]
        host = f"[{connector.host}]" if ":" in connector.host else connector.host
        port = "" if connector.port == default_port else f":{connector.port}"
        # One parse of the whole URL (the base URL's origin, then the path): parsing the base URL and then
        # replacing its path parsed twice (64 against 36 µs per call).
        url = httpx.URL(f"{connector.scheme}://{host}{port}{self.path}" + (f"?{query}" if query else ""))
        # raw_host: the ASCII (punycode) host as sent; url.host would be the decoded Unicode name.
        if (url.scheme, url.raw_host.decode("ascii").lower(), url.port or default_port) != (
            connector.scheme,
            connector.host,
            connector.port,
        ) or not url.raw_path.decode("ascii").startswith(connector.base_path):
            raise InvalidInput(f"connector {connector.name!r}: the request would leave the connector's base URL")
        return url


def _agent_headers(connector: Connector, headers: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} headers may be passed on")
    for name, value in headers:
        if not isinstance(name, str) or HEADER_TOKEN.fullmatch(name) is None:
            raise InvalidInput("a header name is not a valid HTTP token")
        if not _value_ok(value):
            raise InvalidInput(
                f"header {name!r} holds a control character (CR, LF, NUL...), non-ASCII text "
                f"or over {MAX_FIELD_CHARS} characters"
            )
    listed = {t.strip().lower() for name, value in headers if name.lower() == "connection" for t in value.split(",")}
    credential_header = (connector.credential.name or "").lower() if connector.credential.kind == "header" else ""
    return [
        (name, value)
        for name, value in headers
        if (low := name.lower()) not in NEVER_FORWARDED
        and not low.startswith(NEVER_FORWARDED_PREFIXES)
        and low not in listed
        and low != credential_header
    ]


def _declared_query(operation: Operation, query: Sequence[tuple[str, str]]) -> None:
    """Refuse a query the operation did not declare (naming the parameters to drop or add), a required one
    missing, or a value not of its declared type. Undeclared (``operation.query`` None): any query passes."""
    if operation.query is None:
        return
    declared = {q.name: q for q in operation.query}
    unknown = sorted({name for name, _ in query if name not in declared})
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown[:5]) + (", ..." if len(unknown) > 5 else "")
        takes = ", ".join(declared) or "none"
        raise InvalidInput(f"operation {operation.id!r} takes no query parameter {shown}: drop it (it takes: {takes})")
    given = {name for name, _ in query}
    missing = [q.name for q in operation.query if q.required and q.name not in given]
    if missing:
        raise InvalidInput(f"operation {operation.id!r} needs the query parameter {', '.join(map(repr, missing))}")
    for name, value in query:
        problem = declared[name].value_problem(value)
        if problem:
            raise InvalidInput(problem)


def _same_name(given: str, credential: str) -> bool:
    return given.strip().casefold() == credential.strip().casefold()


def _agent_query(connector: Connector, query: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if len(query) > MAX_QUERY_PAIRS:
        raise InvalidInput(f"at most {MAX_QUERY_PAIRS} query parameters may be passed on")
    for name, value in query:
        if (
            not isinstance(name, str)
            or not name
            or not isinstance(value, str)
            or not (name + value).replace("\t", " ").isprintable()
            or len(name) + len(value) > MAX_FIELD_CHARS
        ):
            raise InvalidInput(
                "a query parameter is empty-named, holds a control character (CR, LF, NUL...) "
                f"or is over {MAX_FIELD_CHARS} characters"
            )
        # Compared as an upstream might read it (case-blind, trimmed): no spelling of the credential's own
        # parameter may ride beside it, for an upstream to take instead.
        if connector.credential.kind == "query" and _same_name(name, connector.credential.name or ""):
            raise InvalidInput(f"query parameter {name!r} is set by the broker")
    return list(query)


def agent_parts(
    connector: Connector,
    operation: Operation,
    params: dict[str, str],
    *,
    query: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    body: bytes,
    content_type: str | None,
) -> OutgoingParts:
    """The agent's query, headers and body, checked; ``InvalidInput`` names the problem, never the value."""
    if not isinstance(body, bytes) or len(body) > MAX_REQUEST_BODY_BYTES:
        raise InvalidInput(f"the request body must be bytes, at most {MAX_REQUEST_BODY_BYTES} of them")
    if body and operation.method == "GET":
        raise InvalidInput(f"operation {operation.id!r} is a GET: it takes no body")
    out = _agent_headers(connector, headers)
    if content_type is not None:
        if not _value_ok(content_type) or len(content_type) > 256:
            raise InvalidInput("the content type holds a control character (CR, LF, NUL...) or is too long")
        out.append(("Content-Type", content_type))
    if not any(name.lower() == "accept" for name, _ in out):
        out.append(("Accept", "*/*"))
    if not any(name.lower() == "user-agent" for name, _ in out):
        out.append(("User-Agent", USER_AGENT))
    out.append(("Accept-Encoding", "gzip, deflate"))
    path = connector.base_path + ("/" if operation.path == "/" else template(operation.path).fill(params))
    checked = _agent_query(connector, query)
    _declared_query(operation, checked)
    return OutgoingParts(path=path, headers=tuple(out), query=tuple(checked), body=body)
