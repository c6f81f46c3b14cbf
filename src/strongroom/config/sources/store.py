"""The strongroom store: platform secrets live in the vault under the reserved tenant ``_platform``.

Each read is a ``Vault.use()`` (purpose ``config:<field>``), so every platform-secret access is audited.
The vault is opened for the environment being loaded, with that environment's key: a machine that only
holds the dev key cannot read prod values.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from strongroom import changes
from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.errors import Expired, NotFound, StrongroomError
from strongroom.vocabulary import PLATFORM_TENANT, Stage

if TYPE_CHECKING:
    from strongroom.vault import Vault

__all__ = ["PLATFORM_TENANT", "StoreSource"]


class StoreSource:
    dynamic = True
    environment_scoped = True

    def __init__(
        self, vault: Vault | None = None, *, url: str | None = None, tenant: str = PLATFORM_TENANT, **open_options: Any
    ) -> None:
        self._given = vault
        self._url = url
        self._tenant = tenant
        # The config cache decides when to re-fetch; the vault's own row cache would only add staleness.
        self._open_options = {"cache_ttl_seconds": 0.0, **open_options}
        self._vaults: dict[str, Vault] = {}
        self._failures: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "store"

    def _vault(self, environment: str) -> Vault:
        if self._given is not None:
            if self._given.environment != environment:
                raise SourceUnavailable(
                    f"store source holds a {self._given.environment} vault, not one for {environment}"
                )
            return self._given
        with self._lock:
            vault = self._vaults.get(environment)
            if vault is None:
                if environment in self._failures:  # one attempt per environment, not one per field
                    raise SourceUnavailable(self._failures[environment])
                from strongroom.vault import Vault

                try:
                    vault = Vault.open(self._url, environment=environment, **self._open_options)
                except StrongroomError as exc:
                    self._failures[environment] = f"store ({environment}): {exc}"
                    raise SourceUnavailable(self._failures[environment]) from None
                self._vaults[environment] = vault
            return vault

    def get(self, key: SourceKey) -> Found | None:
        vault = self._vault(key.environment)
        purpose = f"config:{key.name}"
        try:
            with vault.use(self._tenant, key.name, purpose=purpose) as secret:
                value, version = secret.reveal(), secret.version
            history = vault.versions(self._tenant, key.name)
        except NotFound:
            return None
        current = next((v for v in history if v.version == version), None)
        # The previous stage (docs/rotation.md): a candidate until its overlap ends, then not read at all.
        previous = next((v for v in history if v.stage == Stage.PREVIOUS), None)
        previous_value: str | None = None
        if previous is not None and (previous.stage_until is None or previous.stage_until > vault.clock()):
            try:
                with vault.use(self._tenant, key.name, purpose=purpose + ":previous", version=previous.version) as old:
                    previous_value = _text(old.reveal())
            except (NotFound, Expired):  # an expired or purged previous version is simply not a candidate
                previous_value = None
        return Found(
            _text(value),
            f"store:{key.environment}",
            version=None if version is None else str(version),
            updated_at=current.created_at if current else None,
            previous=previous_value,
            previous_replaced_at=current.created_at if current and previous_value is not None else None,
            previous_until=previous.stage_until if previous is not None and previous_value is not None else None,
        )

    def change_key(self, key: SourceKey) -> changes.Key:
        """What ``strongroom.changes`` publishes when this field's secret changes in this process."""
        return (key.environment, self._tenant, key.name)

    def close(self) -> None:
        for vault in self._vaults.values():
            vault.close()
        self._vaults.clear()


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8", "surrogateescape")
