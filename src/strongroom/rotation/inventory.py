"""The secret inventory: every secret, its sensitivity and rotation state, and its last use.

``inventory(vault, schema=..., clock=...)`` builds one ``InventoryRow`` per secret: the platform's (those a
config schema declares, stored or not, and those stored under ``_platform``) and every tenant's. Rotation
state comes from the store's policies and newest rotations, ages and last use from ``vault.usage`` (one
query each, however many secrets: last use is one grouped query over the audit log). No row ever holds a value.

A secret is *overdue* when its policy's next due time has passed, or, with no policy, when the schema gives
it a period (``rotate=``) and its current version is older than that. An ephemeral secret expires instead
of rotating: it is never overdue. ``InventoryRow.alarm`` says why a critical secret fails the inventory
(overdue, or its last rotation failed); ``strongroom inventory`` exits 1 on any.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from strongroom.clock import Clock, iso
from strongroom.errors import NotFound
from strongroom.vocabulary import PLATFORM_TENANT, SENSITIVITIES, Kind, RotationStatus, Sensitivity

if TYPE_CHECKING:
    from strongroom.config.schema import FieldSpec, Settings
    from strongroom.vault import SecretInfo, Vault
    from strongroom.vault.rotations import PolicyInfo, RotationInfo
    from strongroom.vault.usage import LastUse

__all__ = ["FIELDS", "InventoryRow", "alarms", "inventory"]

FIELDS: tuple[str, ...] = (
    "tenant",
    "name",
    "kind",
    "sensitivity",
    "source",
    "version",
    "rotate_every_seconds",
    "rotator",
    "current_since",
    "age_seconds",
    "last_rotation_status",
    "last_rotation_at",
    "last_rotation_error",
    "next_due",
    "overdue",
    "expires_at",
    "last_used_at",
    "purposes",
    "actors",
)
"""The keys of ``InventoryRow.to_dict()``, in order: the ``--csv`` header."""

_TIMES = ("current_since", "last_rotation_at", "next_due", "expires_at", "last_used_at")


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One secret in the inventory. Times are epoch seconds here, ISO 8601 UTC in ``to_dict()``."""

    tenant: str
    name: str
    kind: str  # vocabulary.Kind
    sensitivity: str  # vocabulary.Sensitivity
    source: str  # "store", "schema" (declared, not in the store) or "schema+store"
    version: int | None  # the current version; None when not in the store
    rotate_every_seconds: float | None
    rotator: str | None  # None: no rotation policy in the store (the schema may still give a period)
    current_since: float | None  # when the current version was made
    age_seconds: float | None
    last_rotation_status: str | None  # vocabulary.RotationStatus of the newest rotation
    last_rotation_at: float | None  # when it finished (or started, while it runs)
    last_rotation_error: str | None
    next_due: float | None
    overdue: bool
    expires_at: float | None  # ephemeral secrets
    last_used_at: float | None
    purposes: tuple[str, ...]  # distinct purposes of the uses in the usage window (vault.usage), newest first
    actors: tuple[str, ...]

    @property
    def alarm(self) -> str | None:
        """Why this secret fails the inventory (critical, and overdue or its last rotation failed), or None."""
        if self.sensitivity != Sensitivity.CRITICAL:
            return None
        if self.last_rotation_status == RotationStatus.FAILED:
            return "its last rotation failed"
        if self.overdue:
            return "it is overdue for rotation"
        return None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in FIELDS}
        for name in _TIMES:
            out[name] = iso(out[name])
        out["purposes"], out["actors"] = list(self.purposes), list(self.actors)
        return out


def inventory(
    vault: Vault,
    *,
    schema: type[Settings] | None = None,
    tenant: str | None = None,
    clock: Clock | None = None,
) -> builtins.list[InventoryRow]:
    """Every secret of the vault's environment (or of ``tenant``), sorted by tenant then name: the
    platform's (``schema``'s secret fields and ``_platform``'s stored secrets) and the tenants'."""
    now = (clock or vault.clock)()
    tenants = [tenant] if tenant is not None else [PLATFORM_TENANT, *sorted(t.name for t in vault.list_tenants())]
    stored: dict[tuple[str, str], SecretInfo] = {}
    for name in tenants:
        try:
            stored.update(((info.tenant, info.name), info) for info in vault.list(name))
        except NotFound:
            if name != PLATFORM_TENANT:
                raise
            # the platform tenant exists once something is stored for the platform: until then, none
    declared: dict[str, FieldSpec] = {}
    if schema is not None and tenant in (None, PLATFORM_TENANT):
        declared = {spec.name: spec for spec in schema.fields().values() if spec.is_secret}
    repo = vault.rotation_repo
    # Nothing stored: no store reads (a --tenant _platform with nothing stored names no tenant to read).
    policies = {(p.tenant, p.name): p for p in repo.policies(tenant)} if stored else {}
    latest = repo.latest(tenant) if stored else {}
    uses = vault.usage.last_uses(tenant, now=now) if stored else {}
    made = vault.usage.current_since(tenant) if stored else {}
    keys = set(stored) | {(PLATFORM_TENANT, name) for name in declared}
    return [
        _row(
            key,
            info=stored.get(key),
            spec=declared.get(key[1]) if key[0] == PLATFORM_TENANT else None,
            policy=policies.get(key),
            rotation=latest.get(key),
            use=uses.get(key),
            current_since=made.get(key) if key in stored else None,
            now=now,
        )
        for key in sorted(keys, key=lambda k: (k[0] != PLATFORM_TENANT, k))
    ]


def alarms(rows: Iterable[InventoryRow]) -> builtins.list[str]:
    """One line per critical secret that fails the inventory, naming it and why (never a value)."""
    return [f"critical secret {r.tenant}/{r.name}: {r.alarm}" for r in rows if r.alarm is not None]


def _row(
    key: tuple[str, str],
    *,
    info: SecretInfo | None,
    spec: FieldSpec | None,
    policy: PolicyInfo | None,
    rotation: RotationInfo | None,
    use: LastUse | None,
    current_since: float | None,
    now: float,
) -> InventoryRow:
    kind = info.kind if info is not None else spec.kind if spec is not None else Kind.PLATFORM
    sensitivity = _stricter(info.sensitivity if info else None, spec.sensitivity if spec else None)
    every = policy.rotate_every if policy is not None else spec.rotate_seconds if spec is not None else None
    age = None if current_since is None else round(max(0.0, now - current_since), 3)
    if kind == Kind.EPHEMERAL:
        every = next_due = None
    elif policy is not None:
        next_due = policy.next_due
    else:
        next_due = None if every is None or current_since is None else current_since + every
    source = "schema+store" if spec is not None and info is not None else "schema" if spec is not None else "store"
    return InventoryRow(
        tenant=key[0],
        name=key[1],
        kind=kind,
        sensitivity=sensitivity,
        source=source,
        version=None if info is None else info.version,
        rotate_every_seconds=every,
        rotator=None if policy is None else policy.rotator,
        current_since=current_since,
        age_seconds=age,
        last_rotation_status=None if rotation is None else rotation.status,
        last_rotation_at=None if rotation is None else rotation.finished_at or rotation.started_at,
        last_rotation_error=None if rotation is None else rotation.error,
        next_due=next_due,
        overdue=next_due is not None and next_due <= now,
        expires_at=None if info is None else info.expires_at,
        last_used_at=None if use is None else use.at,
        purposes=() if use is None else use.purposes,
        actors=() if use is None else use.actors,
    )


def _stricter(stored: str | None, declared: str | None) -> str:
    """The stricter of the stored and the declared sensitivity: a schema that says ``critical`` is heard even
    when the value was put with the default."""
    found = [s for s in (stored, declared) if s in SENSITIVITIES]
    return max(found, key=SENSITIVITIES.index) if found else Sensitivity.HIGH
