"""The v1 envelope: round trips, and every edit, move, truncation or wrong key fails as TamperedError."""

from __future__ import annotations

import dataclasses
import os
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given
from hypothesis import strategies as st

from strongroom.crypto.envelope import (
    HEADER,
    MAX_VERSION,
    MIN_LENGTH,
    NONCE_BYTES,
    TAG_BYTES,
    AuthenticationFailure,
    Binding,
    _seal,
    decrypt,
    dek_version_of,
    encrypt,
    new_key,
    prepare,
)
from strongroom.errors import StrongroomError, TamperedError

KEY = new_key()
CIPHER = AESGCM(KEY)
BINDING = Binding("dev", "tenant-1", "api.token", 3)

texts = st.text(max_size=40)
versions = st.integers(min_value=0, max_value=MAX_VERSION)
bindings = st.builds(Binding, texts, texts, texts, versions)


def canary() -> bytes:
    """A plaintext that appears nowhere unless it leaked."""
    return f"canary-{uuid.uuid4().hex}{uuid.uuid4().hex}".encode()


def flip_bit(blob: bytes, bit: int) -> bytes:
    out = bytearray(blob)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


@given(plaintext=st.binary(max_size=2048), binding=bindings, dek_version=versions)
def test_round_trip(plaintext: bytes, binding: Binding, dek_version: int) -> None:
    """decrypt() returns exactly what encrypt() sealed, for any plaintext and binding."""
    blob = encrypt(CIPHER, dek_version, plaintext, binding)
    assert len(blob) == MIN_LENGTH + len(plaintext)
    assert dek_version_of(blob) == dek_version
    assert decrypt(CIPHER, blob, binding) == plaintext


@given(plaintext=st.binary(max_size=64), data=st.data())
def test_any_single_bit_flip_is_tampered(plaintext: bytes, data: st.DataObject) -> None:
    """Flipping any one bit of a ciphertext makes decrypt() raise TamperedError."""
    blob = encrypt(CIPHER, 1, plaintext, BINDING)
    bit = data.draw(st.integers(min_value=0, max_value=len(blob) * 8 - 1), label="bit")
    with pytest.raises(TamperedError):
        decrypt(CIPHER, flip_bit(blob, bit), BINDING)


def test_every_single_bit_flip_is_tampered_exhaustively() -> None:
    """Each of the bits of a short ciphertext, flipped alone, makes decrypt() raise TamperedError."""
    blob = encrypt(CIPHER, 2, b"short value", BINDING)
    for bit in range(len(blob) * 8):
        with pytest.raises(TamperedError):
            decrypt(CIPHER, flip_bit(blob, bit), BINDING)


@pytest.mark.parametrize(
    "moved",
    [
        dataclasses.replace(BINDING, environment="prod"),
        dataclasses.replace(BINDING, tenant_id="tenant-2"),
        dataclasses.replace(BINDING, tenant_id="tenant-1 "),
        dataclasses.replace(BINDING, name="api.token2"),
        dataclasses.replace(BINDING, name="API.TOKEN"),
        dataclasses.replace(BINDING, version=4),
        dataclasses.replace(BINDING, version=0),
        dataclasses.replace(BINDING, version=MAX_VERSION),
    ],
    ids=["environment", "tenant", "tenant-space", "name", "name-case", "version+1", "version0", "versionmax"],
)
def test_moved_ciphertext_is_tampered(moved: Binding) -> None:
    """A ciphertext opened under another environment, tenant, name or version raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob, moved)


def test_field_boundaries_are_unambiguous() -> None:
    """Shifting characters between binding fields changes the binding (fields are length-prefixed)."""
    original = Binding("dev", "ab", "c", 1)
    blob = encrypt(CIPHER, 1, b"value", original)
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob, Binding("dev", "a", "bc", 1))
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob, Binding("deva", "b", "c", 1))


@given(binding=bindings, other=bindings)
def test_moved_ciphertext_is_tampered_property(binding: Binding, other: Binding) -> None:
    """A ciphertext opens only under a binding equal to the one it was sealed with."""
    blob = encrypt(CIPHER, 1, b"value", binding)
    if other == binding:
        assert decrypt(CIPHER, blob, other) == b"value"
    else:
        with pytest.raises(TamperedError):
            decrypt(CIPHER, blob, other)


@given(length=st.integers(min_value=0, max_value=MIN_LENGTH + 7))
def test_truncated_ciphertext_is_tampered(length: int) -> None:
    """Any proper prefix of a ciphertext raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"eight by", BINDING)
    assert length < len(blob)
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob[:length], BINDING)


def test_short_input_is_tampered_even_without_tag() -> None:
    """Inputs shorter than header + nonce + tag raise TamperedError, not a struct or value error."""
    for blob in (b"", b"S", b"SR", b"SR\x01", b"SR\x01\x00\x00\x00\x01", b"SR\x01" + bytes(MIN_LENGTH - 4)):
        with pytest.raises(TamperedError):
            dek_version_of(blob)
        with pytest.raises(TamperedError):
            decrypt(CIPHER, blob, BINDING)


def test_dropping_the_last_byte_is_tampered() -> None:
    """Removing trailing bytes (part of the tag) raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    for cut in range(1, TAG_BYTES + 1):
        with pytest.raises(TamperedError):
            decrypt(CIPHER, blob[:-cut], BINDING)


def test_appended_bytes_are_tampered() -> None:
    """Bytes appended after the tag raise TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob + b"\x00", BINDING)


@pytest.mark.parametrize("magic", [b"SS", b"RS", b"sr", b"\x00\x00"])
def test_wrong_magic_is_tampered(magic: bytes) -> None:
    """A ciphertext whose magic is not b"SR" raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError, match="not a strongroom v1 envelope"):
        decrypt(CIPHER, magic + blob[2:], BINDING)


@pytest.mark.parametrize("fmt", [0, 2, 255])
def test_wrong_format_version_is_tampered(fmt: int) -> None:
    """A ciphertext whose format byte is not 1 raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError, match="not a strongroom v1 envelope"):
        decrypt(CIPHER, blob[:2] + bytes([fmt]) + blob[3:], BINDING)


def test_wrong_dek_version_in_header_is_tampered() -> None:
    """Rewriting the header's DEK version (bound in the AAD) raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    rewritten = HEADER.pack(b"SR", 1, 2) + blob[HEADER.size :]
    assert dek_version_of(rewritten) == 2
    with pytest.raises(TamperedError):
        decrypt(CIPHER, rewritten, BINDING)


def test_wrong_key_is_tampered() -> None:
    """A ciphertext opened with another key raises TamperedError."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError):
        decrypt(AESGCM(new_key()), blob, BINDING)


def test_tampered_error_is_a_strongroom_error() -> None:
    """TamperedError is part of the StrongroomError hierarchy and carries no chained cause."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(StrongroomError) as info:
        decrypt(AESGCM(new_key()), blob, BINDING)
    assert isinstance(info.value, TamperedError)
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__


def test_error_message_never_contains_plaintext() -> None:
    """No TamperedError message from decrypt() contains the plaintext, in any encoding."""
    secret = canary()
    blob = encrypt(CIPHER, 1, secret, BINDING)
    attempts = [
        (AESGCM(new_key()), blob, BINDING),
        (CIPHER, flip_bit(blob, len(blob) * 8 - 1), BINDING),
        (CIPHER, blob, dataclasses.replace(BINDING, tenant_id="other")),
        (CIPHER, blob[:-1], BINDING),
        (CIPHER, b"XX" + blob[2:], BINDING),
        (CIPHER, blob[:10], BINDING),
    ]
    for cipher, data, binding in attempts:
        with pytest.raises(TamperedError) as info:
            decrypt(cipher, data, binding)
        message = str(info.value) + repr(info.value)
        assert secret.decode() not in message
        assert secret.hex() not in message
        assert repr(secret) not in message


def test_error_message_names_the_secret() -> None:
    """An authentication failure names the secret and version, so it can be found."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError, match=r"'api\.token' v3"):
        decrypt(AESGCM(new_key()), blob, BINDING)


def test_encrypt_uses_a_fresh_nonce() -> None:
    """Encrypting the same plaintext twice gives different ciphertexts and different nonces."""
    first = encrypt(CIPHER, 1, b"same", BINDING)
    second = encrypt(CIPHER, 1, b"same", BINDING)
    assert first != second
    nonce = slice(HEADER.size, HEADER.size + NONCE_BYTES)
    assert first[nonce] != second[nonce]
    assert decrypt(CIPHER, first, BINDING) == decrypt(CIPHER, second, BINDING) == b"same"


def test_ciphertext_does_not_contain_plaintext() -> None:
    """The envelope does not carry the plaintext in the clear."""
    secret = canary()
    assert secret not in encrypt(CIPHER, 1, secret, BINDING)


@pytest.mark.parametrize("dek_version", [-1, MAX_VERSION + 1])
def test_seal_rejects_dek_version_out_of_range(dek_version: int) -> None:
    """_seal() refuses a DEK version that does not fit in an unsigned 32-bit field."""
    with pytest.raises(ValueError, match="32 bits"):
        _seal(CIPHER, dek_version, bytes(NONCE_BYTES), b"v", BINDING)


@pytest.mark.parametrize("version", [-1, MAX_VERSION + 1])
def test_seal_rejects_secret_version_out_of_range(version: int) -> None:
    """_seal() refuses a secret version that does not fit in an unsigned 32-bit field."""
    with pytest.raises(ValueError, match="32 bits"):
        _seal(CIPHER, 1, bytes(NONCE_BYTES), b"v", dataclasses.replace(BINDING, version=version))


@pytest.mark.parametrize("length", [0, 8, 11, 13, 16])
def test_seal_rejects_wrong_nonce_length(length: int) -> None:
    """_seal() refuses a nonce that is not exactly 12 bytes."""
    with pytest.raises(ValueError, match="12 bytes"):
        _seal(CIPHER, 1, bytes(length), b"v", BINDING)


def test_new_key_is_random_256_bits() -> None:
    """new_key() returns 32 bytes that differ call to call."""
    keys = {new_key() for _ in range(8)}
    assert len(keys) == 8
    assert all(len(k) == 32 for k in keys)


def test_prepare_round_trip_and_tamper() -> None:
    """prepare() splits an envelope so its decrypt opens it, and any change fails authentication."""
    blob = encrypt(CIPHER, 5, b"hot path", BINDING)
    prepared = prepare(CIPHER, blob, BINDING)
    assert prepared.nonce == blob[HEADER.size : HEADER.size + NONCE_BYTES]
    assert prepared.body == blob[HEADER.size + NONCE_BYTES :]
    assert prepared.aad == BINDING.associated_data(5)
    assert prepared.decrypt(prepared.nonce, prepared.body, prepared.aad) == b"hot path"
    with pytest.raises(AuthenticationFailure):
        prepared.decrypt(prepared.nonce, prepared.body, BINDING.associated_data(6))
    with pytest.raises(AuthenticationFailure):
        prepared.decrypt(prepared.nonce, flip_bit(prepared.body, 0), prepared.aad)
    with pytest.raises(TamperedError):
        prepare(CIPHER, blob[:10], BINDING)


def test_decrypt_under_out_of_range_binding_version_raises_tampered() -> None:
    """Opening under a binding whose version cannot exist raises TamperedError, not struct.error."""
    blob = encrypt(CIPHER, 1, b"value", BINDING)
    with pytest.raises(TamperedError):
        decrypt(CIPHER, blob, dataclasses.replace(BINDING, version=-1))


def test_seal_rejects_over_long_binding_field_with_value_error() -> None:
    """_seal() refuses a binding field that cannot be length-prefixed in 16 bits with ValueError."""
    with pytest.raises(ValueError, match=r"."):
        _seal(CIPHER, 1, os.urandom(NONCE_BYTES), b"v", dataclasses.replace(BINDING, name="n" * 65536))
