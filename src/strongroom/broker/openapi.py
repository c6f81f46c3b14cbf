"""The OpenAPI 3.1 document a custom GPT imports to call connectors through the broker.

Every connector operation becomes one operation on the broker's own route,
``/v1/actions/{connector}/{path...}``: the GPT calls the broker with the tenant's bearer token (a JWT the
broker verifies), never the upstream API, so the document holds no upstream host and no credential.
GPT Actions cut descriptions at 300 characters, so every description here is kept under that.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from strongroom.broker.connectors import Connector, Operation
from strongroom.broker.paths import template
from strongroom.errors import InvalidInput
from strongroom.names import check_name

ROUTE_PREFIX = "/v1/actions"
GPT_RESPONSE_LIMIT = 100_000  # GPT Actions accept answers of at most 100,000 characters: larger are refused
MAX_DESCRIPTION = 300
_NOT_ID = re.compile(r"[^A-Za-z0-9_]")


def _short(text: str, limit: int = MAX_DESCRIPTION) -> str:
    text = " ".join(text.split())
    return text if len(text) < limit else text[: limit - 2].rstrip() + "…"


def _operation_ids(connectors: Sequence[Connector]) -> dict[tuple[str, str], str]:
    """``{connector}_{operation}`` made of [A-Za-z0-9_], with a numeric suffix where two would collide."""
    ids: dict[tuple[str, str], str] = {}
    used: set[str] = set()
    for connector in connectors:
        for op in connector.operations:
            base = _NOT_ID.sub("_", f"{connector.name}_{op.id}")
            candidate, n = base, 1
            while candidate in used:
                n += 1
                candidate = f"{base}_{n}"
            used.add(candidate)
            ids[(connector.name, op.id)] = candidate
    return ids


def _operation(connector: Connector, op: Operation, operation_id: str) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": operation_id,
        "summary": _short(op.summary),
        "description": _short(op.description or f"{op.summary} ({connector.name})"),
        "x-openai-isConsequential": op.is_consequential,
        "responses": {
            "200": {
                "description": "The upstream API's response, passed through (the credential masked).",
                "content": {"application/json": {"schema": {}}},
            },
            "default": {"description": "An error: from the upstream API, or from the broker (4xx, 502, 504)."},
        },
    }
    names = template(op.path).names
    parameters: list[dict[str, Any]] = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": _short(f"The {name.replace('_', ' ')} (one path segment)."),
        }
        for name in names
    ]
    parameters += [
        {
            "name": q.name,
            "in": "query",
            "required": q.required,
            "schema": {"type": q.type},
            "description": _short(q.description or f"The {q.name.replace('_', ' ')}."),
        }
        for q in op.query or ()
    ]
    if parameters:
        doc["parameters"] = parameters
    if op.method != "GET":
        doc["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": {"type": "object", "additionalProperties": True}}},
        }
    return doc


def gpt_actions_document(
    connectors: Sequence[Connector],
    *,
    server_url: str,
    tenant: str,
    title: str = "strongroom actions",
    server_note: str | None = None,
) -> dict[str, Any]:
    """An OpenAPI 3.1.0 document for a custom GPT: one operation per connector operation, on the broker.

    ``server_url`` is the broker's public base URL; ``tenant`` is the tenant whose credentials the calls
    use (the bearer token the GPT sends must be issued for it). ``server_note``: a warning for whoever
    imports the document about that URL (the service's public URL not set), in ``x-strongroom-warning``
    and the server's description.
    """
    check_name("tenant name", tenant)
    split = urlsplit(server_url) if isinstance(server_url, str) else None
    if split is None or split.scheme not in ("https", "http") or not split.netloc or split.query or split.fragment:
        raise InvalidInput("server_url must be the broker's http(s) base URL, without query or fragment")
    names = [c.name for c in connectors]
    if len(set(names)) != len(names):
        raise InvalidInput("two connectors have the same name")
    ids = _operation_ids(connectors)
    paths: dict[str, dict[str, Any]] = {}
    for connector in connectors:
        for op in connector.operations:
            route = f"{ROUTE_PREFIX}/{connector.name}{'' if op.path == '/' else op.path}"
            paths.setdefault(route, {})[op.method.lower()] = _operation(connector, op, ids[(connector.name, op.id)])
    limits = min((c.max_response_bytes for c in connectors), default=GPT_RESPONSE_LIMIT)
    timeout = max((c.timeout_seconds for c in connectors), default=30.0)
    description = _short(
        f"Calls upstream APIs for tenant {tenant} through strongroom's broker, which adds the credential. "
        f"An answer over {min(limits, GPT_RESPONSE_LIMIT):,} bytes is refused (502): ask for less. "
        f"Calls time out after {timeout:g} s (504); 502 when the upstream fails."
    )
    info: dict[str, Any] = {"title": _short(title, 100), "version": "1.0.0", "description": description}
    server: dict[str, Any] = {"url": server_url.rstrip("/")}
    if server_note:
        info["x-strongroom-warning"] = server_note
        server["description"] = _short(server_note)
    return {
        "openapi": "3.1.0",
        "info": info,
        "servers": [server],
        "paths": paths,
        "components": {
            "schemas": {},
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
        "security": [{"bearerAuth": []}],
    }


__all__ = ["ROUTE_PREFIX", "gpt_actions_document"]
