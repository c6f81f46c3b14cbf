"""Cloud, code-host and developer-platform rules, on examples from the shared generator.

No token-like literal lives in this file: tokens come from ``strongroom.testing.samples`` (a prefix plus
random characters, checksums computed) or are assembled here the same way.
"""

from __future__ import annotations

import random
import string
import zlib

import pytest

from strongroom.rules.base import Rule
from strongroom.rules.cloud_code import RULES, crc32_base62_checksum_ok, crc32_hex_checksum_ok
from strongroom.testing.samples import sample

BY_ID = {rule.id: rule for rule in RULES}
SEEDS = (1, 2, 3)
GITHUB_KINDS = (
    "github-classic-pat",
    "github-oauth-token",
    "github-user-to-server-token",
    "github-server-to-server-token",
)


def _params() -> list[object]:
    return [pytest.param(rule, id=rule.id) for rule in RULES]


def test_ids_are_unique_and_enough() -> None:
    """Rule ids are unique within the module and there are at least 40 of them."""
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


@pytest.mark.parametrize("rule", _params())
def test_every_match_carries_a_keyword(rule: Rule) -> None:
    """Each regex match in a sample's contexts contains one of the rule's keywords (the prefilter is sound)."""
    for seed in SEEDS:
        for text in sample(rule, seed).contexts:
            matches = list(rule.regex.finditer(text))
            assert matches, text
            for match in matches:
                assert any(k in match.group(0).lower() for k in rule.keywords), (match.group(0), rule.keywords)


@pytest.mark.parametrize("rule", _params())
def test_the_reported_secret_sits_where_the_match_says(rule: Rule) -> None:
    """secret_of() returns the sample's secret, and the secret is inside the whole match."""
    example = sample(rule, 4)
    for text in example.contexts:
        secrets = [rule.secret_of(m) for m in rule.regex.finditer(text)]
        assert example.secret in secrets
        match = next(m for m in rule.regex.finditer(text) if rule.secret_of(m) == example.secret)
        assert example.secret in match.group(0)


# --- checksums -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_id", [*GITHUB_KINDS, "npm-access-token"])
def test_base62_crc32_checksum(rule_id: str) -> None:
    """Generated tokens pass; any one changed character of the random part or the checksum fails."""
    rng = random.Random(rule_id)  # noqa: S311 -- picks test positions, not key material
    for seed in SEEDS:
        token = sample(BY_ID[rule_id], seed).secret
        assert crc32_base62_checksum_ok(token)
        prefix, body = token.rsplit("_", 1)
        i = rng.randrange(len(body))
        other = next(ch for ch in string.ascii_letters + string.digits if ch != body[i])
        assert not crc32_base62_checksum_ok(f"{prefix}_{body[:i]}{other}{body[i + 1 :]}")
        assert not crc32_base62_checksum_ok(f"{prefix}_{body[:-1]}")


def test_github_checksum_is_over_the_random_part_in_upper_first_base62() -> None:
    """The facts the checksum rests on: CRC32 of the 30 random chars (not the prefix), 0-9A-Za-z, 6 chars.

    A token whose checksum is written in Go's big.Int order (0-9a-zA-Z), or computed over prefix and
    random part together, is refused.
    """
    rng = random.Random(5)  # noqa: S311 -- test data
    random_part = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(30))

    def encode(value: int, alphabet: str) -> str:
        out = ""
        while value:
            value, digit = divmod(value, 62)
            out = alphabet[digit] + out
        return out.rjust(6, "0")

    upper_first = string.digits + string.ascii_uppercase + string.ascii_lowercase
    lower_first = string.digits + string.ascii_lowercase + string.ascii_uppercase
    crc = zlib.crc32(random_part.encode())
    assert crc32_base62_checksum_ok("ghp_" + random_part + encode(crc, upper_first))
    if encode(crc, upper_first) != encode(crc, lower_first):
        assert not crc32_base62_checksum_ok("ghp_" + random_part + encode(crc, lower_first))
    with_prefix = zlib.crc32(("ghp_" + random_part).encode())
    assert not crc32_base62_checksum_ok("ghp_" + random_part + encode(with_prefix, upper_first))


def test_packagist_checksum_covers_prefix_and_random_part() -> None:
    """Private Packagist: 8 hex of CRC32(prefix + random); another prefix or a changed digit fails."""
    for seed in SEEDS:
        token = sample(BY_ID["packagist-token"], seed).secret
        assert crc32_hex_checksum_ok(token)
        assert not crc32_hex_checksum_ok(token.replace("packagist_ort_", "packagist_out_"))
        flipped = token[:-9] + ("0" if token[-9] != "0" else "1") + token[-8:]
        assert not crc32_hex_checksum_ok(flipped)


# --- format facts ------------------------------------------------------------------------------------------


def test_github_refresh_tokens_are_76_characters() -> None:
    """ghr_ tokens are longer than the other GitHub kinds: 76 characters after the prefix, and only that."""
    rule = BY_ID["github-refresh-token"]
    token = sample(rule, 1).secret
    assert len(token) == len("ghr_") + 76
    assert rule.regex.search(f'refresh = "{token}"')
    assert not rule.regex.search(f'refresh = "{token[:40]}"')  # the 36+4 shape of the other kinds


def test_service_account_key_needs_the_service_account_type() -> None:
    """The private_key_id is reported only inside a service-account key file."""
    rule = BY_ID["gcp-service-account-key"]
    example = sample(rule, 2)
    assert all('"service_account"' in text for text in example.contexts)
    assert any('"authorized_user"' in text for text in example.negatives)
