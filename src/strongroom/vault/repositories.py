"""The service's tables, written only through the vault's unit of work.

``tokens/``, ``server/`` and ``broker/`` never open a store transaction: they get these small
repositories from the vault (``vault.api_key_repo``, ``vault.token_repo``, ``vault.connector_repo``,
``vault.share_repo``). Each write method is one ``Vault._unit_of_work``: queued use events flushed first,
the row(s) and their audit event(s) committed together, a refusal audited. Each read method is one read
transaction, as cheap as the query it wraps (``ApiKeyRepository.lookup`` is on every API-key request).

The record types are re-exported here so the layers above need nothing from ``strongroom.store``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from strongroom.errors import Expired, NotFound
from strongroom.store import ApiKeyRecord, ConnectorRecord, ShareRecord, TenantRecord, TokenRevocationRecord
from strongroom.vocabulary import PLATFORM_TENANT, Action, Kind, Outcome, Sensitivity

if TYPE_CHECKING:
    from strongroom.audit import AuditEvent
    from strongroom.store import Tx
    from strongroom.vault.service import Vault

__all__ = [
    "ApiKeyRecord",
    "ApiKeyRepository",
    "ConnectorRecord",
    "ConnectorRepository",
    "ShareRecord",
    "ShareRepository",
    "TenantRecord",
    "TokenRepository",
    "TokenRevocationRecord",
    "key_revocation_id",
    "token_revocation_id",
]

KEY_REVOCATION_PREFIX = "key:"


def key_revocation_id(key_id: str) -> str:
    """The ``token_revocations`` row that revokes every token an API key minted: ``key:<public id>``. A real
    jti never holds a ``:`` (``tokens.issue.new_jti``, and revocation by jti refuses one), so the two never
    meet; the row rides the revocation snapshot every verifier already re-reads."""
    return KEY_REVOCATION_PREFIX + key_id


def token_revocation_id(tenant_id: str, jti: str) -> str:
    """The ``token_revocations`` row of one token: its tenant's id and its jti (32 + 1 + at most 31
    characters), so a revocation by id made by one tenant can never touch another tenant's token. Rows
    written before it named the jti alone; verifiers check both forms."""
    return f"{tenant_id}:{jti}"


# The repositories are the vault's own parts: they use its private unit of work and helpers.


class ApiKeyRepository:
    """``api_keys`` rows of the vault's environment."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def insert(self, record: ApiKeyRecord, tenant: str | None, created: AuditEvent) -> ApiKeyRecord:
        """Insert a key (of ``tenant``, or an operator key) with its ``api_key.create`` event. ``Conflict`` on an
        id collision; ``NotFound`` for an unknown tenant (audited as refusals)."""
        vault = self._vault
        with vault._unit_of_work(created) as work:
            if tenant is not None:
                record = replace(record, tenant_id=vault._tenant(work.tx, tenant).id)
            work.tx.insert_api_key(record)
            work.record(created)
        return record

    def lookup(self, key_id: str) -> tuple[ApiKeyRecord, TenantRecord | None] | None:
        """A key and its tenant by public id: one indexed read (the authentication path)."""
        with self._vault._store.read() as tx:
            return tx.api_key(key_id)

    def touch(self, key_id: str, at: float) -> None:
        """Set ``last_used_at``: a write with no audit event, so it does not wait for queued use events."""
        with self._vault._unit_of_work(flush=False) as work:
            work.tx.touch_api_key(key_id, at)

    def list(self, tenant: str | None) -> builtins.list[ApiKeyRecord]:
        """The keys of ``tenant`` (``None``: the operator keys), oldest first."""
        vault = self._vault
        with vault._store.read() as tx:
            tenant_id = None if tenant is None else vault._tenant(tx, tenant).id
            return tx.api_keys(vault.environment, tenant_id)

    def revoke(
        self,
        key_id: str,
        owned: Callable[[tuple[ApiKeyRecord, TenantRecord | None] | None], object],
        revoked: AuditEvent,
        *,
        tokens_until: float,
        others: Callable[[ApiKeyRecord, builtins.list[ApiKeyRecord]], object] | None = None,
    ) -> bool:
        """Revoke a key after ``owned(found)`` accepted it (it raises ``NotFound`` otherwise), with its audit
        event and, for a tenant's key, the revocation of every token it minted (``key_revocation_id``, kept
        until ``tokens_until``), in one transaction. False (nothing written) if it was revoked already.

        ``others(key, operator_keys)``, for an operator key, may refuse (``Conflict``: the last admin key). It
        runs after the event is chained, so under the environment chain's lock: two revocations of the last
        two admin keys run one after the other, and the second sees the first.
        """
        vault = self._vault
        try:
            with vault._unit_of_work(revoked) as work:
                found = work.tx.api_key(key_id)
                owned(found)
                if found is None or found[0].revoked_at is not None:
                    return False
                record, tenant = found
                work.record(revoked)
                if others is not None and tenant is None:
                    others(record, work.tx.api_keys(vault.environment, None))
                if not work.tx.revoke_api_key(key_id, revoked.at):
                    raise _AlreadyRevoked  # by a concurrent request: roll our event back, report no change
                if tenant is not None:
                    work.tx.insert_token_revocation(
                        TokenRevocationRecord(
                            jti=key_revocation_id(key_id),
                            environment=vault.environment,
                            tenant_id=tenant.id,
                            expires_at=tokens_until,
                            revoked_at=revoked.at,
                        )
                    )
        except _AlreadyRevoked:
            return False
        return True


class _AlreadyRevoked(Exception):
    """Not a refusal (the unit of work rolls back without auditing one): the key was revoked meanwhile."""


class TokenRepository:
    """Agent-token revocations and the reads the token service makes."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def issue_context(self, tenant: str, signing_key: str) -> tuple[str, int]:
        """The tenant's id and the stored version of the platform secret ``signing_key`` (0: none): one read."""
        vault = self._vault
        with vault._store.read() as tx:
            return vault._tenant(tx, tenant).id, _live_version(vault, tx, signing_key)

    def platform_secret_version(self, name: str) -> int:
        """The current version of a platform secret (0: none or deleted)."""
        with self._vault._store.read() as tx:
            return _live_version(self._vault, tx, name)

    def rotate_signing_key(
        self, name: str, raw: bytes, *, expected_version: int, description: str, actor: str, detail: str
    ) -> tuple[int, float]:
        """Write ``raw`` as the next version of the platform secret ``name`` with its ``secret.put`` and
        ``token.key_rotate`` events, in one transaction; (version, created_at). ``Conflict`` (audited) if
        the stored version is not ``expected_version``: another process rotated first."""
        vault = self._vault
        plaintext, value_type = vault._check_put(
            PLATFORM_TENANT,
            name,
            raw,
            kind=Kind.PLATFORM,
            sensitivity=Sensitivity.CRITICAL,
            description=description,
            expected_version=expected_version,
            ttl_seconds=None,
        )
        now = vault._clock()
        put = vault.audit_event(PLATFORM_TENANT, Action.SECRET_PUT, name, actor=actor, at=now)
        rotated = vault.audit_event(PLATFORM_TENANT, Action.TOKEN_KEY_ROTATE, name, actor=actor, at=now, detail=detail)
        with vault._unit_of_work(put) as work:
            info = vault._put(
                work,
                PLATFORM_TENANT,
                name,
                plaintext,
                value_type=value_type,
                kind=Kind.PLATFORM,
                sensitivity=Sensitivity.CRITICAL,
                description=description,
                expected_version=expected_version,
                ttl_seconds=None,
                event=put,
                now=now,
            )
            work.record(rotated._replace(version=info.version))
        return info.version, info.updated_at

    def platform_tenant_exists(self) -> bool:
        with self._vault._store.read() as tx:
            return tx.tenant(self._vault.environment, PLATFORM_TENANT) is not None

    def tenant_ids(self, names: Iterable[str]) -> dict[str, str]:
        """The current ids of the named tenants that exist."""
        with self._vault._store.read() as tx:
            return tx.tenant_ids(self._vault.environment, names)

    def snapshot(self, *, expiring_after: float, names: Iterable[str]) -> tuple[dict[str, float], dict[str, str]]:
        """Live revocations (jti -> expiry) and the ids of the named tenants, in one read."""
        vault = self._vault
        with vault._store.read() as tx:
            return tx.token_revocations(vault.environment, expiring_after=expiring_after), tx.tenant_ids(
                vault.environment, names
            )

    def revoke(self, jti: str, *, tenant: str, keep_until: float, revoked: AuditEvent, prune_before: float) -> str:
        """Persist a revocation of ``tenant``'s token ``jti`` (audited if new) and prune those whose token has
        expired, in one transaction; the row's id (``token_revocation_id``)."""
        vault = self._vault
        with vault._unit_of_work(revoked) as work:
            tenant_id = vault._tenant(work.tx, tenant).id
            record = TokenRevocationRecord(
                jti=token_revocation_id(tenant_id, jti),
                environment=vault.environment,
                tenant_id=tenant_id,
                expires_at=keep_until,
                revoked_at=revoked.at,
            )
            if work.tx.insert_token_revocation(record):
                work.record(revoked)
            work.tx.prune_token_revocations(vault.environment, expired_before=prune_before)
        return record.jti


class ConnectorRepository:
    """Tenants' own connector definitions (JSON text; the broker parses them)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def put(
        self,
        tenant: str,
        name: str,
        definition: str,
        event: AuditEvent,
        *,
        check_replace: Callable[[str | None], None] | None = None,
    ) -> None:
        """Create or replace a tenant's connector, audited (``connector.put``).

        ``check_replace(old_definition)`` runs in the same transaction, with ``None`` when no connector of that
        name exists; what it raises (``AccessDenied``: a base URL set or changed without ``destinations:write``)
        refuses the put, audited with the exception's outcome.
        """
        vault = self._vault
        with vault._unit_of_work(event) as work:
            record = vault._tenant(work.tx, tenant)
            if check_replace is not None:
                existing = work.tx.connector(record.id, name)
                check_replace(None if existing is None else existing.definition)
            work.tx.put_connector(
                ConnectorRecord(
                    environment=vault.environment,
                    tenant_id=record.id,
                    name=name,
                    definition=definition,
                    created_at=event.at,
                    updated_at=event.at,
                )
            )
            work.record(event)

    def delete(self, tenant: str, name: str, event: AuditEvent) -> None:
        """Remove a tenant's connector, audited; ``NotFound`` (audited as a refusal) if it has none so named."""
        vault = self._vault
        with vault._unit_of_work(event) as work:
            record = vault._tenant(work.tx, tenant)
            if not work.tx.delete_connector(record.id, name):
                raise NotFound(f"connector {name!r} not found for tenant {tenant!r}")
            work.record(event)

    def definitions(self, tenant: str) -> builtins.list[ConnectorRecord]:
        """The tenant's own connectors, in one read; ``NotFound`` for an unknown tenant."""
        vault = self._vault
        with vault._store.read() as tx:
            return tx.connectors(vault._tenant(tx, tenant).id)


class ShareRepository:
    """One-time share links. Creation is one transaction; so is redemption (see ``create`` and ``redeem``)."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault

    def create(
        self,
        tenant: str,
        name: str,
        value: str,
        *,
        share_id: str,
        ttl_seconds: float,
        actor: str,
        now: float,
        context: str | None = None,
    ) -> float:
        """Store ``value`` as the ephemeral secret ``name`` and the share row ``share_id``; returns the expiry.

        Atomic: the secret's version, the share row and both audit events (``secret.put`` and
        ``share.create``) commit together or not at all. A refusal is audited as ``share.create``.
        """
        vault = self._vault
        description = "one-time delivery"
        plaintext, value_type = vault._check_put(
            tenant,
            name,
            value,
            kind=Kind.EPHEMERAL,
            sensitivity=Sensitivity.CRITICAL,
            description=description,
            expected_version=None,
            ttl_seconds=ttl_seconds,
        )
        put = vault.audit_event(tenant, Action.SECRET_PUT, name, actor=actor, at=now, context=context)
        created = vault.audit_event(
            tenant, Action.SHARE_CREATE, name, actor=actor, at=now, detail=f"share {share_id[:12]}", context=context
        )
        with vault._unit_of_work(created) as work:
            info = vault._put(
                work,
                tenant,
                name,
                plaintext,
                value_type=value_type,
                kind=Kind.EPHEMERAL,
                sensitivity=Sensitivity.CRITICAL,
                description=description,
                expected_version=None,
                ttl_seconds=ttl_seconds,
                event=put,
                now=now,
            )
            expires_at = info.expires_at if info.expires_at is not None else now + ttl_seconds
            work.tx.insert_share(
                ShareRecord(
                    id=share_id,
                    environment=vault.environment,
                    tenant_id=vault._tenant(work.tx, tenant).id,
                    secret_name=name,
                    version=info.version,
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                    created_by=actor,
                )
            )
            work.record(created)
        return expires_at

    def redeem(
        self, share_id: str, *, actor: str, now: float, purpose: str = "share", context: str | None = None
    ) -> str | bytes:
        """The shared value, once; ``NotFound`` for an unknown or used link, ``Expired`` for an expired one.

        Atomic: marking the link used (the conditional update one caller wins), decrypting the value, purging
        it and the audit events (``share.redeem``, ``secret.use``, ``secret.purge``) are one transaction. If
        anything fails (a key provider down, a tampered row) nothing changes, the link still works and the
        refusal is audited (``share.redeem`` with the failure's outcome). An
        expired link is marked used, purged and audited in one transaction, then ``Expired`` is raised.
        ``context``: the redeemer's (``AuditContext(...).encode()``), on every one of those events.
        """
        vault = self._vault
        gone = "no such share link (or it was used)"
        with vault._unit_of_work() as work:
            tx = work.tx
            share = tx.share(share_id, lock=True)
            if share is None or share.used_at is not None or not tx.mark_share_used(share_id, now):
                raise NotFound(gone)
            tenant = next((t for t in tx.tenants(vault.environment) if t.id == share.tenant_id), None)
            if tenant is None:
                raise NotFound(gone)
            name = share.secret_name
            redeemed = vault.audit_event(tenant.name, Action.SHARE_REDEEM, name, actor=actor, at=now, context=context)
            redeemed = redeemed._replace(detail=f"share {share_id[:12]}")
            # From here a refusal (a tampered value, the key service down) rolls back and is audited as this.
            work.refused = redeemed
            expired = share.expires_at <= now
            value: str | bytes | None = None
            if expired:
                work.record(redeemed._replace(outcome=Outcome.EXPIRED))
            else:
                work.record(redeemed)
                value = vault._decrypt_in(
                    work, tenant, name, share.version, purpose=purpose, actor=actor, now=now, context=context
                )
            purged = vault.audit_event(tenant.name, Action.SECRET_PURGE, name, actor=actor, at=now, context=context)
            vault._remove_in(work, tenant, name, purged)
        if value is None:
            raise Expired("this share link has expired")
        return value


def _live_version(vault: Vault, tx: Tx, name: str) -> int:
    tenant = tx.tenant(vault.environment, PLATFORM_TENANT)
    row = None if tenant is None else tx.secret(tenant.id, name)
    return 0 if row is None or row.deleted_at is not None else row.current_version
