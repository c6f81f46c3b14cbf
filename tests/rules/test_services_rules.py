"""Chat, mail, payment, AI, database and crypto rules, on examples from the shared generator, plus the
checks over the whole rule set (count, ids, quiet on the project's own text).

Nothing in this file looks like a live credential: examples come from ``strongroom.testing.samples`` or are
assembled here from a prefix and characters drawn from ``random.Random(seed)``.
"""

from __future__ import annotations

import base64
import random
import re
import string
from collections.abc import Iterator
from pathlib import Path

import pytest

from strongroom.rules import PROVIDER_RULES
from strongroom.rules import RULES as ALL_RULES
from strongroom.rules.base import Rule
from strongroom.rules.services import RULES
from strongroom.scan.engine import Scanner
from strongroom.testing.samples import sample

ROOT = Path(__file__).resolve().parents[2]
BY_ID = {rule.id: rule for rule in RULES}
SEEDS = (1, 2, 3)
ALNUM = string.ascii_letters + string.digits
B64URL = ALNUM + "-_"


def _accepted(rule: Rule, text: str) -> Iterator[str]:
    for match in rule.regex.finditer(text):
        secret = rule.secret_of(match)
        if rule.accepts(secret):
            yield secret


def _rule_params(rules: tuple[Rule, ...] = RULES) -> list[object]:
    return [pytest.param(rule, id=rule.id) for rule in rules]


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


@pytest.mark.parametrize("rule", _rule_params())
def test_every_context_kind_is_covered(rule: Rule) -> None:
    """Each sample puts its secret in at least Python, YAML and JSON shapes, and the rule finds it in each."""
    example = sample(rule, 1)
    shapes = {
        "python": any(" = " in text for text in example.contexts),
        "yaml": any(re.search(r"^\s+\w[\w.-]*: ", text, re.MULTILINE) for text in example.contexts),
        "json": any(text.lstrip().startswith("{") for text in example.contexts),
    }
    assert all(shapes.values()), shapes
    for text in example.contexts:
        assert example.secret in _accepted(rule, text)


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.id) for r in RULES if r.entropy is not None])
def test_entropy_floor_rejects_flat_secret(rule: Rule) -> None:
    """A rule with an entropy floor refuses a one-character secret of the generated length."""
    secret = sample(rule, 0).secret
    assert not rule.accepts(secret[0] * len(secret))


# --- format facts ------------------------------------------------------------------------------------------


def test_anthropic_keys_are_93_characters_and_aa() -> None:
    """sk-ant-api03- + 93 base64url + "AA" (108 in all); a key without the AA ending is not one."""
    rule = BY_ID["anthropic-api-key"]
    key = sample(rule, 1).secret
    assert len(key) == 108
    assert key.endswith("AA")
    assert list(_accepted(rule, f'k = "{key}"')) == [key]
    assert not list(_accepted(rule, f'k = "{key[:-2]}BB"'))
    assert not list(_accepted(rule, f'k = "{key[:-3]}AA"'))


@pytest.mark.parametrize(("hmac_length", "found"), [(27, True), (38, True), (26, False), (30, False), (39, False)])
def test_discord_bot_token_hmac_is_27_or_38(hmac_length: int, found: bool) -> None:
    """The third part of a Discord token is 27 characters (older tokens) or 38 (since 2022), nothing else."""
    rng = random.Random(hmac_length)  # noqa: S311 -- test data
    head = base64.urlsafe_b64encode(str(rng.randrange(10**17, 10**19)).encode()).decode().rstrip("=")
    token = f"{head}.{_draw(rng, B64URL, 6)}.{_draw(rng, B64URL, hmac_length)}"
    assert (token in list(_accepted(BY_ID["discord-bot-token"], f'DISCORD_TOKEN = "{token}"'))) is found


@pytest.mark.parametrize("rule_id", ["slack-config-access-token", "slack-config-refresh-token"])
def test_slack_rotating_token_body_is_slacks_payload(rule_id: str) -> None:
    """The xoxe body must decode to Slack's `<numbers>-...-<64 hex>`; other alphanumerics are refused."""
    rule = BY_ID[rule_id]
    secret = sample(rule, 2).secret
    prefix, body = secret.rsplit("-", 1)
    payload = base64.b64decode(body + "=" * (-len(body) % 4)).decode()
    assert re.fullmatch(r"[0-9]+(?:-[0-9]+)+-[0-9a-f]{64}", payload)
    assert rule.accepts(secret)
    rng = random.Random(rule_id)  # noqa: S311 -- test data
    assert not rule.accepts(f"{prefix}-{_draw(rng, ALNUM, len(body))}")


def test_database_urls_ignore_placeholders() -> None:
    """A URL whose password is a placeholder, a template variable or a mask is not reported."""
    for rule_id in ("postgres-url-password", "mysql-url-password", "redis-url-password"):
        example = sample(BY_ID[rule_id], 3)
        assert any("${DB_PASSWORD}" in text for text in example.negatives)
        for text in example.negatives:
            assert not list(_accepted(BY_ID[rule_id], text)), text


# --- the whole rule set ------------------------------------------------------------------------------------


def test_rule_ids_unique_and_enough() -> None:
    """Ids are unique and lower-case-hyphenated; at least 150 provider rules; the generic rule comes last."""
    ids = [rule.id for rule in ALL_RULES]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert len(PROVIDER_RULES) >= 150
    assert ALL_RULES[-1].id == "generic-secret-assignment"
    assert all(rule.description and rule.keywords for rule in ALL_RULES)


def _corpus() -> list[tuple[str, str]]:
    """The project's own text: package sources, tests, pyproject.toml and the README."""
    paths = [
        *sorted((ROOT / "src" / "strongroom").rglob("*.py")),
        *sorted((ROOT / "tests").rglob("*.py")),
        ROOT / "pyproject.toml",
        ROOT / "README.md",
    ]
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in paths if p.is_file()]


CORPUS = _corpus()


def test_no_rule_reports_anything_in_the_project_source() -> None:
    """No rule, the generic one included, reports a secret in the project's own text, through the scanner.

    (Each rule's regex over the whole corpus took minutes of CPU with 279 rules; the scanner's prefilter
    runs them only where they can match, as `strongroom scan` does.)"""
    assert len(CORPUS) > 10
    scanner = Scanner(ALL_RULES)
    hits = [(f.path, f.line, f.rule_id) for path, text in CORPUS for f in scanner.scan_text(text, path)]
    assert not hits
