"""The shared generator (``strongroom.testing.samples``) against every rule: each sample is found, no near miss is.

Samples are generated at test time from a prefix and random characters; nothing token-like is stored in
the repository.
"""

from __future__ import annotations

import dataclasses

import pytest

from strongroom.rules import RULES, Rule
from strongroom.testing.samples import Sample, sample, supported_rule_ids

SEEDS = range(5)


def accepted(rule: Rule, text: str) -> list[str]:
    """The secrets ``rule`` reports in ``text``: regex matches whose secret passes the entropy floor and checksum."""
    return [rule.secret_of(m) for m in rule.regex.finditer(text) if rule.accepts(rule.secret_of(m))]


def _params() -> list[object]:
    return [pytest.param(rule, id=rule.id) for rule in RULES]


def test_every_rule_has_a_generator() -> None:
    """sample() covers exactly the rules there are: no rule without samples, no generator for a gone rule."""
    assert supported_rule_ids() == {rule.id for rule in RULES}


@pytest.mark.parametrize("rule", _params())
def test_sample_is_found_in_every_context_and_near_misses_are_not(rule: Rule) -> None:
    """The rule reports the sample's secret in every context and nothing in any negative."""
    for seed in SEEDS:
        example = sample(rule, seed)
        assert isinstance(example, Sample)
        assert example.rule_id == rule.id
        assert rule.accepts(example.secret), example.secret
        assert len(example.contexts) >= 3
        assert len(example.negatives) >= 3
        for text in example.contexts:
            assert example.secret in accepted(rule, text), (seed, text)
        for text in example.negatives:
            assert accepted(rule, text) == [], (seed, text)


@pytest.mark.parametrize("rule", _params())
def test_sample_is_deterministic_per_rule_and_seed(rule: Rule) -> None:
    """The same (rule, seed) gives the same sample; another seed gives another sample."""
    assert sample(rule, 7) == sample(rule, 7)
    assert sample(rule, 7) != sample(rule, 8)


def test_unknown_rule_is_refused() -> None:
    """A rule the generator does not know is a KeyError, not a silently wrong sample."""
    stranger = dataclasses.replace(RULES[0], id="not-a-known-rule")
    with pytest.raises(KeyError, match="not-a-known-rule"):
        sample(stranger, 0)
