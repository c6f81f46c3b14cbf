#!/usr/bin/env python
"""Benchmark of the audit exports and streams (docs/audit.md).

On a fresh SQLite vault (a throwaway directory and key file, made here), ``--events`` hot ``use()`` events
are written, then:

1. each export format is written to /dev/null through ``Vault.iter_audit_events`` (pages of 1000):
   events per second; then the peak of Python memory allocated (tracemalloc) while a tenth and all of the
   events are exported as OTLP, which must not grow with the number of events;
2. the writer's cost per event (``flush_audit`` of ``--batch`` queued uses, best of ``--rounds``) without
   a stream, then with a JSON-lines TCP stream to a loopback server that reads everything, and the
   events that stream delivered and dropped.

    .venv/bin/python bench/audit_export_bench.py                  # about 2 minutes on 2 cores
    .venv/bin/python bench/audit_export_bench.py --events 20000
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import socketserver
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

from strongroom.audit.export import export
from strongroom.audit.stream import SocketSink
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault


def open_vault() -> Vault:
    home = Path(tempfile.mkdtemp(prefix="strongroom-bench-"))
    vault = Vault.open(
        f"sqlite:///{home}/vault.db",
        key_provider=LocalKeyProvider.create_file(home / "key.json", "dev"),
        environment="dev",
        actor="bench",
        checkpoints="off",
    )
    vault.create_tenant("t")
    vault.put("t", "k", "bench-value-" + "x" * 20)
    return vault


def uses(vault: Vault, count: int) -> None:
    for i in range(count):
        with vault.use("t", "k", purpose="bench", request_id=f"r{i}") as secret:
            secret.reveal()


def flush_us_per_event(vault: Vault, batch: int, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        vault.flush_audit()
        uses(vault, batch)
        started = time.perf_counter()
        vault.flush_audit()
        best = min(best, (time.perf_counter() - started) / batch * 1e6)
    return best


class _Drain(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        while self.rfile.read(1 << 16):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores, SQLite")

    vault = open_vault()
    try:
        for _ in range(0, args.events, 10_000):
            uses(vault, 10_000)
            vault.flush_audit()
        for fmt in ("jsonl", "otel", "cef"):
            started = time.perf_counter()
            with open(os.devnull, "w") as sink:
                written = export(vault.iter_audit_events(), fmt, sink, environment=vault.environment)
            elapsed = time.perf_counter() - started
            print(f"export {fmt:5}: {written} events, {written / elapsed:,.0f}/s")
        for share in (10, 1):  # the peak must not grow with the number of events exported
            count = args.events // share
            tracemalloc.start()
            with open(os.devnull, "w") as sink:
                events = itertools.islice(vault.iter_audit_events(), count)
                export(events, "otel", sink, environment=vault.environment)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"export otel of {count} events: Python memory peak {peak / 2**20:.1f} MiB")

        plain = flush_us_per_event(vault, args.batch, args.rounds)
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Drain)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        sink = SocketSink(("127.0.0.1", server.server_address[1]), max_buffered=100_000)
        vault._audit.add_stream(sink)
        streamed = flush_us_per_event(vault, args.batch, args.rounds)
        sink.drain(60)
        print(f"writer: {plain:.1f} µs/event without a stream, {streamed:.1f} with a TCP stream")
        print(f"stream: {sink.delivered} delivered, {sink.dropped} dropped")
        server.shutdown()
    finally:
        vault.close()


if __name__ == "__main__":
    main()
