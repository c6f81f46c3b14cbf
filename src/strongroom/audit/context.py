"""An audit event's context: who asked, for what, on whose behalf, from where, and what they got.

``AuditContext`` is built once per request by its caller (the service, the broker, a library user) and
encoded once into compact JSON with sorted keys, the string that goes into ``AuditEvent.context`` (column
``audit_events.context``, covered by the event's link). ``Vault.use(..., context=...)`` and
``Vault.audit_event(..., context=...)`` take that string as it is: the hot path builds nothing.

Fields (every one optional, absent when unknown):

- who: ``key_id`` (the API key that called, or the one that minted the calling token), ``token_id`` (the
  token's ``jti``), ``subject`` (the token's ``sub``), ``client_id`` (the OAuth client the token was issued
  to, claim ``client_id``);
- for what: ``connector`` and ``operation`` (a brokered call; the purpose is the event's own column);
- on whose behalf: ``agent_run`` (claim ``agent_run`` or header ``X-Strongroom-Agent-Run``), ``tool_call``
  (``X-Strongroom-Tool-Call``), ``conversation`` (``OpenAI-Conversation-Id``, sent by GPT Actions),
  ``end_user`` (``OpenAI-Ephemeral-User-Id``, GPT Actions), ``mcp_session`` (``Mcp-Session-Id``, when an
  MCP server passes its session on);
- from where: ``client`` (the client's address: the peer's, or the one a trusted proxy forwarded) and
  ``peer`` (that proxy's address, present only when it differs from ``client``);
- what the caller got: ``status`` (the HTTP status the service answered), ``upstream_status`` (what the
  upstream answered a brokered call, which may differ: a 200 too large to pass on is a 502), ``error``
  (the error code of the answer, ``upstream_response_too_large``).

Every text is bounded (``LABEL_CHARS``, ``ADDRESS_CHARS``) and printable ASCII: anything else is written as
its escape (``\\x1b``, ``\\u00e9``), a backslash as ``\\\\``; a cut text ends in ``...``. The whole string
is at most ``MAX_CONTEXT_CHARS``. Labels the agent supplies (headers, token label claims) are screened
before they get here (``screened``): one that holds a known value, a provider token shape or the
request's own credential is recorded as ``WITHHELD``. The Authorization header, cookies, query strings and
bodies are never read into a context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

from strongroom.errors import InvalidInput

__all__ = [
    "FITS",
    "HEADERS",
    "MAX_CONTEXT_CHARS",
    "WITHHELD",
    "AuditContext",
    "check_context",
    "decode",
    "header_labels",
    "label",
    "screened",
    "summary",
]

LABEL_CHARS: Final = 128
ADDRESS_CHARS: Final = 64
MAX_CONTEXT_CHARS: Final = 2048
"""The longest encoded context: every field at its bound (``tests/audit/test_context.py`` builds it)."""
FITS: Final = re.compile(rf"[ -~]{{0,{MAX_CONTEXT_CHARS}}}")
"""``FITS.fullmatch(context)``: printable ASCII within the bound (twice as fast as ``str.isprintable``)."""
WITHHELD: Final = "[withheld]"
"""What an agent-supplied label that looks like a credential is recorded as."""
TRUNCATED: Final = "..."

HEADERS: Final[Mapping[str, str]] = {
    "x-strongroom-agent-run": "agent_run",
    "x-strongroom-tool-call": "tool_call",
    "openai-conversation-id": "conversation",
    "openai-ephemeral-user-id": "end_user",
    "mcp-session-id": "mcp_session",
}
"""Request headers (lower case, as ASGI gives them) read as labels, and the context field each fills."""


@dataclass(frozen=True, slots=True)
class AuditContext:
    """The context of one request. Values are raw here; ``encode`` bounds and escapes them."""

    key_id: str | None = None
    token_id: str | None = None
    subject: str | None = None
    client_id: str | None = None
    connector: str | None = None
    operation: str | None = None
    agent_run: str | None = None
    tool_call: str | None = None
    conversation: str | None = None
    end_user: str | None = None
    mcp_session: str | None = None
    client: str | None = None
    peer: str | None = None
    status: int | None = None
    upstream_status: int | None = None
    error: str | None = None

    def but(self, **changes: Any) -> AuditContext:
        """This context with some fields changed (the broker adds the operation, then the outcome)."""
        return replace(self, **changes)

    def encode(self) -> str | None:
        """Compact JSON, sorted keys, absent fields left out; ``None`` when every field is."""
        data: dict[str, str | int] = {}
        for name, limit in _TEXT:
            text = label(getattr(self, name), limit)
            if text:
                data[name] = text
        for name in _STATUSES:
            status = getattr(self, name)
            if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
                data[name] = status
        if not data:
            return None
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


_STATUSES = ("status", "upstream_status")
_ADDRESSES = ("client", "peer")
_TEXT = tuple(
    (f.name, ADDRESS_CHARS if f.name in _ADDRESSES else LABEL_CHARS)
    for f in fields(AuditContext)
    if f.name not in _STATUSES
)


def label(value: object, limit: int = LABEL_CHARS) -> str | None:
    """``value`` as printable ASCII of at most ``limit`` characters once JSON-encoded (quotes aside).

    Printable ASCII stays as it is (a ``"`` counts twice: JSON escapes it); anything else is written as its
    Python escape (``\\n``, ``\\x1b``, ``\\u202e``), a backslash as two. A cut text ends in ``...``, cut
    between escapes, never inside one. Empty: ``None``.
    """
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    if not text:
        return None
    if text.isascii() and text.isprintable() and "\\" not in text and '"' not in text:
        return text if len(text) <= limit else text[: limit - len(TRUNCATED)] + TRUNCATED
    pieces: list[str] = []
    costs: list[int] = []
    total = 0
    for char in text[: limit + 1]:  # more than `limit` characters never fit
        piece = char if " " <= char <= "~" and char != "\\" else char.encode("unicode_escape").decode("ascii")
        pieces.append(piece)
        costs.append(len(piece) + piece.count("\\") + piece.count('"'))  # as JSON writes it
        total += costs[-1]
    if total <= limit and len(text) <= limit:
        return "".join(pieces)
    room, size, kept = limit - len(TRUNCATED), 0, 0
    while kept < len(pieces) and size + costs[kept] <= room:
        size += costs[kept]
        kept += 1
    return "".join(pieces[:kept]) + TRUNCATED


def header_labels(headers: Mapping[str, str]) -> dict[str, str]:
    """The labels among a request's headers (``HEADERS``; lower-case names), raw: screen them (``screened``)."""
    found: dict[str, str] = {}
    for header, field in HEADERS.items():
        value = headers.get(header)
        if value:
            found[field] = value
    return found


def screened(labels: Mapping[str, str], withhold: Callable[[str], bool]) -> dict[str, str]:
    """``labels`` with each one ``withhold`` says may hold a secret replaced by ``WITHHELD``.

    ``withhold`` sees the whole raw text, before it is cut, so a credential is caught whole."""
    return {field: WITHHELD if withhold(value) else value for field, value in labels.items()}


def check_context(context: object) -> None:
    """``InvalidInput`` unless ``context`` is ``None`` or printable ASCII of at most ``MAX_CONTEXT_CHARS``
    (what ``AuditContext.encode`` makes): the audit row never refuses it, and it holds no control character."""
    if context is None:
        return
    if not isinstance(context, str):
        raise InvalidInput(f"an audit context is a string (AuditContext.encode()), not {type(context).__name__}")
    if FITS.fullmatch(context) is None:
        raise InvalidInput(
            f"an audit context must be printable ASCII of at most {MAX_CONTEXT_CHARS} characters: "
            "build it with AuditContext(...).encode()"
        )


def decode(context: str | None) -> dict[str, Any]:
    """The fields of a stored context (``{}`` for none, or for text that is not a JSON object)."""
    if not context:
        return {}
    try:
        data = json.loads(context)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


_SHORT: Final = (
    ("key_id", "key"),
    ("token_id", "token"),
    ("subject", "sub"),
    ("client_id", "oauth"),
    ("agent_run", "run"),
    ("tool_call", "tool"),
    ("conversation", "conv"),
    ("end_user", "user"),
    ("mcp_session", "mcp"),
    ("client", "from"),
    ("peer", "via"),
    ("status", "status"),
    ("upstream_status", "upstream"),
    ("error", "error"),
)


def summary(context: str | None) -> str:
    """A stored context for a person: ``op=crm.list key=Ab3dE5f7 run=r-1 from=10.0.0.5 status=200`` (the
    operation first, then who, on whose behalf, from where, what they got); ``""`` for none."""
    data = decode(context)
    parts: list[str] = []
    operation = ".".join(str(data[k]) for k in ("connector", "operation") if k in data)
    if operation:
        parts.append(f"op={operation}")
    parts += [f"{short}={data[name]}" for name, short in _SHORT if name in data]
    return " ".join(parts)
