"""When and how secrets were last used, read from the audit log (``secret.use`` events), and how old their
current versions are: the reads of the inventory (``strongroom.rotation.inventory``), each one query.

One grouped query for all the secrets asked about (``Tx.last_uses``), never one per secret: the inventory of
ten thousand secrets over a log of millions of events costs one pass over the tenants' ``secret.use`` rows.
Only successful uses count (outcome ``ok``): a refused attempt is not a use.

Purposes and actors are the distinct ones seen in the last ``window`` seconds (30 days by default, counted
from the reader's clock), most recent first, at most ``MAX_LISTED`` of each; the last use itself is the
newest of all time, so a secret unused for a year still shows when it was last used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strongroom.clock import iso
from strongroom.vocabulary import HIDDEN_TENANTS, Action, Outcome

if TYPE_CHECKING:
    from strongroom.store import Tx
    from strongroom.vault.service import Vault

__all__ = ["DEFAULT_WINDOW_SECONDS", "MAX_LISTED", "LastUse", "UsageReader"]

DEFAULT_WINDOW_SECONDS = 30 * 86400.0
MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class LastUse:
    """A secret's last successful use, and who used it for what in the window (newest first)."""

    tenant: str
    name: str
    at: float
    purposes: tuple[str, ...]
    actors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "name": self.name,
            "at": iso(self.at),
            "purposes": list(self.purposes),
            "actors": list(self.actors),
        }


class UsageReader:
    """Reads of the vault's audit log about use (``vault.usage``)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def last_uses(
        self, tenant: str | None = None, *, window: float = DEFAULT_WINDOW_SECONDS, now: float | None = None
    ) -> dict[tuple[str, str], LastUse]:
        """The last use of every used secret of the environment (or of ``tenant``), by (tenant, name).
        The platform's own secrets (``_platform``) are included; strongroom's hidden tenants are not."""
        vault = self._vault
        vault.flush_audit()  # this process's queued uses count too
        since = (vault.clock() if now is None else now) - window
        with vault._store.read() as tx:
            names = self._tenant_names(tx, tenant)
            rows = tx.last_uses(vault.environment, list(names), action=Action.SECRET_USE, outcome=Outcome.OK)
        return _fold(names, rows, since)

    def current_since(self, tenant: str | None = None) -> dict[tuple[str, str], float]:
        """When the current version of each live secret (of ``tenant``, or of every tenant and the platform) was
        made, by (tenant, name): the inventory's ages, in one query."""
        vault = self._vault
        with vault._store.read() as tx:
            names = self._tenant_names(tx, tenant)
            made = tx.current_made(list(names))
        return {(names[tenant_id], name): at for (tenant_id, name), at in made.items()}

    def _tenant_names(self, tx: Tx, tenant: str | None) -> dict[str, str]:
        """Tenant id -> name of ``tenant``, or of every tenant but strongroom's hidden ones."""
        vault = self._vault
        if tenant is None:
            return {t.id: t.name for t in tx.tenants(vault.environment) if t.name not in HIDDEN_TENANTS}
        record = vault._tenant(tx, tenant)
        return {record.id: record.name}


def _fold(
    names: dict[str, str], rows: Iterable[tuple[str, str, str | None, str, float]], since: float
) -> dict[tuple[str, str], LastUse]:
    grouped: dict[tuple[str, str], list[tuple[float, str | None, str]]] = {}
    for tenant_id, name, purpose, actor, at in rows:
        grouped.setdefault((names[tenant_id], name), []).append((at, purpose, actor))
    out: dict[tuple[str, str], LastUse] = {}
    for key, uses in grouped.items():
        uses.sort(key=lambda use: use[0], reverse=True)
        recent = [use for use in uses if use[0] >= since]
        out[key] = LastUse(
            tenant=key[0],
            name=key[1],
            at=uses[0][0],
            purposes=_distinct(purpose for _, purpose, _ in recent if purpose),
            actors=_distinct(actor for _, _, actor in recent),
        )
    return out


def _distinct(items: Iterable[str | None]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for item in items:
        if item is not None and item not in seen:
            seen[item] = None
            if len(seen) == MAX_LISTED:
                break
    return tuple(seen)
