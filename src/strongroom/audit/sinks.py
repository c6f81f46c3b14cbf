"""Where audit events go.

State changes call ``record(tx, ...)`` inside their own transaction. Uses change no state, so in
``async`` mode their events are appended to an in-memory queue (a deque append on the hot path) and
written by one background writer in batches, at most ``flush_interval_seconds`` (0.2 s) later; ``flush()``
and ``close()`` drain it. A flush to PostgreSQL costs about 2 ms of CPU whatever its size, plus 20 µs per
event: every 0.2 s that fixed part is 1% of a core (every 0.05 s, it was a tenth of a busy broker's CPU).
In ``sync`` mode every use is written before its value is returned, and a use whose event cannot be
written is refused.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal

from strongroom.audit import chain
from strongroom.audit.events import Action, AuditEvent, Outcome
from strongroom.audit.stream import Fanout, Sink
from strongroom.errors import AuditError, StoreError, StrongroomError
from strongroom.store import Store, Tx

if TYPE_CHECKING:
    from strongroom.audit.keys import AuditKeys

AuditMode = Literal["async", "sync"]
log = logging.getLogger("strongroom.audit")


class AuditLog:
    def __init__(
        self,
        store: Store,
        keys: Callable[[], AuditKeys],
        *,
        mode: AuditMode = "async",
        flush_interval_seconds: float = 0.2,
        max_pending: int = 100_000,
    ) -> None:
        if mode not in ("async", "sync"):
            raise ValueError(f"audit mode must be 'async' or 'sync', not {mode!r}")
        self._store = store
        # The audit keys (MAC and checkpoint signing), from the key hierarchy; loaded before any transaction opens.
        self.keys = keys
        self.mode: AuditMode = mode
        self._flush_interval_seconds = flush_interval_seconds
        self._max_pending = max_pending
        # How many events the queue may take now: max_pending less the batch a flush is writing (drained from
        # the queue, but back on it if the write fails). Changed under the flush lock only.
        self._room = max_pending
        self._queue: deque[AuditEvent | UseEvent] = deque()
        self._write_lock = threading.Lock()
        self._flush_lock = threading.RLock()
        self._stop = threading.Event()
        self._failing = False
        self._thread: threading.Thread | None = None
        self._closed = False
        # True while submit() may simply append: async, writer started, not closed. One flag keeps the
        # hot path to a length check and an append.
        self._appending = False
        # Copies of every committed event for a SIEM ($STRONGROOM_AUDIT_STREAM, add_stream): strongroom.audit.stream.
        self.streams = Fanout.from_environment()

    def add_stream(self, sink: Sink) -> None:
        """Send a copy of every event committed from now on to ``sink`` (it never blocks this log)."""
        self.streams.add(sink)

    def record(self, tx: Tx, *events: AuditEvent) -> list[tuple[Any, ...]]:
        """Write events in the caller's transaction: they commit with the change or not at all. Returns the
        rows, for the caller to ``streams.publish`` once ``tx`` has committed (``UnitOfWork`` does).

        The caller loads ``keys()`` before it opens ``tx`` (loading may write: the first key of an environment).
        """
        return chain.append(tx, events, self.keys().mac)

    def record_now(self, *events: AuditEvent) -> None:
        """Write events in a transaction of their own (refusals, whose change was rolled back)."""
        if self.mode == "sync":
            self._write(events)
        else:
            self.enqueue(*events)

    def enqueue(self, *events: AuditEvent) -> None:
        for event in events:
            self.submit(event)

    def submit(self, event: AuditEvent | UseEvent) -> None:
        """Hand over one event: an ``AuditEvent``, or the hot path's ``use_event`` tuple (no object built).

        Async: appended to the queue; at ``max_pending`` the caller writes the backlog itself first
        (back-pressure), or is refused while the writer is failing, so the queue never grows past it.
        Sync: written before this returns.
        """
        if self._appending and len(self._queue) < self._room:
            self._queue.append(event)
        else:
            self._submit_slow(event)

    def _submit_slow(self, event: AuditEvent | UseEvent) -> None:
        if self._closed:
            raise AuditError("the audit log is closed: no use without a record")
        if self.mode == "sync":
            self._write((event,))
            return
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._room:
            if self._failing:
                raise AuditError("audit log is not being written and its queue is full; refusing to serve")
            self.flush()  # back-pressure: the caller does the writer's work before adding more
        self._queue.append(event)

    def flush(self) -> None:
        """Write every queued event now (and raise if that fails).

        One flush at a time, drain and write together, so a flush that returns has nothing of its
        caller's still in flight, and the caller's next event is chained after it.
        """
        with self._flush_lock:
            batch = self._drain()
            if not batch:
                return
            # The batch still counts against max_pending while it is written: if the write fails it goes back.
            self._room = max(self._max_pending - len(batch), 0)
            try:
                try:
                    self._write(batch)
                except AuditError:
                    self._write_each(batch)
            finally:
                self._room = self._max_pending

    def _write_each(self, batch: list[AuditEvent | UseEvent]) -> None:
        # A batch failed: one event the database refuses must not hold every later event (and every
        # write of this process) hostage. Write one by one; an event refused alone is written with its
        # text fields escaped; if even that fails the database is down: keep the rest queued and raise.
        for i, event in enumerate(batch):
            try:
                self._write((event,))
            except AuditError:
                try:
                    self._write((escaped(expand(event)),))
                except AuditError:
                    self._queue.extendleft(reversed(batch[i:]))
                    raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._appending = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        except StrongroomError as exc:
            log.error("audit events could not be written at close: %s", exc)
        self.streams.close()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _drain(self) -> list[AuditEvent | UseEvent]:
        batch: list[AuditEvent | UseEvent] = []
        try:
            while True:
                batch.append(self._queue.popleft())
        except IndexError:
            return batch

    def _write(self, events: Iterable[AuditEvent | UseEvent]) -> None:
        with self._write_lock:
            try:
                try:
                    key = self.keys().mac
                except StrongroomError as exc:  # the key provider is down: keep the batch, as for the database
                    raise AuditError(f"audit events could not be written: no audit key: {exc}") from None
                with self._store.write() as tx:
                    rows = chain.append(tx, [expand(e) for e in events], key)
                if self.streams:  # committed: copies to the streams (a deque append each)
                    self.streams.publish(rows)
            except StoreError as exc:  # unreachable: a failed write too, so flush keeps the batch queued
                raise AuditError(f"audit events could not be written: {exc}") from None
            except StrongroomError:
                raise
            except Exception as exc:  # any driver failure means the sink failed
                raise AuditError(f"audit events could not be written: {type(exc).__name__}") from None

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="strongroom-audit", daemon=True)
                self._thread.start()
                atexit.register(self.close)
                self._appending = True

    def _run(self) -> None:
        while not self._stop.wait(self._flush_interval_seconds):
            try:
                self.flush()
                self._failing = False
            except StrongroomError as exc:
                if not self._failing:
                    log.error("audit writer failing, events kept in memory: %s", exc)
                self._failing = True


UseKey = tuple[str, str, str, int, str]
"""(environment, tenant name, secret name, version, tenant id): what a cached version's use events share."""
UseEvent = tuple[float, UseKey, str, str, str | None, str | None]
"""The hot path's compact form of a successful use: (at, (environment, tenant, name, version, tenant_id),
actor, purpose, request_id, context). The writer expands it to an ``AuditEvent``; the hot path builds no object, and
the tenant id comes with the cached version, so no use looks a tenant up."""


def use_event(
    at: float, key: UseKey, actor: str, purpose: str, request_id: str | None, *, context: str | None = None
) -> UseEvent:
    return (at, key, actor, purpose, request_id, context)


_LIMITS = {
    "environment": 32,
    "actor": 128,
    "tenant": 128,
    "action": 32,
    "secret_name": 128,
    "purpose": 256,
    "outcome": 32,
    "request_id": 128,
    "detail": 512,
}


def escaped(event: AuditEvent) -> AuditEvent:
    """The event with every text field ASCII-escaped and cut to its column, for an event the database refused."""
    fields: dict[str, Any] = {}
    for name, limit in _LIMITS.items():
        value = getattr(event, name)
        if isinstance(value, str):
            fields[name] = value.encode("ascii", "backslashreplace").decode()[:limit]
    fields["detail"] = ("fields escaped: the event was refused as given; " + (fields.get("detail") or ""))[:512]
    return event._replace(**fields)


# Plain strings, not the enum members: the database driver binds an exact str without adapting it
# (a str subclass slows the audit writer down; docs/benchmarks.md).
_SECRET_USE: str = Action.SECRET_USE.value
_OK: str = Outcome.OK.value


def expand(event: AuditEvent | UseEvent) -> AuditEvent:
    if isinstance(event, AuditEvent):
        return event
    at, (environment, tenant, name, version, tenant_id), actor, purpose, request_id, context = event
    return AuditEvent(
        at, environment, actor, tenant, _SECRET_USE, name, version, purpose, _OK, request_id, None, tenant_id, context
    )
