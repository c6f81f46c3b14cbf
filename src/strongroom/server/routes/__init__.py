"""The service's routes, one module per resource."""

from __future__ import annotations

from starlette.requests import Request

from strongroom.audit.context import AuditContext


def context_of(request: Request) -> str | None:
    """The request's audit context (who, on whose behalf, from where: built by ``server.auth.authenticate``),
    encoded for the audit events the route's change records; ``None`` before authentication."""
    context: AuditContext | None = getattr(request.state, "audit_context", None)
    return None if context is None else context.encode()
