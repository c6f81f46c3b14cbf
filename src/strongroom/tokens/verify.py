"""Verifying an agent token with a public key only: signature, issuer, audience, times, claim types.

Strict on form, because a JWT has slack a forger could use: the token must be three base64url segments,
and the signature segment must be the one canonical encoding of 64 bytes (base64 decoders ignore the
spare bits of the last character, padding and stray characters, so without this check several strings
would carry one valid signature). Every failure is ``AccessDenied`` except a genuine, well-formed token
past its expiry, which is ``Expired``. Messages name the claim or the ``kid`` that failed, never the token,
and are raised outside any ``except`` block so no exception context carries token text.

Whoever signed it, a token is refused when it claims a lifetime (``exp - iat``) above the verifier's
maximum, or a scope only API keys may hold (``KEY_ONLY_SCOPES``): a leaked or misused signing key still
cannot mint a year-long token nor one that manages keys.

Times are checked here against the caller's clock (``now``), with ``leeway`` seconds for clock skew;
PyJWT's own time checks (which read the system clock) are switched off.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strongroom.errors import AccessDenied, Expired
from strongroom.tokens.issue import ALGORITHM
from strongroom.tokens.jwks import b64url
from strongroom.vocabulary import KEY_ONLY_SCOPES, MAX_LABEL_CHARS

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MAX_TOKEN_CHARS = 8192
_SHAPE = re.compile(r"([A-Za-z0-9_-]{1,2048})\.[A-Za-z0-9_-]{1,6000}\.([A-Za-z0-9_-]{86})")
_KID = re.compile(r"[A-Za-z0-9_-]{43}")  # a base64url SHA-256 thumbprint
_KEY_ID = re.compile(r"[A-Za-z0-9]{8}")  # an API key's public id (rules/api_key_format.py)
REQUIRED = ("iss", "sub", "aud", "iat", "nbf", "exp", "jti", "tenant", "tid", "scope")
LABEL_CLAIMS = ("agent_run", "client_id")  # optional: printable text of at most MAX_LABEL_CHARS


@dataclass(frozen=True)
class TokenClaims:
    """What a verified token says. Nothing in it is secret."""

    tenant: str
    subject: str
    audience: str
    scopes: frozenset[str]
    jti: str
    expires_at: float
    kid: str
    issued_at: float
    tenant_id: str = ""  # the tenant's random id: a token dies with its tenant, even if the name comes back
    key_id: str | None = None  # the API key that minted it: a token dies with its key (None: minted without one)
    agent_run: str | None = None  # labels for the audit context: the agent run, the OAuth client
    client_id: str | None = None


def unverified_kid(token: object) -> str:
    """The ``kid`` a well-formed token names (not yet verified: only used to pick the key)."""
    failure = None
    kid: object = None
    match = _SHAPE.fullmatch(token) if isinstance(token, str) and len(token) <= MAX_TOKEN_CHARS else None
    if match is None:
        failure = "the token is malformed: expected a compact JWS (three base64url segments, an Ed25519 signature)"
    else:
        try:
            header = json.loads(_b64decode(match.group(1)))
            kid = header.get("kid") if isinstance(header, dict) else None
        except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError):
            failure = "malformed token header"
    if failure is None and not (isinstance(kid, str) and _KID.fullmatch(kid)):
        failure = "token header names no strongroom signing key (kid)"
    if failure is not None:
        raise AccessDenied(failure)
    assert isinstance(kid, str)  # noqa: S101 -- checked just above
    return kid


def verify_token(
    token: str,
    public_key: Ed25519PublicKey,
    *,
    kid: str,
    issuer: str,
    audience: str | None,
    now: float,
    leeway: float,
    max_lifetime: float,
) -> TokenClaims:
    """The claims of ``token`` if ``public_key`` signed it for ``issuer`` and ``audience`` (``None``: any
    audience, for revoking a token minted for another service) and it is valid at ``now`` and lives at most
    ``max_lifetime`` seconds; raises ``AccessDenied`` or ``Expired``."""
    import jwt

    signature = token.rsplit(".", 1)[-1] if isinstance(token, str) else ""
    failure: str | None = None
    payload: dict[str, Any] = {}
    if unverified_kid(token) != kid:
        failure = "token names another signing key"
    elif b64url(_b64decode(signature)) != signature:
        failure = "the token is malformed: its signature encoding is not canonical"
    else:
        try:
            payload = jwt.decode(
                token,
                public_key,
                algorithms=[ALGORITHM],
                audience=audience,
                issuer=issuer,
                options={
                    "require": list(REQUIRED),
                    "verify_aud": audience is not None,
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidSignatureError:
            failure = "token signature does not verify"
        except jwt.InvalidAudienceError:
            failure = f"token is not for audience {audience!r}"
        except jwt.InvalidIssuerError:
            failure = f"token was not issued by {issuer!r}"
        except jwt.MissingRequiredClaimError as exc:
            failure = f"token lacks the {exc.claim!r} claim"
        except jwt.InvalidAlgorithmError:
            failure = f"token is not signed with {ALGORITHM}"
        except (jwt.PyJWTError, ValueError, TypeError, KeyError, UnicodeError, RecursionError):
            failure = "malformed token"
    if failure is None:
        return _claims(payload, kid=kid, audience=audience, now=now, leeway=leeway, max_lifetime=max_lifetime)
    raise AccessDenied(failure)


def _claims(
    payload: dict[str, Any], *, kid: str, audience: str | None, now: float, leeway: float, max_lifetime: float
) -> TokenClaims:
    def text(name: str) -> str | None:
        value = payload.get(name)
        return value if isinstance(value, str) else None

    def number(name: str) -> float | None:
        value = payload.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return float(value)

    sub, jti, tenant, scope, tid = text("sub"), text("jti"), text("tenant"), text("scope"), text("tid")
    iat, nbf, exp = number("iat"), number("nbf"), number("exp")
    key_id = text("key")
    bad_key = "key" in payload and (key_id is None or _KEY_ID.fullmatch(key_id) is None)
    labels = {name: text(name) for name in LABEL_CLAIMS if name in payload}
    bad_labels = [n for n, v in labels.items() if v is None or not (0 < len(v) <= MAX_LABEL_CHARS and v.isprintable())]
    if (
        not sub
        or not jti
        or not tenant
        or not tid
        or scope is None
        or iat is None
        or nbf is None
        or exp is None
        or bad_key
        or bad_labels
    ):
        wrong = [n for n in ("sub", "jti", "tenant", "tid") if not text(n)] + ["scope"] * (scope is None)
        wrong += [n for n in ("iat", "nbf", "exp") if number(n) is None] + ["key"] * bad_key + bad_labels
        raise AccessDenied(f"token claims of the wrong type: {', '.join(wrong)}")
    # Whole seconds at issue: floor(now + ttl) - floor(now) is at most ceil(ttl).
    if exp - iat > math.ceil(max_lifetime):
        raise AccessDenied(
            f"token {jti[:64]!r} claims a lifetime of {exp - iat:g} s, above this service's maximum {max_lifetime:g} s"
        )
    scopes = frozenset(scope.split())
    if scopes & KEY_ONLY_SCOPES:
        raise AccessDenied(
            f"token {jti[:64]!r} carries a scope only API keys may hold ({', '.join(sorted(scopes & KEY_ONLY_SCOPES))})"
        )
    if now >= exp + leeway:
        raise Expired(f"token {jti[:64]!r} expired")
    if nbf > now + leeway or iat > now + leeway:
        raise AccessDenied(f"token {jti[:64]!r} is not valid yet (nbf or iat in the future)")
    aud = payload.get("aud")
    return TokenClaims(
        tenant=tenant,
        subject=sub,
        audience=audience if audience is not None else aud if isinstance(aud, str) else "",
        scopes=scopes,
        jti=jti,
        expires_at=exp,
        kid=kid,
        issued_at=iat,
        tenant_id=tid,
        key_id=key_id,
        agent_run=labels.get("agent_run"),
        client_id=labels.get("client_id"),
    )


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
