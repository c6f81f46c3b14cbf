"""``Vault``: tenants, secrets and their versions, and ``use()``, the one place a value is decrypted.

Every state change writes its audit event in the same transaction as the change. A ``use()`` changes
no state; its event goes through the audit log's queue (``audit_mode="async"``) or is committed before
the value is returned (``"strict"``, formerly ``"sync"``). Refusals are audited too.

The hot path of ``use()`` is a dict lookup, one AES-GCM decrypt and a queue append: the tenant's data
key cipher, the current ciphertext and its associated data are cached in the process for
``cache_ttl_seconds``. Writes through this ``Vault`` invalidate the cache at once; writes by other
processes are seen when the entry expires.
"""

from __future__ import annotations

import builtins
import logging
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn, TypeVar, overload

from strongroom import changes
from strongroom.audit import ENVIRONMENT_CHAIN, Action, AuditEvent, AuditLog, AuditMode, Outcome, VerifyReport, verify
from strongroom.audit import chain as audit_chain
from strongroom.audit.checkpoints import (
    Checkpoint,
    Checkpointer,
    CheckpointReport,
    CheckpointSink,
    environment_heads,
    public_key_from_text,
    sign,
    sinks_from_spec,
    verify_against,
)
from strongroom.audit.context import FITS as CONTEXT_FITS
from strongroom.audit.context import check_context
from strongroom.audit.events import chain_name
from strongroom.audit.keys import AuditKeys, derive_audit_keys, public_text
from strongroom.clock import Clock
from strongroom.crypto import KeyProvider
from strongroom.crypto.envelope import MIN_LENGTH, AuthenticationFailure, dek_version_of, prepare
from strongroom.crypto.hazmat import Binding, DataKeyCache, encrypt, new_key, wrap_context
from strongroom.crypto.providers.local import default_provider
from strongroom.errors import (
    AccessDenied,
    Conflict,
    Expired,
    InvalidInput,
    KeyProviderError,
    NotFound,
    StoreError,
    StrongroomError,
    TamperedError,
    WrongKeyError,
)
from strongroom.live_values import LIVE
from strongroom.names import check_environment, check_name, check_new_tenant_name
from strongroom.secret import Secret, _noted_elsewhere
from strongroom.store import AuditRecord, DataKeyRecord, SecretRecord, Store, TenantRecord, Tx, VersionRecord
from strongroom.vault.destinations import Destination, DestinationPolicy, allowed, parse_stored, refusal
from strongroom.vault.fingerprints import (
    FINGERPRINT_PREFIX,
    KnownFingerprints,
    StoredFingerprint,
    derive_fingerprint_key,
    stored_digest,
    value_fingerprint,
)
from strongroom.vault.key_check import KeyCheck, wrong_key_message
from strongroom.vault.key_lifecycle import KeyLifecycle, deletions_key
from strongroom.vault.keyring import Keyring, RootKeyGone
from strongroom.vault.policy import (
    DEFAULT_MAX_VALUE_BYTES,
    SecretInfo,
    TenantInfo,
    VersionInfo,
    check_kind,
    check_label,
    check_purpose,
    check_sensitivity,
    to_bytes,
)
from strongroom.vault.repositories import ApiKeyRepository, ConnectorRepository, ShareRepository, TokenRepository
from strongroom.vault.rotations import RotationRepository, stage_of
from strongroom.vault.unit_of_work import REFUSALS, UnitOfWork, refusal_outcome
from strongroom.vault.usage import UsageReader
from strongroom.vocabulary import (
    AUDIT_TENANT,
    DEFAULT_KIND,
    DEFAULT_SENSITIVITY,
    HIDDEN_TENANTS,
    INTERNAL_TENANTS,
    MAX_DETAIL_CHARS,
    MAX_LABEL_CHARS,
    NO_TENANT,
    PLATFORM_TENANT,
    ROOT_KEYRING,
    SCAN_TENANT,
    SHARE_SECRET_PREFIX,
    Kind,
    Stage,
    is_internal_secret,
)

log = logging.getLogger("strongroom.audit")

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM


_V = TypeVar("_V", str, bytes)


class _Hot(NamedTuple):
    """A decryptable current version, ready for the hot path (a tuple: ``use()`` unpacks it in one step)."""

    cached_until: float
    decrypt: Callable[[bytes, bytes, bytes], bytes]
    nonce: bytes
    body: bytes
    aad: bytes
    is_text: bool
    version: int
    audit_key: tuple[str, str, str, int, str]  # audit.sinks.UseKey: the tenant's id comes with it
    what: str
    destinations: DestinationPolicy | None  # where the broker may send it (read in the same row)


class Vault:
    """Envelope-encrypted, audited secrets for many tenants in one environment."""

    def __init__(
        self,
        store: Store,
        key_provider: KeyProvider,
        *,
        environment: str = "dev",
        actor: str = "local",
        audit_mode: AuditMode = "async",
        clock: Clock = time.time,
        cache_ttl_seconds: float = 5.0,
        dek_cache_ttl_seconds: float = 300.0,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        audit_spool_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._provider = key_provider
        self.environment = check_environment(environment)
        check_label("actor", actor)
        self.actor = actor
        self._clock = clock
        self._audit_keys_loaded: AuditKeys | None = None
        self._checkpointer: Checkpointer | None = None
        self._audit_keys_lock = threading.Lock()
        self._dek_cache = DataKeyCache(ttl_seconds=dek_cache_ttl_seconds, clock=clock)
        self._keyring = Keyring(key_provider, self.environment, store.read, clock)
        self._key_check = KeyCheck(key_provider, self.environment, self._unwrap, self._keyring)
        # After what _audit_keys reads: the AuditLog's writer thread may ask for the keys as soon as it starts.
        self._audit = AuditLog(store, self._audit_keys, mode=audit_mode, spool_dir=audit_spool_dir)
        self._submit_use = self._audit.submit  # bound once: the hot path hands over one event per use()
        self._hot: dict[tuple[str, str], _Hot] = {}
        # (tenant id, data key version) -> that data key's fingerprint key; dropped with the tenant
        self._fingerprint_keys: dict[tuple[str, int], bytes] = {}
        self._hot_max_entries = 4096
        self._writes = 0  # bumped by every write through this Vault; a cold load that raced one is not cached
        self._purposes: set[str] = set()
        self._closed = False
        self._cache_ttl_seconds = cache_ttl_seconds
        self.max_value_bytes = max_value_bytes
        changes.watch(self._forget_changed)  # a write through another Vault of this process drops ours too

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        key_provider: KeyProvider | None = None,
        environment: str | None = None,
        home: str | Path | None = None,
        migrate: bool = True,
        actor: str | None = None,
        audit_mode: AuditMode = "async",
        clock: Clock = time.time,
        cache_ttl_seconds: float = 5.0,
        dek_cache_ttl_seconds: float = 300.0,
        max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES,
        checkpoints: str | None = None,
    ) -> Vault:
        """Open (and, with ``migrate``, create or upgrade) the store at ``url``.

        Unset arguments come from ``STRONGROOM_URL``, ``STRONGROOM_ENV``, ``STRONGROOM_HOME`` and the
        key provider from ``STRONGROOM_MASTER_KEY`` or ``$STRONGROOM_HOME/keys/<env>.json``.

        ``audit_mode``: ``"async"`` queues use events for a background writer (every 200 ms, and before any
        write); ``"strict"`` (``"sync"``, its old name) commits each before the value is returned and refuses
        to serve if it cannot (docs/audit.md, "Durability"). Async events the store could not take by close
        are spooled under ``home`` and written by the next open.
        ``clock``: seconds since the epoch (tests inject one). ``cache_ttl_seconds``: how long a decryptable
        current version is kept in process (0: never; writes by other processes are seen within it).
        ``dek_cache_ttl_seconds``: how long an unwrapped data key is kept. ``max_value_bytes``: the largest
        value ``put`` accepts. ``checkpoints``: where signed audit checkpoints go (``"off"``: nowhere;
        unset: ``STRONGROOM_AUDIT_CHECKPOINTS``, else a file under the home; ``strongroom.audit.checkpoints``).
        """
        from strongroom import defaults
        from strongroom.store.migrate import upgrade

        home_path = Path(home) if home is not None else defaults.home_dir()
        environment = check_environment(environment or defaults.environment_name())
        provider = key_provider or default_provider(defaults.key_file(environment, home_path), environment)
        store = Store(url or defaults.store_url(home_path))
        try:
            if migrate:
                upgrade(store)
            else:
                store.check_current()
            vault = cls(
                store,
                provider,
                environment=environment,
                actor=actor or defaults.actor(),
                audit_mode=audit_mode,
                clock=clock,
                cache_ttl_seconds=cache_ttl_seconds,
                dek_cache_ttl_seconds=dek_cache_ttl_seconds,
                max_value_bytes=max_value_bytes,
                audit_spool_dir=_audit_spool_dir(home_path, environment, store.url),
            )
            vault._check_key_unless_unreachable()
            if migrate:
                vault.drop_legacy_fingerprints()  # once, after an upgrade: see docs/scanning.md
            spec = checkpoints or defaults.checkpoint_sinks(environment, home_path)
            vault.start_checkpoints(sinks_from_spec(spec), interval_seconds=defaults.checkpoint_interval())
        except BaseException:
            store.close()
            raise
        return vault

    def check_key_provider(self) -> None:
        """``WrongKeyError`` unless the key provider holds this database's keys: the key ids its data keys are
        wrapped under, and the material of each version, by its key check value (``vault/key_check.py``).

        Checked at open and before a write wraps a new data key, so a wrong key fails before anything is
        written instead of creating tenants under the wrong key. The current version's check value is stored
        on first use (its only write; no audit event: nothing a tenant owns changed). A provider that can
        check itself (``ManagedKeyProvider.check``: reachable, PIN accepted, key enabled) is asked first.
        """
        check = getattr(self._provider, "check", None)
        if callable(check):
            check()
        with self._store.read() as tx:
            values = self._key_check.verify(tx)
        if values:
            with self._unit_of_work(flush=False) as work:
                self._key_check.store(work.tx, values)

    def _check_key_unless_unreachable(self) -> None:
        """``check_key_provider``, but a provider that cannot answer (down, a wrong PIN) is left to fail the
        operation that needs it, as before, and ``/readyz`` to report; only a wrong key is refused here."""
        try:
            self.check_key_provider()
        except WrongKeyError:
            raise
        except KeyProviderError:
            return
        # In memory from now on, so refusals are still recorded while the key provider is down.
        self._load_audit_keys()

    @property
    def key_provider_kind(self) -> str:
        """The provider's URI scheme (``file``, ``env``, ``pkcs11``, ``aws-kms``, ...): what ``/readyz`` names."""
        uri = str(getattr(self._provider, "uri", self._provider.key_id))
        return uri.split(":", 1)[0]

    def _use_provider(self, provider: KeyProvider) -> None:
        """Switch this vault to another key provider (``keys.migrate`` moved the root keys to it)."""
        self._provider = provider
        self._keyring.use_provider(provider)
        self._key_check = KeyCheck(provider, self.environment, self._unwrap, self._keyring)

    def _check_key_before_wrapping(self) -> None:
        """Before a write that wraps a data key: the provider's current version verified, or checked now."""
        if not self._key_check.current_verified():
            self._check_key_unless_unreachable()

    def __repr__(self) -> str:
        return f"Vault({self._store!r}, environment={self.environment!r}, key_id={self._provider.key_id!r})"

    def __enter__(self) -> Vault:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Write queued audit events, drop cached keys, and close the database pool; the vault refuses work after."""
        self._closed = True
        self._audit.close()
        if self._checkpointer is not None:
            self._checkpointer.close()  # after the audit log's last write: the final heads
        self._hot.clear()
        self._dek_cache.clear()
        self._keyring.forget()
        self._store.close()

    # -- narrow doors for the layers above (they never see the store or the audit log) ---------------

    @property
    def audit_mode(self) -> AuditMode:
        """``"async"`` (use events are queued) or ``"strict"`` (committed before the value is returned)."""
        return self._audit.mode

    def record_event(self, *events: AuditEvent) -> None:
        """Audit events that go with no state change (a refusal, an issued token): queued in async mode,
        committed before this returns in strict mode."""
        self._audit.record_now(*events)

    def enqueue_event(self, *events: AuditEvent) -> None:
        """Queue events for the background writer whatever the mode (the service's door: failed logins)."""
        self._audit.enqueue(*events)

    def submit_event(self, event: AuditEvent) -> None:
        """The audit log's ``submit``: a queue append in async mode, a committed write in strict mode (call it
        off the event loop then)."""
        self._audit.submit(event)

    def flush_audit(self) -> None:
        """Write every queued use event now."""
        self._audit.flush()

    @property
    def pending_audit_events(self) -> int:
        return self._audit.pending

    def check_store(self) -> None:
        """``StoreError`` unless the database is reachable and at this code's schema revision (``/readyz``)."""
        self._store.check_current()

    @cached_property
    def api_key_repo(self) -> ApiKeyRepository:
        """API key rows of this environment (``strongroom.tokens.api_keys``)."""
        return ApiKeyRepository(self)

    @cached_property
    def token_repo(self) -> TokenRepository:
        """Token revocations and the reads the token service needs (``strongroom.tokens``)."""
        return TokenRepository(self)

    @cached_property
    def connector_repo(self) -> ConnectorRepository:
        """Tenants' own connector definitions (``strongroom.server``)."""
        return ConnectorRepository(self)

    @property
    def clock(self) -> Clock:
        """The vault's clock: stage times (a previous version's overlap) are compared with it."""
        return self._clock

    @cached_property
    def rotation_repo(self) -> RotationRepository:
        """Rotation policies, rotations and stage moves (``strongroom.rotation`` drives them)."""
        return RotationRepository(self)

    @cached_property
    def usage(self) -> UsageReader:
        """Last uses of secrets, their purposes and actors, from the audit log (``strongroom.rotation.inventory``)."""
        return UsageReader(self)

    def _changed(self, tenant: str, name: str) -> None:
        """After a committed change of a secret: every Vault of this process drops its hot entry (this one
        included, through its watcher), and the config layer's handles of it refetch."""
        changes.publish(self.environment, tenant, name)

    def _forget_changed(self, environment: str, tenant: str, name: str) -> None:
        if environment == self.environment:
            self._hot.pop((tenant, name), None)

    @cached_property
    def share_repo(self) -> ShareRepository:
        """One-time share links, created and redeemed atomically (``strongroom.tokens.shares``)."""
        return ShareRepository(self)

    # -- tenants ------------------------------------------------------------------------------------

    def create_tenant(
        self, name: str, *, actor: str | None = None, request_id: str | None = None, context: str | None = None
    ) -> TenantInfo:
        """A new tenant and its first data key. Reserved names are refused (``InvalidInput``), but for the
        platform tenant, which holds the environment's own secrets (``vocabulary.is_reserved_tenant_name``)."""
        _check_tenant_name(name)
        check_new_tenant_name(name, allowed=frozenset({PLATFORM_TENANT}))
        now = self._clock()
        record = TenantRecord(id=uuid.uuid4().hex, environment=self.environment, name=name, created_at=now)
        event = self.audit_event(
            name, Action.TENANT_CREATE, actor=actor, request_id=request_id, at=now, context=context
        )
        self._check_key_before_wrapping()
        with self._unit_of_work(event) as work:
            work.tx.insert_tenant(record)
            key = self._new_data_key(work.tx, record.id, 1, now)
            work.record(event)
            # only once committed: a rolled-back key must never encrypt
            work.after_commit(lambda: self._dek_cache.put(record.id, 1, key))
        return _tenant_info(record)

    def list_tenants(self) -> builtins.list[TenantInfo]:
        """This environment's tenants, by name; never the internal ones (``_platform``, ``_scan``)."""
        with self._store.read() as tx:
            return [_tenant_info(t) for t in tx.tenants(self.environment) if t.name not in INTERNAL_TENANTS]

    def delete_tenant(
        self, name: str, *, actor: str | None = None, request_id: str | None = None, context: str | None = None
    ) -> None:
        """Delete a tenant and destroy its data keys in one transaction (crypto-shredding)."""
        _check_tenant_name(name)
        event = self.audit_event(name, Action.TENANT_DELETE, actor=actor, request_id=request_id, context=context)
        with self._unit_of_work(event) as work:
            tenant = self._tenant(work.tx, name, lock=True)
            work.tx.delete_tenant(tenant.id)
            work.tx.bump_meta_counter(deletions_key(self.environment))  # a shred is pending (``key shred``)
            work.record(event._replace(tenant_id=tenant.id))  # by id: once the row is gone its name resolves to none
            work.after_commit(lambda: self._forget_tenant(tenant.id, name))

    def _forget_tenant(self, tenant_id: str, name: str) -> None:
        self._dek_cache.forget_tenant(tenant_id)
        for ref in [r for r in self._fingerprint_keys if r[0] == tenant_id]:
            del self._fingerprint_keys[ref]
        for key in [k for k in self._hot if k[0] == name]:
            self._hot.pop(key, None)

    # -- secrets ------------------------------------------------------------------------------------

    def put(
        self,
        tenant: str,
        name: str,
        value: str | bytes | Secret[Any],
        *,
        kind: str | None = None,
        sensitivity: str | None = None,
        description: str | None = None,
        expected_version: int | None = None,
        ttl_seconds: float | None = None,
        destinations: DestinationPolicy | None = None,
        may_change_destinations: bool = True,
        actor: str | None = None,
        request_id: str | None = None,
        context: str | None = None,
    ) -> SecretInfo:
        """Store a new version of a secret; ``expected_version`` makes it a check-and-set (0: must not exist).

        ``destinations``: where the broker may send it (``strongroom.vault.destinations``); ``None`` keeps the
        stored policy (a new secret then has none: only the operator's declared connectors may use it). Setting
        or changing it is audited (``secret.policy``) with the put. ``may_change_destinations=False`` (a caller
        without ``destinations:write``) refuses, with ``AccessDenied``, a put that would set or change a policy,
        of a new, live or deleted secret alike: a policy set by such a caller on a name the owner writes later
        would send the owner's value where the caller chose. ``context``: the caller's
        (``AuditContext(...).encode()``), on the ``secret.put`` and ``secret.policy`` events.
        """
        if destinations is not None and not isinstance(destinations, DestinationPolicy):
            raise InvalidInput("destinations must be a DestinationPolicy (DestinationPolicy.from_data([...]))")
        if isinstance(name, str) and is_internal_secret(name):
            raise InvalidInput(
                f"secret name {name[:40]!r}: names starting with {SHARE_SECRET_PREFIX!r} are strongroom's own"
            )
        plaintext, value_type = self._check_put(
            tenant,
            name,
            value,
            kind=kind,
            sensitivity=sensitivity,
            description=description,
            expected_version=expected_version,
            ttl_seconds=ttl_seconds,
        )
        now = self._clock()
        event = self.audit_event(
            tenant, Action.SECRET_PUT, name, actor=actor, request_id=request_id, at=now, context=context
        )
        with self._unit_of_work(event) as work:
            return self._put(
                work,
                tenant,
                name,
                plaintext,
                value_type=value_type,
                kind=kind,
                sensitivity=sensitivity,
                description=description,
                expected_version=expected_version,
                ttl_seconds=ttl_seconds,
                event=event,
                now=now,
                destinations=destinations,
                may_change_destinations=may_change_destinations,
            )

    def _check_put(
        self,
        tenant: str,
        name: str,
        value: str | bytes | Secret[Any],
        *,
        kind: str | None,
        sensitivity: str | None,
        description: str | None,
        expected_version: int | None,
        ttl_seconds: float | None,
    ) -> tuple[bytes, str]:
        """``put``'s checks before any I/O; the value as bytes and its type."""
        check_name("tenant name", tenant)
        check_name("secret name", name)
        plaintext, value_type = to_bytes(
            name, value.reveal() if isinstance(value, Secret) else value, self.max_value_bytes
        )
        for what, given in (("kind", kind), ("sensitivity", sensitivity)):
            if given is not None:
                (check_kind if what == "kind" else check_sensitivity)(given)
        if expected_version is not None and expected_version < 0:
            raise InvalidInput("expected_version must be 0 (create only) or a positive version")
        if description is not None and len(description) > MAX_DETAIL_CHARS:
            raise InvalidInput(f"description of secret {name!r} is over {MAX_DETAIL_CHARS} characters")
        if ttl_seconds is not None and ttl_seconds <= 0:
            raise InvalidInput(f"ttl_seconds of secret {name!r} must be positive")
        return plaintext, value_type

    def _put(
        self,
        work: UnitOfWork,
        tenant_name: str,
        name: str,
        plaintext: bytes,
        *,
        value_type: str,
        kind: str | None,
        sensitivity: str | None,
        description: str | None,
        expected_version: int | None,
        ttl_seconds: float | None,
        event: AuditEvent,
        now: float,
        destinations: DestinationPolicy | None = None,
        may_change_destinations: bool = True,
    ) -> SecretInfo:
        """Write a new version inside ``work`` (audited in it; the hot cache entry is dropped on commit)."""
        tx = work.tx
        tenant = self._tenant(tx, tenant_name)
        tx.ensure_secret(
            SecretRecord(
                tenant_id=tenant.id,
                name=name,
                kind=kind or DEFAULT_KIND,
                sensitivity=sensitivity or DEFAULT_SENSITIVITY,
                description=description or "",
                current_version=0,
                created_at=now,
                updated_at=now,
                deleted_at=None,
            )
        )
        row = tx.secret(tenant.id, name, lock=True)
        assert row is not None  # noqa: S101 -- ensured just above, in this transaction
        live_version = 0 if row.deleted_at is not None else row.current_version
        if expected_version is not None and expected_version != live_version:
            raise Conflict(f"secret {name!r} is at version {live_version}, not {expected_version}")
        policy_text = row.destinations
        policy_event: AuditEvent | None = None
        if destinations is not None and destinations.to_json() != row.destinations:
            policy_text = destinations.to_json()
            policy_event = event._replace(action=str(Action.SECRET_POLICY), detail=destinations.describe())
            if not may_change_destinations:
                # New and re-created secrets too: a policy outlives the version it was written with (the next
                # version written without one keeps it), so whoever may set one decides where later values go.
                work.refused = policy_event
                raise AccessDenied(
                    f"changing where secret {name!r} may be sent needs the scope destinations:write "
                    "(an API key's, never an agent token's)"
                )
        new_kind = kind or row.kind
        if (new_kind == Kind.EPHEMERAL) != (ttl_seconds is not None):
            raise InvalidInput(f"secret {name!r}: kind 'ephemeral' needs ttl_seconds, and only it takes one")
        if row.pending_version is not None:
            raise Conflict(
                f"secret {name!r} is being rotated (v{row.pending_version} pending): let the rotation finish, "
                f"or cancel it with `strongroom rotate {name} --cancel`"
            )
        expires_at = None if ttl_seconds is None else now + ttl_seconds
        version = row.newest_version + 1
        # The version it replaces becomes `previous`: a candidate for the policy's overlap (none without one).
        policy = tx.rotation_policy(tenant.id, name)
        previous = live_version or None
        self._insert_version(
            work,
            tenant,
            name,
            version,
            plaintext,
            value_type=value_type,
            created_by=event.actor,
            now=now,
            expires_at=expires_at,
        )
        values: dict[str, Any] = {
            "current_version": version,
            "updated_at": now,
            "deleted_at": None,
            "purged_at": None,
            "kind": new_kind,
            "sensitivity": sensitivity or row.sensitivity,
            "destinations": policy_text,
            "previous_version": previous,
            # No policy: no overlap of its own (None); a reader applies its own (the config layer's overlap).
            "previous_until": None if previous is None or policy is None else now + policy.overlap,
            "last_version": version,
        }
        if description is not None:
            values["description"] = description
        tx.advance_secret(tenant.id, name, row.current_version, values)
        work.record(event._replace(version=version))
        if policy_event is not None:
            work.record(policy_event._replace(version=version))
        work.after_commit(lambda: self._changed(tenant_name, name))
        return SecretInfo(
            tenant=tenant_name,
            name=name,
            kind=new_kind,
            sensitivity=values["sensitivity"],
            description=values.get("description", row.description),
            version=version,
            created_at=row.created_at,
            updated_at=now,
            deleted_at=None,
            expires_at=expires_at,
            destinations=parse_stored(policy_text),
        )

    def _insert_version(
        self,
        work: UnitOfWork,
        tenant: TenantRecord,
        name: str,
        version: int,
        plaintext: bytes,
        *,
        value_type: str,
        created_by: str,
        now: float,
        expires_at: float | None = None,
    ) -> None:
        """Encrypt ``plaintext`` under the tenant's latest data key and insert it as ``version`` (its stage is
        the caller's to set: a put makes it current, a rotation's create pending)."""
        dek = work.tx.latest_data_key(tenant.id)
        if dek is None:
            raise NotFound(f"tenant {tenant.name!r} has no data key: it was deleted")
        binding = Binding(self.environment, tenant.id, name, version)
        work.tx.insert_version(
            VersionRecord(
                tenant_id=tenant.id,
                name=name,
                version=version,
                dek_version=dek.version,
                value_type=value_type,
                ciphertext=encrypt(self._cipher(dek, tenant), dek.version, plaintext, binding),
                created_at=now,
                created_by=created_by,
                expires_at=expires_at,
                fingerprint=value_fingerprint(self._fingerprint_key(work, dek, tenant), plaintext),
            )
        )

    def set_destinations(
        self,
        tenant: str,
        name: str,
        destinations: DestinationPolicy | None,
        *,
        actor: str | None = None,
        request_id: str | None = None,
        context: str | None = None,
    ) -> SecretInfo:
        """Replace where a live secret may be sent, without a new version (``None``: declared connectors only).

        Audited (``secret.policy``); the caller checks ``destinations:write``. Takes effect in this process at
        once, in others within the hot cache's TTL.
        """
        check_name("tenant name", tenant)
        check_name("secret name", name)
        if destinations is not None and not isinstance(destinations, DestinationPolicy):
            raise InvalidInput("destinations must be a DestinationPolicy (DestinationPolicy.from_data([...]))")
        now = self._clock()
        detail = (
            "destinations: none set (declared connectors only)" if destinations is None else destinations.describe()
        )
        event = self.audit_event(
            tenant,
            Action.SECRET_POLICY,
            name,
            actor=actor,
            request_id=request_id,
            at=now,
            detail=detail,
            context=context,
        )
        with self._unit_of_work(event) as work:
            record = self._tenant(work.tx, tenant)
            row = work.tx.secret(record.id, name, lock=True)
            if row is None or row.deleted_at is not None or row.current_version == 0 or is_internal_secret(name):
                raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
            text = None if destinations is None else destinations.to_json()
            work.tx.set_destinations(record.id, name, text, now)
            work.record(event._replace(version=row.current_version))
            work.after_commit(lambda: self._hot.pop((tenant, name), None))
            expiries = work.tx.current_expiries(record.id)
        return _secret_info(tenant, replace(row, destinations=text, updated_at=now), expiries.get(name))

    def list(self, tenant: str, *, include_deleted: bool = False) -> builtins.list[SecretInfo]:
        """Metadata of a tenant's secrets; never values, and never strongroom's own (a share's value)."""
        check_name("tenant name", tenant)
        with self._store.read() as tx:
            record = self._tenant(tx, tenant)
            expiries = tx.current_expiries(record.id)
            rows = tx.secrets(record.id, include_deleted=include_deleted)
        return [_secret_info(tenant, r, expiries.get(r.name)) for r in rows if not is_internal_secret(r.name)]

    def versions(self, tenant: str, name: str) -> builtins.list[VersionInfo]:
        check_name("tenant name", tenant)
        check_name("secret name", name)
        with self._store.read() as tx:
            record = self._tenant(tx, tenant)
            row = tx.secret(record.id, name)
            if row is None or row.purged_at is not None:
                raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
            return [
                VersionInfo(
                    version=v.version,
                    current=stage_of(row, v.version) is Stage.CURRENT,
                    created_at=v.created_at,
                    created_by=v.created_by,
                    expires_at=v.expires_at,
                    stage=stage_of(row, v.version),
                    stage_until=row.previous_until if v.version == row.previous_version else None,
                )
                for v in tx.versions(record.id, name)
            ]

    def delete(
        self,
        tenant: str,
        name: str,
        *,
        actor: str | None = None,
        request_id: str | None = None,
        context: str | None = None,
    ) -> None:
        """Soft delete: ``use()`` refuses it, versions stay until ``purge``; a new ``put`` revives it."""
        self._remove(tenant, name, Action.SECRET_DELETE, actor, request_id, context=context)

    def purge(
        self,
        tenant: str,
        name: str,
        *,
        actor: str | None = None,
        request_id: str | None = None,
        context: str | None = None,
    ) -> None:
        """Delete a secret and every version of it for good."""
        self._remove(tenant, name, Action.SECRET_PURGE, actor, request_id, context=context)

    def _remember_purpose(self, purpose: str) -> None:
        check_purpose(purpose)
        if len(self._purposes) >= 4096:
            self._purposes.clear()
        self._purposes.add(purpose)

    def _remove(
        self, tenant: str, name: str, action: str, actor: str | None, request_id: str | None, *, context: str | None
    ) -> None:
        check_name("tenant name", tenant)
        check_name("secret name", name)
        event = self.audit_event(tenant, action, name, actor=actor, request_id=request_id, context=context)
        with self._unit_of_work(event) as work:
            if is_internal_secret(name):  # a share's value: only its redemption removes it
                raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
            self._remove_in(work, self._tenant(work.tx, tenant), name, event)

    def _remove_in(self, work: UnitOfWork, record: TenantRecord, name: str, event: AuditEvent) -> None:
        """Delete (``event.action`` ``secret.delete``) or purge a secret inside ``work``, audited in it."""
        tx = work.tx
        row = tx.secret(record.id, name, lock=True)
        if row is None or row.purged_at is not None or (event.action == Action.SECRET_DELETE and row.deleted_at):
            raise NotFound(f"secret {name!r} not found in tenant {record.name!r}")
        if event.action == Action.SECRET_DELETE:
            tx.mark_deleted(record.id, name, event.at)
            detail = None
        else:
            detail = f"{tx.purge_secret(record.id, name, event.at)} versions"
            tx.delete_rotation_policy(record.id, name)
            pointers = {"pending_version": None, "previous_version": None, "previous_until": None}
            tx.update_secret(record.id, name, {**pointers, "last_version": row.newest_version})
        work.record(event._replace(version=row.current_version, detail=detail))
        work.after_commit(lambda: self._changed(record.name, name))

    # -- the one narrow path ------------------------------------------------------------------------

    @overload
    def use(
        self,
        tenant: str,
        name: str,
        *,
        purpose: str,
        version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
        type: None = None,
        destination: Destination | None = None,
        context: str | None = None,
    ) -> Secret[str] | Secret[bytes]: ...

    @overload
    def use(
        self,
        tenant: str,
        name: str,
        *,
        purpose: str,
        version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
        type: builtins.type[_V],
        destination: Destination | None = None,
        context: str | None = None,
    ) -> Secret[_V]: ...

    def use(
        self,
        tenant: str,
        name: str,
        *,
        purpose: str,
        version: int | None = None,
        actor: str | None = None,
        request_id: str | None = None,
        type: builtins.type[Any] | None = None,
        destination: Destination | None = None,
        context: str | None = None,
    ) -> Secret[Any]:
        """Decrypt a secret for one purpose, audited: ``with vault.use(t, n, purpose="…") as secret:``.

        The ``Secret`` is its own context manager and stops revealing when the ``with`` block ends. A value
        put as ``str`` comes back as ``str``, one put as ``bytes`` as ``bytes``: ``Secret[str] | Secret[bytes]``.
        ``type=str`` or ``type=bytes`` types it as ``Secret[str]`` / ``Secret[bytes]`` and raises
        ``InvalidInput`` (nothing is revealed or audited) if the stored value is of the other type.

        ``destination``: where the caller (the broker) will send the value; checked against the secret's
        destination policy before anything is decrypted or unwrapped, and refused with ``AccessDenied``
        (audited, outcome ``denied``) when the policy does not allow it.

        ``context``: who asked, for what, on whose behalf, from where (``AuditContext(...).encode()``, built
        once per request by the caller), recorded with the use or its refusal.
        """
        now = self._clock()
        hot = self._hot.get((tenant, name)) if version is None else None
        cold = hot is None or hot.cached_until <= now
        if hot is None or cold:
            hot = self._load(
                tenant,
                name,
                version,
                purpose=purpose,
                actor=actor,
                request_id=request_id,
                now=now,
                destination=destination,
                context=context,
            )
        else:  # _load checks these on a miss
            if purpose not in self._purposes:
                self._remember_purpose(purpose)
            if request_id is not None and not (len(request_id) <= MAX_LABEL_CHARS and request_id.isprintable()):
                check_label("request_id", request_id)
            if actor is not None:
                check_label("actor", actor)
            if context is not None and CONTEXT_FITS.fullmatch(context) is None:
                check_context(context)
            if destination is not None and not allowed(hot.destinations, destination):
                self._refuse_destination(
                    tenant,
                    name,
                    hot.version,
                    hot.destinations,
                    destination,
                    purpose=purpose,
                    actor=actor,
                    request_id=request_id,
                    context=context,
                )
        _, decrypt, nonce, body, aad, is_text, hot_version, audit_key, what, _ = hot
        raw: bytes | None
        try:
            raw = decrypt(nonce, body, aad)
            value: str | bytes | None = raw.decode() if is_text else raw
        except (AuthenticationFailure, UnicodeDecodeError):
            # UnicodeDecodeError: only an edited value_type column gets here; it holds the plaintext.
            raw = value = None
        if value is None:  # raised outside the except block, so no exception context carries plaintext
            self._hot.pop((tenant, name), None)
            self._refuse(
                tenant,
                name,
                hot_version,
                Outcome.TAMPERED,
                purpose=purpose,
                actor=actor,
                request_id=request_id,
                context=context,
            )
            raise TamperedError(f"ciphertext of {what} failed authentication")
        if type is not None and not isinstance(value, type):
            raw = value = None
            _wrong_type(name, is_text, type)
        # The compact use event of audit.sinks.use_event: the writer thread expands it, not the hot path.
        self._submit_use((now, audit_key, actor or self.actor, purpose, request_id, context))
        if cold:  # the redactor masks the value while this vault lives; the hot path has noted it already
            LIVE.note(value, name, self, tenant)  # owned by the tenant: masked in its answers only
        return _noted_elsewhere(name, value, hot_version)

    def use_if_hot(
        self,
        tenant: str,
        name: str,
        *,
        purpose: str,
        actor: str | None = None,
        request_id: str | None = None,
        destination: Destination | None = None,
        context: str | None = None,
    ) -> Secret[str] | Secret[bytes] | None:
        """``use()`` when it needs no I/O (the current version is cached and the audit is asynchronous), else
        ``None``: an event loop calls this inline and hands only a miss to a thread."""
        hot = self._hot.get((tenant, name))
        if hot is None or hot.cached_until <= self._clock() or self._audit.mode != "async":
            return None
        return self.use(
            tenant,
            name,
            purpose=purpose,
            actor=actor,
            request_id=request_id,
            destination=destination,
            context=context,
        )

    def _refuse_destination(
        self,
        tenant: str,
        name: str,
        version: int | None,
        policy: DestinationPolicy | None,
        destination: Destination,
        *,
        purpose: str,
        actor: str | None,
        request_id: str | None,
        context: str | None = None,
    ) -> NoReturn:
        self._refuse(
            tenant, name, version, Outcome.DENIED, purpose=purpose, actor=actor, request_id=request_id, context=context
        )
        raise AccessDenied(refusal(tenant, name, policy, destination))

    def _load(
        self,
        tenant: str,
        name: str,
        version: int | None,
        *,
        purpose: str,
        actor: str | None,
        request_id: str | None,
        now: float,
        destination: Destination | None = None,
        context: str | None = None,
    ) -> _Hot:
        check_name("tenant name", tenant)
        check_name("secret name", name)
        self._remember_purpose(purpose)
        check_label("actor", actor)
        check_label("request_id", request_id)
        check_context(context)
        said = {"purpose": purpose, "actor": actor, "request_id": request_id, "context": context}
        writes_before = self._writes
        try:
            with self._store.read() as tx:
                found = None if tenant in HIDDEN_TENANTS else tx.for_use(self.environment, tenant, name, version)
            if found is None:
                raise NotFound(f"tenant {tenant!r} not found in {self.environment}")
            record, row, stored, dek = found
            if row is None or is_internal_secret(name) or row.deleted_at is not None or row.current_version == 0:
                raise NotFound(f"secret {name!r} not found in tenant {tenant!r}")
            stored, dek = _decryptable(stored, dek, tenant, name, version)
            policy = parse_stored(row.destinations)
            if destination is not None and not allowed(policy, destination):  # before any key is unwrapped
                self._refuse_destination(
                    tenant,
                    name,
                    stored.version,
                    policy,
                    destination,
                    purpose=purpose,
                    actor=actor,
                    request_id=request_id,
                    context=context,
                )
            cipher = self._cipher(dek, record)
        except NotFound:
            self._refuse(tenant, name, version, Outcome.NOT_FOUND, **said)
            raise
        except TamperedError:
            self._refuse(tenant, name, version, Outcome.TAMPERED, **said)
            raise
        if stored.expires_at is not None and stored.expires_at <= now:
            self._refuse(tenant, name, stored.version, Outcome.EXPIRED, **said)
            raise Expired(f"secret {name!r} of tenant {tenant!r} expired")
        prepared = prepare(cipher, stored.ciphertext, Binding(self.environment, record.id, name, stored.version))
        cached_until = now + self._cache_ttl_seconds
        if stored.expires_at is not None:  # an expiring secret leaves the cache when it expires
            cached_until = min(cached_until, stored.expires_at)
        hot = _Hot(
            cached_until=cached_until,
            decrypt=prepared.decrypt,
            nonce=prepared.nonce,
            body=prepared.body,
            aad=prepared.aad,
            version=stored.version,
            is_text=stored.value_type == "str",
            audit_key=(self.environment, tenant, name, stored.version, record.id),
            what=f"{name!r} v{stored.version}",
            destinations=policy,
        )
        if version is None and self._cache_ttl_seconds > 0 and writes_before == self._writes:
            if len(self._hot) >= self._hot_max_entries:
                self._hot.pop(next(iter(self._hot)))  # oldest first: bounded, and so are the ciphers it holds
            self._hot[(tenant, name)] = hot
        return hot

    def _decrypt_in(
        self,
        work: UnitOfWork,
        tenant: TenantRecord,
        name: str,
        version: int,
        *,
        purpose: str,
        actor: str | None,
        now: float,
        context: str | None = None,
    ) -> str | bytes:
        """Decrypt one version inside a write (a share's redemption), its ``secret.use`` event recorded in it.

        A refusal raises and so rolls the whole unit of work back. The value is never cached.
        """
        found = work.tx.for_use(self.environment, tenant.name, name, version)
        _, row, stored, dek = found if found is not None else (None, None, None, None)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"secret {name!r} of tenant {tenant.name!r} has no version {version}")
        stored, dek = _decryptable(stored, dek, tenant.name, name, version)
        if stored.expires_at is not None and stored.expires_at <= now:
            raise Expired(f"secret {name!r} of tenant {tenant.name!r} expired")
        cipher = self._cipher(dek, tenant)
        prepared = prepare(cipher, stored.ciphertext, Binding(self.environment, tenant.id, name, stored.version))
        value: str | bytes | None
        try:
            raw = prepared.decrypt(prepared.nonce, prepared.body, prepared.aad)
            value = raw.decode() if stored.value_type == "str" else raw
        except (AuthenticationFailure, UnicodeDecodeError):
            value = None
        if value is None:  # raised outside the except block, so no exception context carries plaintext
            raise TamperedError(f"ciphertext of {name!r} v{stored.version} failed authentication")
        used = self.audit_event(tenant.name, Action.SECRET_USE, name, actor=actor, at=now, context=context)
        work.record(used._replace(version=stored.version, purpose=purpose))
        return value

    # -- key management -----------------------------------------------------------------------------

    def rotate_data_key(self, tenant: str, *, actor: str | None = None) -> int:
        """Give a tenant a new data key for new writes; existing values keep decrypting under the old one."""
        check_name("tenant name", tenant)
        now = self._clock()
        self._check_key_before_wrapping()
        with self._unit_of_work(self.audit_event(tenant, Action.KEY_REWRAP, actor=actor, at=now)) as work:
            record = self._tenant(work.tx, tenant, lock=True)
            latest = work.tx.latest_data_key(record.id)
            version = (latest.version if latest else 0) + 1
            key = self._new_data_key(work.tx, record.id, version, now)
            work.record(
                self.audit_event(tenant, Action.KEY_REWRAP, actor=actor, at=now, detail=f"new data key v{version}")
            )
            work.after_commit(lambda: self._dek_cache.put(record.id, version, key))
        return version

    def rewrap_data_keys(self, *, actor: str | None = None, progress: Callable[[int, int], None] | None = None) -> int:
        """Rewrap every data key not yet under the primary root key (``keys.rewrap``: batched, resumable)."""
        return self.keys.rewrap(actor=actor, progress=progress)

    @cached_property
    def keys(self) -> KeyLifecycle:
        """Root keys and provider versions: status, rotate, retire, shred, migrate (``vault/key_lifecycle.py``)."""
        return KeyLifecycle(self)

    # -- known-value fingerprints -------------------------------------------------------------------

    def known_fingerprints(self) -> KnownFingerprints:
        """Every stored version's fingerprint and the per-tenant keys they are made under: what
        ``scan --known`` needs.

        No value is decrypted; each tenant's data keys are unwrapped to derive its fingerprint keys, which
        are key material (they let their holder test guesses against that tenant), so callers keep them in
        memory only. A legacy (environment-wide) fingerprint is never handed out: it counts as missing.
        """
        with self._store.read() as tx:
            rows = tx.fingerprints(self.environment)
            tenants = {t.id: t for t in tx.tenants(self.environment) if t.name not in HIDDEN_TENANTS}
            needed = {(tid, dv) for _, _, _, f, _, tid, dv in rows if tid in tenants and stored_digest(f)}
            data_keys = {(d.tenant_id, d.version): d for d in tx.all_data_keys() if (d.tenant_id, d.version) in needed}
            keys: list[bytes] = []
            refs: dict[tuple[str, int], int] = {}
            for ref in sorted(data_keys):
                refs[ref] = len(keys)
                keys.append(self._fingerprint_key_of(data_keys[ref], tenants[ref[0]]))
        self._audit.enqueue(
            self.audit_event(
                NO_TENANT,
                Action.FINGERPRINTS_READ,
                detail=f"{len(rows)} versions, {len({r[0] for r in refs})} tenants, {len(keys)} keys",
            )
        )
        overhead = MIN_LENGTH
        entries: list[StoredFingerprint] = []
        for tenant, name, version, stored, size, tenant_id, dek_version in rows:
            if tenant_id not in tenants:
                continue
            key_ref = refs.get((tenant_id, dek_version))
            digest = stored_digest(stored) if key_ref is not None else None
            entries.append(StoredFingerprint(tenant, name, version, digest, size - overhead, key_ref or 0))
        return KnownFingerprints(keys=tuple(keys), entries=tuple(entries))

    def drop_legacy_fingerprints(self, *, actor: str | None = None) -> int:
        """NULL the environment-wide (schema 0002) fingerprints and delete the ``_scan`` tenant holding their key.

        Those fingerprints let anyone holding that key test a guess against every tenant at once; they are
        dropped, not recomputed (that would decrypt every stored value): a value gets a per-tenant
        fingerprint again when its next version is written. Returns how many were dropped; a no-op (one
        query, nothing written or audited) once done.
        """
        with self._store.read() as tx:
            if tx.tenant(self.environment, SCAN_TENANT) is None:
                return 0
        event = self.audit_event(NO_TENANT, Action.FINGERPRINTS_DROP, actor=actor)
        with self._unit_of_work(event) as work:
            scan = work.tx.tenant(self.environment, SCAN_TENANT, lock=True)
            if scan is None:  # another process did it meanwhile
                return 0
            dropped = work.tx.drop_fingerprints_except(self.environment, FINGERPRINT_PREFIX)
            work.tx.delete_tenant(scan.id)
            work.tx.bump_meta_counter(deletions_key(self.environment))  # its key is shredded with the next shred
            # Deleting the key's row does not destroy the key (its pages may survive): `key shred` does.
            work.record(
                event._replace(detail=f"{dropped} environment-wide fingerprints dropped, their key's row deleted")
            )
            work.after_commit(lambda: self._forget_tenant(scan.id, SCAN_TENANT))
        return dropped

    def _fingerprint_key(self, work: UnitOfWork, dek: DataKeyRecord, tenant: TenantRecord) -> bytes:
        """The fingerprint key of the versions encrypted under ``dek`` (cached once the write commits)."""
        ref = (tenant.id, dek.version)
        key = self._fingerprint_keys.get(ref)
        if key is None:
            key = self._fingerprint_key_of(dek, tenant)
            work.after_commit(lambda: self._cache_fingerprint_key(ref, key))
        return key

    def _cache_fingerprint_key(self, ref: tuple[str, int], key: bytes) -> None:
        if len(self._fingerprint_keys) >= self._hot_max_entries:
            self._fingerprint_keys.clear()  # bounded: a busy writer re-derives, never grows without end
        self._fingerprint_keys[ref] = key

    def _fingerprint_key_of(self, dek: DataKeyRecord, tenant: TenantRecord) -> bytes:
        """Derived from the data key (never cached here: ``known_fingerprints`` reads every tenant's)."""
        return self._fingerprint_keys.get((tenant.id, dek.version)) or derive_fingerprint_key(self._unwrap(dek, tenant))

    # -- audit --------------------------------------------------------------------------------------

    def audit_events(
        self,
        *,
        tenant: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        secret_name: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> builtins.list[AuditRecord]:
        """This environment's audit events, filtered; ``since`` inclusive, ``until`` exclusive (epoch seconds).

        ``tenant``: the history of the tenant that holds this name now, selected by its id, so a tenant created
        with a deleted one's name sees none of its predecessor's events. A name no tenant holds selects the
        events recorded under it that belong to no tenant: refusals aimed at it, the environment-wide events
        (under ``-``), events of tenants deleted before schema 0005.
        """
        self._audit.flush()
        with self._store.read() as tx:
            return tx.audit_events(
                **self._history_of(tx, tenant),
                limit=limit,
                newest_first=newest_first,
                secret_name=secret_name,
                actor=actor,
                action=action,
                since=since,
                until=until,
            )

    def _history_of(self, tx: Tx, tenant: str | None) -> dict[str, Any]:
        """The ``Tx.audit_events`` filter of a tenant's history (``audit_events`` says which events that is)."""
        holder = None if tenant is None else tx.tenant(self.environment, tenant)
        return {
            "tenant": tenant if holder is None else None,
            "tenant_id": None if holder is None else holder.id,
            "unattributed": tenant is not None and holder is None,
            "environment": self.environment,
        }

    def iter_audit_events(
        self,
        *,
        tenant: str | None = None,
        since: float | None = None,
        until: float | None = None,
        actions: Collection[str] | None = None,
        page_size: int = 1000,
    ) -> Iterator[AuditRecord]:
        """``audit_events`` oldest first, read ``page_size`` at a time (keyset by id, a read transaction per
        page), so an export of millions of events holds one page in memory. ``tenant`` is resolved once, at
        the start; ``actions``: only these actions (filtered per page, in Python)."""
        self._audit.flush()
        with self._store.read() as tx:
            history = self._history_of(tx, tenant)
        after: int | None = None
        while True:
            with self._store.read() as tx:
                page = tx.audit_events(
                    **history,
                    limit=page_size,
                    since=since,
                    until=until,
                    after_id=after,
                )
            for record in page:
                if actions is None or record.action in actions:
                    yield record
            if len(page) < page_size:
                return
            after = page[-1].id

    def audit_heads(self) -> dict[str, tuple[int, str]]:
        """Each chain's newest (seq, hash), to anchor outside the database."""
        self._audit.flush()
        with self._store.read() as tx:
            return tx.chain_heads()

    def verify_audit(self) -> VerifyReport:
        """Check every chain of this environment under the audit key (``strongroom.audit.chain``)."""
        self._audit.flush()
        key = self._audit_keys().mac
        with self._store.read() as tx:
            report = verify(tx, key, self.environment)
            made = tx.audit_events(chain=chain_name(self.environment, ENVIRONMENT_CHAIN), action=Action.AUDIT_REKEY)
        return replace(report, keyed_over=tuple((e.at, e.detail or "") for e in made))

    def start_checkpoints(self, sinks: Sequence[CheckpointSink], *, interval_seconds: float = 60.0) -> None:
        """Write signed audit checkpoints to ``sinks`` every ``interval_seconds`` and at close (``Vault.open``
        does this from its ``checkpoints`` argument)."""
        if sinks and self._checkpointer is None:
            self._checkpointer = Checkpointer(
                self.environment,
                sinks,
                self._committed_heads,
                self._audit_keys,
                self._clock,
                interval_seconds=interval_seconds,
            )

    def checkpoint_audit(self, sinks: Sequence[CheckpointSink] = ()) -> Checkpoint:
        """Write a signed checkpoint of the heads now: to ``sinks`` if given, else to the configured ones."""
        self._audit.flush()
        if not sinks and self._checkpointer is not None:
            return self._checkpointer.checkpoint(force=True) or _never()
        if not sinks:
            raise InvalidInput("no checkpoint sinks: set STRONGROOM_AUDIT_CHECKPOINTS, or give some (--to)")
        checkpoint = sign(self._audit_keys(), self.environment, self._clock(), self._committed_heads())
        for sink in sinks:
            sink.write(checkpoint)
        return checkpoint

    def audit_public_key(self) -> str:
        """The checkpoint-verifying key (base64 of the raw Ed25519 public key): keep a copy with the checkpoints."""
        return public_text(self._audit_keys().public)

    def verify_audit_checkpoints(
        self, checkpoints: Sequence[Checkpoint], *, public_key: str | None = None
    ) -> CheckpointReport:
        """Prove the database against signed checkpoints (``strongroom.audit.checkpoints.verify_against``),
        under ``public_key`` if given (base64), else this environment's own audit key."""
        self._audit.flush()
        public = self._audit_keys().public if public_key is None else public_key_from_text(public_key)
        with self._store.read() as tx:
            return verify_against(tx, self.environment, checkpoints, public)

    def _committed_heads(self) -> dict[str, tuple[int, str]]:
        with self._store.read() as tx:
            return environment_heads(tx, self.environment)

    def _audit_keys(self) -> AuditKeys:
        """The environment's audit keys, derived from the hidden ``_audit`` tenant's data key (created on first
        need, with no event: nothing a tenant owns changed, and the chain needs this key to record one)."""
        keys = self._audit_keys_loaded
        if keys is None:
            with self._audit_keys_lock:
                keys = self._audit_keys_loaded
                if keys is None:
                    keys = self._audit_keys_loaded = derive_audit_keys(self._audit_data_key())
        return keys

    def _load_audit_keys(self) -> None:
        """Load the audit keys before a transaction opens (loading may write: the environment's first key). If
        they cannot be had (the key provider down, a read-only store), the events recorded in the transaction
        fail it, and its refusal waits in the queue for the key."""
        if self._audit_keys_loaded is None:
            with suppress(KeyProviderError, StoreError):
                self._audit_keys()

    def _audit_data_key(self) -> bytes:
        for _ in range(2):  # another process may create it between our read and our insert
            with self._store.read() as tx:
                tenant = tx.tenant(self.environment, AUDIT_TENANT)
                dek = None if tenant is None else tx.data_key(tenant.id, 1)
            if tenant is not None and dek is not None:
                return self._unwrap(dek, tenant)
            self._check_key_before_wrapping()
            now = self._clock()
            record = TenantRecord(id=uuid.uuid4().hex, environment=self.environment, name=AUDIT_TENANT, created_at=now)
            with self._store.write() as tx:
                created = tx.ensure_tenant(record)
                key = self._new_data_key(tx, record.id, 1, now) if created else None
                if key is not None:
                    self._key_old_events(tx, derive_audit_keys(key).mac, now)
            if key is not None:
                return key
        raise StrongroomError(f"the audit key of {self.environment!r} could not be created: run the command again")

    def _key_old_events(self, tx: Tx, mac: bytes, now: float) -> None:
        """In the transaction that makes the audit key: re-link under it the events of this environment an
        unkeyed hash links (written before schema 0008), and record that. From its commit on, an unkeyed link
        is a forgery, so no later step can launder a rewritten chain by re-linking it."""
        relinked, broken = audit_chain.rekey(tx, mac, self.environment)
        for chain in broken:
            log.error("audit chain %s was broken before it was keyed: left as it was; `audit verify` names it", chain)
        if relinked or broken:
            detail = f"{relinked} events of before schema 0008 re-linked; {len(broken)} broken chains left"
            audit_chain.append(tx, [self.audit_event(None, Action.AUDIT_REKEY, detail=detail, at=now)], mac)

    # -- helpers ------------------------------------------------------------------------------------

    def _tenant(self, tx: Tx, name: str, *, lock: bool = False) -> TenantRecord:
        record = None if name in HIDDEN_TENANTS else tx.tenant(self.environment, name, lock=lock)
        if record is None:
            raise NotFound(f"tenant {name!r} not found in {self.environment}")
        return record

    def _new_data_key(self, tx: Tx, tenant_id: str, version: int, now: float) -> bytes:
        """Insert a fresh data key wrapped under the primary root key (held FOR SHARE by ``tx``: no rotation
        demotes or retires it meanwhile); the caller caches the returned key once its transaction commits."""
        if not self._key_check.current_verified():  # callers check first; this catches a primary that moved
            self._key_check.store(tx, self._key_check.verify(tx))
        key = new_key()
        root = self._keyring.ensure_primary(tx)
        wrapped = self._keyring.wrap(root, key, wrap_context(self.environment, tenant_id, version, ROOT_KEYRING))
        tx.insert_data_key(
            DataKeyRecord(
                tenant_id=tenant_id,
                version=version,
                kek_id=ROOT_KEYRING,
                kek_version=root.version,
                wrapped=wrapped,
                created_at=now,
            )
        )
        return key

    def _unwrap(self, dek: DataKeyRecord, tenant: TenantRecord) -> bytes:
        """A data key's bytes: under a root key (read from the store if this process has not loaded it), or, for
        a key written before schema 0006, by the provider itself."""
        context = wrap_context(self.environment, tenant.id, dek.version, dek.kek_id)
        if dek.kek_id == ROOT_KEYRING:
            try:
                return self._keyring.unwrap(dek.wrapped, dek.kek_version, context)
            except RootKeyGone:
                # Retired after this row was read: a retirement rewraps first, so the row has moved on.
                with self._store.read() as tx:
                    fresh = tx.data_key(dek.tenant_id, dek.version)
                if fresh is None or (fresh.kek_id, fresh.kek_version) == (dek.kek_id, dek.kek_version):
                    raise KeyProviderError(
                        f"data key v{dek.version} of tenant {tenant.name!r} is wrapped under retired root key "
                        f"v{dek.kek_version}: it cannot be unwrapped"
                    ) from None
                return self._unwrap(fresh, tenant)
        if dek.kek_id != self._provider.key_id:
            raise WrongKeyError(
                wrong_key_message(
                    self.environment,
                    [(dek.kek_id, dek.kek_version)],
                    self._provider.key_id,
                    self._provider.current_version(),
                )
            )
        return self._provider.unwrap(dek.wrapped, dek.kek_version, context)

    def _cipher(self, dek: DataKeyRecord, tenant: TenantRecord) -> AESGCM:
        cipher = self._dek_cache.get(tenant.id, dek.version)
        if cipher is None:
            cipher = self._dek_cache.put(tenant.id, dek.version, self._unwrap(dek, tenant))
        return cipher

    def audit_event(
        self,
        tenant: str | None,
        action: str,
        name: str | None = None,
        *,
        actor: str | None = None,
        request_id: str | None = None,
        at: float | None = None,
        detail: str | None = None,
        outcome: str = Outcome.OK,
        version: int | None = None,
        purpose: str | None = None,
        tenant_id: str | None = None,
        context: str | None = None,
    ) -> AuditEvent:
        """An audit event of this environment, the one way events are built: ``tenant=None`` (or ``-``) is the
        environment-wide chain, the actor defaults to the vault's, ``detail`` is cut to its column, and
        actor and request id are checked (``InvalidInput``) so the database never refuses the row.

        A tenant's event is chained by the tenant's id: ``tenant_id`` when the caller has it, else the id of the
        tenant holding the name when the event is written, looked up by the audit writer in its own
        transaction (one query a batch; never here, so building an event does no I/O on an event loop).

        ``context``: the caller's context, ``AuditContext(...).encode()`` (checked: ``check_context``).
        """
        check_label("actor", actor)
        check_label("request_id", request_id)
        check_context(context)
        if tenant is None or tenant == NO_TENANT:
            tenant_id = ENVIRONMENT_CHAIN
        return AuditEvent(
            at=self._clock() if at is None else at,
            environment=self.environment,
            actor=actor or self.actor,
            tenant=NO_TENANT if tenant is None else tenant,
            # Plain strings, not the vocabulary's enum members: the database driver binds an exact str
            # without adapting it (docs/benchmarks.md: the audit writer's cost per event).
            action=str(action),
            secret_name=name,
            version=version,
            purpose=purpose,
            outcome=str(outcome),
            request_id=request_id,
            detail=None if detail is None else detail[:MAX_DETAIL_CHARS],
            tenant_id=tenant_id,
            context=context,
        )

    def _refuse(
        self,
        tenant: str,
        name: str,
        version: int | None,
        outcome: str,
        *,
        purpose: str | None,
        actor: str | None,
        request_id: str | None,
        context: str | None = None,
    ) -> None:
        event = self.audit_event(
            tenant[:128], Action.SECRET_USE, name[:128], actor=actor, request_id=request_id, context=context
        )
        self._audit.record_now(event._replace(version=version, purpose=purpose, outcome=outcome))

    @contextmanager
    def _unit_of_work(self, refused: AuditEvent | None = None, *, flush: bool = True) -> Iterator[UnitOfWork]:
        """The one write path (``strongroom.vault.unit_of_work`` says what it does, in order).

        ``refused``: the event to record, with the exception's outcome, when the change is refused (the caller
        may set ``work.refused`` once it knows it).
        ``flush=False`` only for a write that records no event (an API key's ``last_used_at``): it has
        nothing to order against the queued use events, and the auth path should not wait for them.
        """
        if self._closed:
            raise StrongroomError("this vault is closed")
        if flush:
            # Queued use events go first, so each process's events are chained in the order they happened.
            self._audit.flush()
        self._writes += 1
        work: UnitOfWork | None = None
        if flush:
            self._load_audit_keys()
        try:
            with self._store.write() as tx:
                work = UnitOfWork(tx, self._audit, refused)
                yield work
        except REFUSALS as exc:
            refused = refused if work is None else work.refused
            if refused is not None:
                # The refused event's own detail (what was tried: an origin, a policy) stays, before the reason.
                why = type(exc).__name__ if refused.detail is None else f"{refused.detail} ({type(exc).__name__})"
                self._audit.record_now(refused._replace(outcome=refusal_outcome(exc), detail=why))
            raise
        finally:
            self._writes += 1
        work._committed()


def _audit_spool_dir(home: Path, environment: str, url: str) -> Path | None:
    """Where async audit events the store could not take by close wait for the next open: one directory per
    environment and database (its URL without the password, hashed: the events are chained under this
    environment's key, into this database). None if the home does not exist (it is never made here)."""
    import hashlib

    from strongroom.store.engines import safe_url

    if not home.is_dir():
        return None
    return home / "audit-spool" / f"{environment}-{hashlib.sha256(safe_url(url).encode()).hexdigest()[:16]}"


def _decryptable(
    stored: VersionRecord | None, dek: DataKeyRecord | None, tenant: str, name: str, version: int | None
) -> tuple[VersionRecord, DataKeyRecord]:
    """The version and its data key, or the refusal a read of them gets (shared by ``use`` and redemption)."""
    if stored is None:
        raise NotFound(f"secret {name!r} of tenant {tenant!r} has no version {version}")
    if dek_version_of(stored.ciphertext) != stored.dek_version:
        raise TamperedError(f"ciphertext header of {name!r} v{stored.version} does not match its row")
    if dek is None:
        raise NotFound(
            f"data key v{stored.dek_version} of tenant {tenant!r} was destroyed: "
            "this ciphertext can no longer be decrypted"
        )
    return stored, dek


def _wrong_type(name: str, is_text: bool, wanted: type[str] | type[bytes]) -> NoReturn:
    stored = "str" if is_text else "bytes"
    raise InvalidInput(
        f"secret {name!r} holds a {stored} value, not {wanted.__name__}: "
        f"call use(..., type={stored}) or leave type= out to get str | bytes"
    )


def _check_tenant_name(name: str) -> None:
    check_name("tenant name", name)
    if name in HIDDEN_TENANTS:
        raise InvalidInput(f"tenant name {name!r} is reserved for strongroom's own use")


def _tenant_info(record: TenantRecord) -> TenantInfo:
    return TenantInfo(name=record.name, id=record.id, environment=record.environment, created_at=record.created_at)


def _secret_info(tenant: str, row: SecretRecord, expires_at: float | None) -> SecretInfo:
    return SecretInfo(
        tenant=tenant,
        name=row.name,
        kind=row.kind,
        sensitivity=row.sensitivity,
        description=row.description,
        version=row.current_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        deleted_at=row.deleted_at,
        expires_at=expires_at,
        destinations=parse_stored(row.destinations),
    )


def _never() -> NoReturn:
    raise AssertionError("a forced checkpoint is always written")
