"""Connectors: what an upstream API offers an agent, and where the tenant's credential goes.

A connector is data, not code: one base URL (one host, the only one the broker will contact for it), a
fixed list of operations (method + path template) and a credential placement. Agents can call only the
declared operations, and fill only the template's placeholders, each with exactly one path segment: that is
what keeps an agent from steering the credential to another path, host or API.

This module knows nothing about HTTP clients or servers, so the same model backs the broker's HTTP route,
its OpenAPI document and (later) MCP tools. Validation happens on construction, so a ``Connector`` that
exists is a valid one; ``load_connectors`` reports every problem of a file at once, each naming the file,
the connector and the field.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, cast
from urllib.parse import urlsplit

from strongroom.broker.paths import TEMPLATE_LITERAL, checked_path, decoded_values, template, template_problems
from strongroom.errors import InvalidInput, NotFound
from strongroom.names import NAME_PATTERN
from strongroom.vault.destinations import Destination, origin_of, placement_of
from strongroom.vocabulary import INTERNAL_SECRET_PREFIXES, is_internal_secret

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
PLACEMENT_KINDS = ("bearer", "header", "basic", "query")
MAX_TIMEOUT_SECONDS = 45.0  # GPT Actions give a whole call 45 s end to end
MAX_RESPONSE_BYTES_LIMIT = 10_000_000
MAX_SUMMARY_CHARS = 300
MAX_DESCRIPTION_CHARS = 4000

CONNECTOR_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")
OPERATION_ID = re.compile(r"[a-z][a-z0-9_]{0,63}")
HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
QUERY_NAME = re.compile(r"[A-Za-z0-9_.~\-]{1,128}")
QUERY_TYPES = ("string", "integer", "number", "boolean")
_NUMBER = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?")
MAX_QUERY_PARAMS = 32
# Headers the broker itself controls: a credential may not be placed in them.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "upgrade",
        "expect",
        "cookie",
        "proxy-authorization",
        "proxy-connection",
    }
)


@dataclass(frozen=True)
class QueryParam:
    """A query parameter an operation takes from the agent (``?q=...``): its name, JSON type, whether the
    call needs it, and what it means (shown to the GPT)."""

    name: str
    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    description: str = ""

    def __post_init__(self) -> None:
        problems = _query_param_problems(self)
        if problems:
            raise InvalidInput(f"query parameter {_shown(self.name)}: " + "; ".join(problems))

    def value_problem(self, value: str) -> str | None:
        """Why ``value`` is not of this parameter's type (never quoting it), or None."""
        if self.type == "integer" and re.fullmatch(r"-?[0-9]{1,18}", value) is None:
            return f"query parameter {self.name!r} must be an integer"
        if self.type == "number" and _NUMBER.fullmatch(value) is None:
            return f"query parameter {self.name!r} must be a number"
        if self.type == "boolean" and value not in ("true", "false"):
            return f"query parameter {self.name!r} must be true or false"
        return None


@dataclass(frozen=True)
class Operation:
    """One call an agent may make: ``method`` on ``path`` (a template relative to the connector's base URL).

    ``query``: the query parameters the agent may send; only those reach the upstream, and any other is
    refused (400, naming it). None (not declared): every query parameter passes, as before they existed.
    """

    id: str
    method: str
    path: str
    summary: str
    description: str = ""
    consequential: bool | None = None  # None: a write (anything but GET) is consequential
    query: tuple[QueryParam, ...] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.query, list):
            object.__setattr__(self, "query", tuple(self.query))
        problems = _operation_problems(self)
        if problems:
            raise InvalidInput(f"operation {_shown(self.id)}: " + "; ".join(problems))

    @property
    def is_consequential(self) -> bool:
        """Whether a caller should confirm before the call (``x-openai-isConsequential``)."""
        return self.method != "GET" if self.consequential is None else self.consequential

    @property
    def placeholders(self) -> tuple[str, ...]:
        return template(self.path).names


@dataclass(frozen=True)
class CredentialPlacement:
    """Where the tenant's secret ``secret`` goes in the upstream request.

    - ``bearer``: ``Authorization: Bearer <secret>``;
    - ``header``: header ``name`` carries the secret as is;
    - ``basic``: ``Authorization: Basic``, with ``username`` (a literal) and the secret as password; without
      a username the secret is the username and the password is empty (the Stripe style);
    - ``query``: query parameter ``name`` carries the secret.
    """

    kind: Literal["bearer", "header", "basic", "query"]
    secret: str
    name: str | None = None
    username: str | None = None

    def __post_init__(self) -> None:
        problems = _placement_problems(self)
        if problems:
            raise InvalidInput("credential: " + "; ".join(problems))


@dataclass(frozen=True)
class Connector:
    """An upstream API: its one base URL, the operations agents may call, and where the credential goes."""

    name: str
    base_url: str
    description: str
    operations: tuple[Operation, ...]
    credential: CredentialPlacement
    timeout_seconds: float = 30.0
    max_response_bytes: int = 100_000
    allow_private_network: bool = False  # loopback and private addresses, and plain http: tests and internal APIs
    # Whether the operator declared it (its TOML file, or code): a secret without a destination policy goes
    # only to those. ``connector_from_dict`` (a tenant's JSON) always makes it False; no JSON field sets it.
    declared: bool = field(default=True, compare=False)
    _origin: tuple[str, str, int, str] = field(init=False, repr=False, compare=False)
    _destination: Destination = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.operations, list):
            object.__setattr__(self, "operations", tuple(self.operations))
        problems = _connector_problems(self)
        if problems:
            raise InvalidInput(f"connector {_shown(self.name)}: " + "; ".join(problems))
        split = urlsplit(self.base_url)
        scheme, host = split.scheme.lower(), cast(str, split.hostname)
        port = split.port or (443 if scheme == "https" else 80)
        object.__setattr__(self, "_origin", (scheme, host, port, split.path.rstrip("/")))
        placement = placement_of(self.credential.kind, self.credential.name)
        destination = Destination(origin_of(scheme, host, port), placement, self.name, self.declared is True)
        object.__setattr__(self, "_destination", destination)

    @property
    def scheme(self) -> str:
        return self._origin[0]

    @property
    def host(self) -> str:
        """The one host the broker contacts for this connector (lower case; an IPv6 literal without brackets)."""
        return self._origin[1]

    @property
    def port(self) -> int:
        return self._origin[2]

    @property
    def origin(self) -> str:
        """Scheme, host and port in the spelling destination policies use (``https://api.example.com``)."""
        return self._destination.origin

    @property
    def destination(self) -> Destination:
        """Where this connector sends its credential: what the vault checks the secret's policy against."""
        return self._destination

    @property
    def base_path(self) -> str:
        """The base URL's path without its trailing slash; templates are appended to it."""
        return self._origin[3]

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.id == operation_id:
                return op
        raise NotFound(f"connector {self.name!r} has no operation {_shown(operation_id)}")


# -- validation -------------------------------------------------------------------------------------------


def _shown(value: object) -> str:
    return repr(value)[:70] if isinstance(value, str) else type(value).__name__


def _text_problem(what: str, value: object, *, limit: int, required: bool, multiline: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"field {what!r} must be a string"
    if required and not value.strip():
        return f"field {what!r} must not be empty"
    if len(value) > limit:
        return f"field {what!r} is over {limit} characters"
    allowed = value.replace("\n", "").replace("\t", "") if multiline else value
    if not allowed.isprintable():
        return f"field {what!r} holds control characters"
    return None


def _query_param_problems(q: QueryParam) -> list[str]:
    problems: list[str] = []
    if not isinstance(q.name, str) or QUERY_NAME.fullmatch(q.name) is None:
        problems.append("field 'name' must be a query parameter name (A-Z a-z 0-9 _ . ~ -)")
    if q.type not in QUERY_TYPES:
        problems.append(f"field 'type' must be one of {', '.join(QUERY_TYPES)}")
    if not isinstance(q.required, bool):
        problems.append("field 'required' must be true or false")
    problem = _text_problem("description", q.description, limit=MAX_SUMMARY_CHARS, required=False)
    if problem:
        problems.append(problem)
    return problems


def _operation_problems(op: Operation) -> list[str]:
    problems: list[str] = []
    if not isinstance(op.id, str) or OPERATION_ID.fullmatch(op.id) is None:
        problems.append("field 'id' must match [a-z][a-z0-9_]{0,63}")
    if op.method not in METHODS:
        problems.append(f"field 'method' must be one of {', '.join(METHODS)}")
    problems += [f"field 'path': {p}" for p in template_problems(op.path)]
    for what, value, limit, required in (
        ("summary", op.summary, MAX_SUMMARY_CHARS, True),
        ("description", op.description, MAX_DESCRIPTION_CHARS, False),
    ):
        problem = _text_problem(what, value, limit=limit, required=required, multiline=what == "description")
        if problem:
            problems.append(problem)
    if op.consequential is not None and not isinstance(op.consequential, bool):
        problems.append("field 'consequential' must be true, false or absent")
    if op.query is not None:
        if not isinstance(op.query, tuple) or not all(isinstance(q, QueryParam) for q in op.query):
            problems.append("field 'query' must be a list of query parameters")
        elif len(op.query) > MAX_QUERY_PARAMS:
            problems.append(f"field 'query' holds more than {MAX_QUERY_PARAMS} parameters")
        else:
            names = [q.name for q in op.query]
            twice = sorted({n for n in names if names.count(n) > 1})
            problems += [f"query parameter {n!r} appears twice" for n in twice]
    return problems


def _placement_problems(p: CredentialPlacement) -> list[str]:
    problems: list[str] = []
    if p.kind not in PLACEMENT_KINDS:
        problems.append(f"field 'kind' must be one of {', '.join(PLACEMENT_KINDS)}")
    if not isinstance(p.secret, str) or NAME_PATTERN.fullmatch(p.secret) is None:
        problems.append("field 'secret' must be a secret name (1-128 of A-Z a-z 0-9 _ . -)")
    elif is_internal_secret(p.secret):
        problems.append(
            f"field 'secret': names starting with {' or '.join(map(repr, INTERNAL_SECRET_PREFIXES))} are "
            "strongroom's own (a share's value) and cannot be a connector's credential"
        )
    if p.kind == "header":
        if not isinstance(p.name, str) or HEADER_TOKEN.fullmatch(p.name) is None:
            problems.append("field 'name' must be a header name for kind 'header'")
        elif p.name.lower() in RESERVED_HEADERS or p.name.lower().startswith("proxy-"):
            problems.append(f"field 'name': header {p.name!r} is controlled by the broker")
    elif p.kind == "query":
        if not isinstance(p.name, str) or QUERY_NAME.fullmatch(p.name) is None:
            problems.append("field 'name' must be a query parameter name (A-Z a-z 0-9 _ . ~ -) for kind 'query'")
    elif p.name is not None:
        problems.append(f"field 'name' is only for kinds 'header' and 'query', not {p.kind!r}")
    if p.username is not None:
        if p.kind != "basic":
            problems.append("field 'username' is only for kind 'basic'")
        elif (
            not isinstance(p.username, str)
            or not p.username
            or ":" in p.username
            or len(p.username) > 256
            or not p.username.isprintable()
        ):
            problems.append("field 'username' must be 1-256 printable characters without ':'")
    return problems


def _base_url_problems(url: object, allow_private: bool) -> list[str]:
    if not isinstance(url, str) or len(url) > 2048 or not url.isascii() or not url.isprintable() or " " in url:
        return ["must be a URL of at most 2048 printable ASCII characters (punycode for an international host)"]
    try:
        split = urlsplit(url)
        port = split.port
    except ValueError:
        return ["is not a valid URL"]
    scheme = split.scheme.lower()
    if scheme != "https" and not (scheme == "http" and allow_private):
        return ["must use https (http only with allow_private_network, for loopback tests)"]
    problems: list[str] = []
    if not split.hostname:
        problems.append("has no host")
    if split.username is not None or split.password is not None:
        problems.append("must not carry credentials (use the credential placement)")
    if split.query or split.fragment or url.endswith(("?", "#")):
        problems.append("must not have a query or fragment")
    if "{" in split.path or "}" in split.path:
        problems.append("path must not hold placeholders (they belong in operation paths)")
    elif TEMPLATE_LITERAL.fullmatch(split.path) is None:
        problems.append("path holds characters a URL path cannot carry as is")
    if port == 0:
        problems.append("port 0 is not a port")
    if split.hostname and not problems:
        problems += _host_problems(url, scheme, split.hostname, port)
    if split.hostname and not allow_private and _is_non_public(split.hostname):
        problems.append("points at a non-public address (allowed only with allow_private_network)")
    return problems


def _is_non_public(hostname: str) -> bool:
    """Whether the host is an IP address the broker's guard refuses (every special-purpose block, fec0::/10 too),
    so a definition and its calls agree."""
    from strongroom.broker.network import forbidden_reason  # it loads httpx: only when a connector is defined

    try:
        address = ipaddress.ip_address(hostname)
    except ValueError:
        return False
    return not address.is_global or forbidden_reason(str(address)) is not None


_DNS_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


def _host_problems(url: str, scheme: str, hostname: str, port: int | None) -> list[str]:
    """What keeps the broker's HTTP client (httpx) or a resolver from reaching exactly this host, if anything.

    The base URL is parsed again with the parser the broker sends with, ``httpx.URL``, and both parsers must
    agree on the origin: a URL only ``urlsplit`` accepts would fail on every call (a 500), and one they read
    differently would be refused on every call. A host name must be one DNS can hold (labels of 1-63
    letters, digits, '-' or '_', 253 characters in all) and must not end in a number: resolvers read
    ``1.2.3`` or ``0x7f.1`` as IPv4 addresses (127.0.0.1).
    """
    import httpx  # loaded only when a connector is defined: the rest of this module is HTTP-free

    if "%" in hostname:
        return ["host must not carry an IPv6 zone id (it names an interface of the broker's own machine)"]
    default = 443 if scheme == "https" else 80
    try:
        parsed = httpx.URL(url)
        parsed.host  # noqa: B018 -- decodes punycode: idna raises here for a label that decodes badly
    except Exception as exc:  # httpx.InvalidURL, idna.IDNAError
        return [f"is not a URL the broker's HTTP client accepts ({type(exc).__name__}): check the host and port"]
    raw_host = parsed.raw_host.decode("ascii").lower()
    if (parsed.scheme, raw_host, parsed.port or default) != (scheme, hostname, port or default):
        return ["is read differently by the broker's HTTP client: check the host and port"]
    return _dns_name_problems(hostname)


def _dns_name_problems(hostname: str) -> list[str]:
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        pass
    else:
        return []
    name = hostname[:-1] if hostname.endswith(".") else hostname
    labels = name.split(".")
    if len(name) > 253 or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return [
            "host must be a DNS name (labels of 1-63 letters, digits, '-' or '_'; at most 253 characters; "
            "punycode for an international name) or an IP address"
        ]
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return ["host ends in a number but is not an IP address (resolvers would read it as one): write the address"]
    return []


def _credential_query_problems(c: Connector) -> list[str]:
    """An operation may not declare the query parameter the credential goes in, in any case: the broker alone
    sets it, and the broker refuses every spelling an upstream might read as the same name."""
    if not isinstance(c.credential, CredentialPlacement) or c.credential.kind != "query":
        return []
    name = c.credential.name
    return [
        f"operation {op.id!r}: query parameter {name!r} carries the credential: the broker sets it"
        for op in c.operations
        if any(q.name.strip().casefold() == (name or "").strip().casefold() for q in op.query or ())
    ]


def _connector_problems(c: Connector) -> list[str]:
    problems: list[str] = []
    if not isinstance(c.name, str) or CONNECTOR_NAME.fullmatch(c.name) is None:
        problems.append("field 'name' must match [a-z][a-z0-9-]{0,63}")
    if not isinstance(c.declared, bool):
        problems.append("field 'declared' must be true or false")
    if not isinstance(c.allow_private_network, bool):
        problems.append("field 'allow_private_network' must be true or false")
    problems += [f"field 'base_url' {p}" for p in _base_url_problems(c.base_url, c.allow_private_network is True)]
    problem = _text_problem("description", c.description, limit=MAX_DESCRIPTION_CHARS, required=True, multiline=True)
    if problem:
        problems.append(problem)
    if not isinstance(c.credential, CredentialPlacement):
        problems.append("field 'credential' must be a CredentialPlacement")
    if (
        isinstance(c.timeout_seconds, bool)
        or not isinstance(c.timeout_seconds, int | float)
        or not 0 < c.timeout_seconds <= MAX_TIMEOUT_SECONDS
    ):
        problems.append(f"field 'timeout_seconds' must be a number in (0, {MAX_TIMEOUT_SECONDS:g}]")
    if (
        isinstance(c.max_response_bytes, bool)
        or not isinstance(c.max_response_bytes, int)
        or not 1 <= c.max_response_bytes <= MAX_RESPONSE_BYTES_LIMIT
    ):
        problems.append(f"field 'max_response_bytes' must be an integer in [1, {MAX_RESPONSE_BYTES_LIMIT}]")
    if (
        not isinstance(c.operations, tuple)
        or not c.operations
        or not all(isinstance(op, Operation) for op in c.operations)
    ):
        problems.append("field 'operations' must hold at least one Operation")
        return problems
    problems += _credential_query_problems(c)
    seen_ids: set[str] = set()
    shapes: dict[tuple[str, str], Operation] = {}
    names_of_shape: dict[str, tuple[str, ...]] = {}
    for op in c.operations:
        if op.id in seen_ids:
            problems.append(f"operation id {op.id!r} appears twice")
        seen_ids.add(op.id)
        compiled = template(op.path)
        other = shapes.setdefault((op.method, compiled.shape), op)
        if other is not op:
            problems.append(f"operations {other.id!r} and {op.id!r} both match {op.method} {compiled.shape}")
        if names_of_shape.setdefault(compiled.shape, compiled.names) != compiled.names:
            problems.append(
                f"operation {op.id!r}: path {op.path!r} names its placeholders differently from "
                "another operation on the same path"
            )
    return problems


# -- dicts and TOML ---------------------------------------------------------------------------------------

_CONNECTOR_FIELDS = {
    "name",
    "base_url",
    "description",
    "operations",
    "operation",
    "credential",
    "timeout_seconds",
    "max_response_bytes",
    "allow_private_network",
}
_OPERATION_FIELDS = {"id", "method", "path", "summary", "description", "consequential", "query"}
_QUERY_FIELDS = {"name", "type", "required", "description"}
_PLACEMENT_FIELDS = {"kind", "secret", "name", "username"}


def _unknown(data: Mapping[str, Any], known: set[str]) -> list[str]:
    return [f"unknown field {_shown(k)}" for k in sorted(map(str, data)) if k not in known]


def _checked(cls: type[Any], check: Callable[[Any], list[str]], kwargs: dict[str, Any]) -> tuple[Any, list[str]]:
    """``cls(**kwargs)`` and no problems, or None and every problem ``check`` finds (nothing raised)."""
    values = {f.name: f.default for f in fields(cls) if f.init and f.default is not MISSING}
    values.update(kwargs)
    problems = check(SimpleNamespace(**values))
    return (None, problems) if problems else (cls(**kwargs), [])


def _operation_from_dict(data: object, where: str, problems: list[str]) -> Operation | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where}: must be a table")
        return None
    local = _unknown(data, _OPERATION_FIELDS)
    local += [f"field {k!r} is missing" for k in ("id", "method", "path", "summary") if k not in data]
    if local:
        problems += [f"{where}: {p}" for p in local]
        return None
    kwargs = {k: data[k] for k in _OPERATION_FIELDS if k in data}
    if isinstance(kwargs["method"], str):
        kwargs["method"] = kwargs["method"].upper()
    if "query" in kwargs:
        params = _query_from_list(kwargs["query"], where, problems)
        if params is None:
            return None
        kwargs["query"] = params
    op, found = _checked(Operation, _operation_problems, kwargs)
    problems += [f"{where}: {p}" for p in found]
    return cast(Operation | None, op)


def _query_from_list(data: object, where: str, problems: list[str]) -> tuple[QueryParam, ...] | None:
    """An operation's ``query`` (a list of tables: name, type, required, description), or None and problems."""
    if not isinstance(data, Sequence) or isinstance(data, str):
        problems.append(f"{where}: field 'query' must be an array of tables ([[connector.operation.query]])")
        return None
    params: list[QueryParam] = []
    local: list[str] = []
    for i, item in enumerate(data, 1):
        if not isinstance(item, Mapping):
            local.append(f"query #{i}: must be a table (name, type, required, description)")
            continue
        label = f"query #{i}" + (f" {_shown(item.get('name'))}" if isinstance(item.get("name"), str) else "")
        found = _unknown(item, _QUERY_FIELDS) + (["field 'name' is missing"] if "name" not in item else [])
        if not found:
            param, found = _checked(QueryParam, _query_param_problems, {k: item[k] for k in _QUERY_FIELDS if k in item})
            if param is not None:
                params.append(param)
        local += [f"{label}: {p}" for p in found]
    problems += [f"{where}: {p}" for p in local]
    return None if local else tuple(params)


def _placement_from_dict(data: object, where: str, problems: list[str]) -> CredentialPlacement | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where}: field 'credential' must be a table (kind, secret, name, username)")
        return None
    local = _unknown(data, _PLACEMENT_FIELDS)
    local += [f"field {k!r} is missing" for k in ("kind", "secret") if k not in data]
    if local:
        problems += [f"{where}: credential: {p}" for p in local]
        return None
    placement, found = _checked(
        CredentialPlacement, _placement_problems, {k: data[k] for k in _PLACEMENT_FIELDS if k in data}
    )
    problems += [f"{where}: credential: {p}" for p in found]
    return cast(CredentialPlacement | None, placement)


def _connector_or_problems(data: object, where: str) -> tuple[Connector | None, list[str]]:
    if not isinstance(data, Mapping):
        return None, [f"{where}: must be a table"]
    problems: list[str] = []
    name = data.get("name")
    label = f"{where}: connector {_shown(name)}" if isinstance(name, str) else f"{where}: connector (no name)"
    problems += [f"{label}: {p}" for p in _unknown(data, _CONNECTOR_FIELDS)]
    if "operations" in data and "operation" in data:
        problems.append(f"{label}: give 'operation' or 'operations', not both")
    raw_ops = data.get("operations", data.get("operation"))
    operations: list[Operation] = []
    if not isinstance(raw_ops, Sequence) or isinstance(raw_ops, str) or not raw_ops:
        problems.append(f"{label}: field 'operation' must be a non-empty array of tables ([[connector.operation]])")
    else:
        for i, raw in enumerate(raw_ops, 1):
            op_id = raw.get("id") if isinstance(raw, Mapping) else None
            op_label = f"{label}: operation #{i}" + (f" {_shown(op_id)}" if isinstance(op_id, str) else "")
            op = _operation_from_dict(raw, op_label, problems)
            if op is not None:
                operations.append(op)
    credential = _placement_from_dict(data.get("credential"), label, problems)
    problems += [f"{label}: field {k!r} is missing" for k in ("name", "base_url", "description") if k not in data]
    # Stand-ins for what is missing or broken (already reported), so every other field is still checked.
    given = ("name", "base_url", "description", "timeout_seconds", "max_response_bytes", "allow_private_network")
    kwargs = {
        **_STAND_INS,
        **{k: data[k] for k in given if k in data},
        "operations": tuple(operations) or (_STAND_IN_OPERATION,),
        "credential": credential or _STAND_IN_CREDENTIAL,
    }
    connector, found = _checked(Connector, _connector_problems, kwargs)
    problems += [f"{label}: {p}" for p in found]
    return (None, problems) if problems else (cast(Connector, connector), [])


_STAND_INS = {"name": "x", "base_url": "https://example.invalid", "description": "-"}
_STAND_IN_OPERATION = Operation("x", "GET", "/", "-")
_STAND_IN_CREDENTIAL = CredentialPlacement("bearer", "x")


def _raise_problems(where: str, problems: list[str]) -> None:
    if len(problems) == 1:
        raise InvalidInput(problems[0])
    raise InvalidInput(f"{where}: {len(problems)} problems:\n" + "\n".join(f"  - {p}" for p in problems))


def connector_from_dict(data: Mapping[str, Any], *, where: str) -> Connector:
    """A connector from plain data (JSON, a TOML table); ``where`` names the source in every problem reported."""
    connector, problems = _connector_or_problems(data, where)
    if connector is None:
        _raise_problems(where, problems)
    # Plain data is a tenant's definition (the operator's come from ``load_connectors``): never declared.
    return replace(cast(Connector, connector), declared=False)


def connector_to_dict(connector: Connector) -> dict[str, Any]:
    """Plain, JSON-safe data that ``connector_from_dict`` turns back into an equal connector (unset fields omitted)."""
    credential: dict[str, Any] = {"kind": connector.credential.kind, "secret": connector.credential.secret}
    for key in ("name", "username"):
        if getattr(connector.credential, key) is not None:
            credential[key] = getattr(connector.credential, key)
    operations: list[dict[str, Any]] = []
    for op in connector.operations:
        item: dict[str, Any] = {"id": op.id, "method": op.method, "path": op.path, "summary": op.summary}
        if op.description:
            item["description"] = op.description
        if op.consequential is not None:
            item["consequential"] = op.consequential
        if op.query is not None:
            item["query"] = [
                {"name": q.name, "type": q.type, "required": q.required}
                | ({"description": q.description} if q.description else {})
                for q in op.query
            ]
        operations.append(item)
    return {
        "name": connector.name,
        "base_url": connector.base_url,
        "description": connector.description,
        "timeout_seconds": connector.timeout_seconds,
        "max_response_bytes": connector.max_response_bytes,
        "allow_private_network": connector.allow_private_network,
        "credential": credential,
        "operations": operations,
    }


def load_connectors(path: Path) -> list[Connector]:
    """Every connector of a TOML file (``[[connector]]`` tables with ``[[connector.operation]]``).

    Every problem of the file is reported in one ``InvalidInput``, each naming the file, the connector and
    the field; connector names must be unique within the file.
    """
    where = str(path)
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{where}: cannot be read ({type(exc).__name__})") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{where}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{where}: is not valid TOML ({exc})") from None
    problems = [f"{where}: unknown top-level key {_shown(k)}" for k in sorted(document) if k != "connector"]
    tables = document.get("connector")
    if not isinstance(tables, list) or not tables:
        problems.append(f"{where}: no [[connector]] table")
        _raise_problems(where, problems)
    connectors: list[Connector] = []
    seen: set[str] = set()
    for i, table in enumerate(cast(list[Any], tables), 1):
        connector, found = _connector_or_problems(table, f"{where}: [[connector]] #{i}")
        problems += found
        if connector is None:
            continue
        if connector.name in seen:
            problems.append(f"{where}: [[connector]] #{i}: connector name {connector.name!r} appears twice")
        seen.add(connector.name)
        connectors.append(connector)
    if problems:
        _raise_problems(where, problems)
    return connectors


# -- matching ---------------------------------------------------------------------------------------------


def match_operation(connector: Connector, method: str, path: str) -> tuple[Operation, dict[str, str]]:
    """The operation ``method path`` calls, and its placeholders' values (percent-decoded once).

    ``path`` is the raw, percent-encoded path relative to the connector (``/v3/contacts/42``), without a
    query. Each placeholder takes exactly one segment; traversal (``..``, ``%2e%2e``), encoded or double
    encoded slashes and backslashes, control characters and empty segments are refused with ``InvalidInput``
    naming the problem (never echoing the path). No matching operation is ``NotFound``; when several match,
    the one with the most literal text wins (``/contacts/search`` over ``/contacts/{id}``).
    """
    trimmed = checked_path(path)
    method = method.upper() if isinstance(method, str) else ""
    best: tuple[int, Operation, dict[str, str]] | None = None
    for op in connector.operations:
        compiled = template(op.path)
        if op.method != method or (best is not None and compiled.literal_chars <= best[0]):
            continue
        raw = compiled.match(trimmed)
        if raw is not None:
            best = (compiled.literal_chars, op, raw)
    if best is None:
        raise NotFound(f"connector {connector.name!r} has no operation {method[:10] or '?'} on that path")
    return best[1], decoded_values(best[2])


__all__ = [
    "METHODS",
    "PLACEMENT_KINDS",
    "Connector",
    "CredentialPlacement",
    "Operation",
    "QueryParam",
    "connector_from_dict",
    "connector_to_dict",
    "load_connectors",
    "match_operation",
]
