"""The API key format: shape, checksum, and the regex a scanner rule uses. No database involved."""

from __future__ import annotations

import re
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strongroom.rules.api_key_format import (
    API_KEY_LENGTH,
    API_KEY_PATTERN,
    BASE62,
    api_key_checksum_ok,
    checksum,
    new_api_key,
    parse_key_id,
    public_id,
)

KEY_RE = re.compile(API_KEY_PATTERN)


def test_a_new_key_has_the_documented_shape() -> None:
    """srk_ + 8-char id + _ + 32 random + 6-char checksum, all base62, 51 characters, and its checksum holds."""
    key, key_id = new_api_key()
    assert len(key) == API_KEY_LENGTH == 51
    assert key.startswith(f"srk_{key_id}_")
    assert re.fullmatch(r"srk_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}", key)
    assert api_key_checksum_ok(key)
    assert public_id(key) == key_id


def test_the_checksum_is_base62_crc32_of_everything_before_it() -> None:
    """Computed independently: CRC32 (zlib) of prefix+id+_+random, base62 0-9A-Za-z, left-padded to 6."""
    key, _ = new_api_key()
    body, check = key[:-6], key[-6:]
    value = sum(BASE62.index(ch) * 62 ** (5 - i) for i, ch in enumerate(check))
    assert value == zlib.crc32(body.encode())
    assert checksum("srk_00000000_" + "0" * 32) == checksum("srk_00000000_" + "0" * 32)
    assert len(checksum("")) == 6
    assert checksum("") == "000000"


def test_keys_are_random() -> None:
    keys = {new_api_key()[0] for _ in range(200)}
    assert len(keys) == 200
    assert len({k[4:12] for k in keys}) == 200


@given(st.data())
def test_any_single_character_change_breaks_the_checksum(data: st.DataObject) -> None:
    """Substituting any one character (by any other printable ASCII character) is caught: CRC32 catches every
    single-byte error in its input, and the checksum text is compared exactly."""
    key, _ = new_api_key()
    position = data.draw(st.integers(0, len(key) - 1))
    replacement = data.draw(st.characters(min_codepoint=33, max_codepoint=126).filter(lambda c: c != key[position]))
    mutated = key[:position] + replacement + key[position + 1 :]
    assert not api_key_checksum_ok(mutated)


BASE62_TEXT = st.text(alphabet=BASE62, min_size=38, max_size=38)


@given(st.text(alphabet=BASE62, min_size=8, max_size=8), BASE62_TEXT)
def test_a_key_shaped_string_passes_exactly_when_its_checksum_is_right(key_id: str, tail: str) -> None:
    candidate = f"srk_{key_id}_{tail}"
    assert api_key_checksum_ok(candidate) == (checksum(candidate[:-6]) == candidate[-6:])
    fixed = candidate[:-6] + checksum(candidate[:-6])
    assert api_key_checksum_ok(fixed)


def test_look_alikes_are_refused() -> None:
    """A key-shaped string with a made-up checksum, a truncated key, another prefix, non-strings: all False."""
    key, _ = new_api_key()
    assert not api_key_checksum_ok(key[:-6] + ("000000" if key[-6:] != "000000" else "000001"))
    assert not api_key_checksum_ok(key[:-1])
    assert not api_key_checksum_ok(key + "0")
    assert not api_key_checksum_ok("sRk_" + key[4:])
    assert not api_key_checksum_ok(None)  # type: ignore[arg-type]
    assert public_id(key[:-1]) is None


def test_the_pattern_finds_keys_in_text_and_only_whole_ones() -> None:
    """API_KEY_PATTERN matches a key in config, JSON and URLs, but not one glued into a longer token."""
    key, _ = new_api_key()
    for text in (
        f"STRONGROOM_KEY={key}\n",
        f'{{"key": "{key}"}}',
        f"Authorization: Bearer {key}",
        f"https://x.test/?k={key}&y=1",
    ):
        assert [m.group(0) for m in KEY_RE.finditer(text)] == [key]
    for glued in (f"x{key}", f"{key}x", f"_{key}", f"{key}-1"):
        assert KEY_RE.search(glued) is None


@pytest.mark.parametrize(
    ("given_id", "expected"),
    [("srk_abcdEFG1", "abcdEFG1"), ("abcdEFG1", "abcdEFG1"), ("abc", None), ("srk_abcdEFG1_x", None), ("", None)],
)
def test_key_ids_are_parsed_with_or_without_prefix(given_id: str, expected: str | None) -> None:
    assert parse_key_id(given_id) == expected


def test_the_format_module_is_cheap_to_import() -> None:
    """A scanner rule can use the checksum without loading SQLAlchemy, PyJWT or cryptography."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\nfrom strongroom.rules.api_key_format import api_key_checksum_ok, API_KEY_PATTERN\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    )
    assert not loaded & {"sqlalchemy", "jwt", "cryptography", "alembic"}
