"""The public API as a user writes it, type-checked with ``mypy --strict`` in CI (never executed by pytest)."""

from __future__ import annotations

from pathlib import Path

import strongroom
from strongroom import Conflict, NotFound, Secret, SecretInfo, StrongroomError, TenantInfo, Vault, VersionInfo
from strongroom.crypto import LocalKeyProvider


def typed_usage(home: Path) -> None:
    keys = LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
    with Vault.open(
        f"sqlite:///{home / 'db'}",
        key_provider=keys,
        environment="dev",
        actor="svc",
        audit_mode="sync",
        cache_ttl_seconds=0.0,
        max_value_bytes=4096,
    ) as vault:
        tenant: TenantInfo = vault.create_tenant("acme")
        info: SecretInfo = vault.put(tenant.name, "stripe", "value", sensitivity="critical", expected_version=0)
        versions: list[VersionInfo] = vault.versions("acme", "stripe")
        listed: list[SecretInfo] = vault.list("acme", include_deleted=True)
        with vault.use("acme", "stripe", purpose="charge", request_id="r1") as secret:
            value: str | bytes = secret.reveal()
            name: str = secret.name
        with vault.use("acme", "stripe", purpose="charge", type=str) as text:
            text_value: str = text.reveal()
        with vault.use("acme", "stripe", purpose="charge", version=1, type=bytes) as raw:
            raw_value: bytes = raw.reveal()
        try:
            vault.put("acme", "stripe", b"raw", expected_version=info.version)
        except (Conflict, NotFound) as exc:
            error: StrongroomError = exc
            del error
        del versions, listed, value, name, text_value, raw_value
    wrapped: Secret[str] = Secret("n", "v")
    version: str = strongroom.__version__
    del wrapped, version
