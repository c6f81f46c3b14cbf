"""The vault suite runs over the key providers a deployment chooses between: ``file:`` (the key file),
``pkcs11:`` (a SoftHSM2 token made for the test run) and ``aws-kms:`` (moto's server on loopback).

``key_provider`` is parametrised here; ``open_vault`` and ``vault`` (tests/conftest.py) take it. A test
that asks for ``key_provider`` itself uses the key file's own API (its path, ``add_version``) and runs
with ``file:`` only, as does every PostgreSQL case of the other providers: the provider and the store do
not interact, and the suite must stay fast.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto import KeyProvider, LocalKeyProvider

from ..provider_fixtures.moto_kms import MotoServer, start_moto_server, use_fake_credentials  # noqa: TID252
from ..provider_fixtures.softhsm import (  # noqa: TID252
    SKIP_REASON,
    SoftHsmToken,
    softhsm_available,
    start_softhsm_token,
)

PROVIDERS = ("file", "pkcs11", "aws-kms")
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def moto_kms() -> Iterator[MotoServer]:
    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def softhsm_token(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    """The process's one SoftHSM2 token (SoftHSM reads its token list once per process)."""
    if not softhsm_available():
        pytest.skip(SKIP_REASON)
    return start_softhsm_token(tmp_path_factory.mktemp("softhsm"))


# aws-kms talks to moto's server, about three times the cost of the others: that third of the matrix runs
# in the slow tier (`pytest -m slow`, and .ci/run), file: and pkcs11: in the README's command.
@pytest.fixture(
    params=[pytest.param(kind, marks=pytest.mark.slow) if kind == "aws-kms" else kind for kind in PROVIDERS]
)
def key_provider(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyProvider]:
    kind = request.param
    if kind == "file":
        yield LocalKeyProvider.create_file(tmp_path / "keys" / "dev.json", "dev")
        return
    from strongroom.crypto.providers.uri import provider_from_uri

    if kind == "pkcs11":
        token: SoftHsmToken = request.getfixturevalue("softhsm_token")
        uri = token.uri_for(f"vault-suite-{uuid.uuid4().hex[:12]}")
    elif kind == "aws-kms":
        server: MotoServer = request.getfixturevalue("moto_kms")
        use_fake_credentials(request.getfixturevalue("monkeypatch"))
        uri = server.new_uri(f"vault-suite/{uuid.uuid4().hex[:12]}")
    else:  # pragma: no cover - a kind added to PROVIDERS without its setup
        raise AssertionError(kind)
    provider = provider_from_uri(uri, environment="dev", key_file=tmp_path / "unused.json")
    yield provider
    close: Any = getattr(provider, "close", None)
    if callable(close):
        close()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        kind = params.get("key_provider", "file")
        in_suite = HERE in Path(str(item.path)).parents
        own_api = isinstance(item, pytest.Function) and "key_provider" in inspect.signature(item.function).parameters
        if in_suite and kind != "file" and (own_api or params.get("store_url") == "postgres"):
            dropped.append(item)
        else:
            kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
