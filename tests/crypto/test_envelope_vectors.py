"""Known-answer vectors of the v1 envelope format (tests/vectors/envelope_v1.json, frozen)."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from strongroom.crypto.envelope import Binding, _seal, decrypt, dek_version_of

VECTORS_FILE = Path(__file__).resolve().parent.parent / "vectors" / "envelope_v1.json"
DOC: dict[str, Any] = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))
VECTORS: list[dict[str, Any]] = DOC["vectors"]


def plaintext_of(vector: dict[str, Any]) -> bytes:
    if "plaintext" in vector:
        return bytes.fromhex(vector["plaintext"])
    rule = vector["plaintext_rule"]
    assert rule["kind"] == "counter_mod"
    data = bytes(i % rule["modulus"] for i in range(rule["length"]))
    assert hashlib.sha256(data).hexdigest() == vector["plaintext_sha256"]
    return data


def binding_of(vector: dict[str, Any]) -> Binding:
    return Binding(vector["environment"], vector["tenant_id"], vector["name"], vector["version"])


def cipher_of(vector: dict[str, Any]) -> AESGCM:
    return AESGCM(bytes.fromhex(vector["key"]))


by_label = pytest.mark.parametrize("vector", VECTORS, ids=[v["label"] for v in VECTORS])


def test_vector_file_header() -> None:
    """The vector file declares its format and that it is frozen."""
    assert DOC["format"] == "strongroom envelope v1"
    assert DOC["note"] == "frozen: never edit; a new format adds envelope_v2.json"
    assert len(VECTORS) >= 15


def test_vectors_cover_the_required_cases() -> None:
    """The vectors cover several DEK versions, environments, tenants, names, versions and sizes."""
    assert {1, 2, 2**32 - 1} <= {v["dek_version"] for v in VECTORS}
    assert {"dev", "prod"} <= {v["environment"] for v in VECTORS}
    assert {0, 2**32 - 1} <= {v["version"] for v in VECTORS}
    assert len({v["tenant_id"] for v in VECTORS}) >= 3
    assert len({v["name"] for v in VECTORS}) >= 3
    sizes = {len(plaintext_of(v)) for v in VECTORS}
    assert 0 in sizes
    assert 64 * 1024 in sizes


@by_label
def test_vector_decrypts_to_recorded_plaintext(vector: dict[str, Any]) -> None:
    """decrypt() opens every frozen v1 ciphertext to its recorded plaintext."""
    blob = bytes.fromhex(vector["ciphertext"])
    assert decrypt(cipher_of(vector), blob, binding_of(vector)) == plaintext_of(vector)


@by_label
def test_vector_associated_data_matches(vector: dict[str, Any]) -> None:
    """Binding.associated_data() produces the recorded associated data byte for byte."""
    aad = binding_of(vector).associated_data(vector["dek_version"])
    assert aad.hex() == vector["associated_data"]


@by_label
def test_vector_seal_reproduces_ciphertext(vector: dict[str, Any]) -> None:
    """_seal() with the recorded key, nonce and binding reproduces the ciphertext byte for byte."""
    blob = _seal(
        cipher_of(vector),
        vector["dek_version"],
        bytes.fromhex(vector["nonce"]),
        plaintext_of(vector),
        binding_of(vector),
    )
    assert blob.hex() == vector["ciphertext"]


@by_label
def test_vector_header_records_dek_version(vector: dict[str, Any]) -> None:
    """dek_version_of() reads the recorded DEK version from each frozen ciphertext."""
    assert dek_version_of(bytes.fromhex(vector["ciphertext"])) == vector["dek_version"]


def _u16_text(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


@by_label
def test_vector_matches_documented_layout(vector: dict[str, Any]) -> None:
    """Each vector follows the documented layout, rebuilt here without strongroom's own code."""
    header = b"SR" + bytes([1]) + struct.pack(">I", vector["dek_version"])
    aad = (
        header
        + _u16_text(vector["environment"])
        + _u16_text(vector["tenant_id"])
        + _u16_text(vector["name"])
        + struct.pack(">I", vector["version"])
    )
    nonce = bytes.fromhex(vector["nonce"])
    expected = header + nonce + cipher_of(vector).encrypt(nonce, plaintext_of(vector), aad)
    assert aad.hex() == vector["associated_data"]
    assert expected.hex() == vector["ciphertext"]


def test_vector_file_is_not_rewritten_by_the_generator() -> None:
    """The generator refuses to overwrite the frozen vector file."""
    import runpy

    before = VECTORS_FILE.read_bytes()
    with pytest.raises(SystemExit, match="frozen"):
        runpy.run_path(str(VECTORS_FILE.with_name("make_envelope_v1.py")), run_name="__main__")
    assert VECTORS_FILE.read_bytes() == before
