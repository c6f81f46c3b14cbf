"""The scan engine with rules of the test's own: prefilter, positions, allow comments, streaming, masking."""

from __future__ import annotations

import random
import string

from strongroom.rules.base import Rule
from strongroom.scan import Scanner

DEMO = Rule(
    id="demo-token",
    description="a demo token",
    pattern=r"\bdemo_(?P<secret>[a-z0-9]{16})\b",
    keywords=("demo_",),
    entropy=3.0,
)
LABELLED = Rule(
    id="labelled-key",
    description="a key after a label",
    pattern=r"(?i)acme_key\s*=\s*(?P<secret>[A-F0-9]{32})",
    keywords=("acme_key",),
)


def _token(seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(16))


def test_finds_line_and_column_and_never_holds_the_value() -> None:
    """A match is reported with its 1-based line and column and its length, and no field holds the secret."""
    body = _token(1)
    text = f"first line\nx = 'demo_{body}'\n"
    [finding] = Scanner([DEMO, LABELLED]).scan_text(text, "app.py")
    assert (finding.rule_id, finding.path, finding.line, finding.column, finding.length) == (
        "demo-token",
        "app.py",
        2,
        11,
        16,
    )
    assert body not in repr(finding) + repr(finding.to_dict()) + finding.masked


def test_text_without_keywords_yields_nothing() -> None:
    """Without any rule keyword the text produces no findings."""
    assert Scanner([DEMO]).scan_text("nothing to see here\n" * 1000) == []


def test_entropy_floor_rejects_low_entropy_matches() -> None:
    """A match below the rule's entropy floor is not a finding."""
    assert Scanner([DEMO]).scan_text("demo_aaaaaaaaaaaaaaaa") == []


def test_allow_comment_suppresses_a_line() -> None:
    """A line carrying `strongroom:allow` is skipped; the same token elsewhere is still found."""
    token = "demo_" + _token(2)
    text = f"a = '{token}'  # strongroom:allow\nb = '{token}'\n"
    findings = Scanner([DEMO]).scan_text(text)
    assert [f.line for f in findings] == [2]


def test_keyword_is_case_insensitive_and_rules_with_labels_match() -> None:
    """The prefilter ignores case; a labelled rule finds the value after its label."""
    rng = random.Random(3)  # noqa: S311 -- test data, not keys
    value = "".join(rng.choice("ABCDEF0123456789") for _ in range(32))
    findings = Scanner([DEMO, LABELLED]).scan_text(f"ACME_KEY = {value}\n")
    assert [f.rule_id for f in findings] == ["labelled-key"]


def test_streamed_lines_keep_line_numbers_across_chunks() -> None:
    """scan_lines over a large log reports the true line numbers of findings past the first chunk."""
    token = "demo_" + _token(4)
    filler = ["log line without anything of interest " * 3 + "\n"] * 20000
    lines = [*filler, f"leaked {token}\n", *filler]
    findings = list(Scanner([DEMO]).scan_lines(iter(lines), "app.log"))
    assert [f.line for f in findings] == [20001]
