"""Audit events: who did what to which secret, when, why, and how it ended. Never a value."""

from __future__ import annotations

from typing import NamedTuple

from strongroom.vocabulary import Action, Outcome

__all__ = ["ENVIRONMENT_CHAIN", "Action", "AuditEvent", "Outcome", "chain_name", "tenant_id_of_chain"]

ENVIRONMENT_CHAIN = "*environment*"
"""``AuditEvent.tenant_id`` of an environment-wide event (operator keys, rewraps, failed logins, refusals
aimed at no existing tenant), and its chain's key: ``*`` is in no tenant name and no tenant id."""

_TENANT_CHAIN = "tenant:"


class AuditEvent(NamedTuple):
    """One event before it is chained. ``detail`` is a short, value-free note (an error class, a count).

    ``tenant`` is the tenant's name as the caller gave it, for people to read; ``tenant_id`` says whose
    history the event belongs to: the tenant's id, ``ENVIRONMENT_CHAIN``, or ``None`` for "the tenant that
    holds the name when the event is written", which the writer resolves inside its transaction.
    """

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
    tenant_id: str | None = None
    context: str | None = None
    """Who asked, for what, on whose behalf, from where: compact JSON with sorted keys (``audit.context``)."""


def chain_name(environment: str, tenant_id: str) -> str:
    """The chain of a tenant (by id, so a new tenant with an old name starts a history of its own) or of the
    environment (``tenant_id == ENVIRONMENT_CHAIN``): ``dev/tenant:<id>``, ``dev/*environment*``.

    Neither form is ``<environment>/<tenant name>``, the chains written before schema 0005, so no tenant
    name addresses either (names are ``[A-Za-z0-9_.-]``)."""
    if tenant_id == ENVIRONMENT_CHAIN:
        return f"{environment}/{ENVIRONMENT_CHAIN}"
    return f"{environment}/{_TENANT_CHAIN}{tenant_id}"


def tenant_id_of_chain(chain: str) -> str | None:
    """The tenant id a chain of ``chain_name``'s form is keyed by; ``ENVIRONMENT_CHAIN`` for the
    environment's; ``None`` for a chain written before schema 0005 (keyed by tenant name)."""
    _, _, key = chain.partition("/")
    if key == ENVIRONMENT_CHAIN:
        return ENVIRONMENT_CHAIN
    if key.startswith(_TENANT_CHAIN):
        return key[len(_TENANT_CHAIN) :]
    return None
