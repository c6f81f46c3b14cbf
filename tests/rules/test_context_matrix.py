"""Every rule in every context form (``strongroom.testing.contexts``), through the scanner: found, and quiet.

A cell is one rule and one form. Positive: the rule's sample value (``strongroom.testing.samples``), written
in the form under each of the sample's key names, is reported by ``Scanner.scan_text`` (prefilter, line
windows and all) at the secret's line and column. Negative: the sample's near misses and common
placeholders in the same form, and for a rule that needs a label the right value under an unrelated name,
are not reported. A new rule or a new form gets its cells for free.

One test per rule checks all its cells (some 10,000 cells as test items cost ten times the scans in pytest
and xdist); a failure names the cells, ``<rule>-<form>``. Cells a rule does not pass yet are listed
in :data:`NOT_YET` and :data:`NOISY_YET`, and the test insists on exactly that list, like a strict xfail: CI
stays green, and a cell that starts passing (the rule moved onto ``strongroom.rules.context``) fails the
test until it is taken off the list.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from strongroom.rules import RULES, Rule
from strongroom.rules.context import LEAD, TAIL
from strongroom.rules.generic import LABEL_WORDS
from strongroom.rules.generic import RULE as GENERIC
from strongroom.scan.engine import Scanner
from strongroom.testing.contexts import FORMS, PLACEHOLDERS, QUIET, Form, assignment, parse_assignment
from strongroom.testing.samples import Sample, generic_secret, sample

SEEDS = 3  # a cell's seed is its form's index modulo this: each rule is drawn a few ways across the forms

EXCLUDED = {
    "gcp-service-account-key": "the secret is a field of its own JSON key file, which is the context",
    "pem-private-key": "a multi-line block, not a value written after a name",
    "curl-user-password": "the curl command line is the context (`curl -u user:pass`), not a name",
    "http-basic-auth-header": "the Authorization header is the context, not a name",
    "docker-config-auth": "Docker's config.json `auth` member is the context, not a name",
}

NOT_YET_REASON = "rule not yet on the context model"


# Cells a rule does not pass yet, each a known gap to close: rule id -> forms whose positive cell fails.
NOT_YET: dict[str, frozenset[str]] = {}
# rule id -> forms whose negative cell fails (a false alarm).
NOISY_YET: dict[str, frozenset[str]] = {}


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    """Every rule, as ``strongroom scan`` runs them."""
    return Scanner(RULES)


@functools.cache
def _sample(rule: Rule, seed: int) -> Sample:
    return sample(rule, seed)


def _labelled(example: Sample, value: str) -> bool:
    """Whether the rule needs a label: the sample lists its value under a wrong name as a negative."""
    return any((parsed := parse_assignment(text)) is not None and parsed[1] == value for text in example.negatives)


def _applies(rule: Rule, example: Sample, form: Form) -> bool:
    _, value = assignment(example)
    if not form.fits(value, credential=value == example.secret):
        return False
    if form.named or not _labelled(example, value):
        return True
    return rule is GENERIC and form.label in LABEL_WORDS  # `_authToken`, `Password=`: the label it needs


def _where(text: str, secret: str) -> set[tuple[int, int]]:
    """(line, column) of every occurrence of ``secret`` in ``text``, 1-based as findings count them."""
    out = set()
    at = text.find(secret)
    while at != -1:
        line_start = text.rfind("\n", 0, at) + 1
        out.add((text.count("\n", 0, at) + 1, at - line_start + 1))
        at = text.find(secret, at + 1)
    return out


def _reported(scanner: Scanner, rule: Rule, text: str) -> list[tuple[int, int, int]]:
    return [(f.line, f.column, f.length) for f in scanner.scan_text(text) if f.rule_id == rule.id]


def _negatives(example: Sample) -> Iterator[tuple[str | None, str]]:
    """(a wrong name, or None for the sample's own names; value) the rule must not report."""
    _, value = assignment(example)
    for text in example.negatives:
        parsed = parse_assignment(text)
        if parsed is None:
            continue
        wrong_name, near_miss = parsed
        yield (wrong_name, near_miss) if near_miss == value else (None, near_miss)
    for placeholder in PLACEHOLDERS:
        yield None, placeholder


@dataclass
class _Outcome:
    """What the scanner made of one cell's texts."""

    positives: int = 0
    missed: list[str] = field(default_factory=list)  # texts whose secret was not reported where it is
    negatives: int = 0
    false_alarms: list[str] = field(default_factory=list)  # negative texts that raised a finding


_GAP = "\n\n\n"  # between texts in one scan: more line breaks than any pattern or line window spans


class _Matrix:
    """Every cell of one rule scanned in two texts (positives, negatives): one scan each, not one per cell.

    The texts are the cells' renderings with blank lines between them; each finding is mapped back to the
    rendering whose lines it is on. Nothing a rule matches can cross the gap (a pattern spans at most one
    line break, the scanner's window a line either side), so this is the same as a scan per rendering.
    """

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, _Outcome]] = {}

    def outcomes_of(self, rule: Rule) -> dict[str, _Outcome]:
        """Form id -> outcome, for the forms that apply to the rule's sample."""
        if rule.id not in self.outcomes:
            self.outcomes[rule.id] = self._scan(rule, Scanner([rule]))
        return self.outcomes[rule.id]

    def _scan(self, rule: Rule, scanner: Scanner) -> dict[str, _Outcome]:
        assert not rule.multiline, "a multi-line rule's window crosses the gap between texts: exclude it"
        outcomes: dict[str, _Outcome] = {}
        positives: list[tuple[_Outcome, str, str]] = []  # (cell, text, secret)
        negatives: list[tuple[_Outcome, str, str]] = []
        for index, form in enumerate(FORMS):
            seed = index % SEEDS
            example = _sample(rule, seed)
            if not _applies(rule, example, form):
                continue
            cell = outcomes[form.id] = _Outcome()
            names, value = assignment(example)
            for name in names if form.named else names[:1]:
                positives.append((cell, form.render(name, value), example.secret))
            for wrong_name, near_miss in _negatives(example):
                if form.fits(near_miss) and (form.named or wrong_name is None):
                    for name in (wrong_name,) if wrong_name is not None else names:
                        negatives.append((cell, form.render(name, near_miss), ""))
        for cell, text, secret, reported_where in self._each(scanner, rule, positives):
            cell.positives += 1
            if not reported_where & _where(text, secret):
                cell.missed.append(text)
        for cell, text, _, reported_where in self._each(scanner, rule, negatives):
            cell.negatives += 1
            if reported_where:
                cell.false_alarms.append(text)
        return outcomes

    @staticmethod
    def _each(
        scanner: Scanner, rule: Rule, texts: list[tuple[_Outcome, str, str]]
    ) -> Iterator[tuple[_Outcome, str, str, set[tuple[int, int]]]]:
        """Each (cell, text, secret, (line, column) of the rule's findings in that text, relative to it)."""
        parts, first_lines, line = [], [], 1
        for _, text, _ in texts:
            body = text.rstrip("\n") + _GAP
            parts.append(body)
            first_lines.append(line)
            line += body.count("\n")
        by_line: dict[int, list[tuple[int, int]]] = {}
        for f in scanner.scan_text("".join(parts)):
            if f.rule_id == rule.id:
                by_line.setdefault(f.line, []).append((f.column, f.length))
        for (cell, text, secret), first in zip(texts, first_lines, strict=True):
            where = set()
            for offset in range(text.rstrip("\n").count("\n") + 1):
                for column, length in by_line.get(first + offset, ()):
                    if not secret or length == len(secret):
                        where.add((offset + 1, column))
            yield cell, text, secret, where


@pytest.fixture(scope="module")
def matrix() -> _Matrix:
    return _Matrix()


RULE_PARAMS = [pytest.param(rule, id=rule.id) for rule in RULES if rule.id not in EXCLUDED]


def _cell_ids(rule: Rule, forms: set[str]) -> list[str]:
    return sorted(f"{rule.id}-{form}" for form in forms)


def _assert_failing_cells_are(rule: Rule, failing: dict[str, list[str]], expected: frozenset[str]) -> None:
    new = {form: texts for form, texts in failing.items() if form not in expected}
    fixed = expected - set(failing)
    assert not new, f"cells failing: {_cell_ids(rule, set(new))}; first text: {next(iter(new.values()))[0]!r}"
    assert not fixed, f"cells now pass, take them off the list ({NOT_YET_REASON}): {_cell_ids(rule, fixed)}"


@pytest.mark.parametrize("rule", RULE_PARAMS)
@pytest.mark.slow
def test_secret_is_found_in_every_form(matrix: _Matrix, rule: Rule) -> None:
    """The sample's secret, written in each form under each of the sample's names, is reported where it is."""
    outcomes = matrix.outcomes_of(rule)
    assert sum(1 for o in outcomes.values() if o.positives) >= 20, "a rule is tested in most forms"
    failing = {form: o.missed for form, o in outcomes.items() if o.missed}
    _assert_failing_cells_are(rule, failing, NOT_YET.get(rule.id, frozenset()))


@pytest.mark.parametrize("rule", RULE_PARAMS)
def test_near_misses_are_quiet_in_every_form(matrix: _Matrix, rule: Rule) -> None:
    """Near misses and placeholders under the sample's names, and its value under a wrong name, are quiet."""
    outcomes = matrix.outcomes_of(rule)
    assert all(o.negatives for o in outcomes.values() if o.positives), "every form holds a placeholder"
    failing = {form: o.false_alarms for form, o in outcomes.items() if o.false_alarms}
    _assert_failing_cells_are(rule, failing, NOISY_YET.get(rule.id, frozenset()))


# --- the generic rule: every label word, and the texts that only look like assignments -------------------------

_LABELS = (
    "password",
    "DB_PASSWORD",
    "passwd",
    "passphrase",
    "secret",
    "clientSecret",
    "client-secret",
    "token",
    "authToken",
    "apiKey",
    "API_KEY",
    "access_key",
    "private_key",
    "secret_key",
    "credentials",
)


def _label_forms() -> list[object]:
    return [pytest.param(form, id=form.id) for form in FORMS if form.named]


@pytest.mark.parametrize("form", _label_forms())
def test_generic_rule_finds_every_label_word_in_context(scanner: Scanner, form: Form) -> None:
    """A random secret under each spelling of each label word is reported in every named form."""
    rng = random.Random(form.id)  # noqa: S311 -- reproducible test values
    missed = []
    for label in _LABELS:
        secret = generic_secret(rng)
        if not form.fits(secret):
            continue
        text = form.render(label, secret)
        if not any((line, column) in _where(text, secret) for line, column, _ in _reported(scanner, GENERIC, text)):
            missed.append(text)
    assert missed == []


@pytest.mark.parametrize("text", QUIET, ids=range(len(QUIET)))
def test_label_followed_by_no_secret_is_quiet(scanner: Scanner, text: str) -> None:
    """A secret-named label followed by a call, a template, a path or prose raises no finding at all."""
    assert scanner.scan_text(text) == []


def test_ansible_vault_body_under_a_label_is_quiet(scanner: Scanner) -> None:
    """An encrypted vault body (hex lines after ``!vault |``) is no secret in the clear."""
    rng = random.Random(0)  # noqa: S311 -- reproducible test values
    body = "".join("  " + "".join(rng.choice("0123456789abcdef") for _ in range(80)) + "\n" for _ in range(3))
    assert scanner.scan_text("db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n" + body) == []


def test_every_form_id_is_unique() -> None:
    """Form ids name the cells."""
    assert len({form.id for form in FORMS}) == len(FORMS)


def test_lead_starts_a_token_after_an_escape_never_inside_one() -> None:
    """``context.LEAD``: after a ``\\n`` escape the token starts past the escape, not at its ``n``."""
    rng = random.Random(1)  # noqa: S311 -- reproducible test values
    body = "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(20))
    token = re.compile(rf"{LEAD}[A-Za-z0-9]{{20}}{TAIL}")
    assert token.findall(f'"line\\n{body}\\n"') == [body]
    assert token.findall(f'"line\\t{body}"') == [body]
    assert token.findall(f'"line\\n{body[1:]}"') == []  # 19 characters, and `n` is no part of them
    assert token.findall(f"x{body}") == []
