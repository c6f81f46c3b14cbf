"""Signing an agent token: a JWT (RFC 7519), EdDSA over Ed25519, with the key's ``kid`` in its header.

Claims: ``iss``, ``sub`` (the agent), ``aud`` (the service it may call), ``iat``, ``nbf``, ``exp`` (whole
seconds), ``jti`` (random, the handle for revocation), ``tenant``, ``tid`` (the tenant's id), ``scope``
(space-separated, as RFC 8693 writes it) and ``key``: the public id of the API key that minted it, so
revoking the key revokes the token (absent from a token minted without a key, through the library). Two
optional labels, recorded in the audit context of every call the token makes (``strongroom.audit.context``):
``agent_run``, the agent run it was minted for, and ``client_id`` (RFC 8693, RFC 9068), the OAuth client it
was issued to. A token carries no secret of its own beyond its signature.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strongroom.secret import Secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ALGORITHM = "EdDSA"


@dataclass(frozen=True)
class IssuedToken:
    """A freshly signed token. ``token`` is a ``Secret``: it is a bearer credential."""

    token: Secret[str]
    jti: str
    kid: str
    expires_at: float
    scopes: frozenset[str]
    tenant: str
    subject: str
    audience: str
    issued_at: float
    key_id: str | None = None  # the API key that minted it (revoking the key revokes the token)


def new_jti() -> str:
    """128 random bits, base64url: unguessable, so nobody can pre-revoke (or guess) another's token."""
    return secrets.token_urlsafe(16)


def claims_for(
    *,
    issuer: str,
    tenant: str,
    subject: str,
    audience: str,
    scopes: frozenset[str],
    now: float,
    ttl_seconds: float,
    jti: str,
    tenant_id: str,
    key_id: str | None = None,
    agent_run: str | None = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """The claim set. Times are whole seconds; ``exp`` is rounded down so a token never outlives its TTL."""
    issued_at = math.floor(now)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "iat": issued_at,
        "nbf": issued_at,
        "exp": math.floor(now + ttl_seconds),
        "jti": jti,
        "tenant": tenant,
        "tid": tenant_id,
        "scope": " ".join(sorted(scopes)),
    }
    if key_id is not None:
        claims["key"] = key_id
    if agent_run is not None:
        claims["agent_run"] = agent_run
    if client_id is not None:
        claims["client_id"] = client_id
    return claims


def sign(claims: dict[str, Any], signer: Ed25519PrivateKey, kid: str) -> str:
    import jwt

    return jwt.encode(claims, signer, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})
