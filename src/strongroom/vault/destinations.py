"""Where a secret may be sent: its destination policy, and the check the vault makes before decrypting.

A policy is a list of allowed destinations, stored with the secret's metadata (``secrets.destinations``,
canonical JSON) and set when the secret is written. Each allowed destination is

- ``origin``: scheme, host and port, no path (``https://api.stripe.com``, ``https://api.example.com:8443``);
  http or https; the host in lower case (an international name as punycode), the default port left out;
- ``placements``: where the credential may go in a request there, at least one of ``bearer``, ``basic``,
  ``header:<Name>`` (header names are case-insensitive: kept in lower case) and ``query:<name>``;
- ``connectors`` (optional): only these connectors may send it there. A policy written as "only connector
  X" is resolved (by the service) to X's origin and placement when written, and both are matched: deleting X
  and re-creating it with another base URL does not move the secret.

As JSON (the HTTP body, the stored column)::

    [{"origin": "https://api.stripe.com", "placements": ["basic"], "connectors": ["stripe"]}]

A secret with no policy (``None``) may be sent only through connectors the operator declared; with a
policy, every broker use must match one of its entries, whoever declared the connector; an empty policy
(``[]``) lets the broker send it nowhere. ``Vault.use(..., destination=...)`` checks a ``Destination``
against the policy held in the same cached row as the ciphertext, before any key is unwrapped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from strongroom.errors import InvalidInput

MAX_ENTRIES = 32
MAX_PLACEMENTS = 16
MAX_CONNECTORS = 32
MAX_ORIGIN_CHARS = 300
PLACEMENT_HELP = "bearer, basic, header:<Name> or query:<name>"
_SCHEMES = {"https": 443, "http": 80}
_CONNECTOR_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}")  # broker.connectors.CONNECTOR_NAME: vault/ cannot import it
_HEADER_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}")
_QUERY_NAME = re.compile(r"[A-Za-z0-9_.~\-]{1,128}")
_FIELDS = {"origin", "placements", "connectors"}


def _shown(value: object) -> str:
    return repr(value)[:80] if isinstance(value, str) else type(value).__name__


def canonical_origin(value: object) -> str:
    """``scheme://host[:port]`` in the one spelling policies and connectors are compared in, or ``InvalidInput``."""
    if not isinstance(value, str) or not value or len(value) > MAX_ORIGIN_CHARS:
        raise InvalidInput(f"destination origin {_shown(value)} must be a URL of 1-{MAX_ORIGIN_CHARS} characters")
    if not value.isascii() or not value.isprintable() or " " in value:
        raise InvalidInput(
            f"destination origin {_shown(value)} must be printable ASCII (punycode for an international host)"
        )
    try:
        split = urlsplit(value)
        port = split.port
    except ValueError:
        raise InvalidInput(f"destination origin {_shown(value)} is not a valid URL") from None
    scheme = split.scheme.lower()
    if scheme not in _SCHEMES:
        raise InvalidInput(f"destination origin {_shown(value)} must start with https:// (or http://)")
    host = (split.hostname or "").rstrip(".")
    if not host:
        raise InvalidInput(f"destination origin {_shown(value)} has no host")
    if split.username is not None or split.password is not None:
        raise InvalidInput(f"destination origin {_shown(value)} must not carry credentials")
    if split.path not in ("", "/") or split.query or split.fragment or value.endswith(("?", "#")):
        raise InvalidInput(
            f"destination origin {_shown(value)} must be scheme, host and port only "
            f"(no path, query or fragment), e.g. {scheme}://{host}"
        )
    if port == 0:
        raise InvalidInput(f"destination origin {_shown(value)}: port 0 is not a port")
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}" if port in (None, _SCHEMES[scheme]) else f"{scheme}://{shown_host}:{port}"


def origin_of(scheme: str, host: str, port: int) -> str:
    """The canonical origin of a connector's base URL parts (an IPv6 host without brackets)."""
    return canonical_origin(f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}")


def canonical_placement(value: object) -> str:
    """``bearer``, ``basic``, ``header:<name>`` (lower case) or ``query:<name>``, or ``InvalidInput``."""
    if value in ("bearer", "basic"):
        return str(value)
    if isinstance(value, str):
        kind, colon, name = value.partition(":")
        if colon and kind == "header" and _HEADER_TOKEN.fullmatch(name):
            return f"header:{name.lower()}"
        if colon and kind == "query" and _QUERY_NAME.fullmatch(name):
            return f"query:{name}"
    raise InvalidInput(f"destination placement {_shown(value)} must be one of {PLACEMENT_HELP}")


def placement_of(kind: str, name: str | None) -> str:
    """The canonical placement of a connector's credential (``kind`` and, for header and query, ``name``)."""
    return canonical_placement(kind if name is None else f"{kind}:{name}")


@dataclass(frozen=True, slots=True)
class Destination:
    """Where the broker is about to send a secret: checked against the secret's policy before decrypting."""

    origin: str  # canonical (``origin_of``)
    placement: str  # canonical (``placement_of``)
    connector: str
    declared: bool  # the operator declared the connector (its TOML file), rather than a tenant


@dataclass(frozen=True, slots=True)
class AllowedDestination:
    """One entry of a policy: an origin, the placements allowed there, and optionally which connectors."""

    origin: str
    placements: tuple[str, ...]
    connectors: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        origin = canonical_origin(self.origin)
        if isinstance(self.placements, str) or not isinstance(self.placements, Sequence | frozenset | set):
            raise InvalidInput(f"destination {origin}: 'placements' must be a list of {PLACEMENT_HELP}")
        if not self.placements:
            raise InvalidInput(f"destination {origin}: name at least one placement ({PLACEMENT_HELP})")
        if len(self.placements) > MAX_PLACEMENTS:
            raise InvalidInput(f"destination {origin}: at most {MAX_PLACEMENTS} placements")
        placements = tuple(sorted({canonical_placement(p) for p in self.placements}))
        connectors = self.connectors
        if connectors is not None:
            if isinstance(connectors, str) or not isinstance(connectors, Sequence | frozenset | set):
                raise InvalidInput(f"destination {origin}: 'connectors' must be a list of connector names")
            if not connectors or len(connectors) > MAX_CONNECTORS:
                raise InvalidInput(
                    f"destination {origin}: 'connectors' holds 1-{MAX_CONNECTORS} names (leave it out for any)"
                )
            for name in connectors:
                if not isinstance(name, str) or _CONNECTOR_NAME.fullmatch(name) is None:
                    raise InvalidInput(
                        f"destination {origin}: connector {_shown(name)} is not a connector name "
                        "([a-z][a-z0-9-]{0,63})"
                    )
            connectors = tuple(sorted(set(connectors)))
        object.__setattr__(self, "origin", origin)
        object.__setattr__(self, "placements", placements)
        object.__setattr__(self, "connectors", connectors)

    def allows(self, destination: Destination) -> bool:
        return (
            destination.origin == self.origin
            and destination.placement in self.placements
            and (self.connectors is None or destination.connector in self.connectors)
        )

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"origin": self.origin, "placements": list(self.placements)}
        if self.connectors is not None:
            data["connectors"] = list(self.connectors)
        return data


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """The destinations a secret may be sent to; equal policies have the same canonical JSON."""

    entries: tuple[AllowedDestination, ...]

    def __post_init__(self) -> None:
        if isinstance(self.entries, str) or not isinstance(self.entries, Iterable):
            raise InvalidInput("destinations must be a list of allowed destinations")
        entries = tuple(self.entries)
        if len(entries) > MAX_ENTRIES:
            raise InvalidInput(f"destinations: at most {MAX_ENTRIES} entries")
        if not all(isinstance(e, AllowedDestination) for e in entries):
            raise InvalidInput("destinations must hold AllowedDestination entries")
        unique = {json.dumps(e.to_data(), sort_keys=True): e for e in entries}  # sorted, duplicates dropped
        object.__setattr__(self, "entries", tuple(unique[k] for k in sorted(unique)))

    @classmethod
    def from_data(cls, data: object) -> DestinationPolicy:
        """A policy from JSON-shaped data (a list of ``{"origin", "placements", "connectors"?}``)."""
        if isinstance(data, str) or not isinstance(data, Sequence):
            raise InvalidInput(
                'destinations must be a list like [{"origin": "https://api.example.com", "placements": ["bearer"]}]'
            )
        if len(data) > MAX_ENTRIES:
            raise InvalidInput(f"destinations: at most {MAX_ENTRIES} entries")
        entries: list[AllowedDestination] = []
        for i, item in enumerate(data, 1):
            if not isinstance(item, Mapping):
                raise InvalidInput(f"destination #{i} must be an object with 'origin' and 'placements'")
            unknown = sorted(str(k) for k in item if k not in _FIELDS)
            if unknown:
                raise InvalidInput(
                    f"destination #{i}: unknown field {_shown(unknown[0])} (use origin, placements, connectors)"
                )
            missing = [k for k in ("origin", "placements") if k not in item]
            if missing:
                raise InvalidInput(f"destination #{i}: field {missing[0]!r} is missing")
            entries.append(AllowedDestination(item["origin"], item["placements"], item.get("connectors")))
        return cls(tuple(entries))

    @classmethod
    def from_json(cls, text: str) -> DestinationPolicy:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise InvalidInput("destinations must be JSON") from None
        return cls.from_data(data)

    def to_data(self) -> list[dict[str, Any]]:
        return [e.to_data() for e in self.entries]

    def to_json(self) -> str:
        """Canonical JSON: sorted keys and entries, no spaces (what the store holds and audits compare)."""
        return json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"))

    def allows(self, destination: Destination) -> bool:
        return any(e.allows(destination) for e in self.entries)

    @property
    def origins(self) -> tuple[str, ...]:
        return tuple(sorted({e.origin for e in self.entries}))

    def describe(self) -> str:
        """For audit details and messages: the origins and placements, never anything secret."""
        if not self.entries:
            return "destinations: none (the broker may send it nowhere)"
        parts = []
        for e in self.entries:
            only = f" via {','.join(e.connectors)}" if e.connectors else ""
            parts.append(f"{e.origin} as {','.join(e.placements)}{only}")
        return "destinations: " + "; ".join(parts)


def allowed(policy: DestinationPolicy | None, destination: Destination) -> bool:
    """Whether ``destination`` may receive a secret of this policy (``None``: declared connectors only)."""
    return destination.declared if policy is None else policy.allows(destination)


def parse_stored(text: str | None) -> DestinationPolicy | None:
    """The policy of a stored ``secrets.destinations`` value (``None`` stays ``None``)."""
    return None if text is None else DestinationPolicy.from_json(text)


def parse_option(value: str) -> AllowedDestination:
    """The CLI's ``--destination ORIGIN=PLACEMENT[,PLACEMENT...]`` as one allowed destination."""
    origin, equals, placements = value.partition("=")
    if not equals or not placements:
        raise InvalidInput(
            f"--destination {_shown(value)}: write ORIGIN=PLACEMENT, e.g. https://api.example.com=bearer"
        )
    return AllowedDestination(origin, tuple(p.strip() for p in placements.split(",")))


def refusal(tenant: str, name: str, policy: DestinationPolicy | None, destination: Destination) -> str:
    """Why ``destination`` may not receive the secret, and how to allow it (names and origins only)."""
    why = (
        "it has no destination policy, so only the operator's declared connectors may use it"
        if policy is None
        else f"its policy allows only {', '.join(policy.origins) or 'no destination'}"
    )
    return (
        f"secret {name!r} of tenant {tenant!r} may not be sent to {destination.origin} as "
        f"{destination.placement} by connector {destination.connector!r}: {why}. To allow it, set its "
        f"destinations (PUT /v1/tenants/{tenant}/secrets/{name}/destinations with the scope "
        'destinations:write), e.g. [{"origin": "'
        + destination.origin
        + '", "placements": ["'
        + destination.placement
        + '"]}]'
    )


__all__ = [
    "AllowedDestination",
    "Destination",
    "DestinationPolicy",
    "allowed",
    "canonical_origin",
    "canonical_placement",
    "origin_of",
    "parse_option",
    "parse_stored",
    "placement_of",
    "refusal",
]
