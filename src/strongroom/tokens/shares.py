"""One-time delivery links (response wrapping): hand a value to a person through a link that works once.

The value is stored as an *ephemeral* secret of the tenant (``share.<id>``, expiring with the link), so
it is encrypted like any other; the link carries a random token of which only the SHA-256 is stored.
Creation is one transaction: the ephemeral version, the share row and the ``secret.put`` and
``share.create`` events commit together or not at all. Redemption is one transaction too: it marks the
link used (one caller wins a race), decrypts the value (``secret.use``, purpose ``share``) and purges it,
with its events; if any step fails nothing changes and the link still works. A second redemption, or
one after expiry, finds nothing. Creation and redemption are audited; the token and the value never are.
See ``strongroom.vault.repositories.ShareRepository``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from strongroom.audit import Action
from strongroom.clock import Clock, system_clock
from strongroom.errors import InvalidInput, NotFound
from strongroom.secret import Secret
from strongroom.tokens.common import check_tenant_name
from strongroom.vault import Vault
from strongroom.vocabulary import SHARE_SECRET_PREFIX

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
        self, tenant: str, value: str, *, ttl_seconds: float | None = None, actor: str, context: str | None = None
    ) -> tuple[Secret[str], ShareInfo]:
        """Store ``value`` for one redemption; returns the link token (once) and the share's metadata.
        ``context``: the creator's (``AuditContext(...).encode()``), on the ``secret.put`` and ``share.create``."""
        check_tenant_name(tenant)
        ttl = DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds
        if not 0 < ttl <= MAX_TTL_SECONDS:
            raise InvalidInput(f"a share lives between 1 second and {int(MAX_TTL_SECONDS)} seconds")
        token = SHARE_PREFIX + secrets.token_urlsafe(32)
        digest = _hash(token)
        name = f"{SHARE_SECRET_PREFIX}{digest[:24]}"
        expires_at = self._vault.share_repo.create(
            tenant, name, value, share_id=digest, ttl_seconds=ttl, actor=actor, now=self._clock(), context=context
        )
        return Secret("share link", token), ShareInfo(digest[:12], tenant, expires_at)

    def redeem(self, token: str, *, actor: str = "share-link", context: str | None = None) -> Secret[str]:
        """The value, once. ``NotFound`` for an unknown or used link, ``Expired`` for an expired one.
        ``context``: the redeemer's (who holds a link is anonymous: from where, its labels), on the
        ``share.redeem``, ``secret.use`` and ``secret.purge`` events."""
        if not isinstance(token, str) or not token.startswith(SHARE_PREFIX) or len(token) > 128:
            raise NotFound("no such share link (or it was used)")
        value = self._vault.share_repo.redeem(_hash(token), actor=actor, now=self._clock(), context=context)
        return Secret("shared value", value if isinstance(value, str) else value.decode("utf-8", "surrogateescape"))
