"""Ed25519 public keys as JWKs (RFC 8037) and their RFC 7638 thumbprints, which serve as ``kid``.

A thumbprint is a hash of the public key alone, so a ``kid`` is the same in every process, says
nothing guessable (no counter, no date), and a verifier can check that a JWK matches its ``kid``.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638: SHA-256 over the required members (crv, kty, x) in lexicographic order, no whitespace."""
    members = {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw_public_bytes(public_key))}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode("ascii")
    return b64url(hashlib.sha256(canonical).digest())


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, Any]:
    """The verification key as a JWK: never a private member (``d``)."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url(raw_public_bytes(public_key)),
        "kid": kid,
        "use": "sig",
        "alg": "EdDSA",
    }


def jwks_document(keys: list[tuple[str, Ed25519PublicKey]]) -> dict[str, Any]:
    """``{"keys": [...]}`` for (kid, public key) pairs, in the order given."""
    return {"keys": [public_jwk(public_key, kid) for kid, public_key in keys]}
