"""Known values: exact copies of stored secrets found by keyed HMAC, where and only where they are delimited."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import random
import string
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from strongroom.scan import Finding, Scanner
from strongroom.scan.engine import fingerprint
from strongroom.scan.known import RULE_ID, KnownValues
from strongroom.testing import assert_not_leaked

VAULT_KEY = hashlib.sha256(b"test fingerprint key").digest()
REPORT_KEY = hashlib.sha256(b"test report key").digest()
ALNUM = string.ascii_letters + string.digits


@dataclass(frozen=True)
class Entry:
    """One stored version as Vault.known_fingerprints describes it."""

    tenant: str
    name: str
    version: int
    fingerprint: str | None
    length: int
    key_ref: int = 0


def entry(value: str | bytes, tenant: str = "acme", name: str = "api_key", version: int = 1) -> Entry:
    raw = value.encode() if isinstance(value, str) else value
    return Entry(tenant, name, version, hmac.new(VAULT_KEY, raw, hashlib.sha256).hexdigest(), len(raw))


def value_of(seed: int, length: int = 32, alphabet: str = ALNUM) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data
    return "".join(rng.choice(alphabet) for _ in range(length))


def known(*entries: Entry, report_key: bytes = REPORT_KEY) -> KnownValues:
    return KnownValues([VAULT_KEY], entries, fingerprint_key=report_key)


def found(values: KnownValues, text: str | bytes) -> list[Finding]:
    data = text.encode() if isinstance(text, str) else text
    return values.scan_bytes(data, "leak.txt")


V = value_of(1)


@pytest.mark.parametrize(
    "template",
    [
        "password={v}",
        "export API_KEY={v}",
        '{{"token": "{v}"}}',
        "token: '{v}'",
        "postgresql://app:{v}@db.internal:5432/app",
        "https://api.example.com/v1/items?a=1&token={v}&b=2",
        "https://api.example.com/v1/items?token={v}#frag",
        "curl -u admin:{v} https://example.com",
        "Authorization: Bearer {v}",
        "key = `{v}`",
        "value <{v}>",
        "args=({v})",
        "list=[{v}, other]",
        "a,{v},b",
        "k={v};next",
        "{v}",
        "{v} trailing words",
        "leading words {v}",
        "user@{v}",
        "path/to/{v}/file",
    ],
    ids=lambda t: t.replace("{v}", "V"),
)
def test_value_found_where_separators_delimit_it(template: str) -> None:
    """The stored value is found in assignments, JSON, URL userinfo and queries, headers, at start and end."""
    [finding] = found(known(entry(V)), template.format(v=V))
    assert (finding.rule_id, finding.line, finding.length, finding.severity) == (RULE_ID, 1, len(V), "critical")
    assert finding.column == template.format(v=V).index(V) + 1


def test_value_in_real_json_and_query_string() -> None:
    """json.dumps and urlencode output hold a findable copy."""
    values = known(entry(V))
    assert len(found(values, json.dumps({"service": "billing", "credentials": {"token": V}}, indent=2))) == 1
    assert len(found(values, "GET /cb?" + urlencode({"state": "ok", "token": V, "n": "2"}) + " HTTP/1.1")) == 1


def test_line_and_column_are_those_of_the_value() -> None:
    """On line N the finding reports line N and the 1-based column in characters (multi-byte text before it)."""
    text = "first\nsecond line\n\n  naïve café → config: token=" + V + " end\nlast\n"
    [finding] = found(known(entry(V)), text)
    line = text.splitlines()[3]
    assert (finding.line, finding.column) == (4, line.index(V) + 1)


@pytest.mark.parametrize(
    "text",
    [
        "{v_prefix}",
        "{v_suffix}",
        "password={v_prefix} and {v_suffix}",
        "x{v}",
        "{v}9",
        "ab{v}cd",
        "{v}{v}",
        "token={v}_old",
        "token=old-{v}",
    ],
    ids=[
        "prefix",
        "suffix",
        "both-halves",
        "letter-before",
        "digit-after",
        "inside-run",
        "doubled",
        "underscore-after",
        "dash-before",
    ],
)
def test_value_not_found_when_cut_short_or_inside_a_longer_run(text: str) -> None:
    """Only a prefix or suffix of the value, or the value inside a longer run of characters, is no finding."""
    data = text.format(v=V, v_prefix=V[:-1], v_suffix=V[1:])
    assert found(known(entry(V)), data) == []


def test_several_copies_on_several_lines_are_all_found() -> None:
    """Every copy is reported, each with its own line."""
    text = f"a={V}\nnothing\n\"{V}\" and '{V}'\n"
    assert [(f.line, f.column) for f in found(known(entry(V)), text)] == [(1, 3), (3, 2), (3, 2 + len(V) + 7)]


def test_two_tenants_storing_the_same_value_give_one_finding_naming_both() -> None:
    """The same value in two tenants is one finding whose description names both."""
    values = known(entry(V, "acme", "stripe_key", 2), entry(V, "globex", "payments", 5))
    [finding] = found(values, f"leaked {V}\n")
    assert "acme/stripe_key v2" in finding.description
    assert "globex/payments v5" in finding.description
    assert len(values) == 1


def test_values_of_every_length_in_one_mixed_set() -> None:
    """Values of lengths 1..80 stored together are each found exactly once, with their own length."""
    values = {length: value_of(1000 + length, length) for length in range(1, 81)}
    matcher = known(*(entry(v, name=f"s{length}") for length, v in values.items()))
    text = "\n".join(f"s{length}={v}" for length, v in values.items())
    findings = found(matcher, text)
    assert [(f.line, f.length) for f in findings] == [(n, n) for n in range(1, 81)]
    assert [f.description for f in findings] == [f"stored secret acme/s{n} v1" for n in range(1, 81)]


def test_base64_values_with_separators_inside() -> None:
    """A value holding = / + (base64) is found delimited by whitespace or quotes and after ``k=``."""
    value = base64.b64encode(bytes(random.Random(2).randrange(256) for _ in range(31))).decode()  # noqa: S311
    assert "=" in value
    values = known(entry(value))
    for text in (f" {value} ", f'"{value}"', f"'{value}'", f"secret={value}", f'{{"k": "{value}"}}', f"x={value}&y=1"):
        assert len(found(values, text)) == 1, text


def test_values_with_slashes_colons_and_at_signs_inside() -> None:
    """A value made of the separators' own characters is still found when whitespace or quotes delimit it."""
    value = "p@ss:" + value_of(3, 12) + "/" + value_of(4, 8) + "?#&,="
    values = known(entry(value))
    for text in (f"{value}", f"pw {value} end", f'"{value}"', f"password={value}"):
        assert len(found(values, text)) == 1, text


def test_values_with_whitespace_or_quotes_are_not_found_as_documented() -> None:
    """As the module documents, a value containing whitespace or a quote is not found."""
    for value in (value_of(5, 10) + " " + value_of(6, 10), value_of(7, 10) + '"' + value_of(8, 10)):
        assert found(known(entry(value)), f"x {value} y\n") == []


def test_value_late_in_a_long_url_is_found() -> None:
    """A stored value at the end of a long URL with many path segments and parameters is still found."""
    path = "/".join(f"seg{i}" for i in range(8))
    query = "&".join(f"p{i}={i}" for i in range(10))
    [finding] = found(known(entry(V)), f"GET https://api.example.com/{path}?{query}&token={V} HTTP/1.1\n")
    assert finding.length == len(V)


def test_no_output_holds_the_value() -> None:
    """Neither the finding's repr, str, to_dict nor masked form contains the value."""
    [finding] = found(known(entry(V)), f"password={V}\n")
    assert_not_leaked([V], finding, finding.to_dict(), finding.masked, json.dumps(finding.to_dict()))


def test_fingerprint_is_stable_under_the_same_report_key() -> None:
    """The finding's fingerprint is HMAC(report key, rule id, value): the same across matchers, not across keys."""
    first = found(known(entry(V)), f"a={V}")[0]
    second = found(known(entry(V, "other", "x", 9)), f"\n\nzzz {V}")[0]
    other_key = found(known(entry(V), report_key=hashlib.sha256(b"another").digest()), f"a={V}")[0]
    assert first.fingerprint == second.fingerprint == fingerprint(REPORT_KEY, RULE_ID, V)
    assert other_key.fingerprint != first.fingerprint
    assert V not in first.fingerprint


def test_empty_entry_set_finds_nothing() -> None:
    """No stored values (or only unfingerprinted ones, or empty ones) finds nothing, even in odd input."""
    text = f"password={V}\n" + "\0\xff" * 10
    assert found(known(), text) == []
    assert found(known(Entry("acme", "old", 1, None, len(V))), text) == []
    assert len(known()) == 0
    assert found(known(entry(V)), b"") == []


def test_non_utf8_bytes_around_a_value_do_not_crash() -> None:
    """Invalid UTF-8 before and after a value: it is found with a sensible column, and nothing raises."""
    data = (
        b"\xff\xfe\x80 junk \xc3("
        + b" token="
        + V.encode()
        + b" \x80\x81\xfe\n"
        + b"\xff "
        + V.encode()
        + b"\n\xff"
        + V.encode()
    )
    findings = known(entry(V)).scan_bytes(data, "bin.log")
    # each undecodable byte is one character; a value glued to an undecodable byte is inside a longer run
    assert [(f.line, f.column) for f in findings] == [(1, 19), (2, 3)]


def test_a_stored_value_that_is_not_utf8_is_found_without_crashing() -> None:
    """A bytes secret that is not valid UTF-8 is matched byte for byte; the finding is well formed."""
    raw = b"\xde\xad" + value_of(9, 20).encode() + b"\xbe\xef"
    [finding] = known(entry(raw)).scan_bytes(b"blob=" + raw + b"\n", "x")
    assert (finding.line, finding.column, finding.length) == (1, 6, len(raw.decode("utf-8", "replace")))
    assert finding.fingerprint == fingerprint(REPORT_KEY, RULE_ID, raw.decode("utf-8", "surrogateescape"))


def test_scanner_reports_known_values_beside_the_rules_and_can_skip_them() -> None:
    """Given to a Scanner, known values come out of scan_bytes; skip_rules={'known-secret'} turns them off."""
    from strongroom.rules import RULES

    scanner = Scanner(RULES, fingerprint_key=REPORT_KEY, prefilter="regex", known=known(entry(V)))
    data = f"nothing here\nsee {V}\n".encode()
    assert [(f.rule_id, f.line) for f in scanner.scan_bytes(data)] == [(RULE_ID, 2)]
    assert scanner.scan_bytes(data, skip_rules=frozenset({RULE_ID})) == []


def test_each_entry_is_matched_under_its_own_tenant_key_only() -> None:
    """Two tenants' keys: a value is found under the key its entry names, never under another tenant's."""
    other_key = hashlib.sha256(b"another tenant's fingerprint key").digest()
    mine, theirs = value_of(41), value_of(42)
    under_other = Entry("globex", "token", 3, hmac.new(other_key, theirs.encode(), hashlib.sha256).hexdigest(), 32, 1)
    values = KnownValues([VAULT_KEY, other_key], [entry(mine), under_other], fingerprint_key=REPORT_KEY)
    assert len(values) == 2
    assert [f.description for f in found(values, f"a={mine} b={theirs}\n")] == [
        "stored secret acme/api_key v1",
        "stored secret globex/token v3",
    ]
    # the same digest filed under the wrong key (index 0 instead of 1) matches nothing
    misfiled = KnownValues(
        [VAULT_KEY, other_key], [dataclasses.replace(under_other, key_ref=0)], fingerprint_key=REPORT_KEY
    )
    assert found(misfiled, f"b={theirs}\n") == []
    # an entry naming a key that was not handed over is ignored, not an IndexError
    assert len(KnownValues([VAULT_KEY], [under_other], fingerprint_key=REPORT_KEY)) == 0
