"""Audit streams: committed events reach a file, a TCP or Unix socket, or an OTLP/HTTP collector, and a
failing or stuck sink never blocks nor breaks the audit writer."""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import stat
import threading
from collections.abc import Callable, Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from strongroom import Conflict, InvalidInput
from strongroom.audit.stream import STREAM_ENV, FileSink, Sink, SocketSink, parse_streams
from strongroom.store import Store
from strongroom.vault import Vault

HANG_GUARD_SECONDS = 30  # only a guard against a hang: every wait below ends on an event


class Received:
    """What a loopback server was sent: JSON lines (or whole bodies), with a condition to wait on."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self.cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, count: int) -> list[Any]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.items) >= count, HANG_GUARD_SECONDS), self.items
            return list(self.items)


def line_server(received: Received, family: str, where: str | None = None) -> socketserver.BaseServer:
    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            for line in self.rfile:
                received.add(json.loads(line))

    server: socketserver.BaseServer
    if family == "tcp":
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    else:
        assert where is not None
        server = socketserver.ThreadingUnixStreamServer(where, Handler)
    server.daemon_threads = True  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def servers() -> Iterator[list[socketserver.BaseServer]]:
    started: list[socketserver.BaseServer] = []
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


def activity(vault: Vault, canary: str) -> None:
    """State changes (recorded in their transactions), uses (queued) and a refusal (written on its own)."""
    vault.create_tenant("acme")
    vault.put("acme", "stripe", canary)
    for i in range(3):
        with vault.use("acme", "stripe", purpose=f"charge {i}", request_id=f"req-{i}") as secret:
            assert secret.reveal() == canary
    with pytest.raises(Conflict):
        vault.put("acme", "stripe", "never-stored", expected_version=9)


def stored(reader: Vault) -> dict[tuple[str, int], Any]:
    return {(e.chain, e.seq): e for e in reader.audit_events()}


def assert_streamed_all(lines: Sequence[dict[str, Any]], events: dict[tuple[str, int], Any]) -> None:
    """Every stored event streamed once, with its chain, seq, link and columns; nothing else streamed."""
    assert len(lines) == len(events)
    by_place = {(line["chain"], line["seq"]): line for line in lines}
    assert by_place.keys() == events.keys()
    for place, line in by_place.items():
        event = events[place]
        assert line["id"] is None  # the database assigns ids as it inserts; chain and seq name the event
        assert (line["link"], line["prev"], line["action"], line["outcome"], line["actor"]) == (
            event.hash,
            event.prev_hash,
            event.action,
            event.outcome,
            event.actor,
        )


def test_tcp_unix_and_file_sinks_stream_every_committed_event(
    open_vault: Callable[..., Vault],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    servers: list[socketserver.BaseServer],
    make_canary: Callable[[str], str],
) -> None:
    """Configured by $STRONGROOM_AUDIT_STREAM: every event the database holds reaches each sink, with its
    seq and link; the canary value reaches none."""
    tcp_got, unix_got = Received(), Received()
    tcp = line_server(tcp_got, "tcp")
    unix_path = tmp_path / "audit.sock"
    unix = line_server(unix_got, "unix", str(unix_path))
    servers += [tcp, unix]
    port = tcp.server_address[1]  # type: ignore[attr-defined]
    file_path = tmp_path / "stream" / "audit.jsonl"
    file_path.parent.mkdir()
    monkeypatch.setenv(STREAM_ENV, f"jsonl:{file_path}, tcp://127.0.0.1:{port},unix:{unix_path}")
    canary = make_canary("stream")
    vault = open_vault()
    activity(vault, canary)
    vault.close()  # writes the queue, then sends what the sinks hold
    monkeypatch.delenv(STREAM_ENV)
    events = stored(open_vault())
    assert {e.outcome for e in events.values()} == {"ok", "conflict"}
    assert_streamed_all(tcp_got.wait_for(len(events)), events)
    assert_streamed_all(unix_got.wait_for(len(events)), events)
    text = file_path.read_text()
    assert stat.S_IMODE(file_path.stat().st_mode) == 0o600
    assert_streamed_all([json.loads(line) for line in text.splitlines()], events)
    for output in (text, json.dumps(tcp_got.items), json.dumps(unix_got.items)):
        assert canary not in output
        assert "never-stored" not in output


@pytest.mark.parametrize("encoding", ["json", "protobuf"])
def test_otlp_http_sink_posts_requests_the_decoder_accepts(
    open_vault: Callable[..., Vault],
    start_http_server: Callable[[type[BaseHTTPRequestHandler]], int],
    make_canary: Callable[[str], str],
    encoding: str,
) -> None:
    """OTLP/HTTP: each POST to /v1/logs is an ExportLogsServiceRequest (JSON or protobuf) that the
    opentelemetry-proto decoder accepts; together they hold every event, with its link."""
    bodies = Received()

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            bodies.add((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    port = start_http_server(Collector)
    scheme = "otlp+http" if encoding == "json" else "otlp+http+protobuf"
    vault = open_vault()
    (sink,) = parse_streams(f"{scheme}://127.0.0.1:{port}/v1/logs")
    vault._audit.add_stream(sink)
    canary = make_canary("otlp")
    activity(vault, canary)
    vault.flush_audit()
    events = stored(vault)
    assert sink.drain(HANG_GUARD_SECONDS)
    assert (sink.delivered, sink.dropped) == (len(events), 0)
    records = []
    for path, kind, body in bodies.items:
        assert path == "/v1/logs"
        assert canary.encode() not in body
        request = ExportLogsServiceRequest()
        if encoding == "json":
            assert kind == "application/json"
            json_format.Parse(body, request)
        else:
            assert kind == "application/x-protobuf"
            request.ParseFromString(body)
        for resource_logs in request.resource_logs:
            resource = {a.key: a.value.string_value for a in resource_logs.resource.attributes}
            assert resource["service.name"] == "strongroom"
            for scope_logs in resource_logs.scope_logs:
                records.extend(scope_logs.log_records)
    streamed = {}
    for record in records:
        attributes = {a.key: a.value for a in record.attributes}
        streamed[attributes["strongroom.audit.chain"].string_value, attributes["strongroom.audit.seq"].int_value] = (
            attributes["strongroom.audit.link"].string_value
        )
    assert streamed == {place: e.hash for place, e in events.items()}


class Recorder(Sink):
    """Records what it is sent, and whether each event was already committed when it was handed over."""

    def __init__(self, url: str) -> None:
        super().__init__("recorder")
        self.store = Store(url)
        self.rows: list[tuple[Any, ...]] = []
        self.seen_committed: list[bool] = []

    def offer(self, rows: Sequence[tuple[Any, ...]]) -> None:
        # On the writer's thread, as it hands the batch over: another connection must see it already.
        with self.store.read() as tx:
            for row in rows:
                chain, seq = row[0], row[10]
                committed = any(e.seq == seq for e in tx.audit_events(chain=chain))
                self.seen_committed.append(committed)
        super().offer(rows)

    def send(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.rows.extend(rows)


def test_events_of_a_transaction_are_streamed_after_it_commits_and_never_if_it_rolls_back(
    open_vault: Callable[..., Vault], store_url: str
) -> None:
    """Events recorded inside a change's transaction are streamed once it has committed (another
    connection can read them by then); a refused change streams its refusal, never its rolled-back event."""
    vault = open_vault()
    recorder = Recorder(store_url)
    vault._audit.add_stream(recorder)
    try:
        vault.create_tenant("acme")
        vault.put("acme", "k", "v1")
        with pytest.raises(Conflict):
            vault.put("acme", "k", "v2", expected_version=7)
        vault.delete("acme", "k")
        assert recorder.drain(HANG_GUARD_SECONDS)
        assert [(r[4], r[8]) for r in recorder.rows] == [
            ("tenant.create", "ok"),
            ("secret.put", "ok"),
            ("secret.put", "conflict"),
            ("secret.delete", "ok"),
        ]
        assert recorder.seen_committed == [True] * 4
    finally:
        recorder.store.close()


class Stuck(Sink):
    """A destination that hangs until released."""

    def __init__(self, release: threading.Event, *, max_buffered: int) -> None:
        super().__init__("stuck", max_buffered=max_buffered)
        self.release = release
        self.sending = threading.Event()

    def send(self, rows: Sequence[tuple[Any, ...]]) -> None:
        self.sending.set()
        assert self.release.wait(HANG_GUARD_SECONDS)


def test_a_stuck_or_failing_sink_neither_blocks_nor_breaks_the_writer(
    open_vault: Callable[..., Vault], caplog: pytest.LogCaptureFixture
) -> None:
    """With one sink hung and one refused by its destination, every use is still served and written; each
    sink counts what it dropped and logs it once."""
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    port = closed_port.getsockname()[1]
    closed_port.close()  # nothing listens there: every connection is refused
    release = threading.Event()
    stuck = Stuck(release, max_buffered=5)
    refused = SocketSink(("127.0.0.1", port))
    vault = open_vault(audit_mode="sync")  # every use is written before it returns: through the hook each time
    vault._audit.add_stream(stuck)
    vault._audit.add_stream(refused)
    vault.create_tenant("acme")
    vault.put("acme", "k", "value")
    assert stuck.sending.wait(HANG_GUARD_SECONDS)  # its thread now hangs on the first batch
    caplog.set_level(logging.ERROR, logger="strongroom.audit")
    for i in range(40):
        with vault.use("acme", "k", purpose=f"p{i}") as secret:
            assert secret.reveal() == "value"
    assert len(vault.audit_events(action="secret.use")) == 40
    assert vault.verify_audit().ok
    assert stuck.dropped >= 40 - 5
    release.set()
    assert stuck.drain(HANG_GUARD_SECONDS)
    assert refused.drain(HANG_GUARD_SECONDS)
    assert stuck.delivered + stuck.dropped == 42
    assert (refused.delivered, refused.dropped) == (0, 42)
    messages = [r.getMessage() for r in caplog.records]
    assert sum("audit stream stuck dropped" in m for m in messages) == 1
    assert sum(f"audit stream tcp://127.0.0.1:{port} dropped" in m for m in messages) == 1


def test_a_closed_sink_counts_what_it_could_not_send(tmp_path: Path) -> None:
    """Closing sends what is buffered; a sink closed while its destination hangs counts the rest dropped."""
    release = threading.Event()
    stuck = Stuck(release, max_buffered=100)
    row = ("dev/x", "dev", "a", "t", "secret.use", "k", 1, "p", "ok", None, 1, 1.0, None, None, "0", "1", None)
    stuck.offer([row])
    assert stuck.sending.wait(HANG_GUARD_SECONDS)
    stuck.offer([row, row])
    stuck.close(timeout=0)  # the first batch is still being sent: the two queued behind it are lost
    assert stuck.dropped == 2
    stuck.offer([row])  # refused once closed
    assert stuck.dropped == 3
    release.set()
    assert stuck.drain(HANG_GUARD_SECONDS)
    assert (stuck.delivered, stuck.dropped) == (1, 3)
    sink = FileSink(tmp_path / "a.jsonl")
    sink.offer([row])
    sink.close()
    assert sink.delivered == 1
    assert json.loads((tmp_path / "a.jsonl").read_text())["chain"] == "dev/x"


@pytest.mark.parametrize(
    ("spec", "phrase"),
    [
        ("syslog://x", "is not a sink"),
        ("tcp://127.0.0.1", "needs a host and a port"),
        ("otlp+grpc://127.0.0.1:4317", "is not a sink"),
        ("jsonl:", "is not a sink"),
    ],
)
def test_a_bad_stream_setting_is_refused_when_the_vault_opens(
    open_vault: Callable[..., Vault], monkeypatch: pytest.MonkeyPatch, spec: str, phrase: str
) -> None:
    monkeypatch.setenv(STREAM_ENV, f"jsonl:/tmp/x.jsonl,{spec}")
    with pytest.raises(InvalidInput, match=f"{STREAM_ENV}: .* {phrase}"):
        open_vault()
