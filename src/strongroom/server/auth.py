"""Who is calling: an API key (``srk_...``) or a short-lived token, from ``Authorization: Bearer``.

Failed attempts are counted per presented key id and per client address over a sliding minute; past
the limit the caller gets 429 before any lookup. Every failure is audited (outcome ``denied``), naming
the key's public id when the credential was well-formed, never the credential.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import Request

from strongroom.audit import Action, Outcome
from strongroom.errors import AccessDenied, Expired
from strongroom.server.errors import ApiError
from strongroom.vocabulary import ADMIN_SCOPE

if TYPE_CHECKING:
    from strongroom.server.app import ServiceState


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller. ``tenant`` is None for the operator (admin) key."""

    kind: str  # "api_key" | "token"
    id: str  # the key's public id, or the token's jti
    tenant: str | None
    scopes: frozenset[str]
    subject: str

    @property
    def is_admin(self) -> bool:
        return self.tenant is None and ADMIN_SCOPE in self.scopes

    def require(self, scope: str, tenant: str | None = None) -> None:
        """Refuse unless this caller holds ``scope`` (admin holds all) and, if given, acts for ``tenant``."""
        if self.is_admin:
            return
        if tenant is not None and self.tenant != tenant:
            raise AccessDenied(f"this credential is not for tenant {tenant!r}")
        if scope not in self.scopes:
            raise AccessDenied(f"this credential lacks the scope {scope!r}")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise AccessDenied("this needs the operator's admin key")


def actor(principal: Principal) -> str:
    """How the audit log names the caller: the key's public id or the token's subject, never a credential."""
    return f"key:{principal.id}" if principal.kind == "api_key" else f"token:{principal.subject}"[:128]


class FailureLimiter:
    """Failed authentications per key id and per client address, in a sliding window."""

    def __init__(self, *, limit: int = 20, window_seconds: float = 60.0) -> None:
        self.limit, self.window = limit, window_seconds
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def check(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if any(len(self._recent(key, now)) > self.limit for key in keys):
                raise ApiError(
                    429,
                    "too_many_failures",
                    "too many failed authentications; try again later",
                    {"Retry-After": str(int(self.window))},
                )

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._recent(key, now).append(now)
            if len(self._failures) > 100_000:  # bound memory under a spray of random key ids
                self._failures.clear()


def request_id(request: Request) -> str | None:
    """The caller's X-Request-Id if it is short printable text (it goes into audit rows), else none."""
    return checked_request_id(request.headers.get("x-request-id"))


def checked_request_id(value: str | None) -> str | None:
    return value[:128] if value and value.isprintable() else None


def _key_id_of(credential: str) -> str:
    """The public part of a presented credential, safe to count and to audit: an API key's id only."""
    if credential.startswith("srk_") and len(credential) > 12:
        return credential[4:12]
    return "token"


async def authenticate(request: Request) -> Principal:
    """The caller of this request, or 401/403/429 (the routes' dependency)."""
    principal = await authenticate_header(
        request.app.state.strongroom,
        request.headers.get("authorization", ""),
        client=request.client.host if request.client else "?",
        request_id=request_id(request),
    )
    request.state.tenant = principal.tenant  # whose values the answer's redaction masks (server/middleware.py)
    return principal


async def authenticate_header(state: ServiceState, header: str, *, client: str, request_id: str | None) -> Principal:
    """The caller presenting ``header`` (``Authorization``), or 401/403/429.

    Async on purpose: a token is verified on the event loop (CPU only, the key and revocation sets are
    cached), an API key in a worker thread (it reads the store); a sync dependency would cost every request
    a thread hop.
    """
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError(
            401, "unauthenticated", "send Authorization: Bearer <API key or token>", {"WWW-Authenticate": "Bearer"}
        )
    credential = credential.strip()
    key_id = _key_id_of(credential)
    limits = (f"key:{key_id}", f"addr:{client}")
    try:
        if credential.startswith("srk_"):
            info = await asyncio.to_thread(state.api_keys.authenticate, credential)
            scopes = frozenset(info.scopes)
            return Principal("api_key", info.id, info.tenant, scopes, f"key:{info.id}")
        claims = state.tokens.verify(credential, audience=state.audience)
        return Principal("token", claims.jti, claims.tenant, frozenset(claims.scopes), claims.subject)
    except (AccessDenied, Expired) as exc:
        # Counted after the check, so a valid credential always passes (a neighbour behind the same proxy,
        # or someone forging keys with a known public id, cannot lock it out); past the limit a failure
        # is answered 429 instead of 401.
        state.failures.failed(*limits)
        state.failures.check(*limits)
        state.vault.enqueue_event(
            state.vault.audit_event(
                None,
                Action.AUTH_FAIL,
                actor=f"key:{key_id}",
                outcome=Outcome.DENIED,
                request_id=request_id,
                detail=type(exc).__name__,
            )
        )
        raise ApiError(401, "unauthenticated", str(exc), {"WWW-Authenticate": "Bearer"}) from None
