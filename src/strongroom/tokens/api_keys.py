"""API keys: how a service, an operator or a tenant's backend authenticates to strongroom.

A key is shown once, when it is created, and stored only as SHA-256 of the whole key. A key carries
about 190 random bits, so no slow KDF is needed: a slow hash protects guessable secrets (passwords)
against offline guessing, and nobody can enumerate 2^190 candidates against a leaked hash. A fast hash
also keeps ``authenticate`` (every request) at one indexed read.

The key's public id is its primary key, so a lookup never depends on the secret part; the hashes are
then compared in constant time. The checksum rejects mistyped and made-up keys before any read.

Operator keys (``tenant=None``) may carry ``ADMIN_SCOPE`` (everything, including creating tenants);
tenant keys never can. Creation and revocation are audited in the transaction that makes them; a
revoked or expired key that is presented again is audited as a refusal (at most once a minute per key).
Revoking a tenant's key revokes every agent token it minted, in the same transaction (a row the token
verifiers' revocation snapshot carries, ``vault.repositories.key_revocation_id``). The last live admin
key cannot be revoked: create another first (``strongroom admin-key create`` on the host recovers a lost
one).
"""

from __future__ import annotations

import builtins
import difflib
import hashlib
import hmac
import textwrap
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from strongroom.audit import Action, Outcome
from strongroom.caching import BoundedCache
from strongroom.clock import Clock, iso, system_clock
from strongroom.errors import AccessDenied, Conflict, InvalidInput, NotFound
from strongroom.rules.api_key_format import (
    API_KEY_PATTERN,
    API_KEY_PREFIX,
    api_key_checksum_ok,
    new_api_key,
    parse_key_id,
    public_id,
)
from strongroom.secret import Secret
from strongroom.tokens.common import KEY_REVOCATION_KEPT_SECONDS, check_tenant_name, check_text, event
from strongroom.vault import Vault
from strongroom.vault.repositories import ApiKeyRecord, TenantRecord
from strongroom.vocabulary import ADMIN_SCOPE, MAX_LABEL_CHARS, SCOPES

_REFUSAL_AUDIT_SECONDS = 60.0


def check_scopes(scopes: Iterable[str], *, operator: bool) -> frozenset[str]:
    """The scopes as a set; ``InvalidInput`` naming every unknown one, or ``admin`` on a tenant key."""
    if isinstance(scopes, str):  # "a b" would otherwise be split into characters
        scopes = scopes.split()
    given = frozenset(scopes)
    allowed = SCOPES | {ADMIN_SCOPE} if operator else SCOPES
    if not operator and ADMIN_SCOPE in given:
        raise InvalidInput(f"scope {ADMIN_SCOPE!r} is for operator keys only (tenant=None), not a tenant's key")
    unknown = sorted(str(s)[:64] for s in given - allowed)
    if unknown:
        scopes = sorted(allowed)
        guesses = [
            next((a for a in scopes if a.startswith(u)), None)
            or next(iter(difflib.get_close_matches(u, scopes, 1)), None)
            for u in unknown
        ]
        hint = ", ".join(repr(g) for g in dict.fromkeys(guesses) if g)
        raise InvalidInput(
            f"unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            + (f" (did you mean {hint}?)" if hint else "")
            + "; the valid scopes are:\n"
            + textwrap.fill(", ".join(scopes), 78, initial_indent="  ", subsequent_indent="  ", break_on_hyphens=False)
        )
    if not given:
        raise InvalidInput("an API key needs at least one scope")
    return given


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ApiKeyInfo:
    """A key's metadata: everything but the key. ``prefix`` is safe to show and log."""

    id: str
    tenant: str | None
    name: str
    scopes: frozenset[str]
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None

    @property
    def prefix(self) -> str:
        return API_KEY_PREFIX + self.id

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (ISO-8601 UTC times, sorted scopes)."""
        return {
            "id": self.id,
            "prefix": self.prefix,
            "tenant": self.tenant,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "last_used_at": iso(self.last_used_at),
        }


class ApiKeys:
    """Create, authenticate, list and revoke API keys of one vault's environment."""

    def __init__(
        self, vault: Vault, *, clock: Clock = system_clock, last_used_resolution_seconds: float = 60.0
    ) -> None:
        self._vault = vault
        self._clock = clock
        # last_used_at is written at most this often per key: a write per request would serialise readers.
        self._last_used_resolution_seconds = last_used_resolution_seconds
        # Keys whose refusal was audited in the last minute: a client retrying must not flood the log.
        self._refusal_audited: BoundedCache[str, bool] = BoundedCache(
            4096, ttl_seconds=_REFUSAL_AUDIT_SECONDS, clock=clock
        )
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ApiKeys({self._vault!r})"

    def create(
        self,
        *,
        tenant: str | None,
        name: str,
        scopes: Iterable[str],
        ttl_seconds: float | None = None,
        actor: str,
        context: str | None = None,
    ) -> tuple[Secret[str], ApiKeyInfo]:
        """A new key, returned once as a ``Secret``, and its metadata. Audited (``api_key.create``, with
        ``context``: the caller's, ``AuditContext(...).encode()``)."""
        if tenant is not None:
            check_tenant_name(tenant)
        check_text("API key name", name, MAX_LABEL_CHARS)
        granted = check_scopes(scopes, operator=tenant is None)
        if ttl_seconds is not None and not ttl_seconds > 0:
            raise InvalidInput("ttl_seconds of an API key must be positive (or None: no expiry)")
        check_text("actor", actor, MAX_LABEL_CHARS)
        now = self._clock()
        for attempt in range(3):
            key, key_id = new_api_key()
            record = ApiKeyRecord(
                id=key_id,
                environment=self._vault.environment,
                tenant_id=None,
                name=name,
                key_hash=key_hash(key),
                scopes=" ".join(sorted(granted)),
                created_at=now,
                expires_at=None if ttl_seconds is None else now + ttl_seconds,
                revoked_at=None,
                last_used_at=None,
            )
            created = event(
                self._vault,
                tenant,
                Action.API_KEY_CREATE,
                actor=actor,
                at=now,
                detail=f"{API_KEY_PREFIX}{key_id} {name!r} scopes {record.scopes}",
                context=context,
            )
            try:
                record = self._vault.api_key_repo.insert(record, tenant, created)
            except Conflict:  # a public id collision (1 in 2e14 per pair): draw again
                if attempt == 2:
                    raise
                continue
            return Secret(f"api-key {API_KEY_PREFIX}{key_id}", key), _info(record, tenant)
        raise AssertionError("unreachable")  # pragma: no cover

    def authenticate(self, presented: str) -> ApiKeyInfo:
        """The key's metadata if ``presented`` is a live key of this environment, else ``AccessDenied``.

        Shape and checksum are checked before any read. Messages name the key's public id (when the
        shape is right), never the key.
        """
        key_id = public_id(presented)
        if key_id is None:
            raise AccessDenied("malformed API key: expected srk_ followed by 8 + 1 + 38 letters and digits")
        shown = API_KEY_PREFIX + key_id
        if not api_key_checksum_ok(presented):
            raise AccessDenied(f"API key {shown}: checksum mismatch (mistyped or not a strongroom key)")
        found = self._vault.api_key_repo.lookup(key_id)
        if found is None or found[0].environment != self._vault.environment:
            raise AccessDenied(f"API key {shown} is unknown in {self._vault.environment}")
        record, tenant = found
        if not hmac.compare_digest(record.key_hash, key_hash(presented)):
            raise AccessDenied(f"API key {shown} is unknown in {self._vault.environment}")
        now = self._clock()
        if record.revoked_at is not None:
            self._refused(record, tenant, Outcome.DENIED, "revoked", now)
            raise AccessDenied(f"API key {shown} was revoked")
        if record.expires_at is not None and record.expires_at <= now:
            self._refused(record, tenant, Outcome.EXPIRED, "expired", now)
            raise AccessDenied(f"API key {shown} expired")
        if record.last_used_at is None or now - record.last_used_at >= self._last_used_resolution_seconds:
            self._vault.api_key_repo.touch(record.id, now)
            record = replace(record, last_used_at=now)
        return _info(record, tenant.name if tenant else None)

    def get(self, key_id: str, *, tenant: str | None) -> ApiKeyInfo:
        """One key's metadata; ``NotFound`` unless it is ``tenant``'s (``None``: an operator key)."""
        record = self._owned(self._vault.api_key_repo.lookup(self._parse_id(key_id, tenant)), key_id, tenant)
        return _info(record, tenant)

    def list(self, tenant: str | None) -> builtins.list[ApiKeyInfo]:
        """Metadata of the tenant's keys (``None``: the operator keys), oldest first; never a key or its hash."""
        if tenant is not None:
            check_tenant_name(tenant)
        return [_info(r, tenant) for r in self._vault.api_key_repo.list(tenant)]

    def revoke(self, key_id: str, *, tenant: str | None, actor: str, context: str | None = None) -> str:
        """Revoke a key of ``tenant`` (``None``: an operator key) and every token it minted; its public id.
        ``NotFound`` for anyone else's key; ``Conflict`` for the last live admin key. Audited
        (``api_key.revoke``, with ``context``: the caller's).

        Revoking a revoked key changes nothing and succeeds. The key is refused at once everywhere (each
        request reads it); its tokens at once in a ``TokenService`` told so (``TokenService.key_revoked``) and
        within the revocation refresh (1 s by default) in every other process.
        """
        parsed = self._parse_id(key_id, tenant)
        now = self._clock()
        revoked = event(
            self._vault,
            tenant,
            Action.API_KEY_REVOKE,
            actor=actor,
            at=now,
            detail=f"{API_KEY_PREFIX}{parsed}",
            context=context,
        )
        self._vault.api_key_repo.revoke(
            parsed,
            lambda found: self._owned(found, parsed, tenant),
            revoked,
            tokens_until=now + KEY_REVOCATION_KEPT_SECONDS,
            others=self._keep_an_admin,
        )
        return parsed

    # -- helpers ------------------------------------------------------------------------------------

    def _parse_id(self, key_id: str, tenant: str | None = None) -> str:
        if tenant is not None:
            check_tenant_name(tenant)
        parsed = parse_key_id(key_id)
        if parsed is None:
            raise InvalidInput("an API key id is 8 letters and digits, optionally after srk_")
        return parsed

    def _owned(
        self, found: tuple[ApiKeyRecord, TenantRecord | None] | None, key_id: str, tenant: str | None
    ) -> ApiKeyRecord:
        # The same NotFound for a missing key and for another tenant's: no probing which ids exist.
        owner = None if found is None or found[1] is None else found[1].name
        if found is None or found[0].environment != self._vault.environment or owner != tenant:
            whose = "operator" if tenant is None else f"tenant {tenant!r}"
            raise NotFound(f"API key {API_KEY_PREFIX}{parse_key_id(key_id)} not found among the {whose} keys")
        return found[0]

    def _keep_an_admin(self, key: ApiKeyRecord, operator_keys: builtins.list[ApiKeyRecord]) -> None:
        """Refuse to revoke the last live admin key: nobody could manage the service over HTTP after it."""
        if ADMIN_SCOPE not in key.scopes.split():
            return
        now = self._clock()
        if not any(
            k.id != key.id
            and ADMIN_SCOPE in k.scopes.split()
            and k.revoked_at is None
            and (k.expires_at is None or k.expires_at > now)
            for k in operator_keys
        ):
            raise Conflict(f"{API_KEY_PREFIX}{key.id} is the last admin key: create another, then revoke this one")

    def _refused(self, record: ApiKeyRecord, tenant: TenantRecord | None, outcome: str, why: str, now: float) -> None:
        """Audit a dead key's use, at most once a minute per key (a client retrying must not flood the log)."""
        with self._lock:
            if record.id in self._refusal_audited:
                return
            self._refusal_audited.put(record.id, True)
        shown = API_KEY_PREFIX + record.id
        self._vault.record_event(
            event(
                self._vault,
                tenant.name if tenant else None,
                Action.API_KEY_REFUSED,
                actor=shown,
                at=now,
                outcome=outcome,
                detail=f"{shown} {why}",
            )
        )


def _info(record: ApiKeyRecord, tenant: str | None) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=record.id,
        tenant=tenant,
        name=record.name,
        scopes=frozenset(record.scopes.split()),
        created_at=record.created_at,
        expires_at=record.expires_at,
        revoked_at=record.revoked_at,
        last_used_at=record.last_used_at,
    )


__all__ = ["ADMIN_SCOPE", "API_KEY_PATTERN", "SCOPES", "ApiKeyInfo", "ApiKeys", "api_key_checksum_ok", "check_scopes"]
