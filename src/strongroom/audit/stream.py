"""Streams: audit events sent to a SIEM as they are written, beside the database.

``STRONGROOM_AUDIT_STREAM`` lists sinks, comma-separated; ``AuditLog.add_stream`` adds one in code:

- ``jsonl:/var/log/strongroom/audit.jsonl``: JSON lines appended to a file (``export.jsonl_line``);
- ``tcp://127.0.0.1:5170``, ``unix:/run/vector.sock``: the same lines over a stream socket;
- ``otlp+http://127.0.0.1:4318/v1/logs`` (``otlp+https://`` too): an OTLP/HTTP ``ExportLogsServiceRequest``
  POSTed per batch as JSON; ``otlp+http+protobuf://…`` sends protobuf (the ``otel`` extra).

A stream never blocks nor breaks the audit writer: the writer hands each committed batch over with a deque
append; each sink holds at most ``max_buffered`` events and sends them from a thread of its own. A batch that
does not fit, or that a sink fails to send, is dropped and counted (``Sink.dropped``), and the first failure
is logged once per sink. The database stays the record; a stream is a copy for the people who watch.
Events streamed carry their chain, seq and link, not their id (the database assigns it as they are inserted).
"""

from __future__ import annotations

import abc
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from strongroom.audit.chain import STORED_COLUMNS
from strongroom.errors import InvalidInput

__all__ = [
    "STREAM_ENV",
    "Fanout",
    "FileSink",
    "OtlpHttpSink",
    "Sink",
    "SocketSink",
    "parse_streams",
]

STREAM_ENV: Final = "STRONGROOM_AUDIT_STREAM"
DEFAULT_MAX_BUFFERED: Final = 10_000
SEND_TIMEOUT_SECONDS: Final = 5.0
log = logging.getLogger("strongroom.audit")

Row = tuple[Any, ...]
"""A stored row, ``chain.STORED_COLUMNS`` values (what ``chain.append`` returns)."""


def row_mapping(row: Row) -> dict[str, Any]:
    return dict(zip(STORED_COLUMNS, row, strict=True))


class Sink(abc.ABC):
    """A destination with a bounded buffer and a sending thread of its own; subclasses implement ``send``."""

    def __init__(self, name: str, *, max_buffered: int = DEFAULT_MAX_BUFFERED) -> None:
        self.name = name
        self.max_buffered = max_buffered
        self.delivered = 0
        self.dropped = 0
        self._batches: deque[Sequence[Row]] = deque()
        self._buffered = 0  # events in _batches and in the batch being sent
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._logged = False

    def offer(self, rows: Sequence[Row]) -> None:
        """Take a committed batch, or drop and count it: never waits for the destination."""
        with self._cond:
            if self._closing or self._buffered + len(rows) > self.max_buffered:
                self._drop(len(rows), "its buffer is full" if not self._closing else "it is closed")
                return
            self._batches.append(rows)
            self._buffered += len(rows)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"strongroom-audit-stream-{self.name}")
                self._thread.daemon = True
                self._thread.start()
            self._cond.notify()

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until every event offered so far is sent or dropped; whether it came to that in time."""
        with self._cond:
            return self._cond.wait_for(lambda: self._buffered == 0, timeout)

    def close(self, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        """Send what is buffered (for up to ``timeout`` in all), then stop; what is left is counted as dropped."""
        deadline = time.monotonic() + timeout
        self.drain(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(max(deadline - time.monotonic(), 0))
        with self._cond:
            # What is still queued is lost; a batch still being sent is counted by the thread when it ends.
            queued = sum(len(batch) for batch in self._batches)
            if queued:
                self._drop(queued, "it was closed before they were sent")
                self._batches.clear()
                self._buffered -= queued
                self._cond.notify_all()
        if self._thread is None:
            self._release()  # else the thread releases files and connections as it stops

    @abc.abstractmethod
    def send(self, rows: Sequence[Row]) -> None:
        """Deliver a batch to the destination (on the sink's own thread); raise if it cannot."""

    def _release(self) -> None:  # noqa: B027 -- a hook: sinks that hold nothing open need not override it
        """Close files and connections (called once the thread has stopped)."""

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        if not self._logged:
            self._logged = True
            log.error("audit stream %s dropped %d events: %s (logged once; see Sink.dropped)", self.name, count, why)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._batches or self._closing)
                if not self._batches:
                    break
                batches = list(self._batches)
                self._batches.clear()
            rows = [row for batch in batches for row in batch]
            try:
                self.send(rows)
            except Exception as exc:  # any failure of the destination: drop, count, carry on
                with self._cond:
                    self._drop(len(rows), _masked(f"{type(exc).__name__}: {exc}")[:200])
            else:
                with self._cond:
                    self.delivered += len(rows)
            with self._cond:
                self._buffered -= len(rows)
                self._cond.notify_all()
        self._release()


def _jsonl(rows: Iterable[Row]) -> bytes:
    from strongroom.audit.export import jsonl_line

    return "".join(jsonl_line(row_mapping(r)) for r in rows).encode()


class FileSink(Sink):
    """JSON lines appended to a file (created 0600)."""

    def __init__(self, path: str | Path, **options: Any) -> None:
        super().__init__(f"jsonl:{path}", **options)
        self.path = Path(path)
        self._fd: int | None = None

    def send(self, rows: Sequence[Row]) -> None:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        data = memoryview(_jsonl(rows))
        while data:
            data = data[os.write(self._fd, data) :]

    def _release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class SocketSink(Sink):
    """JSON lines over TCP or a Unix stream socket; reconnects on the next batch after a failure."""

    def __init__(self, address: tuple[str, int] | str, **options: Any) -> None:
        name = f"unix:{address}" if isinstance(address, str) else f"tcp://{address[0]}:{address[1]}"
        super().__init__(name, **options)
        self.address = address
        self._sock: socket.socket | None = None

    def send(self, rows: Sequence[Row]) -> None:
        data = _jsonl(rows)
        try:
            if self._sock is None:
                if isinstance(self.address, str):
                    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    sock.settimeout(SEND_TIMEOUT_SECONDS)
                    sock.connect(self.address)
                else:
                    sock = socket.create_connection(self.address, timeout=SEND_TIMEOUT_SECONDS)
                self._sock = sock
            self._sock.sendall(data)
        except OSError:
            self._release()
            raise

    def _release(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class OtlpHttpSink(Sink):
    """An OTLP/HTTP logs endpoint (a collector's ``/v1/logs``): one POST per batch, JSON or protobuf."""

    def __init__(self, url: str, *, protobuf: bool = False, **options: Any) -> None:
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            why = f"OTLP endpoint {_masked(url)!r} has no valid port: use http://host:4318/v1/logs"
            raise InvalidInput(why) from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidInput(f"OTLP endpoint {_masked(url)!r} is not an http(s) URL: use http://host:4318/v1/logs")
        # Named without any user:password the URL may carry, as it is logged.
        shown = f"{parts.scheme}://{parts.hostname}{'' if port is None else f':{port}'}{parts.path}"
        super().__init__(f"otlp+{shown}", **options)
        # A user:password in the URL is sent as HTTP Basic (urllib cannot send it in the URL, and says so
        # with the password in its error, which the drop log would print).
        self._headers: dict[str, str] = {}
        if parts.username is not None or parts.password is not None:
            import base64
            from urllib.parse import unquote

            pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
            url = parts._replace(netloc=host if port is None else f"{host}:{port}").geturl()
        self.url = url
        self.protobuf = protobuf
        if protobuf:
            _protobuf_request_type()  # refuse now, not at the first batch, if the extra is missing

    def send(self, rows: Sequence[Row]) -> None:
        import urllib.request

        from strongroom.audit.export import otel_log_record, otel_request

        by_environment: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            mapping = row_mapping(row)
            by_environment.setdefault(mapping["environment"], []).append(otel_log_record(mapping))
        for environment, records in by_environment.items():
            message = otel_request(environment, records)
            if self.protobuf:
                import importlib

                json_format: Any = importlib.import_module("google.protobuf.json_format")  # with opentelemetry-proto
                body = json_format.ParseDict(message, _protobuf_request_type()()).SerializeToString()
                kind = "application/x-protobuf"
            else:
                import json

                body = json.dumps(message, separators=(",", ":")).encode()
                kind = "application/json"
            headers = {**self._headers, "Content-Type": kind}
            request = urllib.request.Request(self.url, data=body, method="POST", headers=headers)  # noqa: S310 -- http(s) only, checked above
            with urllib.request.urlopen(request, timeout=SEND_TIMEOUT_SECONDS) as answer:  # noqa: S310
                answer.read()


def _protobuf_request_type() -> Any:
    try:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    except ImportError:
        raise InvalidInput(
            "OTLP protobuf needs opentelemetry-proto: pip install 'strongroom[otel]', or use otlp+http:// (JSON)"
        ) from None
    return ExportLogsServiceRequest


_USAGE = "use jsonl:/path, tcp://host:port, unix:/path or otlp+http://host:4318/v1/logs"


def _masked(text: str) -> str:
    """``text`` with the password of any ``user:password@`` in it replaced by ``***``: for messages."""
    return re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1***@", text)


def parse_stream(spec: str, **options: Any) -> Sink:
    """One sink from its ``STRONGROOM_AUDIT_STREAM`` form."""
    text = spec.strip()
    scheme, sep, rest = text.partition(":")
    if not sep or not rest:
        raise InvalidInput(f"{STREAM_ENV}: {_masked(text)!r} is not a sink: {_USAGE}")
    if scheme in ("jsonl", "file"):
        return FileSink(rest.removeprefix("//"), **options)
    if scheme == "unix":
        return SocketSink(rest.removeprefix("//"), **options)
    if scheme == "tcp":
        parts = urlsplit(text)
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.hostname or port is None:
            raise InvalidInput(f"{STREAM_ENV}: {_masked(text)!r} needs a host and a port: tcp://127.0.0.1:5170")
        return SocketSink((parts.hostname, port), **options)
    if scheme.startswith("otlp+"):
        transport = scheme.removeprefix("otlp+")
        protobuf = transport.endswith("+protobuf")
        transport = transport.removesuffix("+protobuf")
        if transport in ("http", "https"):
            return OtlpHttpSink(f"{transport}:{rest}", protobuf=protobuf, **options)
    raise InvalidInput(f"{STREAM_ENV}: {_masked(text)!r} is not a sink: {_USAGE}")


def parse_streams(text: str | None) -> list[Sink]:
    """Every sink a ``STRONGROOM_AUDIT_STREAM`` value lists (none for an empty or unset one)."""
    return [parse_stream(part) for part in (text or "").split(",") if part.strip()]


class Fanout:
    """The sinks an audit log streams to. False when there are none, so the writer checks one truth value."""

    def __init__(self, sinks: Iterable[Sink] = ()) -> None:
        self.sinks: list[Sink] = list(sinks)

    @classmethod
    def from_environment(cls) -> Fanout:
        return cls(parse_streams(os.environ.get(STREAM_ENV)))

    def __bool__(self) -> bool:
        return bool(self.sinks)

    def add(self, sink: Sink) -> None:
        self.sinks.append(sink)

    def publish(self, rows: Sequence[Row]) -> None:
        """Hand a committed batch to every sink (never waits, never raises: the batch is already written)."""
        for sink in self.sinks:
            try:
                sink.offer(rows)
            except Exception as exc:  # no thread to be had: this batch is the sink's loss, not the writer's
                with sink._cond:
                    sink._drop(len(rows), type(exc).__name__)

    def close(self, timeout: float = SEND_TIMEOUT_SECONDS) -> None:
        """Close every sink within ``timeout`` in all (they send in parallel, each from its own thread)."""
        deadline = time.monotonic() + timeout
        for sink in self.sinks:
            sink.close(max(deadline - time.monotonic(), 0))
