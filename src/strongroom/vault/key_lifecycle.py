"""The key lifecycle of one environment: status, rotate, retire, shred and migrate (``Vault.keys``).

Rotation follows Tink's two phases: a new root key is added *decrypt-only* (every process can unwrap with it
from then on: it reads unknown root versions from the store), then promoted *primary* (new data keys are
wrapped under it), then every data key is rewrapped under it in batches, each its own transaction (bounded
memory; other writers wait for one batch at most; a rerun after SIGKILL resumes where the last committed
batch ended). Retiring destroys a root key once no data key needs it, then the provider versions nothing
needs any more. Shredding is all of that with a new provider version: afterwards no copy of the database
(table files, WAL, free pages, replicas, backups) holds any key that the provider can still unwrap, down to
the deleted tenants' data keys (docs/crypto.md, "Shredding").

Every operation holds the environment's rotation lock (``Store.exclusive``: an advisory lock on
PostgreSQL, an ``flock`` beside a SQLite file), so two rotations never interleave.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag

from strongroom import defaults
from strongroom.audit import Action
from strongroom.clock import iso
from strongroom.crypto import KeyProvider
from strongroom.crypto.envelope import NONCE_BYTES
from strongroom.crypto.keys import root_context, seal_keys, wrap_contexts
from strongroom.crypto.providers import ManagedKeyProvider
from strongroom.errors import KeyProviderError
from strongroom.store import DataKeyRecord, TenantRecord
from strongroom.vault.key_check import KeyCheck, check_value_key
from strongroom.vault.keyring import RootKeyGone
from strongroom.vocabulary import NO_TENANT, ROOT_KEYRING, RootState

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from strongroom.store import DataKeyRow, RootKeyRecord, Tx
    from strongroom.vault.service import Vault

DEFAULT_BATCH = defaults.REWRAP_BATCH
_WRITERS = 2  # batches written at once (docs/benchmarks.md, "Re-keying": one more gave nothing on 2 cores)

Progress = Callable[[int, int], None]


def deletions_key(environment: str) -> str:
    """``strongroom_meta``: how many tenants of ``environment`` were ever deleted."""
    return f"shred/{environment}/deleted"


def _shredded_key(environment: str) -> str:
    """``strongroom_meta``: how many of those deletions a completed shred covers."""
    return f"shred/{environment}/shredded"


def _covers_key(environment: str, root_version: int) -> str:
    """``strongroom_meta``: the deletions count when root ``root_version`` was promoted (what its shred covers)."""
    return f"shred/{environment}/root/{root_version}"


@dataclass(frozen=True, slots=True)
class RootKeyStatus:
    version: int
    state: str
    provider_id: str
    provider_version: int
    data_keys: int
    created_at: float
    retired_at: float | None


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """What ``strongroom key status`` shows: which keys exist, what each wraps, what can be retired."""

    environment: str
    provider: str
    provider_key_id: str
    provider_current: int
    provider_versions: tuple[int, ...] | None  # None: the provider cannot list them
    roots: tuple[RootKeyStatus, ...]
    provider_wrapped: tuple[tuple[str, int, int], ...]  # (key id, version, data keys) of keys before schema 0006
    deletions_pending: int

    @property
    def primary(self) -> int | None:
        return next((r.version for r in self.roots if r.state == RootState.PRIMARY), None)

    @property
    def retirable(self) -> tuple[int, ...]:
        """Root versions no data key needs: ``key retire`` destroys them."""
        primary = self.primary
        return tuple(
            r.version
            for r in self.roots
            if r.state == RootState.ACTIVE and r.data_keys == 0 and primary is not None and r.version < primary
        )

    @property
    def needed_provider_versions(self) -> tuple[int, ...]:
        live = {
            r.provider_version for r in self.roots if r.state != RootState.RETIRED and r.version not in self.retirable
        }
        legacy = {v for kid, v, n in self.provider_wrapped if kid == self.provider_key_id and n}
        return tuple(sorted(live | legacy | {self.provider_current}))

    def as_dict(self) -> dict[str, object]:
        return {
            "environment": self.environment,
            "provider": self.provider,
            "provider_key_id": self.provider_key_id,
            "provider_current": self.provider_current,
            "provider_versions": None if self.provider_versions is None else list(self.provider_versions),
            "provider_versions_needed": list(self.needed_provider_versions),
            "roots": [
                {
                    "version": r.version,
                    "state": r.state,
                    "provider_id": r.provider_id,
                    "provider_version": r.provider_version,
                    "data_keys": r.data_keys,
                    "created_at": iso(r.created_at),
                    "retired_at": iso(r.retired_at),
                }
                for r in self.roots
            ],
            "retirable": list(self.retirable),
            "provider_wrapped_data_keys": [
                {"key_id": k, "version": v, "data_keys": n} for k, v, n in self.provider_wrapped
            ],
            "deletions_pending_shred": self.deletions_pending,
        }


@dataclass(frozen=True, slots=True)
class RotationReport:
    root_version: int
    provider_version: int
    rewrapped: int
    staged_only: bool = False


@dataclass(frozen=True, slots=True)
class RetireReport:
    roots_retired: tuple[int, ...]
    roots_in_use: tuple[tuple[int, int], ...]  # (root version, data keys still under it)
    provider_versions_destroyed: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ShredReport:
    deletions: int  # tenant deletions this shred made unrecoverable (0: nothing was pending)
    root_version: int | None
    provider_version: int | None
    rewrapped: int
    roots_retired: tuple[int, ...]
    provider_versions_destroyed: tuple[int, ...]


class KeyLifecycle:
    """``Vault.keys``: rotation, retirement, shredding and migration of one vault's environment."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._env = vault.environment

    # -- status -----------------------------------------------------------------------------------

    def status(self) -> KeyStatus:
        vault = self._vault
        provider = vault._provider
        versions = getattr(provider, "versions", None)
        with vault._store.read() as tx:
            counts = tx.data_key_counts(self._env)
            roots = tuple(
                RootKeyStatus(
                    version=r.version,
                    state=r.state,
                    provider_id=r.provider_id,
                    provider_version=r.provider_version,
                    data_keys=counts.get((ROOT_KEYRING, r.version), 0),
                    created_at=r.created_at,
                    retired_at=r.retired_at,
                )
                for r in tx.root_keys(self._env)
            )
            pending = self._pending(tx)
        legacy = tuple(sorted((k, v, n) for (k, v), n in counts.items() if k != ROOT_KEYRING))
        return KeyStatus(
            environment=self._env,
            provider=str(getattr(provider, "uri", provider.key_id)),
            provider_key_id=provider.key_id,
            provider_current=provider.current_version(),
            provider_versions=None if versions is None else tuple(versions()),
            roots=roots,
            provider_wrapped=legacy,
            deletions_pending=pending,
        )

    def _pending(self, tx: Tx) -> int:
        deleted = int(tx.meta_value(deletions_key(self._env)) or 0)
        return max(0, deleted - int(tx.meta_value(_shredded_key(self._env)) or 0))

    # -- rotate -----------------------------------------------------------------------------------

    def rotate(
        self,
        *,
        new_provider_version: bool | None = None,
        stage_only: bool = False,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        on_wait: Callable[[], object] | None = None,
        actor: str | None = None,
    ) -> RotationReport:
        """Add a root key decrypt-only, promote it, and rewrap every data key under it (batched, resumable).

        ``new_provider_version``: wrap the new root under a new provider version (``None``: when the provider
        can add one). ``stage_only``: stop once the root is added (decrypt-only): a rerun promotes it. A rerun
        after an interruption resumes a staged root instead of adding another.
        """
        with self._vault._store.exclusive(f"rotate/{self._env}", on_wait=on_wait):
            return self._rotate(new_provider_version, stage_only, batch_size, progress, actor)

    def _rotate(
        self,
        new_provider_version: bool | None,
        stage_only: bool,
        batch_size: int,
        progress: Progress | None,
        actor: str | None,
    ) -> RotationReport:
        staged = self._stage(new_provider_version, actor)
        if stage_only:
            return RotationReport(staged.version, staged.provider_version, 0, staged_only=True)
        self._promote(staged.version, actor)
        rewrapped = self._rewrap(batch_size, progress, actor)
        return RotationReport(staged.version, staged.provider_version, rewrapped)

    def _stage(self, new_provider_version: bool | None, actor: str | None) -> RootKeyRecord:
        vault = self._vault
        with vault._store.read() as tx:
            roots = tx.root_keys(self._env)
        primary = max((r.version for r in roots if r.state == RootState.PRIMARY), default=0)
        staged = [r for r in roots if r.state == RootState.DECRYPT_ONLY and r.version > primary]
        if staged:  # an interrupted rotation: resume it
            return staged[-1]
        provider = vault._provider
        if isinstance(provider, ManagedKeyProvider):
            provider.reload()  # versions another process added or destroyed since this one loaded them
        if new_provider_version or (new_provider_version is None and _can_add_versions(provider)):
            if not isinstance(provider, ManagedKeyProvider):
                raise KeyProviderError(f"key provider {provider.key_id} cannot add versions")
            provider.add_version()
        vault._check_key_before_wrapping()  # the new provider version gets its check value first
        event = vault.audit_event(NO_TENANT, Action.KEY_ROTATE, actor=actor)
        with vault._unit_of_work(event) as work:
            record = vault._keyring.add(work.tx, RootState.DECRYPT_ONLY)
            work.record(event._replace(detail=f"root key v{record.version} added decrypt-only"))
        return record

    def _promote(self, version: int, actor: str | None) -> None:
        vault = self._vault
        event = vault.audit_event(NO_TENANT, Action.KEY_ROTATE, actor=actor)
        with vault._unit_of_work(event) as work:
            tx = work.tx
            staged = tx.root_key(self._env, version, lock=True)
            if staged is None or staged.state != RootState.DECRYPT_ONLY:
                return  # promoted already (a resumed rotation)
            for row in tx.root_keys(self._env):
                if row.state == RootState.PRIMARY:
                    tx.root_key(self._env, row.version, lock=True)  # waits for writers holding it FOR SHARE
                    tx.set_root_state(self._env, row.version, RootState.ACTIVE)
            tx.set_root_state(self._env, version, RootState.PRIMARY)
            deleted = tx.meta_value(deletions_key(self._env)) or "0"
            tx.set_meta(_covers_key(self._env, version), deleted)
            work.record(event._replace(detail=f"root key v{version} promoted primary"))

    # -- rewrap -----------------------------------------------------------------------------------

    def rewrap(
        self,
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        on_wait: Callable[[], object] | None = None,
        actor: str | None = None,
    ) -> int:
        """Rewrap every data key not under the primary root key (creating one if the environment has none)."""
        with self._vault._store.exclusive(f"rotate/{self._env}", on_wait=on_wait):
            return self._rewrap(batch_size, progress, actor)

    def _rewrap(self, batch_size: int, progress: Progress | None, actor: str | None) -> int:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        vault = self._vault
        vault._check_key_before_wrapping()
        with vault._unit_of_work(flush=False) as work:
            primary = vault._keyring.ensure_primary(work.tx)
        with vault._store.read() as tx:
            counts = tx.data_key_counts(self._env)
        total = sum(n for ref, n in counts.items() if ref != (ROOT_KEYRING, primary.version))
        done = 0
        if progress is not None:
            progress(0, total)
        cipher = vault._keyring.cipher(primary)
        # Three stages overlap: one thread reads the next page and two write the last batches (waiting on the
        # database without the GIL) while this thread rewraps the current page. Keyset paging needs only the last
        # key of a page to read the next, so reads never wait for writes. Two writers, because a batch's write
        # is the longest stage; at most one page and two batches are pending, so memory stays bounded by the
        # batch size. Each thread keeps one connection throughout (a checkout and its ping per batch cost more
        # than the batch's own statements).
        writing: deque[Future[int]] = deque()
        with vault._store.connections_kept() as keep, ThreadPoolExecutor(3, "strongroom-rewrap", keep) as pool:
            reading = pool.submit(self._page, primary.version, None, batch_size)
            while page := reading.result():
                last = page[-1]
                reading = pool.submit(self._page, primary.version, (last[0], last[1]), batch_size)
                page, keys, contexts = self._unwrap_page(page)
                sealed = seal_keys(cipher, keys, contexts)
                rows = [(row[0], row[1], wrapped) for row, wrapped in zip(page, sealed, strict=True)]
                if len(writing) == _WRITERS:
                    done += writing.popleft().result()
                    if progress is not None:
                        progress(done, max(total, done))
                writing.append(pool.submit(self._write_batch, primary.version, rows))
            while writing:
                done += writing.popleft().result()
                if progress is not None:
                    progress(done, max(total, done))
        event = vault.audit_event(
            NO_TENANT,
            Action.KEY_REWRAP,
            actor=actor,
            detail=f"{done} data keys rewrapped under root v{primary.version}",
        )
        vault.record_event(event)
        return done

    def _page(self, primary: int, after: tuple[str, int] | None, limit: int) -> Sequence[DataKeyRow]:
        with self._vault._store.read() as tx:
            return tx.data_keys_page(self._env, not_under=(ROOT_KEYRING, primary), after=after, limit=limit)

    def _write_batch(self, primary: int, rows: list[tuple[str, int, bytes]]) -> int:
        vault = self._vault
        with vault._unit_of_work(flush=False) as work:
            # Held FOR SHARE until the batch commits; no other rotation can promote meanwhile (this one holds
            # the rotation lock), so a change here is a bug or a hand-edited keyring, never a race to retry.
            root = vault._keyring.ensure_primary(work.tx)
            if root.version != primary:
                raise KeyProviderError(
                    f"the primary root key of {self._env!r} changed from v{primary} to v{root.version} during "
                    "a rewrap; run `strongroom key rewrap` again"
                )
            return work.tx.rewrap_data_keys(ROOT_KEYRING, primary, rows)

    def _unwrap_page(self, page: Sequence[DataKeyRow]) -> tuple[Sequence[DataKeyRow], list[bytes], list[bytes]]:
        """The rows of a page still in the store, the bytes of each one's data key, and its wrap context under
        the root keyring. Root ciphers are looked up once per page and the context's fixed parts encoded once,
        in one loop with no call per key but AES-GCM's: a rewrap is little else, and it runs over every
        tenant."""
        context_of = wrap_contexts(self._env, ROOT_KEYRING)
        ciphers: dict[int, AESGCM] = {}
        keys: list[bytes] = []
        contexts: list[bytes] = []
        gone: list[DataKeyRow] = []
        for row in page:
            context = context_of(row[0], row[1])
            cipher = ciphers.get(row[3]) if row[2] == ROOT_KEYRING else None
            try:
                if cipher is None and row[2] == ROOT_KEYRING:
                    cipher = ciphers[row[3]] = self._vault._keyring.cipher_of(row[3])
                if cipher is not None:
                    keys.append(cipher.decrypt(row[4][:NONCE_BYTES], row[4][NONCE_BYTES:], context))
                    contexts.append(context)
                    continue
            except (InvalidTag, RootKeyGone):
                pass  # a stale cached root, or one retired meanwhile (see Keyring.unwrap): the vault's own path
            if row[2] != ROOT_KEYRING:
                # Written before schema 0006: the provider unwraps it from the row as read (its tenant's name is
                # not needed), with no read per key; a tenant deleted since is written nowhere (_write_batch).
                key = DataKeyRecord(row[0], row[1], row[2], row[3], row[4], 0.0)
                keys.append(self._vault._unwrap(key, TenantRecord(row[0], self._env, row[0], 0.0)))
                contexts.append(context)
                continue
            # Reads the row and the root again, says what is wrong if it still fails.
            with self._vault._store.read() as tx:
                found = tx.data_key_with_tenant(row[0], row[1])
            if found is None:  # its tenant was deleted since the page was read: nothing left to rewrap
                gone.append(row)
                continue
            keys.append(self._vault._unwrap(*found))
            contexts.append(context)
        if gone:
            page = [row for row in page if row not in gone]
        return page, keys, contexts

    # -- retire -----------------------------------------------------------------------------------

    def retire(self, *, on_wait: Callable[[], object] | None = None, actor: str | None = None) -> RetireReport:
        """Destroy every root key older than the primary that no data key needs, then every provider version
        that no live root key (nor data key from before schema 0006) needs. Nothing in use is touched."""
        with self._vault._store.exclusive(f"rotate/{self._env}", on_wait=on_wait):
            return self._retire(actor)

    def _retire(self, actor: str | None) -> RetireReport:
        vault = self._vault
        with vault._store.read() as tx:
            roots = tx.root_keys(self._env)
        primary = max((r.version for r in roots if r.state == RootState.PRIMARY), default=None)
        retired: list[int] = []
        in_use: list[tuple[int, int]] = []
        for row in roots:
            if primary is None or row.state != RootState.ACTIVE or row.version >= primary:
                continue
            event = vault.audit_event(NO_TENANT, Action.KEY_RETIRE, actor=actor)
            with vault._unit_of_work(event) as work:
                locked = work.tx.root_key(self._env, row.version, lock=True)
                if locked is None or locked.state != RootState.ACTIVE:
                    continue
                count = work.tx.count_data_keys_under(self._env, ROOT_KEYRING, row.version)
                if count:
                    in_use.append((row.version, count))
                    continue
                work.tx.retire_root_key(self._env, row.version, RootState.RETIRED, vault._clock())
                work.record(event._replace(detail=f"root key v{row.version} destroyed"))
            vault._keyring.discard(row.version)
            retired.append(row.version)
        destroyed = self._destroy_provider_versions(actor)
        return RetireReport(tuple(retired), tuple(in_use), destroyed)

    def _destroy_provider_versions(self, actor: str | None) -> tuple[int, ...]:
        vault = self._vault
        provider = vault._provider
        if not isinstance(provider, ManagedKeyProvider) or not _can_add_versions(provider):
            return ()
        provider.reload()
        with vault._store.read() as tx:  # every environment's: one provider key may serve several
            needed = tx.provider_versions_in_use(provider.key_id)
        current = provider.current_version()
        destroyed: list[int] = []
        for version in provider.versions():
            if version == current or version in needed:
                continue
            provider.destroy_version(version)
            event = vault.audit_event(
                NO_TENANT, Action.KEY_RETIRE, actor=actor, detail=f"{provider.key_id} version {version} destroyed"
            )
            with vault._unit_of_work(event) as work:
                work.tx.delete_meta(check_value_key(self._env, provider.key_id, version))
                work.record(event)
            destroyed.append(version)
        return tuple(destroyed)

    # -- shred ------------------------------------------------------------------------------------

    def shred(
        self,
        *,
        force: bool = False,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        on_wait: Callable[[], object] | None = None,
        actor: str | None = None,
    ) -> ShredReport:
        """Make every deleted tenant's keys unrecoverable from any copy of the database: a new provider version
        and root key, every data key rewrapped under it, then every older root key and provider version
        destroyed. Deletions since the last shred share this one re-key; nothing pending (and not ``force``):
        nothing is done."""
        vault = self._vault
        provider = vault._provider
        with vault._store.exclusive(f"rotate/{self._env}", on_wait=on_wait):
            with vault._store.read() as tx:
                pending = self._pending(tx)
            if not pending and not force:
                return ShredReport(0, None, None, 0, (), ())
            if not isinstance(provider, ManagedKeyProvider) or not _can_add_versions(provider):
                raise KeyProviderError(
                    f"shredding needs a key provider whose versions strongroom can add and destroy "
                    f"(a key file, pkcs11:, aws-kms:, ...); {provider.key_id} cannot. With "
                    "STRONGROOM_MASTER_KEY: add a new version to it, run `strongroom key rewrap`, "
                    "then remove every older version"
                )
            report = self._rotate(True, False, batch_size, progress, actor)
            with vault._store.read() as tx:
                older = [r for r in tx.root_keys(self._env) if r.version < report.root_version and r.wrapped]
            if any(r.provider_version >= report.provider_version for r in older):
                # A staged root was resumed, wrapped under a provider version older roots share: once more, fresh.
                report = self._rotate(True, False, batch_size, progress, actor)
            retired: list[int] = []
            destroyed: list[int] = []
            for _ in range(3):  # a data key a concurrent writer wrapped under an old root: rewrap once more
                done = self._retire(actor)
                retired += done.roots_retired
                destroyed += done.provider_versions_destroyed
                if not done.roots_in_use:
                    break
                self._rewrap(batch_size, None, actor)
            else:
                raise KeyProviderError("root keys stayed in use during the shred; run `strongroom key shred` again")
            with vault._store.read() as tx:
                roots = tx.root_keys(self._env)
                covered = int(tx.meta_value(_covers_key(self._env, report.root_version)) or 0)
                live = [r.version for r in roots if r.state != RootState.RETIRED]
                # Every provider version that ever wrapped one of this environment's older roots must be gone.
                surviving = sorted(
                    {r.provider_version for r in roots if r.version in retired} & set(provider.versions())
                )
                users = tx.environments_using(provider.key_id, surviving) if surviving else []
            if live != [report.root_version] or surviving:
                raise KeyProviderError(
                    f"the shred could not destroy every older key: live root keys {live}, provider versions "
                    f"{surviving} of {provider.key_id} still needed by environments {users}. Shred those too "
                    "(STRONGROOM_ENV=<env> strongroom key shred --force), or give each environment its own "
                    "provider key"
                )
            event = vault.audit_event(NO_TENANT, Action.KEY_SHRED, actor=actor)
            with vault._unit_of_work(event) as work:
                shredded = int(work.tx.meta_value(_shredded_key(self._env)) or 0)
                if covered > shredded:
                    work.tx.set_meta(_shredded_key(self._env), str(covered))
                work.record(
                    event._replace(
                        detail=f"{covered - shredded} deletions shredded: root v{report.root_version}, "
                        f"{provider.key_id} version {report.provider_version}; destroyed roots {retired}, "
                        f"provider versions {destroyed}"
                    )
                )
        return ShredReport(
            deletions=max(0, covered - shredded),
            root_version=report.root_version,
            provider_version=report.provider_version,
            rewrapped=report.rewrapped,
            roots_retired=tuple(retired),
            provider_versions_destroyed=tuple(destroyed),
        )

    # -- migrate ----------------------------------------------------------------------------------

    def migrate(
        self,
        to: KeyProvider,
        *,
        batch_size: int = DEFAULT_BATCH,
        progress: Progress | None = None,
        on_wait: Callable[[], object] | None = None,
        actor: str | None = None,
    ) -> int:
        """Move the root of trust to ``to``: every data key first under a root key (so none depends on the old
        provider directly), then every live root key rewrapped by ``to`` in one transaction. This vault uses
        ``to`` afterwards; other processes must be restarted with it. Returns how many root keys moved.

        The old provider still unwraps the root keys' old copies in the database's history: destroy its key
        (or ``key shred --force`` after the move) once nothing runs with it.
        """
        vault = self._vault
        source = vault._provider
        if to.key_id == source.key_id:
            raise KeyProviderError(f"key provider {to.key_id} is already this environment's root of trust")
        with vault._store.exclusive(f"rotate/{self._env}", on_wait=on_wait):
            self._rewrap(batch_size, progress, actor)
            target_check = KeyCheck(to, self._env, vault._unwrap, vault._keyring)
            with vault._store.read() as tx:
                values = target_check.verify_current(tx)
            event = vault.audit_event(NO_TENANT, Action.KEY_MIGRATE, actor=actor)
            with vault._unit_of_work(event) as work:
                target_check.store(work.tx, values)
                moved = []
                for row in work.tx.root_keys(self._env):
                    if row.wrapped is None:
                        continue
                    key = vault._keyring.unwrap_root(row)
                    version, wrapped = to.wrap(key, root_context(self._env, to.key_id, row.version))
                    work.tx.rewrap_root_key(self._env, row.version, to.key_id, version, wrapped)
                    moved.append(row.version)
                work.record(event._replace(detail=f"root keys {moved} moved from {source.key_id} to {to.key_id}"))
            vault._use_provider(to)
        return len(moved)


def _can_add_versions(provider: KeyProvider) -> bool:
    """A managed provider that can add versions here (not keys given in an environment variable)."""
    return isinstance(provider, ManagedKeyProvider) and not str(provider.uri).startswith("env:")
