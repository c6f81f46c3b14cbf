"""The one error format every key provider uses: the provider, the problem, then the fix, in 80 columns."""

from __future__ import annotations

import pytest

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import KeyProviderError


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("pkcs11:token=t;object=k?pin-value=canary-1234", "pkcs11:token=t;object=k"),
        ("transit:https://user:canary-1234@vault:8200/transit/keys/k", "transit:https://vault:8200/transit/keys/k"),
        (
            "azure-keyvault:https://v.vault.azure.net/keys/k#sig=canary-1234",
            "azure-keyvault:https://v.vault.azure.net/keys/k",
        ),
        ("aws-kms:alias/prod", "aws-kms:alias/prod"),
    ],
)
def test_a_shown_uri_has_no_query_fragment_or_user_info(uri: str, shown: str) -> None:
    assert shown_uri(uri) == shown


def test_a_huge_uri_is_cut_short() -> None:
    assert len(shown_uri("gcp-kms:" + "x" * 10_000)) <= 200


def test_the_message_names_the_provider_then_the_fix_in_80_columns() -> None:
    uri = "gcp-kms:projects/a-long-project-name/locations/europe-west1/keyRings/ring/cryptoKeys/root"
    error = provider_error(
        uri, "cannot encrypt: permission denied (PERMISSION_DENIED)", " ".join(["grant the caller"] * 8)
    )
    assert isinstance(error, KeyProviderError)
    lines = str(error).splitlines()
    assert lines[0] == uri + ":"  # longer than 80 columns: alone on its line, never broken
    assert lines[1] == "cannot encrypt: permission denied (PERMISSION_DENIED)."
    fix = lines[2:]
    assert fix[0].startswith("Fix: grant the caller")
    assert all(line.startswith("  ") for line in fix[1:])
    assert fix[-1].endswith("caller.")
    assert all(len(line) <= 80 for line in [lines[1], *fix])


def test_no_fix_no_second_paragraph_and_no_doubled_period() -> None:
    assert str(provider_error("aws-kms:alias/x", "it failed.")) == "aws-kms:alias/x: it failed."
    message = str(provider_error("aws-kms:alias/x", "no version 2", "was it destroyed?"))
    assert message == "aws-kms:alias/x: no version 2.\nFix: was it destroyed?"
