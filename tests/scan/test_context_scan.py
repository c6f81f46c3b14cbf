"""The engine and the context model together: a value on the line after its name, and in escaped JSON.

A rule built with ``context.keyed()`` may match across one line break; the scanner runs it on a window of
lines around each candidate line. These tests pin what a user sees: the finding is on the value's own line
and column, once, suppressed by an allow comment on that line, and counted right inside a JSON string.
Each runs under every prefilter installed, since they pick candidate lines differently (Hyperscan at a
match's end, the keyword prefilters at the keyword).
"""

from __future__ import annotations

import json
import random
import string

import pytest

from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.rules.context import keyed
from strongroom.rules.prefilter import PREFILTERS, make_prefilter
from strongroom.scan.engine import Scanner
from strongroom.testing.samples import generic_secret, sample

ACME = Rule(
    id="acme-token",
    description="an ACME token under an acme_token name",
    pattern=keyed(r"(?i:acme[_-]?token)", r"[a-z0-9]{24}"),
    keywords=("acme",),
    entropy=3.0,
)


def _installed(name: str) -> bool:
    try:
        make_prefilter([ACME], name)
    except ImportError:
        return False
    return True


PREFILTER_PARAMS = [
    pytest.param(name, marks=[] if _installed(name) else [pytest.mark.skip(reason=f"{name} is not installed")])
    for name in PREFILTERS
]


def _value(seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(24))


def _where(findings: list[object]) -> list[tuple[str, int, int, int]]:
    return [(f.rule_id, f.line, f.column, f.length) for f in findings]  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefilter", PREFILTER_PARAMS)
def test_value_on_the_line_after_its_tag_is_reported_on_its_own_line(prefilter: str) -> None:
    """``<acmeToken>`` then the value: one finding, at the value's line and column."""
    value = _value(1)
    text = f"<config>\n  <acmeToken>\n    {value}\n  </acmeToken>\n</config>\n"
    assert _where(Scanner([ACME], prefilter=prefilter).scan_text(text)) == [("acme-token", 3, 5, 24)]


@pytest.mark.parametrize("prefilter", PREFILTER_PARAMS)
def test_value_line_that_is_a_candidate_too_is_reported_once(prefilter: str) -> None:
    """The closing tag on the value's line makes it a candidate line as well: still one finding."""
    value = _value(2)
    text = f"<acmeToken>\n  {value}</acmeToken>\n<acmeToken>{value}</acmeToken>\n"
    assert _where(Scanner([ACME], prefilter=prefilter).scan_text(text)) == [
        ("acme-token", 2, 3, 24),
        ("acme-token", 3, 12, 24),
    ]


@pytest.mark.parametrize("prefilter", PREFILTER_PARAMS)
def test_allow_comment_on_the_value_line_suppresses_it(prefilter: str) -> None:
    """``strongroom:allow`` on the value's line silences it; on another line (after it) it does not."""
    value = _value(3)
    scanner = Scanner([ACME], prefilter=prefilter)
    allowed = f"<acmeToken>\n  {value} <!-- strongroom:allow -->\n</acmeToken>\n"
    assert scanner.scan_text(allowed) == []
    elsewhere = f"<acmeToken>\n  {value}\n</acmeToken> <!-- strongroom:allow -->\n"
    assert _where(scanner.scan_text(elsewhere)) == [("acme-token", 2, 3, 24)]


@pytest.mark.parametrize("prefilter", PREFILTER_PARAMS)
def test_escaped_json_reports_the_line_of_the_string(prefilter: str) -> None:
    """A file held in a JSON string: the finding is on the JSON line holding it, at the value's column."""
    value = _value(4)
    files = {"app.xml": f"<config>\n  <acmeToken>\n    {value}\n  </acmeToken>\n</config>\n"}
    text = json.dumps({"version": 2, "files": files}, indent=2) + "\n"
    line_number, line = next((i, ln) for i, ln in enumerate(text.splitlines(), 1) if value in ln)
    assert line_number > 1
    expected = [("acme-token", line_number, line.index(value) + 1, 24)]
    assert _where(Scanner([ACME], prefilter=prefilter).scan_text(text)) == expected


@pytest.mark.parametrize("prefilter", PREFILTER_PARAMS)
def test_crlf_line_breaks_and_many_blocks_keep_their_lines(prefilter: str) -> None:
    """Windows line breaks, and one finding per block at the right line however many blocks there are."""
    values = [_value(100 + i) for i in range(40)]
    text = "".join(f"<acmeToken>\r\n    {v}\r\n</acmeToken>\r\n\r\n" for v in values)
    findings = Scanner([ACME], prefilter=prefilter).scan_text(text)
    assert _where(findings) == [("acme-token", 2 + 4 * i, 5, 24) for i in range(40)]


# --- the generic rule among all the rules, as `strongroom scan` runs them -----------------------------------------


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(RULES)


def test_generic_value_on_the_next_line_is_one_finding(scanner: Scanner) -> None:
    """The generic rule finds ``<password>`` then the value on the next line, once, on the value's line."""
    secret = generic_secret(random.Random(5))  # noqa: S311 -- test data, not keys
    text = f"<settings>\n  <password>\n    {secret}\n  </password>\n</settings>\n"
    assert _where(scanner.scan_text(text)) == [("generic-secret-assignment", 3, 5, len(secret))]


def test_provider_token_on_the_next_line_is_the_provider_finding_alone(scanner: Scanner) -> None:
    """A GitHub token under ``<password>`` on the next line: reported once, as GitHub's, not also generic."""
    github = next(rule for rule in RULES if rule.id == "github-classic-pat")
    token = sample(github, 6).secret
    text = f"<password>\n  {token}\n</password>\n"
    assert _where(scanner.scan_text(text)) == [("github-classic-pat", 2, 3, len(token))]


def test_generic_value_in_json_inside_a_json_string_is_on_its_line(scanner: Scanner) -> None:
    """``{"config.json": "{\\n  \\"api_token\\": \\"…\\"\\n}"}`` on line 3 of a file: line 3, the value's column."""
    secret = generic_secret(random.Random(7))  # noqa: S311 -- test data, not keys
    inner = json.dumps({"region": "eu", "api_token": secret}, indent=2)
    line = "  " + json.dumps({"config.json": inner})
    text = "{\n" + '  "version": 2,\n' + line + "\n}\n"
    assert _where(scanner.scan_text(text)) == [
        ("generic-secret-assignment", 3, line.index(secret) + 1, len(secret)),
    ]
