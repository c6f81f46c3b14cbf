"""Where audit events go.

State changes call ``record(tx, ...)`` inside their own transaction. Uses change no state; their events go
through one queue, written by one background writer in batches of at most ``max_batch`` events, each batch
one transaction. The modes (docs/audit.md, "Durability"):

``async`` (the default): a use appends its event to an in-memory queue (a length check and a deque append
on the hot path) and returns. The writer wakes every ``flush_interval_seconds`` (0.2 s), and at once when
``max_batch`` events are waiting. The queue never holds more than ``max_pending`` events (those being
written included; plus at most one per thread racing the hot path's check): at the bound a caller waits
for the writer's next batch, woken by the writer when it commits (at most ``max_wait_seconds``), and never
writes the backlog itself. While the store cannot be written, uses are served until the queue is full,
then their events are dropped and counted per chain; once the store takes writes again the writer records
an ``audit.dropped`` event per chain with the count and the time window. At close with the store still
unwritable, the queue and the counts are spooled to a 0600 file that the next open replays.

``strict`` (fail-closed; ``sync`` is its old name): a use's event is committed before its value is
returned, and a use whose event cannot be written is refused (``AuditError``). Callers commit as a group:
a caller that finds no batch being written writes one at once (its event and whatever queued with it);
callers that find one in progress wait for it and lead the next, so concurrent strict uses share a
transaction. A flush to PostgreSQL costs about 2 ms of CPU whatever its size, plus 20 µs per event.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import hmac
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from strongroom.audit import chain
from strongroom.audit.events import Action, AuditEvent, Outcome
from strongroom.audit.stream import Fanout, Sink
from strongroom.errors import AuditError, StoreError, StrongroomError
from strongroom.store import Store, Tx

if TYPE_CHECKING:
    from strongroom.audit.keys import AuditKeys

AuditMode = Literal["async", "strict", "sync"]
"""``sync`` is the old name of ``strict`` (same behaviour)."""
log = logging.getLogger("strongroom.audit")

DROPPED_ACTOR = "strongroom"
"""``actor`` of the ``audit.dropped`` events the writer records itself."""

# A strict caller's event on its way: (events, state, error). States below; changed under the log's lock.
_PENDING, _IN_FLIGHT, _DONE, _FAILED, _CANCELLED = range(5)


class _Ticket:
    __slots__ = ("error", "events", "state")

    def __init__(self, events: tuple[AuditEvent | UseEvent, ...]) -> None:
        self.events = events
        self.state = _PENDING
        self.error = ""


class AuditLog:
    def __init__(
        self,
        store: Store,
        keys: Callable[[], AuditKeys],
        *,
        mode: AuditMode = "async",
        flush_interval_seconds: float = 0.2,
        max_pending: int = 20_000,
        max_batch: int = 2_000,
        max_wait_seconds: float = 2.0,
        spool_dir: Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if mode not in ("async", "strict", "sync"):
            raise ValueError(f"audit mode must be 'async' or 'strict', not {mode!r}")
        self._store = store
        # The audit keys (MAC and checkpoint signing), from the key hierarchy; loaded before any transaction opens.
        self.keys = keys
        self.mode: AuditMode = "strict" if mode == "sync" else mode
        self._strict = self.mode == "strict"
        self._flush_interval_seconds = flush_interval_seconds
        self._max_pending = max_pending
        self._max_batch = max(1, min(max_batch, max_pending))
        self._max_wait_seconds = max_wait_seconds
        self._clock = clock
        self._spool_dir = spool_dir
        self._queue: deque[Any] = deque()  # AuditEvent | UseEvent | _Ticket
        # Events drained from the queue and being written (they count against max_pending until committed).
        self._in_flight = 0
        # The hot path's bound: it appends while the queue is shorter. max_batch (the writer is woken past
        # it), less what is in flight when that leaves less room than max_pending.
        self._room = self._max_batch
        self._lock = threading.Lock()
        self._batch_done = threading.Condition(self._lock)  # notified after every batch, written or failed
        self._wake = threading.Event()  # the writer's: work is waiting (a full batch, a strict caller, close)
        self._write_lock = threading.Lock()
        self._flush_lock = threading.RLock()  # held by whoever writes batches: the writer, flush(), a strict leader
        self._flushes_ended = 0
        self._stop = threading.Event()
        self._failing = False
        self._stalled = False  # a caller waited max_wait_seconds for a batch: drop, do not wait, until one lands
        self._thread: threading.Thread | None = None
        self._closed = False
        self._appending = False  # True while submit() may simply append: async, writer started, not closed
        # Dropped events per chain: (tenant, tenant_id) -> [count, first at, last at, environment].
        self._dropped: dict[tuple[str, str | None], list[Any]] = {}
        self.high_water = 0
        """The most events the queue held (in flight included), as seen by the writer and the slow path."""
        self.dropped_total = 0
        """Events dropped (async, store unwritable, queue full) since this log was made."""
        # Copies of every committed event for a SIEM ($STRONGROOM_AUDIT_STREAM, add_stream): strongroom.audit.stream.
        self.streams = Fanout.from_environment()
        # Spool files claimed at open, their seal checked under the audit key before their events are queued.
        self._spooled: list[tuple[Path, Path, bytes, str, list[AuditEvent], list[Any]]] = []
        if spool_dir is not None:
            self._replay(spool_dir)

    def add_stream(self, sink: Sink) -> None:
        """Send a copy of every event committed from now on to ``sink`` (it never blocks this log)."""
        self.streams.add(sink)

    # -- handing events over ------------------------------------------------------------------------

    def record(self, tx: Tx, *events: AuditEvent) -> list[tuple[Any, ...]]:
        """Write events in the caller's transaction: they commit with the change or not at all. Returns the
        rows, for the caller to ``streams.publish`` once ``tx`` has committed (``UnitOfWork`` does).

        The caller loads ``keys()`` before it opens ``tx`` (loading may write: the first key of an environment).
        """
        return chain.append(tx, events, self.keys().mac)

    def record_now(self, *events: AuditEvent) -> None:
        """Record events that go with no state change (refusals): committed before this returns in strict
        mode (``AuditError`` if they cannot be), queued in async mode."""
        if self._strict:
            self._commit(events)
        else:
            self.enqueue(*events)

    def enqueue(self, *events: AuditEvent) -> None:
        """Queue events for the writer whatever the mode (bounded as async uses are)."""
        for event in events:
            if self._appending and len(self._queue) < self._room:
                self._queue.append(event)
            else:
                self._admit(event)

    def submit(self, event: AuditEvent | UseEvent) -> None:
        """Hand over one event: an ``AuditEvent``, or the hot path's ``use_event`` tuple (no object built).

        Async: appended to the queue (see the module's docstring for what happens at the bound).
        Strict: committed before this returns, or ``AuditError``.
        """
        if self._appending and len(self._queue) < self._room:
            self._queue.append(event)
        elif self._strict:
            self._commit((event,))
        else:
            self._admit(event)

    def _admit(self, event: AuditEvent | UseEvent) -> None:
        """The async slow path: the writer not started, past ``max_batch`` (wake it), or at the bound (wait for
        its next batch; drop and count if it is failing or does not answer within ``max_wait_seconds``)."""
        if self._closed:
            raise AuditError("the audit log is closed: no use without a record")
        if self._thread is None:
            self._start()
        queue = self._queue
        if len(queue) + self._in_flight < self._max_pending:  # under the bound: append, the writer woken past a batch
            if len(queue) >= self._max_batch and not self._failing and not self._wake.is_set():
                self._wake.set()
            queue.append(event)
            self._note_high_water()
            return
        with self._lock:
            deadline = None
            while len(queue) + self._in_flight >= self._max_pending:
                if self._closed:
                    raise AuditError("the audit log is closed: no use without a record")
                if self._failing or self._stalled:
                    self._drop(event)
                    return
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self._max_wait_seconds
                    self._wake.set()
                elif now >= deadline:
                    self._stalled = True
                    log.error(
                        "audit writer wrote no batch in %.1f s; dropping events past the bound", self._max_wait_seconds
                    )
                    self._drop(event)
                    return
                self._batch_done.wait(deadline - now)  # woken by the writer when a batch commits or fails
            queue.append(event)
            self._note_high_water()

    def _commit(self, events: tuple[AuditEvent | UseEvent, ...]) -> None:
        """Strict: queue the events as one ticket and see it committed in a batch (group commit). If no batch is
        being written, this caller writes one now, its ticket and whatever queued with it (no thread hop);
        else it waits for that batch to end, and leads the next if its ticket was not in it."""
        if self._closed:
            raise AuditError("the audit log is closed: no use without a record")
        if self._thread is None:
            self._start()
        ticket = _Ticket(events)
        with self._lock:
            self._queue.append(ticket)
        deadline = time.monotonic() + max(self._max_wait_seconds, 30.0)
        while ticket.state in (_PENDING, _IN_FLIGHT):
            with self._lock:
                ended = self._flushes_ended
            try:
                if self._lead(lambda: ticket.state != _PENDING, blocking=False):
                    continue
            except StrongroomError:
                continue  # the ticket says whether it was in the batch that failed
            with self._lock:
                # Until this ticket is settled or a flush ends (then try to lead the next batch).
                while ticket.state in (_PENDING, _IN_FLIGHT) and self._flushes_ended == ended:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        # Still queued: no batch takes it. In flight: it may yet commit (a record of a use that
                        # was refused: over-recording, never a use without a record).
                        if ticket.state == _PENDING:
                            ticket.state = _CANCELLED
                        raise AuditError("audit event not written in time; refusing to serve (is the store up?)")
                    self._batch_done.wait(remaining)
        if ticket.state == _FAILED:
            raise AuditError(ticket.error or "audit events could not be written")

    def _drop(self, event: AuditEvent | UseEvent) -> None:
        # Under self._lock.
        if isinstance(event, AuditEvent):
            key, environment = (event.tenant, event.tenant_id), event.environment
        else:
            key, environment = (event[1][1], event[1][4]), event[1][0]
        now = self._clock()
        seen = self._dropped.get(key)
        if seen is None:
            if not self._dropped:
                log.error("audit store not writable and the queue is full: dropping events (counted)")
            self._dropped[key] = [1, now, now, environment]
        else:
            seen[0] += 1
            seen[2] = now
        self.dropped_total += 1

    def _note_high_water(self) -> None:
        held = len(self._queue) + self._in_flight
        self.high_water = max(self.high_water, held)

    # -- writing ------------------------------------------------------------------------------------

    def flush(self) -> None:
        """Write every queued event now (and raise if that fails).

        One flush at a time, each batch drained and written together, so a flush that returns has nothing of
        its caller's still in flight, and the caller's next event is chained after it.
        """
        self._lead(lambda: False)

    def _lead(self, done: Callable[[], bool], *, blocking: bool = True) -> bool:
        """Write batches until ``done()`` or the queue is empty, unless another thread is writing (then False,
        at once, if not ``blocking``). Its end is counted and announced, for strict callers waiting to lead."""
        if not self._flush_lock.acquire(blocking=blocking):
            return False
        try:
            if self._spooled:
                self._take_spooled()
            while not done() and self._write_batch():
                pass
        finally:
            self._flush_lock.release()
            with self._lock:
                self._flushes_ended += 1
                self._batch_done.notify_all()
        return True

    def _write_batch(self) -> bool:
        """Drain and write one batch (and any dropped counts); False once nothing is left. Raises on failure,
        the batch's async events back on the queue and its strict callers refused."""
        with self._lock:
            queue = self._queue
            n = min(len(queue), self._max_batch)
            dropped, self._dropped = self._dropped, {}
            if n == 0 and not dropped:
                return False
            self._note_high_water()
            # Less room first, then drain: callers racing the check never see both the old room and the
            # shorter queue.
            self._in_flight = n
            self._room = max(0, min(self._max_batch, self._max_pending - n))
            batch = [queue.popleft() for _ in range(n)]
            for item in batch:
                if type(item) is _Ticket and item.state == _PENDING:
                    item.state = _IN_FLIGHT
        failed: list[Any] = []
        error: StrongroomError | None = None
        try:
            self._write(_events(batch, dropped))
        except AuditError:
            failed, error = self._write_each(batch, dropped)
        except StrongroomError as exc:  # not a refused write (a key provider's own error): nothing was written
            failed, error = batch, exc
        finally:
            with self._lock:
                if error is None:
                    self._failing = self._stalled = False
                else:
                    self._failing = True
                    for key, (count, first, last, environment) in dropped.items():  # back, merged
                        seen = self._dropped.setdefault(key, [0, first, last, environment])
                        seen[0] += count
                        seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
                refused = {id(item) for item in failed if type(item) is _Ticket}
                for item in batch:
                    if type(item) is _Ticket and item.state == _IN_FLIGHT:
                        item.state = _FAILED if id(item) in refused else _DONE
                        item.error = str(error)
                queue.extendleft(reversed([item for item in failed if type(item) is not _Ticket]))
                self._in_flight = 0
                self._room = self._max_batch
                self._batch_done.notify_all()
        if error is not None:
            raise error
        return True

    def _write_each(
        self, batch: list[Any], dropped: dict[tuple[str, str | None], list[Any]]
    ) -> tuple[list[Any], AuditError | None]:
        # A batch failed: one event the database refuses must not hold every later event (and every write of
        # this process) hostage. Write one by one; an event refused alone is written with its text fields
        # escaped; if even that fails the database is down: return what is left unwritten, and why.
        if dropped:
            try:
                self._write(_dropped_events(dropped))
            except AuditError as exc:
                return batch, exc
            dropped.clear()  # written: not back on the count
        for i, item in enumerate(batch):
            if not _live(item):
                continue
            try:
                self._write(_item_events(item))
            except AuditError:
                try:
                    self._write([escaped(expand(e)) for e in _item_events(item)])
                except AuditError as exc:
                    return batch[i:], exc
        return [], None

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

    # -- the writer thread, close, the spool ----------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._closed = True
            self._appending = False
            self._batch_done.notify_all()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.flush()
        except StrongroomError as exc:
            self._spool(exc)
        self.streams.close()

    @property
    def pending(self) -> int:
        return len(self._queue) + self._in_flight

    @property
    def dropped_pending(self) -> int:
        """Dropped events not yet recorded in an ``audit.dropped`` event."""
        return sum(count for count, *_ in self._dropped.values())

    def _start(self) -> None:
        with self._write_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="strongroom-audit", daemon=True)
                self._thread.start()
                atexit.register(self.close)
                self._appending = not self._strict

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._flush_interval_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.flush()
            except StrongroomError as exc:
                if not self._failing_logged:
                    log.error("audit writer failing (async events kept up to the bound, then counted): %s", exc)
                self._failing_logged = True
            else:
                self._failing_logged = False

    _failing_logged = False

    def _spool(self, exc: StrongroomError) -> None:
        """At close, the store still unwritable: keep the queued events and the drop counts in a 0600 file the
        next open replays, or, without a spool directory, say in the log exactly what was lost."""
        events = [expand(e) for item in self._queue if _live(item) for e in _item_events(item)]
        dropped = self._dropped
        if not events and not dropped:
            return
        if self._spool_dir is None:
            log.error(
                "audit events could not be written at close (%s): %d queued events and %d dropped lost",
                exc,
                len(events),
                self.dropped_pending,
            )
            return
        path = self._spool_dir / f"{os.getpid()}-{time.time_ns()}.jsonl"
        lines = [json.dumps({"event": list(event)}) + "\n" for event in events]
        lines += [
            json.dumps({"dropped": [tenant, tenant_id, count, first, last, environment]}) + "\n"
            for (tenant, tenant_id), (count, first, last, environment) in dropped.items()
        ]
        body = "".join(lines).encode()
        try:
            seal = _seal(self.keys().mac, body)
        except StrongroomError as err:  # never had the key: nothing the next open could trust
            log.error(
                "audit events not written at close (%s) nor sealed for the spool (%s): %d queued, %d dropped lost",
                exc,
                err,
                len(events),
                self.dropped_pending,
            )
            return
        try:
            self._spool_dir.parent.mkdir(mode=0o700, exist_ok=True)  # in the home, which must exist
            self._spool_dir.mkdir(mode=0o700, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(body)
                out.write(json.dumps({"seal": seal}).encode() + b"\n")
                out.flush()
                os.fsync(out.fileno())
        except OSError as err:
            log.error(
                "audit events could not be written at close (%s) nor spooled (%s): %d queued, %d dropped lost",
                exc,
                err.strerror,
                len(events),
                self.dropped_pending,
            )
            return
        log.error(
            "audit store not writable at close (%s): %d events and %d drop counts spooled to %s, replayed at next open",
            exc,
            len(events),
            len(dropped),
            path,
        )

    def _replay(self, spool_dir: Path) -> None:
        """Take back what an earlier close spooled (each file claimed by a rename, so two processes sharing the
        directory never replay it twice): its events queued first, its drop counts added to this log's."""
        try:
            names = sorted(p for p in spool_dir.iterdir() if p.suffix == ".jsonl")
        except OSError:
            return
        for path in names:
            claimed = path.with_suffix(f".replaying-{os.getpid()}")
            try:
                if not _private(path):
                    log.error("audit spool %s is not this user's 0600 file: not replayed", path)
                    continue
                path.rename(claimed)
                raw = claimed.read_bytes()
            except OSError:
                continue
            body, _, last = raw.rstrip(b"\n").rpartition(b"\n")
            body = body + b"\n" if body else b""
            try:
                seal = str(json.loads(last)["seal"])
                records = [json.loads(line) for line in body.decode("utf-8").splitlines()]
                events = [AuditEvent(*r["event"]) for r in records if "event" in r]
                drops = [
                    (str(tenant), tenant_id, int(count), float(first), float(last), str(environment))
                    for tenant, tenant_id, count, first, last, environment in (
                        r["dropped"] for r in records if "event" not in r
                    )
                ]
            except (ValueError, TypeError, KeyError):
                log.error("audit spool %s is damaged: left as %s, not replayed", path, claimed.name)
                continue
            self._spooled.append((path, claimed, body, seal, events, drops))
        if self._spooled:
            self._start()
            self._wake.set()

    def _take_spooled(self) -> None:
        """Queue the events of the spool files claimed at open whose seal holds under the audit key (a file
        anyone else wrote, or edited, is left as it is and named in the log: its events are not chained).
        Without the key yet, they wait for the next flush."""
        try:
            key = self.keys().mac
        except StrongroomError:
            return
        spooled, self._spooled = self._spooled, []
        for path, claimed, body, seal, events, drops in spooled:
            if not hmac.compare_digest(_seal(key, body), seal):
                log.error(
                    "audit spool %s is not sealed by this environment's audit key (forged or edited): "
                    "left as %s, not replayed",
                    path,
                    claimed.name,
                )
                continue
            with self._lock:
                self._queue.extendleft(reversed(events))
                for tenant, tenant_id, count, first, last, environment in drops:
                    seen = self._dropped.setdefault((tenant, tenant_id), [0, first, last, environment])
                    seen[0] += count
                    seen[1], seen[2] = min(seen[1], first), max(seen[2], last)
            with contextlib.suppress(OSError):
                claimed.unlink()
            log.warning("audit events spooled at an earlier close replayed from %s", path)


_SPOOL_SEAL = b"strongroom audit spool v1\n"


def _seal(mac_key: bytes, body: bytes) -> str:
    """HMAC-SHA256 of a spool file's lines under the audit MAC key, with a label no chain link starts with
    (a link's input is a JSON array): whoever lacks the key cannot write a spool file the next open replays."""
    return hmac.new(mac_key, _SPOOL_SEAL + body, hashlib.sha256).hexdigest()


def _private(path: Path) -> bool:
    """A regular file of this user that nobody else may write."""
    info = path.lstat()
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o022


_DROPPED: str = Action.AUDIT_DROPPED.value


def _utc(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dropped_events(dropped: dict[tuple[str, str | None], list[Any]]) -> list[AuditEvent]:
    """One ``audit.dropped`` event per chain that lost events: how many, between which times."""
    return [
        AuditEvent(
            at=last,
            environment=environment,
            actor=DROPPED_ACTOR,
            tenant=tenant,
            action=_DROPPED,
            outcome=_OK,
            detail=f"{count} events dropped from {_utc(first)} to {_utc(last)}: the audit store could not be written",
            tenant_id=tenant_id,
        )
        for (tenant, tenant_id), (count, first, last, environment) in dropped.items()
    ]


def _live(item: Any) -> bool:
    return type(item) is not _Ticket or item.state != _CANCELLED


def _item_events(item: Any) -> tuple[AuditEvent | UseEvent, ...]:
    return item.events if type(item) is _Ticket else (item,)


def _events(batch: list[Any], dropped: dict[tuple[str, str | None], list[Any]]) -> list[AuditEvent | UseEvent]:
    events: list[AuditEvent | UseEvent] = list(_dropped_events(dropped)) if dropped else []
    for item in batch:
        if type(item) is _Ticket:
            if item.state != _CANCELLED:
                events.extend(item.events)
        else:
            events.append(item)
    return events


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
