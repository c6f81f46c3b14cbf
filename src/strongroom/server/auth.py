"""Who is calling: an API key (``srk_...``) or a short-lived token, from ``Authorization: Bearer``.

The door, in order: the credential's rate-limit buckets are read from it without any lookup (an API key's
public id; a token's unverified ``kid``, ``tenant`` and ``sub``; the client's address), and past the limit
the caller gets 429 before any lookup or signature check, unless the credential authenticated recently
(a keyed hash of it is remembered: a valid credential is not locked out by someone failing under its key
id). Then the credential is checked; a failure is counted in its buckets and answered 401. Failures are
counted with the ``limits`` library (moving window; in memory, or in Redis shared by every process).

Every 401, 403 and 429 is an audit event (``strongroom.server.refusals``: counted when flooding), naming
the key's public id, the token's subject or the bucket, never the credential; in the chain of the tenant
whose key was aimed at when that is known.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from strongroom.audit import Action, Outcome
from strongroom.audit.context import AuditContext, header_labels, screened
from strongroom.caching import BoundedCache
from strongroom.clock import Clock, system_clock
from strongroom.errors import AccessDenied, Expired, NotFound
from strongroom.rules.api_key_format import API_KEY_PREFIX, public_id
from strongroom.server.errors import ApiError
from strongroom.server.refusals import RefusalAudit, TenantRef
from strongroom.vocabulary import ADMIN_SCOPE, is_reserved_tenant_name

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import RateLimiter

    from strongroom.server.app import ServiceState
    from strongroom.vault import Vault

log = logging.getLogger("strongroom.server")

MEMORY_STORAGE = "memory://"


def check_tenant_door(tenant: str | None) -> None:
    """``NotFound`` for a tenant name of the form strongroom uses itself (``_platform``, ``-``, ...): no
    caller, the operator included, addresses one through the service (``vocabulary.is_reserved_tenant_name``)."""
    if tenant is not None and is_reserved_tenant_name(tenant):
        raise NotFound(f"tenant {tenant[:64]!r} not found: names starting with '_' or '-' are strongroom's own")


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant`` is None for the operator (admin) key."""

    kind: str  # "api_key" | "token"
    id: str  # the key's public id, or the token's jti
    tenant: str | None
    scopes: frozenset[str]
    subject: str
    key_id: str | None = None  # the API key: the caller itself, or the one that minted the token
    agent_run: str | None = None  # a token's claims: the agent run it was minted for, its OAuth client
    client_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.tenant is None and ADMIN_SCOPE in self.scopes

    def require(self, scope: str, tenant: str | None = None) -> None:
        """Refuse unless this caller holds ``scope`` (admin holds all) and, if given, acts for ``tenant``.
        A reserved tenant name is not found, for everyone."""
        check_tenant_door(tenant)
        if self.is_admin:
            return
        if tenant is not None and self.tenant != tenant:
            raise AccessDenied(f"this credential is not for tenant {tenant!r}")
        if scope not in self.scopes:
            raise AccessDenied(f"this credential lacks the scope {scope!r}")

    def require_admin(self, tenant: str | None = None) -> None:
        check_tenant_door(tenant)
        if not self.is_admin:
            raise AccessDenied("this needs the operator's admin key")


def actor(principal: Principal) -> str:
    """How the audit log names the caller: the key's public id or the token's subject, never a credential."""
    return f"key:{principal.id}" if principal.kind == "api_key" else f"token:{principal.subject}"[:128]


# -- the credential, read without a lookup --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Presented:
    """What a presented credential says about itself, unverified: enough to pick its rate-limit bucket."""

    bucket: str | None  # "key:<id>" or "token:<digest of kid, tenant, sub>"; None when it names nothing
    key_id: str | None  # an API key's public id
    claimed_tenant: str | None  # a token's tenant, tenant id and subject claims (trusted once it verified)
    claimed_tid: str | None = None
    claimed_sub: str | None = None

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}" if self.key_id else "key:token"

    @property
    def owner(self) -> str | None:
        """Whose share of the remembered good credentials this one would use: its key, or its token's
        tenant. Only a credential that authenticated is remembered, so no caller can fill another's share."""
        if self.key_id is not None:
            return f"key:{self.key_id}"
        return None if self.claimed_tenant is None else f"tenant:{self.claimed_tenant}"


def presented(credential: str) -> Presented:
    if credential.startswith(API_KEY_PREFIX):
        key_id = public_id(credential)
        return Presented(f"key:{key_id}" if key_id else None, key_id, None, None)
    parts = credential.split(".")
    if len(parts) != 3 or len(credential) > 8192:
        return Presented(None, None, None, None)
    try:
        header = json.loads(_b64(parts[0]))
        claims = json.loads(_b64(parts[1]))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Presented(None, None, None, None)
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return Presented(None, None, None, None)
    kid, tenant, tid, sub = (header.get("kid"), claims.get("tenant"), claims.get("tid"), claims.get("sub"))
    if not all(isinstance(v, str) for v in (kid, tenant, sub)):
        return Presented(None, None, None, None)
    digest = hashlib.sha256(json.dumps([kid, tenant, sub]).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return Presented(f"token:{digest}", None, str(tenant), tid if isinstance(tid, str) else None, str(sub))


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- the limit ---------------------------------------------------------------------------------------------------


class DoorLimiter:
    """Failed authentications per credential bucket (``limit``) and per client address (``address_limit``)
    in a moving window of ``window_seconds``, with the ``limits`` library: in memory (this process), or in
    Redis (``storage="redis://..."``: every process of the service counts together). Credentials that
    authenticated within ``remember_seconds`` pass whatever the count: kept as keyed hashes, at most
    ``remember_per_owner`` per API key or per tenant's tokens, for at most ``remember_owners`` owners, so a
    tenant minting tokens by the thousand evicts only its own."""

    def __init__(
        self,
        *,
        storage: str = MEMORY_STORAGE,
        limit: int = 20,
        address_limit: int = 200,
        window_seconds: int = 60,
        namespace: str = "strongroom-door",
        remember_owners: int = 16_384,
        remember_per_owner: int = 4_096,
        remember_seconds: float = 900.0,
        clock: Clock = system_clock,
    ) -> None:
        from limits import RateLimitItemPerSecond
        from limits.storage import storage_from_string
        from limits.strategies import MovingWindowRateLimiter

        self.storage = storage
        self.window = window_seconds
        self.inline = storage.startswith(MEMORY_STORAGE)  # no I/O: checked on the event loop
        self._limiter: RateLimiter = MovingWindowRateLimiter(storage_from_string(storage, wrap_exceptions=True))
        self._per_credential = RateLimitItemPerSecond(limit, window_seconds, namespace=namespace)
        self._per_address = RateLimitItemPerSecond(address_limit, window_seconds, namespace=namespace)
        self._good: BoundedCache[str, BoundedCache[bytes, bool]] = BoundedCache(remember_owners)
        self._remember = (remember_per_owner, remember_seconds, clock)
        self._hash_key = secrets.token_bytes(32)  # this process's: the remembered hashes are useless elsewhere

    def __repr__(self) -> str:
        return f"DoorLimiter({self.storage.split('://')[0]}://...)"

    def _items(self, environment: str, bucket: str | None, client: str) -> list[tuple[RateLimitItem, str, str]]:
        found: list[tuple[RateLimitItem, str, str]] = []
        if bucket is not None:
            found.append((self._per_credential, environment, bucket))
        found.append((self._per_address, environment, f"addr:{client}"))
        return found

    def _digest(self, credential: str) -> bytes:
        return hmac.digest(self._hash_key, credential.encode("utf-8", "surrogatepass"), "sha256")

    def vouched(self, credential: str, owner: str | None) -> bool:
        """Whether ``credential`` (of ``owner``: ``Presented.owner``) authenticated within ``remember_seconds``."""
        share = None if owner is None else self._good.get(owner)
        return share is not None and share.get(self._digest(credential)) is not None

    def remember(self, credential: str, owner: str | None) -> None:
        if owner is None:
            return
        share = self._good.get(owner)
        if share is None:
            size, seconds, clock = self._remember
            share = self._good.put(owner, BoundedCache(size, ttl_seconds=seconds, clock=clock))
        share.put(self._digest(credential), True)

    def over(self, environment: str, bucket: str | None, client: str) -> str | None:
        """The first bucket past its limit (credential's first, then the address), or None. A storage
        failure (Redis down) lets the caller through to the credential check: logged, never a 500."""
        from limits.errors import StorageError

        try:
            for item, env, name in self._items(environment, bucket, client):
                if not self._limiter.test(item, env, name):
                    return name
        except StorageError as exc:
            log.warning("rate-limit storage unavailable (%s): not limiting", type(exc).__name__)
        return None

    def failed(self, credential: str, owner: str | None, environment: str, bucket: str | None, client: str) -> None:
        """Count a failure in every bucket of the credential; it is no longer remembered as good."""
        from limits.errors import StorageError

        share = None if owner is None else self._good.get(owner)
        if share is not None:
            share.pop(self._digest(credential))
        try:
            for item, env, name in self._items(environment, bucket, client):
                self._limiter.hit(item, env, name)
        except StorageError as exc:
            log.warning("rate-limit storage unavailable (%s): failure not counted", type(exc).__name__)


# -- the door ----------------------------------------------------------------------------------------------------


def request_id(request: Request) -> str | None:
    """The caller's X-Request-Id if it is short printable text (it goes into audit rows), else none."""
    return checked_request_id(request.headers.get("x-request-id"))


def checked_request_id(value: str | None) -> str | None:
    return value[:128] if value and value.isprintable() else None


def route_of(request: Request) -> str:
    """``METHOD /route/{template}``: never the path itself, which may hold a link token."""
    route = request.scope.get("route")
    template = getattr(route, "path", None)
    return f"{request.method} {template if isinstance(template, str) else '(no route)'}"


PEER = "strongroom.peer"
"""The scope key under which ``middleware.BehindProxies`` keeps the TCP peer's address before a trusted proxy's
``X-Forwarded-For`` replaces ``scope["client"]``."""


def client_of(scope: Mapping[str, Any]) -> tuple[str, str | None]:
    """The client's address (the peer's, or the one a trusted proxy forwarded) and the proxy's when it
    forwarded one (``None`` otherwise)."""
    client = scope.get("client")
    address = str(client[0]) if client else "?"
    peer = scope.get(PEER)
    return address, peer if isinstance(peer, str) and peer != address else None


def withholder(state: ServiceState, tenant: str | None, credential: str) -> Callable[[str], bool]:
    """Whether an agent-supplied label may hold a secret, to be recorded as ``[withheld]``: it holds a value the
    answer to this caller would mask (its tenant's values in use, the platform's, provider token shapes:
    ``tenant=None`` before the caller is known), or the credential this request presented, or a long part of it.
    """
    redactor = state.redactor
    # Every run of CREDENTIAL_RUN characters of the credential: a label sharing one holds a piece of it, so a
    # credential split across several labels is withheld piece by piece, not recorded whole across them.
    run = CREDENTIAL_RUN
    pieces = {credential[i : i + run] for i in range(len(credential) - run + 1)}
    if len(credential) < 2 * run:
        pieces.clear()

    def withhold(text: str) -> bool:
        if pieces and any(text[i : i + run] in pieces for i in range(len(text) - run + 1)):
            return True
        return redactor.redact(text, tenant=tenant) != text

    return withhold


CREDENTIAL_RUN = 8
"""How many characters a label may share with the request's credential before it is withheld (a random
credential shares eight with an ordinary label by chance about never)."""


def caller_context(
    state: ServiceState,
    principal: Principal | None,
    headers: Mapping[str, str],
    *,
    client: str,
    peer: str | None,
    labels: Mapping[str, str] | None = None,
) -> AuditContext:
    """The audit context of a request: who (``principal``, when known), on whose behalf (its labels: the
    token's ``agent_run`` claim over ``X-Strongroom-Agent-Run``, the other headers of ``audit.context.HEADERS``),
    from where. Labels are screened (``withholder``) for the caller's tenant; the Authorization header is read
    only to compare against. ``labels``: ``header_labels(headers)``, when the caller has them already."""
    tenant = principal.tenant if principal is not None else None
    credential = headers.get("authorization", "").partition(" ")[2].strip()
    raw = dict(header_labels(headers) if labels is None else labels)
    if principal is not None and principal.agent_run:
        raw["agent_run"] = principal.agent_run
    found = screened(raw, withholder(state, tenant, credential)) if raw else {}
    if principal is None:
        return AuditContext(client=client, peer=peer).but(**found)
    token = principal.kind == "token"
    return AuditContext(
        key_id=principal.key_id,
        token_id=principal.id if token else None,
        subject=principal.subject if token else None,
        client_id=principal.client_id,
        client=client,
        peer=peer,
    ).but(**found)


async def authenticate(request: Request) -> Principal:
    """The caller of this request, or 401/429; a reserved tenant in the path is not found (the routes'
    dependency)."""
    client, peer = client_of(request.scope)
    principal = await authenticate_header(
        request.app.state.strongroom,
        request.headers.get("authorization", ""),
        client=client,
        request_id=request_id(request),
        route=route_of(request),
        peer=peer,
        headers=request.headers,
    )
    request.state.principal = principal  # for the audit event of a 403 (server.errors)
    request.state.tenant = principal.tenant  # whose values the answer's redaction masks (server/middleware.py)
    # Who, on whose behalf, from where: for the events this request's route records.
    request.state.audit_context = caller_context(
        request.app.state.strongroom, principal, request.headers, client=client, peer=peer
    )
    tenant = request.path_params.get("tenant")
    check_tenant_door(tenant if isinstance(tenant, str) else None)
    return principal


def key_tenant(state: ServiceState, key_id: str) -> str | None:
    """The tenant of the API key ``key_id`` (None: unknown, another environment's, or an operator key):
    the chain a failure aimed at that key belongs in. One read; the failure path only."""
    found = state.vault.api_key_repo.lookup(key_id)
    if found is None or found[0].environment != state.vault.environment or found[1] is None:
        return None
    return found[1].name


def _token_tenant(vault: Vault, seen: Presented) -> str | None:
    """The tenant of a genuine token whose tenant still exists with the id it names."""
    if seen.claimed_tenant is None or seen.claimed_tid is None:
        return None
    ids = vault.token_repo.tenant_ids([seen.claimed_tenant])
    return seen.claimed_tenant if ids.get(seen.claimed_tenant) == seen.claimed_tid else None


async def authenticate_header(
    state: ServiceState,
    header: str,
    *,
    client: str,
    request_id: str | None,
    route: str = "?",
    peer: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Principal:
    """The caller presenting ``header`` (``Authorization``), or 401/429.

    Async on purpose: a token is verified on the event loop (CPU only, the key and revocation sets are
    cached), an API key in a worker thread (it reads the store); a sync dependency would cost every request
    a thread hop. ``peer`` and ``headers`` (the request's: labels are read from them) give a refusal's audit
    event its context: from where, on whose behalf, and who the credential claims to be.
    """
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    where = Where(state, client, peer, headers or {})
    if scheme.lower() != "bearer" or not credential:
        await asyncio.to_thread(
            state.refusals.record,
            Action.AUTH_FAIL,
            actor=f"addr:{client}"[:128],
            tenant=None,
            detail=f"{route}: no bearer credential, from {client}",
            request_id=request_id,
            context=where.context(status=401, error="unauthenticated"),
        )
        raise ApiError(
            401, "unauthenticated", "send Authorization: Bearer <API key or token>", {"WWW-Authenticate": "Bearer"}
        )
    door, environment = state.door, state.vault.environment
    seen = presented(credential)  # its buckets and owner, read from it without a lookup
    vouched = door.vouched(credential, seen.owner)
    if not vouched:
        over = (
            door.over(environment, seen.bucket, client)
            if door.inline
            else await asyncio.to_thread(door.over, environment, seen.bucket, client)
        )
        if over is not None:
            await _limited(state, seen, over, client=client, request_id=request_id, route=route, where=where)
    try:
        if credential.startswith(API_KEY_PREFIX):
            info = await asyncio.to_thread(state.api_keys.authenticate, credential)
            principal = Principal(
                "api_key", info.id, info.tenant, frozenset(info.scopes), f"key:{info.id}", key_id=info.id
            )
        else:
            claims = state.tokens.verify(credential, audience=state.audience)
            principal = Principal(
                "token",
                claims.jti,
                claims.tenant,
                frozenset(claims.scopes),
                claims.subject,
                key_id=claims.key_id,
                agent_run=claims.agent_run,
                client_id=claims.client_id,
            )
    except (AccessDenied, Expired) as exc:
        await asyncio.to_thread(
            _failed, state, credential, seen, exc, client=client, request_id=request_id, route=route, where=where
        )
        raise ApiError(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"}) from None
    if not vouched:  # remembered from its first success for remember_seconds, not renewed per request
        door.remember(credential, seen.owner)
    return principal


@dataclass(frozen=True, slots=True)
class Where:
    """What a refused request says of itself, for its audit event: built into a context only when refused."""

    state: ServiceState
    client: str
    peer: str | None
    headers: Mapping[str, str]

    def context(self, **who: Any) -> str | None:
        """From where, on whose behalf (screened as for an unauthenticated answer), and ``who`` the credential
        claims to be: unverified, as the refusal's actor already names it."""
        found = caller_context(self.state, None, self.headers, client=self.client, peer=self.peer)
        return found.but(**who).encode()


def _failed(
    state: ServiceState,
    credential: str,
    seen: Presented,
    exc: Exception,
    *,
    client: str,
    request_id: str | None,
    route: str,
    where: Where,
) -> None:
    """Count a failed authentication and audit it: in the chain of the tenant whose key id (or genuine,
    expired token) it was, else the environment-wide chain."""
    state.door.failed(credential, seen.owner, state.vault.environment, seen.bucket, client)
    tenant: str | None = None
    actor = seen.actor
    subject: str | None = None
    if seen.key_id is not None:
        tenant = key_tenant(state, seen.key_id)
    elif isinstance(exc, Expired):  # raised only once the signature verified: its claims are the issuer's
        tenant = _token_tenant(state.vault, seen)
        if tenant is not None and seen.claimed_sub and seen.claimed_sub.isprintable():
            actor = f"token:{seen.claimed_sub}"[:128]
            subject = seen.claimed_sub
    state.refusals.record(
        Action.AUTH_FAIL,
        actor=actor,
        tenant=tenant,
        detail=f"{route}: {type(exc).__name__}, from {client}",
        request_id=request_id,
        context=where.context(key_id=seen.key_id, subject=subject, status=401, error="unauthenticated"),
    )


async def _limited(
    state: ServiceState,
    seen: Presented,
    bucket: str,
    *,
    client: str,
    request_id: str | None,
    route: str,
    where: Where,
) -> None:
    """Audit a 429 (counted per bucket when flooding) and raise it: before any lookup of the credential."""
    tenant: TenantRef = None
    key_id = seen.key_id
    if key_id is not None and bucket == seen.bucket:
        # Read only if this group's event is written (at most twice an interval): the key's own chain.
        tenant = lambda: key_tenant(state, key_id)  # noqa: E731
    await asyncio.to_thread(
        state.refusals.record,
        Action.AUTH_LIMITED,
        actor=bucket[:128],
        tenant=tenant,
        outcome=Outcome.LIMITED,
        detail=f"{route}: too many failed authentications for {bucket}, from {client}",
        request_id=request_id,
        context=where.context(key_id=seen.key_id, status=429, error="too_many_failures"),
    )
    raise ApiError(
        429,
        "too_many_failures",
        "too many failed authentications; try again later",
        {"Retry-After": str(state.door.window)},
    )


def audit_denied(
    state: ServiceState,
    principal: Principal | None,
    route: str,
    exc: Exception,
    request_id: str | None,
    *,
    context: AuditContext | None = None,
) -> None:
    """A 403: the caller (in its own tenant's chain), the route template and what it lacked; ``context``: the
    request's (``caller_context``)."""
    state.refusals.record(
        Action.AUTH_DENIED,
        actor=actor(principal) if principal is not None else "unknown",
        tenant=principal.tenant if principal is not None else None,
        detail=f"{route}: {exc}",
        request_id=request_id,
        subgroup=route,
        context=(context or AuditContext()).but(status=403, error="forbidden").encode(),
    )


__all__ = [
    "DoorLimiter",
    "Principal",
    "RefusalAudit",
    "actor",
    "audit_denied",
    "authenticate",
    "authenticate_header",
    "caller_context",
    "check_tenant_door",
    "checked_request_id",
    "client_of",
    "request_id",
    "withholder",
]
