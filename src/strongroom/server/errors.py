"""Errors as JSON: every failure is ``{"error": {"code", "message"}}`` with a precise status, never a trace.

Messages come from ``strongroom.errors``, which name what was wrong and never hold a value; they pass
through the redactor anyway on their way out, like every response.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from strongroom.errors import (
    AccessDenied,
    AuditError,
    ConfigError,
    Conflict,
    Expired,
    InvalidInput,
    KeyProviderError,
    NotFound,
    StoreError,
    StrongroomError,
    TamperedError,
)

log = logging.getLogger("strongroom.server")

# Most specific first: the first matching class decides the status.
STATUS: tuple[tuple[type[StrongroomError], int, str], ...] = (
    (InvalidInput, 400, "invalid_input"),
    (AccessDenied, 403, "forbidden"),
    (NotFound, 404, "not_found"),
    (Conflict, 409, "conflict"),
    (Expired, 410, "expired"),
    (TamperedError, 500, "tampered"),
    (ConfigError, 500, "misconfigured"),
    (KeyProviderError, 503, "key_provider_unavailable"),
    (StoreError, 503, "store_unavailable"),
    (AuditError, 503, "audit_unavailable"),
)


class ApiError(Exception):
    """An HTTP-level refusal with its own status (401, 412, 413, 429, 502, 504, ...)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status, headers=headers)


def answer_of(exc: StrongroomError) -> tuple[int, str]:
    """The status and code the service answers ``exc`` with: its class decides (``STATUS``)."""
    status = getattr(exc, "status", None)  # the broker's UpstreamError carries 502 or 504
    if isinstance(status, int):
        return status, "upstream_error"
    for kind, code_status, code in STATUS:
        if isinstance(exc, kind):
            return code_status, code
    return 500, "error"


def strongroom_response(exc: StrongroomError) -> JSONResponse:
    """The JSON error for a ``StrongroomError`` (``answer_of``), its message shown."""
    status, code = answer_of(exc)
    return error_response(status, code, str(exc))


NOT_JSON = "the body must be JSON: send the header `Content-Type: application/json`"


def _is_json(content_type: str | None) -> bool:
    kind = (content_type or "").partition(";")[0].strip().lower()
    return kind == "application/json" or (kind.startswith("application/") and kind.endswith("+json"))


def install(app: FastAPI) -> None:
    async def on_api_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)  # noqa: S101 -- registered for ApiError only
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    async def on_strongroom(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StrongroomError)  # noqa: S101
        if isinstance(exc, AccessDenied):  # every 403 is an audit event: who, which route, what it lacked
            from strongroom.server.auth import audit_denied, request_id, route_of

            principal = getattr(request.state, "principal", None)
            context = getattr(request.state, "audit_context", None)  # set with the principal (server.auth)
            state = request.app.state.strongroom
            audit_denied(state, principal, route_of(request), exc, request_id(request), context=context)
        return strongroom_response(exc)

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)  # noqa: S101
        body_refused = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
        if body_refused and not _is_json(request.headers.get("content-type")):
            # FastAPI reads a body without a JSON content type as no JSON at all: name the header to send.
            return error_response(415, "unsupported_media_type", NOT_JSON)
        # Name the field and the problem; never echo the input (it may be a value being written).
        problems = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in exc.errors()]
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    async def on_http(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)  # noqa: S101
        code = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    async def on_anything(_request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error: %s", type(exc).__name__)  # the type only: a message may quote data
        return error_response(500, "internal_error", "internal error")

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(StrongroomError, on_strongroom)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(Exception, on_anything)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}

# What each status means when the service itself refuses; bodies are ``ERROR_SCHEMA``.
STATUS_MEANINGS = {
    400: "Invalid input: the message names the field or value that is wrong (never echoing a secret)",
    401: "No credential, or one that is unknown, expired or revoked (`WWW-Authenticate: Bearer`)",
    403: "The credential lacks the scope, or is for another tenant",
    404: "No such tenant, secret, connector, key, share or route",
    405: "The method is not served on this path",
    409: "Conflict with the current state (it already exists, or was deleted)",
    410: "Expired (a one-time link past its time)",
    412: "`If-Match` names another version than the current one",
    413: "The request body is over the limit (1 MiB)",
    415: "The body was sent without `Content-Type: application/json`",
    422: "The body or a parameter does not match its schema: the message names the field",
    429: "Too many failed authentications for this key id, token subject or address (`Retry-After`)",
    502: "The upstream failed: unreachable, not HTTP, a redirect to another host, or an answer too large",
    503: "The store, the key provider or the audit log is unavailable",
    504: "The upstream did not answer within the connector's timeout",
}


def openapi_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI response objects for the service's own refusals with these statuses."""
    return {
        str(status): {"description": STATUS_MEANINGS[status], "content": {"application/json": {"schema": ERROR_SCHEMA}}}
        for status in statuses
    }
