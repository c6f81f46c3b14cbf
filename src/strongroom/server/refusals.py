"""Every 401, 403 and 429 of the service is an audit event; a flood of them becomes counter events.

The first refusal of a group (one action and one actor: a key id, a token subject, a rate-limit bucket;
for a 403, one route too) in an interval is written at once; the next ones in that interval are counted,
and the count is written as one event, ``"<n> refusals since <time>; last: <detail>"``, when the interval
ends (a background task of the app), when the group's next refusal comes after it, and when the app shuts
down. Nothing is dropped: past
``max_groups`` groups in one interval, further actors share one overflow group per action (actor
``many``) whose count is written the same way.

Events go to the chain of the tenant the refused credential belongs to when that is known (a known key
id, a genuine expired token, the caller of a 403), so the tenant's ``GET /v1/audit`` shows the failures
aimed at its own keys; else to the environment-wide chain. ``tenant`` may be given as a function, called
only when an event is written (a key id's tenant is read at most twice an interval per group).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from strongroom.clock import Clock, iso, system_clock
from strongroom.vault import Vault
from strongroom.vocabulary import MAX_LABEL_CHARS, Outcome

TenantRef = str | None | Callable[[], str | None]
"""The chain an event goes to: a tenant's name, ``None`` (environment-wide), or a function giving either."""

COUNTER_DETAIL = "{count} refusals since {since}; last: {detail}"


@dataclass
class _Group:
    started: float
    tenant: TenantRef
    pending: int = 0
    since: float = 0.0
    detail: str | None = None
    request_id: str | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class _Write:
    tenant: TenantRef
    action: str
    outcome: str
    actor: str
    detail: str | None
    request_id: str | None
    context: str | None = None


class RefusalAudit:
    """The audit events of the service's refusals, one per group per ``interval_seconds`` and a count."""

    def __init__(
        self,
        vault: Vault,
        *,
        interval_seconds: float = 60.0,
        max_groups: int = 1000,
        clock: Clock = system_clock,
    ) -> None:
        self._vault = vault
        self.interval = interval_seconds
        self._max_groups = max_groups
        self._clock = clock
        self._groups: dict[tuple[str, str, str, str], _Group] = {}
        self._lock = threading.Lock()

    def record(
        self,
        action: str,
        *,
        actor: str,
        tenant: TenantRef,
        outcome: str = Outcome.DENIED,
        detail: str | None = None,
        request_id: str | None = None,
        subgroup: str = "",
        context: str | None = None,
    ) -> None:
        """One refusal: written now if it is its group's first in the interval, else counted. A group is one
        action, outcome and actor, and ``subgroup`` (a 403's route: one actor probing many routes leaves an event
        per route). ``context``: who and from where (``AuditContext.encode()``); a count carries its last's."""
        # An address forwarded by a trusted proxy is text from outside: keep the audit row's label printable.
        actor = "".join(c if c.isprintable() else "?" for c in actor[:MAX_LABEL_CHARS])
        now = self._clock()
        writes: list[_Write] = []
        with self._lock:
            key = (action, outcome, actor, subgroup)
            group = self._groups.get(key)
            if group is None and len(self._groups) >= self._max_groups:
                writes += self._due(now)  # make room from the groups whose interval is over
                if len(self._groups) >= self._max_groups:
                    key = (action, outcome, "many", "")
                    group = self._groups.get(key)
                    tenant = None  # many actors: the environment-wide chain
            if group is not None and now - group.started >= self.interval:
                writes += self._take(key, group)
                del self._groups[key]
                group = None
            if group is None:
                self._groups[key] = _Group(started=now, tenant=tenant)
                writes.append(_Write(tenant, action, outcome, key[2], detail, request_id, context))
            else:
                if not group.pending:
                    group.since = now
                group.pending += 1
                group.detail, group.request_id, group.context = detail, request_id, context
        self._write(writes)

    def flush_due(self) -> None:
        """Write the counts of the groups whose interval is over, and forget those groups."""
        with self._lock:
            writes = self._due(self._clock())
        self._write(writes)

    def flush(self) -> None:
        """Write every count now (the app's shutdown): nothing counted is lost."""
        with self._lock:
            writes = [w for key, group in self._groups.items() for w in self._take(key, group)]
            self._groups.clear()
        self._write(writes)

    def _due(self, now: float) -> list[_Write]:
        writes: list[_Write] = []
        for key in [k for k, g in self._groups.items() if now - g.started >= self.interval]:
            writes += self._take(key, self._groups.pop(key))
        return writes

    @staticmethod
    def _take(key: tuple[str, str, str, str], group: _Group) -> list[_Write]:
        if not group.pending:
            return []
        action, outcome, actor, _ = key
        detail = COUNTER_DETAIL.format(count=group.pending, since=iso(group.since), detail=group.detail or "-")
        group.pending = 0
        return [_Write(group.tenant, action, outcome, actor, detail, group.request_id, group.context)]

    def _write(self, writes: list[_Write]) -> None:
        for w in writes:
            tenant = w.tenant() if callable(w.tenant) else w.tenant
            self._vault.enqueue_event(
                self._vault.audit_event(
                    tenant,
                    w.action,
                    actor=w.actor,
                    outcome=w.outcome,
                    request_id=w.request_id,
                    detail=w.detail,
                    context=w.context,
                )
            )
