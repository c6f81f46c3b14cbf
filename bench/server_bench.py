#!/usr/bin/env python
"""Benchmark of the action broker over HTTP against a bare httpx passthrough doing the same upstream call.

One run starts, each as its own process on loopback:

- an upstream: uvicorn (1 worker) serving a tiny ASGI app that answers a small JSON body, and 401 unless the
  request carries one of the two credentials it expects (so a broker that forgot to inject one shows errors);
- the strongroom server, ``strongroom serve --port P --connectors <toml>`` with ``STRONGROOM_HOME`` in a
  temporary directory and PostgreSQL as its store (a throwaway database ``strongroom_bench_<random>``, created
  and dropped here; SQLite, with a printed note, when PostgreSQL is unreachable). A tenant, a tenant API key,
  a stored credential (generated now) and an agent token (``POST /v1/tokens``) are set up through the API;
- the baseline: a minimal ASGI app under uvicorn with the same settings as ``strongroom serve`` (1 worker,
  h11, asyncio loop, access log on) that forwards the same request to the same upstream with a pooled
  ``httpx.AsyncClient`` (httpx's default pool and limits, which the broker's pool shares), adding a fixed
  credential header.

Two modes, each in ``--rounds`` rounds (default 3) with the services alternating, so a machine whose speed
drifts slows both alike; ``--seconds`` (default 15) per service and mode is split across the rounds:

- closed loop, for throughput: ``wrk`` at ``--concurrency`` connections (the asyncio httpx load generator
  if wrk is missing), after a short warm-up;
- open loop, for latency at the same load: our own generator (``open_loop_load``) sends at a fixed rate
  (``--rate``, default half the slower service's closed-loop rate) and counts each latency from the
  request's scheduled start, so a stall is not hidden by the generator waiting (coordinated omission).

Both services get the same request (``GET /v1/actions/bench/items/42`` with ``Authorization: Bearer
<agent token>``) and the same upstream. Printed: requests/s, p50/p99 (the median of the rounds') and errors
per mode, the broker's throughput as a share of the passthrough's (goal >= 70 %) and its p99 minus the
passthrough's at the same offered load (goal <= 2 ms). CPU ms per request of each service process (from
/proc) is shown as well: unlike req/s it does not depend on how the cores were shared.

    .venv/bin/python bench/server_bench.py                 # about 75 s in all
    .venv/bin/python bench/server_bench.py --seconds 6     # shorter (2 s rounds)
    .venv/bin/python bench/server_bench.py --profile       # also sample the broker with py-spy, by stage

``--profile`` needs ``py-spy`` (on PATH, or ``--py-spy PATH``): it samples the strongroom process during one
more load run and attributes the samples to the stages of a brokered request (auth, vault.use, broker,
redaction, middleware, framework, server, event loop).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PG_ENV = "STRONGROOM_BENCH_POSTGRES_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
TENANT = "bench"
CONNECTOR = "bench"
SECRET_NAME = "bench_upstream_key"  # noqa: S105 -- the secret's name, not a value
REQUEST_PATH = f"/v1/actions/{CONNECTOR}/items/42"
UPSTREAM_PATH = "/items/42"
EXPECTED_ENV = "SERVER_BENCH_EXPECTED_AUTH"  # the upstream's accepted Authorization values, one per line
PASSTHROUGH_CREDENTIAL = "passthrough-fixed-credential-" + "0" * 24
GOAL_THROUGHPUT = 70.0  # broker req/s as % of the passthrough's
GOAL_P99_MS = 2.0  # broker p99 minus passthrough p99, at the same offered load (open loop)
OPEN_LOOP_SHARE = 0.5  # the open-loop rate, as a share of the slower service's closed-loop rate
HOST = "127.0.0.1"


# -- the processes' own code: upstream, passthrough, httpx load generator ----------------------------------


UPSTREAM_BODY = json.dumps(
    {
        "id": "42",
        "name": "bench item",
        "status": "active",
        "tags": ["a", "b", "c"],
        "price": {"amount": 1299, "currency": "EUR"},
        "updated": "2026-01-01T00:00:00Z",
    }
).encode()


def upstream_app() -> Any:
    """A tiny raw ASGI app: the JSON item for a request with an expected Authorization header, else 401."""
    accepted = {line.encode() for line in os.environ.get(EXPECTED_ENV, "").splitlines() if line}
    ok_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(UPSTREAM_BODY)).encode())]
    denied = b'{"error":"unauthorized"}'
    denied_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(denied)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        auth = next((v for k, v in scope["headers"] if k == b"authorization"), b"")
        if scope["path"] == "/healthz" or auth in accepted:
            await send({"type": "http.response.start", "status": 200, "headers": ok_headers})
            await send({"type": "http.response.body", "body": UPSTREAM_BODY})
        else:
            await send({"type": "http.response.start", "status": 401, "headers": denied_headers})
            await send({"type": "http.response.body", "body": denied})

    return app


def passthrough_app(upstream: str) -> Any:
    """The bare passthrough: forward the request to the upstream with a pooled client and a fixed header."""
    import httpx

    prefix = f"/v1/actions/{CONNECTOR}"
    state: dict[str, httpx.AsyncClient] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["client"] = httpx.AsyncClient(base_url=upstream, timeout=30.0)  # httpx's default pool
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["client"].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/healthz":
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        path = scope["path"][len(prefix) :] if scope["path"].startswith(prefix) else scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        answer = await state["client"].request(
            scope["method"],
            path + (f"?{query}" if query else ""),
            headers={"Authorization": f"Bearer {PASSTHROUGH_CREDENTIAL}"},
            content=body or None,
        )
        kind = answer.headers.get("content-type", "application/octet-stream").encode("latin-1")
        await send(
            {
                "type": "http.response.start",
                "status": answer.status_code,
                "headers": [(b"content-type", kind), (b"content-length", str(len(answer.content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": answer.content})

    return app


async def httpx_load(url: str, seconds: float, concurrency: int, token: str) -> dict[str, Any]:
    """Closed-loop load: ``concurrency`` workers, each one request at a time on its own kept-alive connection."""
    import httpx

    latencies: list[float] = []
    errors = Counter[str]()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=10.0, headers={"Authorization": f"Bearer {token}"}) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def worker() -> None:
            while (begun := time.perf_counter()) < deadline:
                try:
                    response = await client.get(url)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - begun)
                if response.status_code >= 400:
                    errors[f"status {response.status_code}"] += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e6 if latencies else 0.0

    return {
        "requests": len(latencies) + sum(v for k, v in errors.items() if not k.startswith("status")),
        "duration_us": elapsed * 1e6,
        "p50_us": pct(50),
        "p99_us": pct(99),
        "max_us": pct(100),
        "status_errors": sum(v for k, v in errors.items() if k.startswith("status")),
        "socket_errors": sum(v for k, v in errors.items() if not k.startswith("status")),
        "detail": dict(errors),
    }


async def open_loop_load(url: str, token: str, rate: float, seconds: float, connections: int) -> dict[str, Any]:
    """Open-loop load: requests start on a fixed schedule (``rate`` per second) whatever the answers do.

    Each latency runs from the request's scheduled start, so time spent waiting for a free connection behind
    a slow answer counts (no coordinated omission). Raw HTTP/1.1 over ``connections`` kept-alive sockets: a
    few microseconds of this process per request, so the generator is never what is measured.
    """
    from urllib.parse import urlsplit

    split = urlsplit(url)
    host, port = split.hostname or HOST, split.port or 80
    request = (f"GET {split.path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer {token}\r\n\r\n").encode()
    loop = asyncio.get_running_loop()
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    errors = Counter[str]()

    async def one(scheduled: float) -> None:
        reader, writer = await idle.get()
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            await reader.readexactly(length)
            latencies.append(loop.time() - scheduled)
            if not head.startswith((b"HTTP/1.1 2", b"HTTP/1.0 2")):
                errors[f"status {head[9:12].decode(errors='replace')}"] += 1
            idle.put_nowait((reader, writer))
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            errors[type(exc).__name__] += 1
            writer.close()
            idle.put_nowait(await asyncio.open_connection(host, port))

    tasks: list[asyncio.Task[None]] = []
    start = loop.time() + 0.05
    total = int(rate * seconds)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    while not idle.empty():
        idle.get_nowait()[1].close()
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1e6 if latencies else 0.0

    return {
        "requests": total,
        "duration_us": elapsed * 1e6,
        "p50_us": pct(50),
        "p99_us": pct(99),
        "max_us": pct(100),
        "status_errors": sum(v for k, v in errors.items() if k.startswith("status")),
        "socket_errors": sum(v for k, v in errors.items() if not k.startswith("status")),
        "detail": dict(errors),
    }


def run_role(role: str, args: list[str]) -> int:
    """Entry point of the helper processes this script starts (``server_bench.py _upstream PORT`` and so on)."""
    if role == "_loadgen":
        url, seconds, concurrency = args[0], float(args[1]), int(args[2])
        token = os.environ.get("SERVER_BENCH_TOKEN", "")
        print("JSON " + json.dumps(asyncio.run(httpx_load(url, seconds, concurrency, token))), flush=True)
        return 0
    if role == "_openloop":
        url, rate, seconds, connections = args[0], float(args[1]), float(args[2]), int(args[3])
        token = os.environ.get("SERVER_BENCH_TOKEN", "")
        print("JSON " + json.dumps(asyncio.run(open_loop_load(url, token, rate, seconds, connections))), flush=True)
        return 0
    import uvicorn

    port = int(args[0])
    if role == "_upstream":
        uvicorn.run(upstream_app(), host=HOST, port=port, log_level="warning", access_log=False)
    elif role == "_passthrough":
        # The settings of `strongroom serve` (src/strongroom/cli/serve.py): only the app differs.
        uvicorn.run(passthrough_app(args[1]), host=HOST, port=port, log_level="info", access_log=True)
    else:
        raise SystemExit(f"unknown role {role!r}")
    return 0


# -- process management ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (all its threads) so far, from /proc."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return float("nan")
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Processes:
    """Every process this run starts, each stopped (by its own pid) when the run ends, however it ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.services: list[Service] = []

    def start(self, name: str, argv: list[str], url: str, env: dict[str, str] | None = None) -> Service:
        log = self.tmp / f"{name}.log"
        with open(log, "wb") as out:
            # A new session: no controlling terminal, so `strongroom serve` writes the admin key to its file.
            process = subprocess.Popen(  # noqa: S603
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        service = Service(name, process, log, url)
        self.services.append(service)
        return service

    def wait_ready(self, service: Service, timeout: float = 60.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if service.process.poll() is not None:
                raise RuntimeError(f"{service.name} exited with {service.process.returncode}:\n{service.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(service.url + "/healthz", timeout=2.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{service.name} not ready after {timeout:g} s:\n{service.tail()}")

    def stop_all(self) -> None:
        for service in reversed(self.services):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (lifespan, then exit)
        for service in reversed(self.services):
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        self.services.clear()


# -- store ------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def store_url(admin_url: str, tmp: Path, *, use_postgres: bool) -> Iterator[tuple[str, str]]:
    """The ``STRONGROOM_URL`` of a throwaway PostgreSQL database (dropped at the end), or of SQLite, and a label."""
    sqlite = (f"sqlite:///{tmp / 'strongroom.db'}", "SQLite (file in the run's temporary directory)")
    if not use_postgres:
        print("store: SQLite (--no-postgres)")
        yield sqlite
        return
    try:
        import psycopg
    except ImportError:
        print("NOTE: psycopg is not installed (pip install 'strongroom[postgres]'): the store is SQLite instead")
        yield sqlite
        return
    conninfo = admin_url.replace("postgresql+psycopg://", "postgresql://")
    name = "strongroom_bench_" + uuid.uuid4().hex[:12]
    try:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            version = conn.execute("SHOW server_version").fetchone()
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split())[:160]
        print(f"NOTE: PostgreSQL unreachable ({type(exc).__name__}: {reason}): the store is SQLite instead")
        yield sqlite
        return
    from sqlalchemy.engine import make_url

    url = make_url(conninfo).set(drivername="postgresql+psycopg", database=name)
    try:
        yield (
            url.render_as_string(hide_password=False),
            f"PostgreSQL {version[0] if version else '?'} (database {name}, dropped at the end)",
        )
    finally:
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- set-up through the API -------------------------------------------------------------------------------


def write_connectors(path: Path, upstream: str) -> None:
    path.write_text(
        f"""\
[[connector]]
name = "{CONNECTOR}"
base_url = "{upstream}"
description = "Loopback upstream of the server benchmark."
allow_private_network = true

[connector.credential]
kind = "bearer"
secret = "{SECRET_NAME}"

[[connector.operation]]
id = "get_item"
method = "GET"
path = "/items/{{item_id}}"
summary = "One item"
""",
        encoding="utf-8",
    )


def set_up_tenant(base: str, home: Path, credential: str) -> str:
    """Tenant, tenant key, stored credential and an agent token, through the API; the agent token is returned."""
    import httpx

    key_file = home / "bootstrap-admin-key"
    admin = key_file.read_text().strip()
    with httpx.Client(base_url=base, timeout=30.0) as client:

        def call(method: str, path: str, key: str, body: dict[str, Any]) -> dict[str, Any]:
            response = client.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
            if response.status_code >= 300:
                raise RuntimeError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
            answer: dict[str, Any] = response.json()
            return answer

        call("POST", "/v1/tenants", admin, {"name": TENANT})
        scopes = ["actions:invoke", "tokens:issue", "secrets:write"]
        tenant_key = call("POST", f"/v1/tenants/{TENANT}/api-keys", admin, {"name": "bench-backend", "scopes": scopes})[
            "key"
        ]
        call(
            "PUT",
            f"/v1/tenants/{TENANT}/secrets/{SECRET_NAME}",
            tenant_key,
            {"value": credential, "description": "upstream credential of the server benchmark"},
        )
        token: str = call(
            "POST",
            "/v1/tokens",
            tenant_key,
            {"scopes": ["actions:invoke"], "subject": "bench-agent", "ttl_seconds": 3600},
        )["access_token"]
    return token


def check_once(url: str, token: str) -> None:
    """One request through a service: it must answer the upstream's exact body."""
    import httpx

    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0)
    if response.status_code != 200 or response.content != UPSTREAM_BODY:
        raise RuntimeError(f"GET {url} -> {response.status_code}: {response.text[:300]}")


# -- load -------------------------------------------------------------------------------------------------

WRK_SCRIPT = """\
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "max_us": %d, '
    .. '"status_errors": %d, "socket_errors": %d, "detail": {"connect": %d, "read": %d, "write": %d, '
    .. '"timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.status, e.connect + e.read + e.write + e.timeout, e.connect, e.read, e.write, e.timeout))
end
"""


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_detail: str
    cpu_ms_per_request: float
    cpu_percent: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LoadGenerator:
    def __init__(self, tmp: Path, *, concurrency: int, threads: int, force_httpx: bool) -> None:
        self.concurrency, self.threads = concurrency, threads
        self.wrk = None if force_httpx else shutil.which("wrk")
        self.script = tmp / "report.lua"
        self.script.write_text(WRK_SCRIPT)

    @property
    def label(self) -> str:
        if self.wrk:
            return f"wrk ({self.threads} thread{'s' if self.threads > 1 else ''}, {self.concurrency} connections)"
        return (
            f"asyncio httpx load generator in its own process ({self.concurrency} connections; wrk not found: "
            "this generator needs a core of its own and may be the bottleneck, so the ratio understates the gap)"
        )

    def run(self, url: str, token: str, seconds: float, rate: float | None = None) -> dict[str, Any]:
        """One load run; with ``rate``, open loop at that many requests per second (our own generator)."""
        if rate is not None:
            argv = [sys.executable, __file__, "_openloop", url, f"{rate:g}", f"{seconds:g}", str(self.concurrency)]
            env: dict[str, str] | None = {**os.environ, "SERVER_BENCH_TOKEN": token}
        elif self.wrk:
            argv = [
                self.wrk,
                f"-t{self.threads}",
                f"-c{self.concurrency}",
                f"-d{seconds:g}s",
                "--timeout",
                "10s",
                "-s",
                str(self.script),
                "-H",
                f"Authorization: Bearer {token}",
                url,
            ]
            env = None
        else:
            argv = [sys.executable, __file__, "_loadgen", url, f"{seconds:g}", str(self.concurrency)]
            env = {**os.environ, "SERVER_BENCH_TOKEN": token}
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, env=env, check=False)  # noqa: S603
        line = next((x for x in done.stdout.splitlines() if x.startswith("JSON ")), None)
        if line is None:
            raise RuntimeError(f"load generator failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
        report: dict[str, Any] = json.loads(line[5:])
        return report

    def measure(self, name: str, service: Service, token: str, seconds: float, rate: float | None = None) -> Result:
        cpu_before, wall_before = service.cpu_seconds(), time.perf_counter()
        report = self.run(service.url + REQUEST_PATH, token, seconds, rate)
        cpu = service.cpu_seconds() - cpu_before
        wall = time.perf_counter() - wall_before
        errors = int(report["status_errors"]) + int(report["socket_errors"])
        detail = ", ".join(f"{k} {v}" for k, v in report["detail"].items() if v)
        if report["status_errors"]:
            detail = f"non-2xx {report['status_errors']}" + (f", {detail}" if detail else "")
        requests = int(report["requests"])
        return Result(
            name=name,
            requests=requests,
            seconds=report["duration_us"] / 1e6,
            p50_ms=report["p50_us"] / 1000,
            p99_ms=report["p99_us"] / 1000,
            errors=errors,
            error_detail=detail,
            cpu_ms_per_request=cpu * 1000 / requests if requests else float("nan"),
            cpu_percent=100 * cpu / wall,
        )


# -- profile ----------------------------------------------------------------------------------------------

# A sample goes to the first stage that any frame of its stack matches (so a database read made during
# authentication counts as auth, and h11 under httpcore counts as the broker's client, not the server).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("access log (logging, log redaction)", ("/logging/", "/uvicorn/logging.py")),
    ("redaction: broker masking the answer", ("@broker-redact",)),
    ("redaction: middleware redact_bytes", ("/strongroom/redact/",)),
    ("auth (token verify / API key)", ("/strongroom/server/auth.py", "/strongroom/tokens/")),
    ("vault.use (read, decrypt, audit enqueue)", ("/strongroom/vault/", "/strongroom/crypto/")),
    ("audit writer (background thread)", ("/strongroom/audit/",)),
    ("connector lookup (tenant_connectors, DB read)", ("tenant_connectors",)),
    ("httpcore: failed `import sniffio` per request", ("current_async_library",)),
    ("broker (match, build, httpx/httpcore)", ("/strongroom/broker/", "/httpx/", "/httpcore/")),
    ("action endpoint (ASGI, auth and response)", ("/strongroom/server/actions_endpoint.py",)),
    (
        "middleware (LimitsAndRedaction, Starlette's)",
        ("/strongroom/server/middleware.py", "/strongroom/server/app.py", "/starlette/middleware/"),
    ),
    ("FastAPI/Starlette (routing, deps, responses)", ("/fastapi/", "/starlette/", "/pydantic")),
    ("uvicorn + h11 (server side)", ("/uvicorn/", "/h11/")),
    ("thread hand-offs (anyio, to_thread)", ("/anyio/", "/concurrent/futures/", "/threading.py")),
    ("asyncio event loop", ("/asyncio/", "/selectors.py")),
]
IDLE = "idle: waiting for events (select)"


def stage_of(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "/strongroom/redact/" in joined and "/strongroom/broker/proxy.py" in joined:
        joined += ";@broker-redact"
    for stage, needles in STAGES:
        if any(needle in joined for needle in needles):
            return stage
    return "other"


def loop_state_of(frames: list[str]) -> str | None:
    """What the event-loop thread is doing in this sample (None: another thread)."""
    joined = ";".join(frames)
    if "/threading.py" in joined or "run_forever" not in joined:
        return None
    if "/selectors.py" in frames[-1]:
        return IDLE
    stage = stage_of(frames)
    return f"{stage}, waiting on the database" if "/psycopg/" in joined else stage


def read_raw(path: Path) -> Iterator[tuple[list[str], int]]:
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            yield stack.split(";"), int(count)


def short(frame: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3"):
        head, found, tail = frame.partition(marker)
        if found:
            return head.split("(")[0] + "(" + tail if "(" in head else tail
    return frame


def profile(
    pyspy: str,
    service: Service,
    load: LoadGenerator,
    *,
    token: str,
    seconds: float,
    tmp: Path,
    keep: Path | None = None,
) -> str:
    """Sample the strongroom process under load with two py-spy runs at once, both non-blocking.

    ``--gil``: the thread holding the GIL, i.e. where the process's Python CPU goes (the process is GIL-bound);
    ``--idle``: every thread, idle or not, of which the event-loop thread's samples show where its wall time goes.
    """
    duration = max(2, int(seconds) - 1)
    outputs = {"gil": tmp / "gil.txt", "idle": tmp / "idle.txt"}
    base = [
        pyspy,
        "record",
        "-p",
        str(service.process.pid),
        "-d",
        str(duration),
        "-r",
        "100",
        "--nonblocking",
        "--full-filenames",
        "-f",
        "raw",
    ]
    spies = {
        kind: subprocess.Popen(  # noqa: S603
            [*base, f"--{kind}", "-o", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for kind, out in outputs.items()
    }
    result = load.measure("broker (profiled)", service, token, seconds)
    for kind, spy in spies.items():
        _, err = spy.communicate(timeout=seconds + 60)
        if spy.returncode != 0 or not outputs[kind].exists():
            return f"py-spy --{kind} failed ({spy.returncode}): {err.decode(errors='replace')[-400:]}"
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(outputs[kind], keep / f"py-spy-{kind}.txt")
    cpu, leaves, loop = Counter[str](), Counter[str](), Counter[str]()
    for frames, n in read_raw(outputs["gil"]):
        cpu[stage_of(frames)] += n
        leaves[short(frames[-1])] += n
    for frames, n in read_raw(outputs["idle"]):
        state = loop_state_of(frames)
        if state is not None:
            loop[state] += n
    total, loop_total = sum(cpu.values()), sum(loop.values())
    if not total or not loop_total:
        return "py-spy recorded no samples"
    per_request = result.cpu_ms_per_request
    lines = [
        f"profile of the strongroom process under the same load (py-spy, 100 Hz, non-blocking, {duration} s; "
        f"{result.rate:.0f} req/s, {per_request:.2f} CPU ms/req while sampled):",
        f"  where the CPU goes (samples holding the GIL: {total})",
        f"  {'stage':<62} {'share':>6}  {'CPU ms/req':>10}",
    ]
    lines += [
        f"  {stage:<62} {100 * n / total:5.1f}%  {per_request * n / total:10.3f}" for stage, n in cpu.most_common()
    ]
    lines.append(f"  where the event-loop thread's wall time goes (samples: {loop_total})")
    lines += [f"  {state:<62} {100 * n / loop_total:5.1f}%" for state, n in loop.most_common()]
    lines.append("  hottest leaf frames (GIL samples):")
    lines += [f"    {100 * n / total:5.1f}%  {frame[:140]}" for frame, n in leaves.most_common(12)]
    return "\n".join(lines)


# -- report -----------------------------------------------------------------------------------------------


def machine() -> str:
    import httpx
    import uvicorn

    return (
        f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"uvicorn {uvicorn.__version__}, httpx {httpx.__version__}"
    )


def table(results: list[Result]) -> str:
    head = f"{'service':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'CPU ms/req':>10} {'CPU %':>6}"
    rows = [head, "-" * len(head)]
    for r in results:
        rows.append(
            f"{r.name:<40} {r.rate:8.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} {r.errors:7d} "
            f"{r.cpu_ms_per_request:10.3f} {r.cpu_percent:6.0f}" + (f"   ({r.error_detail})" if r.error_detail else "")
        )
    return "\n".join(rows)


def start_services(processes: Processes, store: str, credential: str) -> tuple[Service, Service, Path]:
    """Upstream, strongroom (on ``store``) and passthrough, each ready to serve; and the strongroom home."""
    tmp = processes.tmp
    expected = "\n".join([f"Bearer {credential}", f"Bearer {PASSTHROUGH_CREDENTIAL}"])
    port = free_port()
    upstream = processes.start(
        "upstream",
        [sys.executable, __file__, "_upstream", str(port)],
        f"http://{HOST}:{port}",
        {EXPECTED_ENV: expected},
    )
    processes.wait_ready(upstream)
    connectors = tmp / "connectors.toml"
    write_connectors(connectors, upstream.url)
    home = tmp / "home"
    port = free_port()
    strongroom = [
        sys.executable,
        "-c",
        "import sys; from strongroom.cli.main import main; sys.exit(main())",
        "serve",
        "--port",
        str(port),
        "--connectors",
        str(connectors),
    ]
    broker = processes.start(
        "strongroom", strongroom, f"http://{HOST}:{port}", {"STRONGROOM_HOME": str(home), "STRONGROOM_URL": store}
    )
    port = free_port()
    passthrough = processes.start(
        "passthrough", [sys.executable, __file__, "_passthrough", str(port), upstream.url], f"http://{HOST}:{port}"
    )
    processes.wait_ready(broker)
    processes.wait_ready(passthrough)
    return broker, passthrough, home


def alternate(rounds: int, measure: Callable[[str], Result]) -> dict[str, Result]:
    """``rounds`` measurements of each service, in alternating order, merged into one result per service."""
    runs: dict[str, list[Result]] = {"passthrough": [], "broker": []}
    for i in range(rounds):
        for key in ("passthrough", "broker") if i % 2 == 0 else ("broker", "passthrough"):
            runs[key].append(measure(key))
    return {key: merged(found) for key, found in runs.items()}


def merged(runs: list[Result]) -> Result:
    """Rates and CPU from the totals; p50 and p99 the median of the rounds' (wrk reports percentiles per run)."""
    requests, seconds = sum(r.requests for r in runs), sum(r.seconds for r in runs)
    cpu = sum(r.cpu_ms_per_request * r.requests for r in runs)
    return Result(
        name=runs[0].name,
        requests=requests,
        seconds=seconds,
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
        error_detail="; ".join(r.error_detail for r in runs if r.error_detail),
        cpu_ms_per_request=cpu / requests if requests else float("nan"),
        cpu_percent=statistics.mean(r.cpu_percent for r in runs),
    )


def run(args: argparse.Namespace) -> tuple[list[Result], str | None]:
    """Start everything, set up the tenant, measure both services (and profile); stop everything."""
    tmp = Path(tempfile.mkdtemp(prefix="strongroom-server-bench-"))
    processes = Processes(tmp)
    try:
        with store_url(args.postgres_url, tmp, use_postgres=not args.no_postgres) as (url, store_label):
            print(f"store: {store_label}")
            credential = "sk_bench_" + secrets.token_urlsafe(32)
            broker, passthrough, home = start_services(processes, url, credential)
            token = set_up_tenant(broker.url, home, credential)
            for service in (broker, passthrough):
                check_once(service.url + REQUEST_PATH, token)
            load = LoadGenerator(
                tmp, concurrency=args.concurrency, threads=args.wrk_threads, force_httpx=args.httpx_load
            )
            share = args.seconds / args.rounds
            print(
                f"load: {load.label}; {args.rounds} rounds of {share:g} s per service, the two services "
                f"alternating (so a machine that slows down mid-run slows both), after {args.warmup:g} s of "
                f"warm-up; GET {REQUEST_PATH} -> upstream GET {UPSTREAM_PATH} ({len(UPSTREAM_BODY)} B JSON)"
            )
            if args.warmup > 0:
                for service in (passthrough, broker):
                    load.run(service.url + REQUEST_PATH, token, args.warmup)
            names = {"passthrough": "bare httpx passthrough (baseline)", "broker": "strongroom broker"}
            services = {"passthrough": passthrough, "broker": broker}
            closed = alternate(args.rounds, lambda key: load.measure(names[key], services[key], token, share))
            rate = args.rate or round(OPEN_LOOP_SHARE * min(r.rate for r in closed.values()))
            print(
                f"open loop: {rate:g} requests/s ({OPEN_LOOP_SHARE:.0%} of the slower service's closed-loop rate "
                f"unless --rate), {args.rounds} rounds of {share:g} s per service, alternating"
            )
            opened = alternate(args.rounds, lambda key: load.measure(names[key], services[key], token, share, rate))
            results = [closed["passthrough"], closed["broker"], opened["passthrough"], opened["broker"]]
            profiled = None
            if args.profile:
                if args.py_spy:
                    profiled = profile(
                        args.py_spy, broker, load, token=token, seconds=args.seconds, tmp=tmp, keep=args.profile_out
                    )
                else:
                    profiled = "--profile: py-spy not found (pip install py-spy, or --py-spy PATH): not profiled"
            processes.stop_all()  # before the database is dropped
    finally:
        processes.stop_all()
        shutil.rmtree(tmp, ignore_errors=True)
    return results, profiled


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0].startswith("_"):
        return run_role(argv[0], argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=15.0,
        help="measured load per service and per mode, split into the rounds (default 15)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per mode (default 3)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help=f"open-loop requests/s (default: {OPEN_LOOP_SHARE * 100:.0f}%% of the slower closed-loop rate)",
    )
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured load per service first (default 3)")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections (default 32)")
    parser.add_argument("--wrk-threads", type=int, default=1, help="wrk threads (default 1: the cores are scarce)")
    parser.add_argument("--httpx-load", action="store_true", help="use the httpx load generator even if wrk exists")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV) or PG_DEFAULT,
        help=f"admin URL of a PostgreSQL server (default: ${PG_ENV} or {PG_DEFAULT})",
    )
    parser.add_argument("--no-postgres", action="store_true", help="use SQLite as the store")
    parser.add_argument("--profile", action="store_true", help="also sample the broker with py-spy, by stage")
    parser.add_argument("--py-spy", default=shutil.which("py-spy"), help="py-spy executable (default: on PATH)")
    parser.add_argument(
        "--profile-out",
        type=Path,
        default=None,
        help="with --profile: keep py-spy's raw samples (collapsed stacks) in this directory",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.seconds <= 0 or args.rate < 0:
        parser.error("--rounds must be at least 1, --seconds positive and --rate not negative")

    started = time.perf_counter()
    print(
        f"strongroom server benchmark: action broker vs bare httpx passthrough, {time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    print(machine())
    print(
        f"NOTE: {os.cpu_count()} CPUs shared by the load generator, the service under test, the upstream and the "
        "store's PostgreSQL (all on this machine): absolute figures are lower than on a dedicated machine, and "
        "vary from run to run; conditions are the same "
        "for both services (same upstream, same uvicorn settings: 1 worker, h11, asyncio, access log on; "
        "same load generator and concurrency)"
    )
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    results, profiled = run(args)

    base, ours, base_open, ours_open = results
    share = 100 * ours.rate / base.rate if base.rate else 0.0
    p99_more = ours_open.p99_ms - base_open.p99_ms
    print()
    print(f"closed loop: wrk's {args.concurrency} connections, each sending its next request when the last is answered")
    print(table([base, ours]))
    print()
    print(
        f"open loop: {base_open.requests / base_open.seconds if base_open.seconds else 0:.0f} requests/s offered "
        "to each service on a fixed schedule; latency counted from each request's scheduled start"
    )
    print(table([base_open, ours_open]))
    print()
    print(
        f"broker throughput / passthrough = {share:.1f}% (goal >= {GOAL_THROUGHPUT:g}%: "
        f"{'met' if share >= GOAL_THROUGHPUT else 'NOT met'})"
    )
    print(
        f"broker p99 - passthrough p99 = {p99_more:+.2f} ms at the same offered load "
        f"(goal <= +{GOAL_P99_MS:g} ms: {'met' if p99_more <= GOAL_P99_MS else 'NOT met'}); p50: "
        f"{ours_open.p50_ms - base_open.p50_ms:+.2f} ms"
    )
    print(
        f"CPU per request: broker {ours.cpu_ms_per_request:.3f} ms = "
        f"{ours.cpu_ms_per_request / base.cpu_ms_per_request:.2f}x the passthrough's (closed loop)"
    )
    if profiled:
        print()
        print(profiled)
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
