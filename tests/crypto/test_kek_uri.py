"""``STRONGROOM_KEK``: a key provider chosen by URI, with clear errors for what cannot be used."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.crypto.providers.uri import provider_from_uri
from strongroom.errors import KeyProviderError


def test_file_and_env_uris_open_the_local_provider(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = LocalKeyProvider.create_file(tmp_path / "k.json", "dev")
    by_path = provider_from_uri(f"file:{tmp_path / 'k.json'}", environment="dev", key_file=tmp_path / "unused")
    assert by_path.key_id == made.key_id
    by_default = provider_from_uri("file:", environment="dev", key_file=tmp_path / "k.json")
    assert by_default.key_id == made.key_id
    monkeypatch.setenv("MY_KEYS", base64.b64encode(os.urandom(32)).decode())
    assert provider_from_uri("env:MY_KEYS", environment="dev", key_file=tmp_path).current_version() == 1


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("vault-kv:whatever", "no known scheme"),
        ("no-colon", "no known scheme"),
        ("env:STRONGROOM_TEST_UNSET_KEYS", "STRONGROOM_TEST_UNSET_KEYS is not set"),
        ("file:/nonexistent/keys.json", "does not exist"),
    ],
)
def test_unusable_uris_are_refused_naming_the_fix(uri: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError, match=message):
        provider_from_uri(uri, environment="dev", key_file=tmp_path / "k.json")


def test_a_uri_with_secrets_in_its_query_is_never_echoed(tmp_path: Path) -> None:
    with pytest.raises(KeyProviderError) as info:
        provider_from_uri("nope:thing?pin-value=canary-pin-8812", environment="dev", key_file=tmp_path)
    assert "canary-pin-8812" not in str(info.value)


def test_a_missing_extra_names_the_pip_install() -> None:
    code = (
        "import sys; sys.modules['boto3'] = None\n"
        "from pathlib import Path\n"
        "from strongroom.crypto.providers.uri import provider_from_uri\n"
        "from strongroom.errors import KeyProviderError\n"
        "try:\n"
        "    provider_from_uri('aws-kms:alias/x?region=us-east-1', environment='dev', key_file=Path('k'))\n"
        "except KeyProviderError as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'strongroom[aws]'" in out


def test_init_creates_the_key_file_the_uri_names(
    tmp_path: Path, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    custom = tmp_path / "elsewhere" / "prod-keys.json"
    env.update(STRONGROOM_HOME=str(tmp_path / "home"), STRONGROOM_KEK=f"file:{custom}", NO_COLOR="1")
    assert cli_invoke(["init"], env=env).returncode == 0
    assert custom.exists()
    assert not (tmp_path / "home" / "keys" / "dev.json").exists()
    assert cli_invoke(["tenant", "create", "acme"], env=env).returncode == 0
