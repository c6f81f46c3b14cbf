"""GPT document links: an unguessable, revocable URL serving a tenant's GPT Actions document without a header.

A GPT's "Import from URL" cannot send a bearer header, so the link carries its credential in the path:
an API key of the tenant holding the one scope ``gpt:document`` (``ApiKeys``: stored only as a hash,
listed without the key, revoked like any key, every creation and revocation audited). That key opens
the tenant's GPT document and nothing else. A link is created with a tenant API key holding
``connectors:read`` (never an agent token: a link outlives any token), and listed and revoked with one.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

from strongroom.errors import InvalidInput, NotFound
from strongroom.secret import Secret
from strongroom.tokens.api_keys import ApiKeyInfo, ApiKeys
from strongroom.vocabulary import Scope

LINK_SCOPES = frozenset({Scope.GPT_DOCUMENT.value})
NAME_PREFIX = "gpt-document"
MAX_TTL_SECONDS = 366 * 86400.0


@dataclass(frozen=True, slots=True)
class DocumentLink:
    """A link's metadata: never its key."""

    id: str
    name: str
    created_at: float
    expires_at: float | None
    revoked_at: float | None
    last_used_at: float | None


def _link(info: ApiKeyInfo) -> DocumentLink:
    return DocumentLink(info.id, info.name, info.created_at, info.expires_at, info.revoked_at, info.last_used_at)


def is_link_key(info: ApiKeyInfo) -> bool:
    """Whether an API key is a document link's (it holds ``gpt:document`` and nothing else)."""
    return info.scopes == LINK_SCOPES


class DocumentLinks:
    """Create, list and revoke a tenant's GPT document links (API keys scoped to ``gpt:document``)."""

    def __init__(self, api_keys: ApiKeys) -> None:
        self._keys = api_keys

    def create(
        self,
        tenant: str,
        *,
        label: str | None = None,
        ttl_seconds: float | None = None,
        actor: str,
        context: str | None = None,
    ) -> tuple[Secret[str], DocumentLink]:
        """A new link's key (shown once: the caller builds the URL) and its metadata. Audited."""
        if ttl_seconds is not None and not 0 < ttl_seconds <= MAX_TTL_SECONDS:
            raise InvalidInput(f"ttl_seconds of a document link must be in (0, {int(MAX_TTL_SECONDS)}] or absent")
        name = NAME_PREFIX if not label else f"{NAME_PREFIX}:{label}"
        key, info = self._keys.create(
            tenant=tenant, name=name, scopes=LINK_SCOPES, ttl_seconds=ttl_seconds, actor=actor, context=context
        )
        return key, _link(info)

    def list(self, tenant: str) -> builtins.list[DocumentLink]:
        """The tenant's links, revoked and expired ones included, without their keys."""
        return [_link(info) for info in self._keys.list(tenant) if is_link_key(info)]

    def revoke(self, tenant: str, link_id: str, *, actor: str, context: str | None = None) -> str:
        """Revoke a link of ``tenant``: its URL answers 404 at once. ``NotFound`` for any key that is not
        one of the tenant's document links (this never revokes another kind of key). Audited."""
        found = {link.id for link in self.list(tenant)}
        parsed = link_id.removeprefix("srk_") if isinstance(link_id, str) else ""
        if parsed not in found:
            raise NotFound(f"no GPT document link {parsed[:16]!r} for tenant {tenant!r}: list them to see the ids")
        return self._keys.revoke(parsed, tenant=tenant, actor=actor, context=context)


__all__ = ["LINK_SCOPES", "DocumentLink", "DocumentLinks", "is_link_key"]
