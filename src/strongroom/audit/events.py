"""Audit events: who did what to which secret, when, why, and how it ended. Never a value."""

from __future__ import annotations

from typing import NamedTuple

from strongroom.vocabulary import Action, Outcome

__all__ = ["Action", "AuditEvent", "Outcome"]


class AuditEvent(NamedTuple):
    """One event before it is chained. ``detail`` is a short, value-free note (an error class, a count)."""

    at: float
    environment: str
    actor: str
    tenant: str
    action: str
    secret_name: str | None = None
    version: int | None = None
    purpose: str | None = None
    outcome: str = Outcome.OK
    request_id: str | None = None
    detail: str | None = None

    @property
    def chain(self) -> str:
        # One chain per environment and tenant: writers for different tenants never wait on each other.
        return f"{self.environment}/{self.tenant}"
