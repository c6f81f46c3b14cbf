"""One-time delivery links (response wrapping): hand a value to a person through a link that works once.

The value is stored as an *ephemeral* secret of the tenant (``share.<id>``, expiring with the link), so
it is encrypted like any other; the link carries a random token of which only the SHA-256 is stored.
Redeeming marks the link used in the same transaction that checks it (one caller wins a race), reads
the value through ``Vault.use(..., purpose="share")`` and purges it. A second redemption, or one after
expiry, finds nothing. Creation and redemption are audited; the token and the value never are.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from strongroom.audit import Action, Outcome
from strongroom.clock import Clock, system_clock
from strongroom.errors import Expired, InvalidInput, NotFound
from strongroom.secret import Secret
from strongroom.store import ShareRecord
from strongroom.tokens.common import audited_write, check_tenant_name, event, find_tenant
from strongroom.vault import Vault
from strongroom.vocabulary import SHARE_SECRET_PREFIX, Kind, Sensitivity

SHARE_PREFIX = "srs_"
DEFAULT_TTL_SECONDS = 3600.0
MAX_TTL_SECONDS = 7 * 86400.0
CREATE = Action.SHARE_CREATE
REDEEM = Action.SHARE_REDEEM


@dataclass(frozen=True, slots=True)
class ShareInfo:
    id: str  # the first 12 hex of the token's hash: names the link in audit and listings, opens nothing
    tenant: str
    expires_at: float


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Shares:
    def __init__(self, vault: Vault, *, clock: Clock = system_clock) -> None:
        self._vault = vault
        self._clock = clock

    def create(
        self, tenant: str, value: str, *, ttl_seconds: float | None = None, actor: str
    ) -> tuple[Secret[str], ShareInfo]:
        """Store ``value`` for one redemption; returns the link token (once) and the share's metadata."""
        check_tenant_name(tenant)
        ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        if not 0 < ttl <= MAX_TTL_SECONDS:
            raise InvalidInput(f"a share lives between 1 second and {int(MAX_TTL_SECONDS)} seconds")
        token = SHARE_PREFIX + secrets.token_urlsafe(32)
        digest = _hash(token)
        name = f"{SHARE_SECRET_PREFIX}{digest[:24]}"
        stored = self._vault.put(
            tenant,
            name,
            value,
            kind=Kind.EPHEMERAL,
            ttl_seconds=ttl,
            sensitivity=Sensitivity.CRITICAL,
            description="one-time delivery",
            actor=actor,
        )
        now = self._clock()
        expires_at = stored.expires_at or now + ttl
        with audited_write(self._vault) as tx:
            record = find_tenant(tx, self._vault, tenant)
            tx.insert_share(
                ShareRecord(
                    id=digest,
                    environment=self._vault.environment,
                    tenant_id=record.id,
                    secret_name=name,
                    version=stored.version,
                    created_at=now,
                    expires_at=expires_at,
                    used_at=None,
                    created_by=actor,
                )
            )
            self._vault.audit.record(
                tx, event(self._vault, tenant, CREATE, actor=actor, at=now, name=name, detail=f"share {digest[:12]}")
            )
        return Secret("share link", token), ShareInfo(digest[:12], tenant, expires_at)

    def redeem(self, token: str, *, actor: str = "share-link") -> Secret[str]:
        """The value, once. ``NotFound`` for an unknown or used link, ``Expired`` for an expired one."""
        if not isinstance(token, str) or not token.startswith(SHARE_PREFIX) or len(token) > 128:
            raise NotFound("no such share link (or it was used)")
        digest = _hash(token)
        now = self._clock()
        with audited_write(self._vault) as tx:
            share = tx.share(digest, lock=True)
            if share is None or share.used_at is not None or not tx.mark_share_used(digest, now):
                raise NotFound("no such share link (or it was used)")
            tenant = next((t.name for t in tx.tenants(self._vault.environment) if t.id == share.tenant_id), None)
            if tenant is None:
                raise NotFound("no such share link (or it was used)")
            expired = share.expires_at <= now
            outcome = Outcome.EXPIRED if expired else Outcome.OK
            self._vault.audit.record(
                tx,
                event(
                    self._vault,
                    tenant,
                    REDEEM,
                    actor=actor,
                    at=now,
                    name=share.secret_name,
                    outcome=outcome,
                    detail=f"share {digest[:12]}",
                ),
            )
        if expired:
            self._vault.purge(tenant, share.secret_name, actor=actor)
            raise Expired("this share link has expired")
        with self._vault.use(tenant, share.secret_name, purpose="share", version=share.version, actor=actor) as secret:
            value = secret.reveal()
        self._vault.purge(tenant, share.secret_name, actor=actor)
        return Secret("shared value", value)
