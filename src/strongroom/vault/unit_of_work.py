"""The unit of work: the one way anything in strongroom changes state.

``Vault._unit_of_work(refused)`` (a context manager yielding a ``UnitOfWork``) does, in order:

1. refuses when the vault is closed;
2. flushes the queued use events, so one process's events are chained in the order they happened;
3. bumps the vault's write counter (a cold cache load that raced a write is not cached);
4. opens one store write transaction; the caller writes through ``work.tx`` and records its audit
   event(s) with ``work.record(...)``: they commit together or not at all;
5. after the commit, runs the cache invalidations the caller registered with ``work.after_commit``;
6. if the change is refused (``NotFound``, ``Conflict``, ``InvalidInput``, ``TamperedError``,
   ``KeyProviderError``), the transaction rolls back and the ``refused`` event, if one was given, is
   written on its own with the outcome the exception names.

Only ``vault/`` holds a ``UnitOfWork``: the layers above get narrow repositories
(``strongroom.vault.repositories``) whose methods each run one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from strongroom.errors import AccessDenied, Conflict, InvalidInput, KeyProviderError, NotFound, TamperedError
from strongroom.vocabulary import Outcome

if TYPE_CHECKING:
    from strongroom.audit import AuditEvent, AuditLog
    from strongroom.store import Tx

REFUSALS: tuple[type[Exception], ...] = (
    NotFound,
    Conflict,
    TamperedError,
    KeyProviderError,
    InvalidInput,
    AccessDenied,
)
"""A change refused for one of these rolls back and is audited as a refusal."""

_OUTCOMES: dict[type[Exception], str] = {
    NotFound: Outcome.NOT_FOUND,
    Conflict: Outcome.CONFLICT,
    TamperedError: Outcome.TAMPERED,
    InvalidInput: Outcome.INVALID,
    AccessDenied: Outcome.DENIED,
}


def refusal_outcome(exc: Exception) -> str:
    """The audit outcome of a refused change (``error`` for a key provider that failed)."""
    return _OUTCOMES.get(type(exc), Outcome.ERROR)


class UnitOfWork:
    """One open write: the transaction, the audit events recorded in it, and what to do after commit."""

    __slots__ = ("_after", "_audit", "refused", "tx")

    def __init__(self, tx: Tx, audit: AuditLog, refused: AuditEvent | None = None) -> None:
        self.tx = tx
        self._audit = audit
        self._after: list[Callable[[], object]] = []
        # The event audited (with the exception's outcome) if the change is refused; a change that learns its
        # tenant inside the transaction (a share's redemption) sets it then.
        self.refused = refused

    def record(self, *events: AuditEvent) -> None:
        """Chain audit events in this transaction: they commit with the change or not at all (and are
        streamed once committed)."""
        rows = self._audit.record(self.tx, *events)
        if self._audit.streams:
            self.after_commit(lambda: self._audit.streams.publish(rows))

    def after_commit(self, action: Callable[[], object]) -> None:
        """Run ``action`` once the transaction has committed (cache invalidation); never on a rollback."""
        self._after.append(action)

    def _committed(self) -> None:
        for action in self._after:
            action()
