"""Redaction for one tenant, of JSON documents, with short values as whole tokens only."""

from __future__ import annotations

import json
import secrets

from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.live_values import LiveValues
from strongroom.redact import Redactor


class _Owner:
    """Something a value is noted for (a ``Secret`` or a vault, in the process)."""


def _redactor(live: LiveValues, **options: int) -> Redactor:
    return Redactor(live=live, rules=(), **options)  # type: ignore[arg-type]


def test_a_value_is_masked_for_its_tenant_and_the_platform_only() -> None:
    live, holder = LiveValues(), _Owner()
    a_value, b_value, platform = (secrets.token_urlsafe(16) for _ in range(3))
    live.note(a_value, "a_key", holder, "a")
    live.note(b_value, "b_key", holder, "b")
    live.note(platform, "signing", holder, "_platform")  # an internal tenant's value is the platform's
    redactor = _redactor(live)
    text = f"{a_value} {b_value} {platform}"
    assert redactor.redact(text, tenant="a") == f"[REDACTED:a_key] {b_value} [REDACTED:signing]"
    assert redactor.redact(text, tenant=None) == f"{a_value} {b_value} [REDACTED:signing]"
    assert redactor.redact(text) == "[REDACTED:a_key] [REDACTED:b_key] [REDACTED:signing]"


def test_one_value_held_by_two_tenants_is_named_by_each_for_itself() -> None:
    live, holder = LiveValues(), _Owner()
    value = secrets.token_urlsafe(16)
    live.note(value, "theirs", holder, "b")
    live.note(value, "mine", holder, "a")
    assert _redactor(live).redact(value, tenant="a") == "[REDACTED:mine]"


def test_short_values_mask_whole_tokens_only() -> None:
    live, holder = LiveValues(), _Owner()
    live.note('","', "short", holder, "a")
    redactor = _redactor(live, short_below=8)
    document = json.dumps({"list": ["x", "y"], "exact": '","'}, separators=(",", ":"))
    out = redactor.redact_document(document, tenant="a")
    assert json.loads(out) == {"list": ["x", "y"], "exact": "[REDACTED:short]"}
    assert redactor.redact('a "," b and x","y', tenant="a") == 'a [REDACTED:short] b and x","y'


@settings(max_examples=200, deadline=None)
@given(
    document=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=12),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
        max_leaves=12,
    ),
    value=st.text(min_size=3, max_size=10).filter(lambda v: v == v.strip()),
    compact=st.booleans(),
)
def test_masking_never_breaks_a_json_document(document: object, value: str, compact: bool) -> None:
    """Whatever the value (quotes, brackets, backslashes) and the document, the result is still JSON."""
    live, holder = LiveValues(), _Owner()
    live.note(value, "v", holder, "a")
    text = json.dumps(document, separators=(",", ":") if compact else None, ensure_ascii=False)
    for short_below in (0, 8):
        out = _redactor(live, short_below=short_below).redact_document(text, tenant="a")
        json.loads(out)


def test_a_value_a_second_tenant_loads_after_the_build_is_masked_for_it_at_once() -> None:
    """The same value, noted for another tenant once the automaton is built, is masked for that tenant
    on the next line (a new owner is a new entry, not a value already known)."""
    live, holder = LiveValues(), _Owner()
    value = secrets.token_urlsafe(16)
    live.note(value, "theirs", holder, "b")
    redactor = _redactor(live)
    assert redactor.redact(value, tenant="a") == value
    live.note(value, "mine", holder, "a")
    assert redactor.redact(value, tenant="a") == "[REDACTED:mine]"
