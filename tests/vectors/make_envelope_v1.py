"""Generate ``envelope_v1.json``: known-answer vectors of the v1 envelope format.

Run once, by hand, when the format is introduced::

    .venv/bin/python tests/vectors/make_envelope_v1.py

The JSON it writes is then frozen: tests read it and never regenerate it. A change to the v1 format
that changes these bytes is a breaking change; a new format adds ``envelope_v2.json`` instead.

Every key and nonce below is a public, obviously non-secret test pattern, written as the expression
that builds it. They must never be used to protect anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.envelope import Binding, _seal

OUT = Path(__file__).with_name("envelope_v1.json")

# Public test patterns: (expression as text, value).
KEYS = {
    "bytes(range(32))": bytes(range(32)),
    "bytes(32)": bytes(32),
    "bytes([0xA5] * 32)": bytes([0xA5] * 32),
}
NONCES = {
    "bytes(range(12))": bytes(range(12)),
    "bytes(12)": bytes(12),
    "bytes([0xFF] * 12)": bytes([0xFF] * 12),
}

# A plaintext too large to inline: rebuilt from this rule by the test (see ``counter_mod``).
LARGE_RULE = {"kind": "counter_mod", "modulus": 251, "length": 64 * 1024}


def counter_mod(modulus: int, length: int) -> bytes:
    """``bytes(i % modulus for i in range(length))``: the large plaintext rule."""
    return bytes(i % modulus for i in range(length))


# (label, key expr, nonce expr, dek_version, (environment, tenant_id, name, version), plaintext)
CASES: list[tuple[str, str, str, int, tuple[str, str, str, int], bytes | dict[str, Any]]] = [
    ("empty plaintext", "bytes(range(32))", "bytes(range(12))", 1, ("dev", "tenant-1", "api.token", 1), b""),
    ("one byte", "bytes(range(32))", "bytes(range(12))", 1, ("dev", "tenant-1", "api.token", 1), b"a"),
    (
        "ascii text",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("dev", "tenant-1", "api.token", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, prod environment",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("prod", "tenant-1", "api.token", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, other tenant id",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("dev", "tenant-2", "api.token", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, other name",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("dev", "tenant-1", "db.password", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, secret version 0",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("dev", "tenant-1", "api.token", 0),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, secret version 2**32-1",
        "bytes(range(32))",
        "bytes(range(12))",
        1,
        ("dev", "tenant-1", "api.token", 2**32 - 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, dek version 2",
        "bytes(range(32))",
        "bytes(range(12))",
        2,
        ("dev", "tenant-1", "api.token", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "same plaintext, dek version 2**32-1",
        "bytes(range(32))",
        "bytes(range(12))",
        2**32 - 1,
        ("dev", "tenant-1", "api.token", 1),
        b"not a secret: strongroom test vector",
    ),
    (
        "multi-byte utf-8 plaintext",
        "bytes(32)",
        "bytes(12)",
        1,
        ("dev", "tenant-1", "greeting", 7),
        "héllo wörld ✓ 日本語 🔐".encode(),
    ),
    (
        "multi-byte utf-8 binding fields",
        "bytes(32)",
        "bytes(12)",
        2,
        ("dev", "テナント-ü", "clé.€", 3),
        "naïve café".encode(),
    ),
    (
        "uuid tenant id, dotted name",
        "bytes([0xA5] * 32)",
        "bytes([0xFF] * 12)",
        1,
        ("prod", "00000000-0000-4000-8000-000000000000", "stripe.webhook_secret", 42),
        b"whsec_not_a_real_value",
    ),
    (
        "binary plaintext, all byte values",
        "bytes([0xA5] * 32)",
        "bytes(range(12))",
        2,
        ("prod", "tenant-1", "blob", 100_000),
        bytes(range(256)),
    ),
    ("binary plaintext, zeros", "bytes(32)", "bytes([0xFF] * 12)", 2**32 - 1, ("dev", "t", "n", 1), bytes(16)),
    ("empty binding strings", "bytes(32)", "bytes(12)", 1, ("", "", "", 0), b"x"),
    (
        "64 KiB plaintext (rule)",
        "bytes([0xA5] * 32)",
        "bytes([0xFF] * 12)",
        2,
        ("prod", "tenant-9", "bundle.tar", 5),
        LARGE_RULE,
    ),
]


def build() -> dict[str, Any]:
    vectors = []
    for label, key_expr, nonce_expr, dek_version, fields, plaintext_spec in CASES:
        key, nonce = KEYS[key_expr], NONCES[nonce_expr]
        binding = Binding(*fields)
        if isinstance(plaintext_spec, dict):
            plaintext = counter_mod(plaintext_spec["modulus"], plaintext_spec["length"])
        else:
            plaintext = plaintext_spec
        ciphertext = _seal(AESGCM(key), dek_version, nonce, plaintext, binding)
        vector: dict[str, Any] = {
            "label": label,
            "key_source": key_expr,
            "key": key.hex(),
            "dek_version": dek_version,
            "nonce_source": nonce_expr,
            "nonce": nonce.hex(),
            "environment": binding.environment,
            "tenant_id": binding.tenant_id,
            "name": binding.name,
            "version": binding.version,
        }
        if isinstance(plaintext_spec, dict):
            vector["plaintext_rule"] = plaintext_spec
            vector["plaintext_sha256"] = hashlib.sha256(plaintext).hexdigest()
        else:
            vector["plaintext"] = plaintext.hex()
        vector["associated_data"] = binding.associated_data(dek_version).hex()
        vector["ciphertext"] = ciphertext.hex()
        vectors.append(vector)
    return {
        "format": "strongroom envelope v1",
        "note": "frozen: never edit; a new format adds envelope_v2.json",
        "plaintext_rules": {
            "counter_mod": "bytes(i % modulus for i in range(length))",
        },
        "vectors": vectors,
    }


def main() -> None:
    if OUT.exists():
        raise SystemExit(f"{OUT} exists and is frozen; a new format gets a new file")
    OUT.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
