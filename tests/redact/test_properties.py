"""ACCEPTANCE, as properties: a registered value never survives redaction, in any encoding a log carries it,
and text holding no secret comes back unchanged."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from strongroom.live_values import LiveValues
from strongroom.redact import Redactor, encodings
from strongroom.redact.fields import FIELD_RULES
from strongroom.rules import RULES

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Secret values: a broad alphabet (letters of every script, digits, punctuation, symbols, spaces, controls),
# never a surrogate (not encodable) and never `[`/`]` (the mask's own brackets).
VALUE_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="[]")
VALUES = st.text(VALUE_CHARS, min_size=6, max_size=64)
# Text around a value: no `=`, `:` or `/`, so no secret-field, auth-header or URL rule can fire on it.
AROUND_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="=:/[]")
AROUND = st.text(AROUND_CHARS, max_size=40)


def _b64(value: str, *, urlsafe: bool, padded: bool) -> str:
    raw = value.encode("utf-8")
    encoded = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return encoded if padded else encoded.rstrip("=")


ENCODERS: dict[str, Callable[[str], str]] = {
    "raw": lambda v: v,
    "json": lambda v: json.dumps(v)[1:-1],
    "json-unicode": lambda v: json.dumps(v, ensure_ascii=False)[1:-1],
    "url": lambda v: quote(v, safe=""),
    "url-plus": quote_plus,
    "base64": lambda v: _b64(v, urlsafe=False, padded=True),
    "base64-unpadded": lambda v: _b64(v, urlsafe=False, padded=False),
    "base64url": lambda v: _b64(v, urlsafe=True, padded=True),
    "base64url-unpadded": lambda v: _b64(v, urlsafe=True, padded=False),
    "hex": lambda v: v.encode("utf-8").hex(),
}
ALL_RULES = (*FIELD_RULES, *RULES)


def _redactor(*values: str | bytes) -> Redactor:
    redactor = Redactor(follow_live=False, live=LiveValues())
    for index, value in enumerate(values):
        assert redactor.register(value, f"v{index}")
    return redactor


def _shaped(text: str) -> bool:
    """True if any field or provider rule could fire on ``text`` (the redactor masks those shapes too)."""
    return any(rule.regex.search(text) for rule in ALL_RULES)


@SETTINGS
@given(value=VALUES, prefix=AROUND, suffix=AROUND, encoding=st.sampled_from(sorted(ENCODERS)), warm=st.booleans())
@pytest.mark.slow
def test_value_never_survives_in_any_encoding(value: str, prefix: str, suffix: str, encoding: str, warm: bool) -> None:
    """redact(prefix + encoded value + suffix) contains neither the value nor that encoded form, whether the
    value sits in the automaton or in the pending list."""
    assume(value not in prefix and value not in suffix)
    encoded = ENCODERS[encoding](value)
    redactor = Redactor(follow_live=False, live=LiveValues())
    if warm:  # build the automaton first, so the value is searched for on the pending path
        redactor.redact("warm-up")
    redactor.register(value, "v0")
    out = redactor.redact(prefix + encoded + suffix)
    assert value not in out
    assert encoded not in out
    assert "[REDACTED:" in out


@SETTINGS
@given(
    values=st.lists(VALUES, min_size=1, max_size=4),
    text=st.text(st.characters(blacklist_categories=("Cs",)), max_size=200),
)
def test_text_without_secrets_is_returned_unchanged(values: list[str], text: str) -> None:
    """Text holding no registered value (in no encoding) and no secret shape comes back byte for byte."""
    assume(not any(form in text for value in values for form in encodings(value)))
    assume(not _shaped(text))
    redactor = _redactor(*values)
    assert redactor.redact(text) == text
    assert redactor.redact_bytes(text.encode("utf-8")) == text.encode("utf-8")


FIELD_NAMES = st.sampled_from(["password", "api_key", "session_id", "token", "Authorization", "client_secret"])
# Fields as logs write them: `name=value`, `name: value`, `"name": "value"` (the quotes closed).
LAYOUTS = st.sampled_from(["{}={}", "{}: {}", '"{}": "{}"', "{}='{}'"])
# Values that keep such a field well formed: no quotes, no backslash (an escape), no line break (which ends a
# header's value in the text, but no longer once the value is masked), at least one visible character.
FIELD_VALUES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="[]\"'\\\r\n"), min_size=6,
                       max_size=64).filter(lambda v: not v.isspace())  # fmt: skip


@SETTINGS
@given(
    values=st.lists(FIELD_VALUES, min_size=1, max_size=3),
    fields=st.lists(st.tuples(FIELD_NAMES, LAYOUTS, AROUND), max_size=4),
    data=st.data(),
)
@pytest.mark.slow
def test_redacted_text_is_a_fixed_point(
    values: list[str], fields: list[tuple[str, str, str]], data: st.DataObject
) -> None:
    """Redacting what was already redacted changes nothing: a mask is never masked again (its label stays), so
    output redacted twice (a record's handler, then the wrapped stdout; a child, then `run --redact`) reads the
    same as once."""
    redactor = _redactor(*values)
    text = " ".join(layout.format(name, data.draw(st.sampled_from(values))) + " " + tail
                    for name, layout, tail in fields)  # fmt: skip
    once = redactor.redact(text + " " + data.draw(st.sampled_from(values)))
    assert redactor.redact(once) == once


@SETTINGS
@given(base=st.text(AROUND_CHARS, min_size=12, max_size=48), data=st.data(), around=AROUND)
@pytest.mark.slow
def test_values_that_are_substrings_of_each_other_are_all_masked(base: str, data: st.DataObject, around: str) -> None:
    """A value, pieces of it and the text around each: every registered value is masked wherever it stands."""
    pieces = [base]
    for _ in range(3):
        start = data.draw(st.integers(0, len(base) - 6))
        end = data.draw(st.integers(start + 6, len(base)))
        pieces.append(base[start:end])
    assume(not any(piece in around for piece in pieces))
    redactor = _redactor(*pieces)
    text = around.join([*pieces, base[::-1], *reversed(pieces)])
    out = redactor.redact(text)
    for piece in pieces:
        assert piece not in out


@SETTINGS
@given(
    period=st.text(AROUND_CHARS, min_size=2, max_size=5),
    repeats=st.integers(3, 12),
    extra=st.integers(0, 4),
    warm=st.booleans(),
)
def test_overlapping_occurrences_are_masked(period: str, repeats: int, extra: int, warm: bool) -> None:
    """A periodic value in a longer run of its period (occurrences overlapping each other) is fully masked."""
    value = (period * 4)[: max(6, len(period) + 1 + extra)]
    redactor = Redactor(follow_live=False, live=LiveValues())
    if warm:
        redactor.redact("warm-up")
    redactor.register(value, "v0")
    text = "<" + period * (repeats + 4) + ">"
    assume(value in text)
    out = redactor.redact(text)
    assert value not in out
    assert "[REDACTED:v0]" in out


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


BYTE_VALUES = st.one_of(VALUES, st.binary(min_size=6, max_size=40).filter(_utf8))


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


@SETTINGS
@given(values=st.lists(BYTE_VALUES, min_size=1, max_size=3), data=st.binary(max_size=300))
@pytest.mark.slow
def test_redact_bytes_round_trips_when_nothing_matches(values: list[str | bytes], data: bytes) -> None:
    """Random bytes (NULs, invalid UTF-8) holding no value and no secret shape come back byte-exactly."""
    text = data.decode("utf-8", "surrogateescape")
    assume(not any(form in text for value in values for form in encodings(value)))
    assume(not _shaped(text))
    assert _redactor(*values).redact_bytes(data) == data


@SETTINGS
@given(
    values=st.lists(BYTE_VALUES, min_size=1, max_size=3),
    before=st.binary(max_size=80),
    after=st.binary(max_size=80),
    data=st.data(),
)
@pytest.mark.slow
def test_redact_bytes_never_returns_a_registered_value(
    values: list[str | bytes], before: bytes, after: bytes, data: st.DataObject
) -> None:
    """Random bytes around a registered (UTF-8) value: the output never holds any registered value."""
    chosen = _as_bytes(data.draw(st.sampled_from(values)))
    assume(not any(_as_bytes(v) in before or _as_bytes(v) in after for v in values))
    out = _redactor(*values).redact_bytes(before + chosen + after)
    assert chosen not in out
    assert b"[REDACTED:" in out
