"""Revoked agent tokens: persisted in ``token_revocations``, checked in memory.

A revocation is written (and audited) in one transaction and added to this process's set at once, so
the token fails here immediately. Other processes see it within ``refresh_seconds``: each keeps a
snapshot of the environment's live revocations, re-read ahead of that age (``RefreshAhead``: one read per
interval, not per token, and off the verify path while the snapshot is young enough). A revoked API key
is a row of the same table (``key:<public id>``, written with the key's revocation), so the tokens it
minted fail within the same ``refresh_seconds`` everywhere (at once in a process told so), with no read
on the verify path. A token's row names its tenant's id and its jti (``token_revocation_id``): a tenant
revoking by jti can only ever revoke its own tokens. The same snapshot
carries the current id of each tenant this process has verified tokens for, so a token dies with its
tenant within the same time (a token names its tenant's id; a new tenant of the same name has another). A
revocation only needs to live as long as its token: rows whose token expired (plus leeway) are pruned by
the next revocation, and never loaded.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass

from strongroom.audit import Action
from strongroom.caching import BoundedCache, RefreshAhead
from strongroom.clock import Clock
from strongroom.errors import InvalidInput
from strongroom.names import check_name
from strongroom.tokens.common import KEY_REVOCATION_KEPT_SECONDS, event
from strongroom.vault import Vault
from strongroom.vault.repositories import key_revocation_id, token_revocation_id

_JTI = re.compile(r"[A-Za-z0-9_-]{1,31}")  # ours are 22; the row adds the tenant id (tables.py: 64 in all)
MAX_WATCHED = 10_000  # tenant names whose ids a snapshot carries, least recently seen first out


class Revocations:
    def __init__(
        self, vault: Vault, *, clock: Clock, refresh_seconds: float, leeway_seconds: float, max_ttl_seconds: float
    ) -> None:
        self._vault = vault
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._leeway_seconds = leeway_seconds
        self._max_ttl_seconds = max_ttl_seconds
        self._live: RefreshAhead[str, _Snapshot] = RefreshAhead(self._read, max_age=refresh_seconds)
        # Revocations made by this process: kept apart so a snapshot read just before one cannot hide it.
        self._local: dict[str, float] = {}
        self._local_lock = threading.Lock()
        # Tenants whose ids the next snapshot reads, and ids read before a snapshot carried them.
        self._watched: BoundedCache[str, bool] = BoundedCache(MAX_WATCHED)
        self._first_reads: BoundedCache[str, tuple[str | None]] = BoundedCache(
            MAX_WATCHED, ttl_seconds=refresh_seconds, clock=clock
        )

    def is_revoked(self, jti: str, tenant_id: str, now: float) -> bool:
        """Whether the token ``jti`` of the tenant whose id is ``tenant_id`` was revoked, as of the snapshot."""
        revoked = self._live.get(self._vault.environment, now).revoked
        row = token_revocation_id(tenant_id, jti)
        # A row named by the jti alone was written before rows named the tenant too.
        return row in self._local or row in revoked or jti in revoked

    def is_key_revoked(self, key_id: str, now: float) -> bool:
        """Whether the API key ``key_id`` (which minted a token) was revoked, as of the snapshot."""
        row = key_revocation_id(key_id)
        return row in self._local or row in self._live.get(self._vault.environment, now).revoked

    def key_revoked(self, key_id: str) -> None:
        """Note that this process revoked the API key ``key_id`` (the row is written by ``ApiKeys.revoke``):
        its tokens fail here at once, without waiting for the next snapshot."""
        with self._local_lock:
            self._local[key_revocation_id(key_id)] = self._clock() + KEY_REVOCATION_KEPT_SECONDS

    def tenant_id(self, tenant: str, now: float) -> str | None:
        """The current id of the tenant named ``tenant`` (None: there is none), at most ``refresh_seconds`` old."""
        snapshot = self._live.get(self._vault.environment, now)
        if tenant in snapshot.names:
            return snapshot.tenant_ids.get(tenant)
        first = self._first_reads.get(tenant)
        if first is not None:
            return first[0]
        # The first token of this tenant here: read its id now; the next snapshots carry it.
        found = self._vault.token_repo.tenant_ids([tenant]).get(tenant)
        self._watched.put(tenant, True)
        self._first_reads.put(tenant, (found,))
        return found

    def revoke(self, jti: str, *, tenant: str, expires_at: float, actor: str, context: str | None = None) -> None:
        """Persist and audit the revocation of ``jti`` (a token of ``tenant`` expiring at ``expires_at``);
        ``context``: the caller's, on the ``token.revoke`` event."""
        if not isinstance(jti, str) or _JTI.fullmatch(jti) is None:
            raise InvalidInput("a token id (jti) is 1-31 characters from A-Z a-z 0-9 _ -")
        check_name("tenant name", tenant)
        if isinstance(expires_at, bool) or not isinstance(expires_at, int | float) or math.isnan(expires_at):
            raise InvalidInput("expires_at must be the token's expiry, in seconds since the epoch")
        now = self._clock()
        # No token lives longer than max_ttl: a revocation need not either (and a huge expires_at is no reason
        # to keep a row forever).
        keep_until = min(float(expires_at), now + self._max_ttl_seconds + self._leeway_seconds)
        revoked = event(
            self._vault, tenant, Action.TOKEN_REVOKE, actor=actor, at=now, detail=f"jti {jti}", context=context
        )
        row = self._vault.token_repo.revoke(
            jti, tenant=tenant, keep_until=keep_until, revoked=revoked, prune_before=now - self._leeway_seconds
        )
        with self._local_lock:
            self._local[row] = keep_until

    def _read(self, environment: str, now: float) -> _Snapshot:
        names = frozenset(self._watched)
        live, ids = self._vault.token_repo.snapshot(expiring_after=now - self._leeway_seconds, names=names)
        with self._local_lock:
            for jti in [j for j, until in self._local.items() if until < now - self._leeway_seconds]:
                del self._local[jti]
        return _Snapshot(revoked=frozenset(live), tenant_ids=ids, names=names)


@dataclass(frozen=True)
class _Snapshot:
    revoked: frozenset[str]  # jtis revoked, of tokens not yet expired
    tenant_ids: dict[str, str]  # of the names below, those that are tenants, with their ids
    names: frozenset[str]  # the tenant names this snapshot looked up
