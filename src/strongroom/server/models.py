"""Request and response bodies (pydantic): what the OpenAPI document, and so a GPT, sees."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from strongroom.vocabulary import MAX_DETAIL_CHARS, Kind, Sensitivity

NAME = r"^[A-Za-z0-9_.-]{1,128}$"


def iso_utc(seconds: float) -> str:
    """Seconds since the epoch as ISO 8601 UTC with microseconds and ``Z``: ``2026-12-03T16:46:47.123456Z``.
    Microseconds, so two audit events of one millisecond keep their order (docs/service.md, Timestamps)."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


# Every time in an answer: held as epoch seconds, sent as an ISO 8601 UTC string (``format: date-time``).
Timestamp = Annotated[
    float,
    PlainSerializer(iso_utc, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-12-03T16:46:47.123456Z"]}),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantIn(Strict):
    name: str = Field(pattern=NAME, description="Tenant name: letters, digits, '_', '.', '-' (1-128).")


class TenantOut(BaseModel):
    name: str
    id: str
    environment: str
    created_at: Timestamp


class ApiKeyIn(Strict):
    name: str = Field(pattern=NAME, description="What the key is for (shown in listings).")
    scopes: list[str] = Field(min_length=1, max_length=16)
    ttl_seconds: float | None = Field(default=None, gt=0, le=366 * 86400)


class ApiKeyOut(BaseModel):
    id: str
    prefix: str
    tenant: str | None
    name: str
    scopes: list[str]
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The API key. Shown this once: only its hash is stored.")


class DestinationIn(Strict):
    """One place a secret may be sent: ``origin`` with ``placements`` (and optionally ``connectors``), or
    ``connector`` alone, resolved when written to that connector's origin and placement (both kept)."""

    origin: str | None = Field(
        default=None, max_length=300, description="Scheme, host and port, no path: https://api.example.com"
    )
    placements: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Where the credential may go there: bearer, basic, header:<Name>, query:<name>.",
    )
    connectors: list[str] | None = Field(
        default=None, min_length=1, max_length=32, description="Only these connectors may send it there."
    )
    connector: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z0-9-]{0,63}$",
        description="Shortcut: only this connector, at the origin and placement it has now.",
    )


class DestinationOut(BaseModel):
    origin: str
    placements: list[str]
    connectors: list[str] | None = None


DESTINATIONS_HELP = (
    "Where the broker may send the value. Left out: the stored policy is kept (a new secret has none, and "
    "then only the operator's declared connectors may use it). Changing a live secret's policy needs the "
    "scope destinations:write."
)


class SecretIn(Strict):
    value: str = Field(min_length=1, max_length=65536, description="The value. Write-only: never returned.")
    sensitivity: Sensitivity | None = None
    description: str | None = Field(default=None, max_length=MAX_DETAIL_CHARS)
    kind: Kind | None = None
    ttl_seconds: float | None = Field(default=None, gt=0, le=366 * 86400)
    destinations: list[DestinationIn] | None = Field(default=None, max_length=32, description=DESTINATIONS_HELP)


class DestinationsIn(Strict):
    destinations: list[DestinationIn] | None = Field(
        max_length=32,
        description="The new policy; null: only the operator's declared connectors; []: no connector at all.",
    )


class SecretOut(BaseModel):
    tenant: str
    name: str
    kind: Kind
    sensitivity: Sensitivity
    description: str
    version: int
    created_at: Timestamp
    updated_at: Timestamp
    deleted_at: Timestamp | None
    expires_at: Timestamp | None
    destinations: list[DestinationOut] | None = Field(
        default=None, description="Where the broker may send it; null: only the operator's declared connectors."
    )


class VersionOut(BaseModel):
    version: int
    current: bool
    created_at: Timestamp
    created_by: str
    expires_at: Timestamp | None
    stage: str = Field(description="pending, current, previous or retired (docs/rotation.md)")


class SecretDetail(SecretOut):
    versions: list[VersionOut]


class TokenIn(Strict):
    scopes: list[str] = Field(min_length=1, max_length=16)
    audience: str | None = Field(default=None, max_length=256, description="Default: this service.")
    subject: str | None = Field(default=None, pattern=r"^[\x21-\x7e]{1,128}$", description="The agent session.")
    ttl_seconds: float | None = Field(default=None, gt=0, le=3600)
    agent_run: str | None = Field(
        default=None,
        pattern=r"^[\x20-\x7e]{1,128}$",
        description="The agent run the token is for: claim `agent_run`, recorded in the audit context of its calls.",
    )
    client_id: str | None = Field(
        default=None,
        pattern=r"^[\x20-\x7e]{1,128}$",
        description="The OAuth client the token is issued to: claim `client_id`, recorded in the audit context.",
    )


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 -- the OAuth token type, not a password
    expires_in: int
    expires_at: Timestamp
    jti: str
    scope: str


class RevokeIn(Strict):
    token: str | None = Field(
        default=None,
        min_length=16,
        max_length=4096,
        description="The token to revoke (any audience). Give this or `jti`.",
    )
    jti: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,31}$",
        description="The id of the token to revoke (`jti` of `POST /v1/tokens`); needs `keys:manage` or the admin key.",
    )
    tenant: str | None = Field(
        default=None,
        pattern=NAME,
        description="With `jti` and the admin key: the tenant the token was issued to.",
    )


class AdminKeyIn(Strict):
    name: str = Field(pattern=NAME, description="What the admin key is for (shown in listings).")
    ttl_seconds: float | None = Field(default=None, gt=0, le=366 * 86400, description="Default: no expiry.")


class AuditOut(BaseModel):
    id: int
    chain: str
    seq: int
    at: Timestamp
    environment: str
    actor: str
    tenant: str
    action: str
    secret_name: str | None
    version: int | None
    purpose: str | None
    outcome: str
    request_id: str | None
    detail: str | None
    hash: str
    context: dict[str, str | int] | None = Field(
        default=None,
        description="Who asked, for what, on whose behalf, from where, and the status the caller got "
        "(docs/audit.md, Context); the stored text is compact JSON covered by the event's link.",
    )


class VerifyOut(BaseModel):
    ok: bool
    events: int
    chains: int
    problems: list[str]


class ShareIn(Strict):
    value: str = Field(min_length=1, max_length=65536, description="The value to hand over, once.")
    ttl_seconds: float | None = Field(default=None, gt=0, le=7 * 86400, description="Default one hour.")


class ShareOut(BaseModel):
    id: str
    url: str = Field(description="The link: it works once. Shown this once.")
    token: str
    expires_at: Timestamp


class DocumentLinkIn(Strict):
    name: str | None = Field(default=None, pattern=NAME, description="What the link is for (shown in listings).")
    ttl_seconds: float | None = Field(default=None, gt=0, le=366 * 86400, description="Default: no expiry.")


class DocumentLinkOut(BaseModel):
    id: str = Field(description="Names the link in listings, in the audit log and to revoke it; opens nothing.")
    name: str
    created_at: Timestamp
    expires_at: Timestamp | None
    revoked_at: Timestamp | None
    last_used_at: Timestamp | None


class DocumentLinkCreated(DocumentLinkOut):
    url: str = Field(description="Paste into the GPT's Import from URL. Shown this once: only its hash is stored.")
    warning: str | None = Field(default=None, description="Set when the URL is a guess (no public URL set).")
