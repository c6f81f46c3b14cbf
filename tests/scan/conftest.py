"""Fake credentials for the scan CLI tests, generated like every rule test's (strongroom.testing.samples)."""

from __future__ import annotations

from strongroom.rules import RULES
from strongroom.testing.samples import sample

_RULES = {rule.id: rule for rule in RULES}


def credential(rule_id: str, seed: int) -> str:
    """A fake credential of the rule's format, the same for the same rule and seed."""
    return sample(_RULES[rule_id], seed).secret


def aws_key_id(seed: int) -> str:
    return credential("aws-access-key-id", seed)


def stripe_live_key(seed: int) -> str:
    return credential("stripe-live-secret-key", seed)


def github_pat(seed: int) -> str:
    return credential("github-classic-pat", seed)


def gcp_api_key(seed: int) -> str:
    return credential("gcp-api-key", seed)
