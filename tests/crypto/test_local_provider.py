"""LocalKeyProvider: the key file (0600, never overwritten), STRONGROOM_MASTER_KEY, wrap and rotation.

Every key here is generated at test time; no key material is committed.
"""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest

from strongroom.crypto import KeyProvider
from strongroom.crypto.envelope import new_key
from strongroom.crypto.hazmat import wrap_context
from strongroom.crypto.providers.local import (
    MASTER_KEY_ENV,
    LocalKeyProvider,
    default_provider,
    fingerprint,
)
from strongroom.errors import KeyProviderError, StrongroomError, TamperedError

CONTEXT = wrap_context("dev", "tenant-1", 1, "local:test")


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def file_keys(path: Path) -> dict[int, bytes]:
    """The raw keys stored in a key file, read at test time."""
    doc = json.loads(path.read_text())
    return {int(v): base64.b64decode(k) for v, k in doc["keys"].items()}


def write_keyfile(path: Path, text: str | bytes, mode: int = 0o600) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    path.chmod(mode)
    return path


def assert_quiet(error: BaseException) -> None:
    """The error carries no chained exception that would print a second traceback."""
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "dev.json"


# -- create_file ------------------------------------------------------------------------------


def test_create_file_makes_a_0600_file(keyfile: Path) -> None:
    """create_file() writes a key file readable and writable by its owner only."""
    LocalKeyProvider.create_file(keyfile, "dev")
    assert keyfile.is_file()
    assert mode_of(keyfile) == 0o600


def test_create_file_writes_the_documented_format(keyfile: Path) -> None:
    """create_file() writes format 1, the environment, the key id, primary 1 and one 32-byte key."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    doc = json.loads(keyfile.read_text())
    assert doc["strongroom_keyfile"] == 1
    assert doc["environment"] == "dev"
    assert doc["primary"] == 1
    assert doc["key_id"] == provider.key_id
    assert set(doc["keys"]) == {"1"}
    assert len(base64.b64decode(doc["keys"]["1"])) == 32
    assert provider.path == keyfile
    assert provider.versions() == [1]
    assert provider.current_version() == 1


def test_create_file_refuses_to_overwrite(keyfile: Path) -> None:
    """create_file() on an existing path raises KeyProviderError and leaves the file untouched."""
    LocalKeyProvider.create_file(keyfile, "dev")
    before = keyfile.read_bytes()
    with pytest.raises(KeyProviderError, match="already exists") as info:
        LocalKeyProvider.create_file(keyfile, "dev")
    assert str(keyfile) in str(info.value)
    assert keyfile.read_bytes() == before
    assert_quiet(info.value)


def test_create_file_makes_fresh_keys_each_time(tmp_path: Path) -> None:
    """Two key files get different keys and different key ids."""
    one = LocalKeyProvider.create_file(tmp_path / "a.json", "dev")
    two = LocalKeyProvider.create_file(tmp_path / "b.json", "dev")
    assert file_keys(tmp_path / "a.json") != file_keys(tmp_path / "b.json")
    assert one.key_id != two.key_id


# -- from_file --------------------------------------------------------------------------------


def test_from_file_loads_what_create_file_wrote(keyfile: Path) -> None:
    """from_file() loads the same key id and keys that create_file() wrote."""
    created = LocalKeyProvider.create_file(keyfile, "dev")
    loaded = LocalKeyProvider.from_file(keyfile)
    assert loaded.key_id == created.key_id
    assert loaded.versions() == [1]
    assert loaded.path == keyfile
    version, wrapped = created.wrap(b"k" * 32, CONTEXT)
    assert loaded.unwrap(wrapped, version, CONTEXT) == b"k" * 32


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o601, 0o610])
def test_from_file_refuses_group_or_other_access(keyfile: Path, mode: int) -> None:
    """from_file() refuses a key file any group or other bit is set on, naming the file and the fix."""
    LocalKeyProvider.create_file(keyfile, "dev")
    keyfile.chmod(mode)
    with pytest.raises(KeyProviderError) as info:
        LocalKeyProvider.from_file(keyfile)
    message = str(info.value)
    assert str(keyfile) in message
    assert f"chmod 600 {keyfile}" in message
    assert f"{mode:04o}" in message
    assert_quiet(info.value)


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_from_file_accepts_owner_only_modes(keyfile: Path, mode: int) -> None:
    """from_file() accepts a key file only its owner can access."""
    LocalKeyProvider.create_file(keyfile, "dev")
    keyfile.chmod(mode)
    assert LocalKeyProvider.from_file(keyfile).versions() == [1]


def test_from_file_missing_file(keyfile: Path) -> None:
    """from_file() on a missing path raises a KeyProviderError naming the file and how to create one."""
    with pytest.raises(KeyProviderError, match="does not exist") as info:
        LocalKeyProvider.from_file(keyfile)
    message = str(info.value)
    assert str(keyfile) in message
    assert "strongroom init" in message
    assert MASTER_KEY_ENV in message
    assert_quiet(info.value)


def _garbage_files() -> list[tuple[str, str | bytes]]:
    good = b64(bytes(32))  # a public all-zero pattern, used only as well-formed filler
    return [
        ("not json", "this is not json"),
        ("empty", ""),
        ("binary", b"\xff\xfe\x00garbage\x80"),
        ("json list", "[]"),
        ("json null", "null"),
        ("json string", '"keys"'),
        ("wrong format", json.dumps({"strongroom_keyfile": 2, "key_id": "x", "primary": 1, "keys": {"1": good}})),
        ("no marker", json.dumps({"key_id": "x", "primary": 1, "keys": {"1": good}})),
        ("no keys", json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1})),
        ("no primary", json.dumps({"strongroom_keyfile": 1, "key_id": "x", "keys": {"1": good}})),
        ("no key id", json.dumps({"strongroom_keyfile": 1, "primary": 1, "keys": {"1": good}})),
        ("keys is a list", json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": [good]})),
        (
            "non-numeric version",
            json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": {"one": good}}),
        ),
        (
            "bad base64",
            json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": {"1": "!!not-base64!!"}}),
        ),
        (
            "short key",
            json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": {"1": b64(bytes(16))}}),
        ),
        ("key is a number", json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": {"1": 7}})),
        (
            "primary missing from keys",
            json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 2, "keys": {"1": good}}),
        ),
        ("version zero", json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 0, "keys": {"0": good}})),
    ]


def _garbage_params() -> list[object]:
    return [pytest.param(content, id=label) for label, content in _garbage_files()]


@pytest.mark.parametrize("content", _garbage_params())
def test_from_file_garbage_is_a_clear_key_provider_error(keyfile: Path, content: str | bytes) -> None:
    """from_file() on a malformed file raises KeyProviderError naming the file, with no chained traceback."""
    keyfile.parent.mkdir(parents=True)
    write_keyfile(keyfile, content)
    with pytest.raises(KeyProviderError) as info:
        LocalKeyProvider.from_file(keyfile)
    assert_quiet(info.value)
    assert "Traceback" not in str(info.value)
    assert str(keyfile) in str(info.value)


def test_from_file_error_does_not_echo_key_material(keyfile: Path) -> None:
    """A key of the wrong length is reported by size, never by content."""
    keyfile.parent.mkdir(parents=True)
    short = b64(os.urandom(24))
    write_keyfile(keyfile, json.dumps({"strongroom_keyfile": 1, "key_id": "x", "primary": 1, "keys": {"1": short}}))
    with pytest.raises(KeyProviderError, match="got 24") as info:
        LocalKeyProvider.from_file(keyfile)
    assert short not in str(info.value)


def test_from_file_on_a_directory(tmp_path: Path) -> None:
    """from_file() pointed at a directory raises KeyProviderError, not IsADirectoryError."""
    directory = tmp_path / "keys.json"
    directory.mkdir(mode=0o700)
    directory.chmod(0o700)
    with pytest.raises(KeyProviderError):
        LocalKeyProvider.from_file(directory)


# -- STRONGROOM_MASTER_KEY ----------------------------------------------------------------------


def test_from_env_single_key_is_version_one() -> None:
    """A single base64 key is version 1 and primary."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    assert provider.versions() == [1]
    assert provider.current_version() == 1
    assert provider.path is None


def test_from_env_versioned_keys_highest_is_primary() -> None:
    """``1:<b64>,2:<b64>`` loads both versions and wraps under the highest."""
    k1, k2 = new_key(), new_key()
    provider = LocalKeyProvider.from_env(f"1:{b64(k1)},2:{b64(k2)}")
    assert provider.versions() == [1, 2]
    assert provider.current_version() == 2
    version, wrapped = provider.wrap(b"d" * 32, CONTEXT)
    assert version == 2
    # Only version 2's key opens it: a provider holding k2 alone unwraps it.
    assert LocalKeyProvider.from_env(f"2:{b64(k2)}").unwrap(wrapped, 2, CONTEXT) == b"d" * 32
    with pytest.raises(TamperedError):
        LocalKeyProvider.from_env(f"2:{b64(k1)}").unwrap(wrapped, 2, CONTEXT)


def test_from_env_order_does_not_matter() -> None:
    """``2:<b64>,1:<b64>`` is the same keyring as ``1:<b64>,2:<b64>``."""
    k1, k2 = new_key(), new_key()
    forward = LocalKeyProvider.from_env(f"1:{b64(k1)},2:{b64(k2)}")
    backward = LocalKeyProvider.from_env(f"2:{b64(k2)},1:{b64(k1)}")
    assert forward.key_id == backward.key_id
    assert backward.current_version() == 2


def test_from_env_tolerates_whitespace_and_trailing_comma() -> None:
    """Spaces around entries and a trailing comma are ignored."""
    k1, k2 = new_key(), new_key()
    provider = LocalKeyProvider.from_env(f" 1:{b64(k1)} , 2: {b64(k2)}\n,")
    assert provider.versions() == [1, 2]


@pytest.mark.parametrize("value", ["not base64!!", "1:not base64!!", "1:@@@@", "1:AAA", "1:ÄÖÜ="])
def test_from_env_bad_base64(value: str) -> None:
    """A value that is not base64 raises KeyProviderError naming the variable, without echoing it."""
    with pytest.raises(KeyProviderError, match="not valid base64") as info:
        LocalKeyProvider.from_env(value)
    message = str(info.value)
    assert MASTER_KEY_ENV in message
    key_text = value.partition(":")[2] if ":" in value else value
    assert key_text not in message
    assert_quiet(info.value)


@pytest.mark.parametrize("length", [0, 1, 16, 31, 33, 64])
def test_from_env_wrong_key_length(length: int) -> None:
    """A key that is not 32 bytes raises KeyProviderError stating the length found."""
    key_text = b64(os.urandom(length))
    with pytest.raises(KeyProviderError, match=f"must be 32 bytes, got {length}") as info:
        LocalKeyProvider.from_env(f"1:{key_text}")
    if key_text:
        assert key_text not in str(info.value)


@pytest.mark.parametrize("value", ["", " ", ",", " , ,", "\n"])
def test_from_env_empty(value: str) -> None:
    """An empty or blank value raises KeyProviderError saying the variable is empty."""
    with pytest.raises(KeyProviderError, match=f"{MASTER_KEY_ENV} is empty"):
        LocalKeyProvider.from_env(value)


@pytest.mark.parametrize("version", ["x", "v1", "-1", "1.5", ""])
def test_from_env_non_numeric_version(version: str) -> None:
    """A version that is not a number raises KeyProviderError showing the expected form."""
    with pytest.raises(KeyProviderError, match="version must be a number"):
        LocalKeyProvider.from_env(f"{version}:{b64(new_key())}")


def test_from_env_version_zero_is_refused() -> None:
    """Version 0 is not a valid key version."""
    with pytest.raises(KeyProviderError, match="positive"):
        LocalKeyProvider.from_env(f"0:{b64(new_key())}")


def test_from_env_unicode_digit_version_is_a_key_provider_error() -> None:
    """A version written with a non-ASCII digit raises KeyProviderError, not a bare ValueError."""
    with pytest.raises(KeyProviderError):
        LocalKeyProvider.from_env(f"\u00b2:{b64(new_key())}")


# -- key id -----------------------------------------------------------------------------------


def test_key_id_is_the_same_from_file_and_env(keyfile: Path) -> None:
    """The same key gives the same key id whether loaded from the key file or the environment."""
    created = LocalKeyProvider.create_file(keyfile, "dev")
    key = file_keys(keyfile)[1]
    from_file = LocalKeyProvider.from_file(keyfile)
    assert LocalKeyProvider.from_env(b64(key)).key_id == created.key_id
    assert LocalKeyProvider.from_env(f"1:{b64(key)}").key_id == from_file.key_id
    assert created.key_id == "local:" + fingerprint(key)


def test_key_id_is_the_same_after_rotation_in_either_form(keyfile: Path) -> None:
    """After add_version(), the env form of all versions still has the key file's key id."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    provider.add_version()
    keys = file_keys(keyfile)
    env = ",".join(f"{v}:{b64(k)}" for v, k in sorted(keys.items()))
    assert LocalKeyProvider.from_env(env).key_id == provider.key_id
    assert LocalKeyProvider.from_file(keyfile).key_id == provider.key_id


def test_key_id_differs_for_different_keys() -> None:
    """Different keys give different key ids, and the id does not contain the key."""
    key = new_key()
    provider = LocalKeyProvider.from_env(b64(key))
    assert provider.key_id != LocalKeyProvider.from_env(b64(new_key())).key_id
    assert provider.key_id.startswith("local:")
    assert key.hex() not in provider.key_id
    assert b64(key) not in provider.key_id


def test_fingerprint_is_stable_and_short() -> None:
    """fingerprint() is a deterministic 16-hex-digit function of the key."""
    key = new_key()
    assert fingerprint(key) == fingerprint(key)
    assert len(fingerprint(key)) == 16
    int(fingerprint(key), 16)
    assert fingerprint(key) != fingerprint(new_key())


def test_repr_shows_no_key_material() -> None:
    """repr() of a provider shows the key id and versions, never a key."""
    key = new_key()
    provider = LocalKeyProvider.from_env(b64(key))
    text = repr(provider)
    assert provider.key_id in text
    assert b64(key) not in text
    assert key.hex() not in text


# -- wrap / unwrap ----------------------------------------------------------------------------


def test_provider_satisfies_key_provider_protocol() -> None:
    """LocalKeyProvider is a KeyProvider."""
    assert isinstance(LocalKeyProvider.from_env(b64(new_key())), KeyProvider)


def test_wrap_unwrap_round_trip(keyfile: Path) -> None:
    """unwrap() returns the data key wrap() wrapped, under the same context."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    dek = new_key()
    version, wrapped = provider.wrap(dek, CONTEXT)
    assert version == 1
    assert dek not in wrapped
    assert provider.unwrap(wrapped, version, CONTEXT) == dek


def test_wrap_is_randomised() -> None:
    """Wrapping the same key twice gives different wrapped bytes."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    dek = new_key()
    assert provider.wrap(dek, CONTEXT)[1] != provider.wrap(dek, CONTEXT)[1]


def test_wrap_from_file_unwraps_from_env(keyfile: Path) -> None:
    """A key wrapped by the file-loaded provider unwraps with the env-loaded provider of the same key."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    env_provider = LocalKeyProvider.from_env(b64(file_keys(keyfile)[1]))
    dek = new_key()
    version, wrapped = provider.wrap(dek, CONTEXT)
    assert env_provider.unwrap(wrapped, version, CONTEXT) == dek


@pytest.mark.parametrize(
    "other",
    [
        wrap_context("prod", "tenant-1", 1, "local:test"),
        wrap_context("dev", "tenant-2", 1, "local:test"),
        wrap_context("dev", "tenant-1", 2, "local:test"),
        wrap_context("dev", "tenant-1", 1, "local:other"),
        b"",
    ],
    ids=["environment", "tenant", "dek-version", "kek-id", "empty"],
)
def test_unwrap_with_another_context_is_tampered(other: bytes) -> None:
    """A wrapped key unwrapped under any other context raises TamperedError."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    version, wrapped = provider.wrap(new_key(), CONTEXT)
    with pytest.raises(TamperedError):
        provider.unwrap(wrapped, version, other)


def test_unwrap_with_another_key_is_tampered() -> None:
    """A wrapped key unwrapped by a provider with another key raises TamperedError."""
    version, wrapped = LocalKeyProvider.from_env(b64(new_key())).wrap(new_key(), CONTEXT)
    with pytest.raises(TamperedError):
        LocalKeyProvider.from_env(b64(new_key())).unwrap(wrapped, version, CONTEXT)


def test_unwrap_edited_wrapped_key_is_tampered() -> None:
    """Flipping any byte of a wrapped key makes unwrap() raise TamperedError."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    version, wrapped = provider.wrap(new_key(), CONTEXT)
    for i in range(len(wrapped)):
        edited = wrapped[:i] + bytes([wrapped[i] ^ 0x01]) + wrapped[i + 1 :]
        with pytest.raises(TamperedError):
            provider.unwrap(edited, version, CONTEXT)


def test_wrap_context_binds_every_field() -> None:
    """wrap_context() differs when any field differs, including shifts between fields."""
    base = wrap_context("dev", "ab", 1, "k")
    assert base != wrap_context("dev", "a", 1, "bk")
    assert base != wrap_context("dev", "ab", 2, "k")
    assert base != wrap_context("prod", "ab", 1, "k")
    assert base.startswith(b"strongroom-dek/1\x00")


@pytest.mark.parametrize("length", [0, 1, 7])
def test_unwrap_truncated_wrapped_key_is_tampered(length: int) -> None:
    """A wrapped key truncated to a few bytes raises TamperedError like any other corruption."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    version, wrapped = provider.wrap(new_key(), CONTEXT)
    with pytest.raises(TamperedError):
        provider.unwrap(wrapped[:length], version, CONTEXT)


@pytest.mark.parametrize("length", [8, 12, 20, 27])
def test_unwrap_shortened_wrapped_key_is_tampered(length: int) -> None:
    """A wrapped key cut short (but longer than 7 bytes) raises TamperedError."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    version, wrapped = provider.wrap(new_key(), CONTEXT)
    with pytest.raises(TamperedError):
        provider.unwrap(wrapped[:length], version, CONTEXT)


def test_unwrap_unknown_version(keyfile: Path) -> None:
    """unwrap() under a KEK version the keyring lacks raises KeyProviderError naming the version."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    _, wrapped = provider.wrap(new_key(), CONTEXT)
    with pytest.raises(KeyProviderError, match=r"no version 7 \(have \[1\]\)") as info:
        provider.unwrap(wrapped, 7, CONTEXT)
    assert provider.key_id in str(info.value)


# -- rotation ---------------------------------------------------------------------------------


def test_add_version_makes_a_new_primary(keyfile: Path) -> None:
    """add_version() adds version 2 as primary; keys wrapped under version 1 still unwrap."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    old_dek = new_key()
    old_version, old_wrapped = provider.wrap(old_dek, CONTEXT)

    assert provider.add_version() == 2
    assert provider.current_version() == 2
    assert provider.versions() == [1, 2]
    assert provider.unwrap(old_wrapped, old_version, CONTEXT) == old_dek

    new_dek = new_key()
    new_version, new_wrapped = provider.wrap(new_dek, CONTEXT)
    assert new_version == 2
    assert provider.unwrap(new_wrapped, 2, CONTEXT) == new_dek
    with pytest.raises(TamperedError):
        provider.unwrap(new_wrapped, 1, CONTEXT)


def test_add_version_persists_and_keeps_0600(keyfile: Path) -> None:
    """After add_version() the key file is still 0600 and reloads with both versions, primary 2."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    old_key = file_keys(keyfile)[1]
    _, old_wrapped = provider.wrap(b"o" * 32, CONTEXT)
    provider.add_version()
    provider.add_version()

    assert mode_of(keyfile) == 0o600
    assert file_keys(keyfile)[1] == old_key
    assert len(set(file_keys(keyfile).values())) == 3
    assert not keyfile.with_suffix(".tmp").exists()
    reloaded = LocalKeyProvider.from_file(keyfile)
    assert reloaded.versions() == [1, 2, 3]
    assert reloaded.current_version() == 3
    assert reloaded.unwrap(old_wrapped, 1, CONTEXT) == b"o" * 32
    version, wrapped = provider.wrap(b"n" * 32, CONTEXT)
    assert reloaded.unwrap(wrapped, version, CONTEXT) == b"n" * 32


def test_add_version_refused_for_env_keys() -> None:
    """Keys from the environment cannot be rotated in place."""
    provider = LocalKeyProvider.from_env(b64(new_key()))
    with pytest.raises(KeyProviderError, match="cannot be rotated in place"):
        provider.add_version()
    assert provider.versions() == [1]


def test_add_version_keeps_0600_even_with_a_stale_tmp_file(keyfile: Path) -> None:
    """A leftover world-readable temp file does not make the rotated key file world-readable."""
    provider = LocalKeyProvider.create_file(keyfile, "dev")
    stale = keyfile.with_suffix(".tmp")
    stale.write_text("left over from a crash")
    stale.chmod(0o644)
    provider.add_version()
    assert mode_of(keyfile) == 0o600


# -- constructor and default_provider ---------------------------------------------------------


@pytest.mark.parametrize(
    ("keys", "primary", "match"),
    [
        ({}, None, "at least one key"),
        ({1: bytes(16)}, None, "32 bytes"),
        ({0: bytes(32)}, None, "positive"),
        ({-1: bytes(32)}, None, "positive"),
        ({1: bytes(32)}, 2, "primary key version 2"),
    ],
    ids=["empty", "short", "zero", "negative", "primary"],
)
def test_constructor_validates(keys: dict[int, bytes], primary: int | None, match: str) -> None:
    """The constructor refuses empty keyrings, wrong-size keys, non-positive versions, unknown primary."""
    with pytest.raises(KeyProviderError, match=match):
        LocalKeyProvider(keys, primary=primary)


def test_key_provider_error_is_a_strongroom_error() -> None:
    """KeyProviderError is part of the StrongroomError hierarchy."""
    with pytest.raises(StrongroomError):
        LocalKeyProvider.from_env("")


def test_default_provider_prefers_env(keyfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """default_provider() uses STRONGROOM_MASTER_KEY when it is set, even if a key file exists."""
    file_provider = LocalKeyProvider.create_file(keyfile, "dev")
    env_key = new_key()
    monkeypatch.setenv(MASTER_KEY_ENV, b64(env_key))
    provider = default_provider(keyfile)
    assert provider.key_id == "local:" + fingerprint(env_key)
    assert provider.key_id != file_provider.key_id
    assert provider.path is None


def test_default_provider_env_without_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """default_provider() with the env var set does not need the key file to exist."""
    monkeypatch.setenv(MASTER_KEY_ENV, f"1:{b64(new_key())},2:{b64(new_key())}")
    provider = default_provider(tmp_path / "missing.json")
    assert provider.current_version() == 2


def test_default_provider_falls_back_to_file(keyfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """default_provider() without the env var loads the key file."""
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    created = LocalKeyProvider.create_file(keyfile, "dev")
    provider = default_provider(keyfile)
    assert provider.key_id == created.key_id
    assert provider.path == keyfile


def test_default_provider_missing_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """default_provider() with neither env var nor key file raises the missing-file KeyProviderError."""
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    with pytest.raises(KeyProviderError, match="does not exist"):
        default_provider(tmp_path / "missing.json")


def test_default_provider_bad_env_is_not_masked_by_file(keyfile: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed env var is an error even when a good key file exists."""
    LocalKeyProvider.create_file(keyfile, "dev")
    monkeypatch.setenv(MASTER_KEY_ENV, "1:not-base64!!")
    with pytest.raises(KeyProviderError, match=MASTER_KEY_ENV):
        default_provider(keyfile)
