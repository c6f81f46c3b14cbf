"""ACCEPTANCE 1: docs/quickstart.md, step by step, with the real ``strongroom serve`` and the real ``curl``.

The server runs as a subprocess on a free port with a throwaway ``$STRONGROOM_HOME`` and no terminal, so it
writes the admin key to ``$STRONGROOM_HOME/bootstrap-admin-key``; as the quickstart does, the test then makes
its own admin key on the host with ``strongroom admin-key create``; the connectors file points ``echo`` at the
loopback upstream of tests/server/conftest.py. Every URL the quickstart's commands call is called here (checked
against the document itself), each answer asserted. At the end the server gets SIGTERM, and neither its
output nor any curl output may hold the admin key or the tenant's credential.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from _strongroom_server_fixtures import free_port, strongroom_command

from strongroom.broker import load_connectors
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
STARTUP_SECONDS = 30.0

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the quickstart is run with the real curl")


@dataclass
class Server:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    curl_outputs: list[str] = field(default_factory=list)
    called: list[str] = field(default_factory=list)

    def log(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def curl(self, path: str, *args: str) -> tuple[int, Any]:
        """``curl -s <args> $SR<path>``: the status and the JSON body (or text)."""
        self.called.append(path)
        proc = subprocess.run(
            ["curl", "-s", "-S", "--max-time", "20", "-w", "\n%{http_code}", *args, self.url + path],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        self.curl_outputs += [proc.stdout, proc.stderr]
        assert proc.returncode == 0, proc.stderr
        body, _, status = proc.stdout.rpartition("\n")
        try:
            return int(status), json.loads(body)
        except ValueError:
            return int(status), body


@pytest.fixture
def server(tmp_path: Path, connectors_file: Path) -> Iterator[Server]:
    """``strongroom serve --port <free> --connectors <file>``, without a terminal, until /healthz answers."""
    home = tmp_path / "home"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:quickstart", NO_COLOR="1", PYTHONUNBUFFERED="1")
    stdout, stderr = tmp_path / "server.out", tmp_path / "server.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(  # a new session: no controlling terminal, so no /dev/tty for the admin key
            [*strongroom_command(), "serve", "--port", str(port), "--connectors", str(connectors_file)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            cwd=tmp_path,
            start_new_session=True,
        )
    running = Server(url=f"http://127.0.0.1:{port}", home=home, process=process, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"strongroom serve exited with {process.returncode}:\n{running.log()[-3000:]}")
            try:
                with urllib.request.urlopen(running.url + "/healthz", timeout=1) as answer:  # noqa: S310 -- loopback
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"strongroom serve did not answer /healthz in {STARTUP_SECONDS:g} s:\n{running.log()[-3000:]}"
                )
            time.sleep(0.1)
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _documented_paths() -> set[str]:
    """Every ``$SR/...`` the quickstart's commands call."""
    return {m.group(1) for m in re.finditer(r"\$SR(/[^\s\"']*)", QUICKSTART.read_text(encoding="utf-8"))}


@pytest.mark.slow
def test_quickstart_runs_as_documented(
    server: Server, upstream: Any, connectors_file: Path, canary_credential: str
) -> None:
    """Every quickstart step answers as the document says; no credential ever reaches a log or a curl output."""
    sr = server
    key_file = sr.home / "bootstrap-admin-key"
    assert key_file.exists(), sr.log()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    bootstrap = key_file.read_text().strip()
    key_file.unlink()
    assert re.fullmatch(r"srk_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}", bootstrap)
    # The quickstart does not paste that key: it makes another on the host, which the running server accepts.
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    made_on_host = subprocess.run(
        [*strongroom_command(), "admin-key", "create", "--name", "quickstart"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**env, "STRONGROOM_HOME": str(sr.home), "NO_COLOR": "1"},
        cwd=sr.home.parent,
    )
    assert made_on_host.returncode == 0, made_on_host.stderr
    admin = made_on_host.stdout.strip()
    assert re.fullmatch(r"srk_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}", admin)
    assert admin != bootstrap
    as_admin = ["-H", f"Authorization: Bearer {admin}"]
    as_json = ["-H", "Content-Type: application/json"]

    # 0. health
    assert sr.curl("/healthz") == (200, {"status": "ok"})
    status, ready = sr.curl("/readyz")
    assert status == 200
    assert ready["status"] == "ready"

    # 1. a tenant and its key
    status, tenant = sr.curl("/v1/tenants", "-X", "POST", *as_admin, *as_json, "-d", '{"name": "acme"}')
    assert status == 201
    assert tenant["name"] == "acme"
    scopes = ["secrets:write", "secrets:read-metadata", "tokens:issue", "actions:invoke", "connectors:read"]
    status, made = sr.curl(
        "/v1/tenants/acme/api-keys",
        "-X",
        "POST",
        *as_admin,
        *as_json,
        "-d",
        json.dumps({"name": "acme-backend", "scopes": scopes}),
    )
    assert status == 201
    assert sorted(made["scopes"]) == sorted(scopes)
    acme = made["key"]
    as_acme = ["-H", f"Authorization: Bearer {acme}"]

    # 2. the tenant hands over its upstream credential (write-only)
    status, written = sr.curl(
        "/v1/tenants/acme/secrets/echo_api_key",
        "-X",
        "PUT",
        *as_acme,
        *as_json,
        "-d",
        json.dumps({"value": canary_credential, "sensitivity": "critical"}),
    )
    assert status == 200
    assert written["version"] == 1
    assert written["sensitivity"] == "critical"
    status, listed = sr.curl("/v1/tenants/acme/secrets", *as_acme)
    assert status == 200
    assert [s["name"] for s in listed] == ["echo_api_key"]

    # 3. a short-lived token for the agent
    status, issued = sr.curl(
        "/v1/tokens",
        "-X",
        "POST",
        *as_acme,
        *as_json,
        "-d",
        '{"scopes": ["actions:invoke"], "ttl_seconds": 900, "subject": "agent-session-1"}',
    )
    assert status == 201
    assert issued["token_type"] == "Bearer"  # noqa: S105 -- the OAuth token type
    assert 890 <= issued["expires_in"] <= 900
    token = issued["access_token"]
    assert token.startswith("eyJ")

    # 4. the agent calls the upstream through the broker
    status, echoed = sr.curl("/v1/actions/echo/anything?q=hello", "-H", f"Authorization: Bearer {token}")
    assert status == 200, echoed
    assert echoed["path"] == "/anything"
    assert [tuple(q) for q in echoed["query"]] == [("q", "hello")]
    sent = {k.lower(): v for k, v in echoed["headers"]}
    assert sent["x-api-key"].startswith("[REDACTED")
    assert [{k.lower(): v for k, v in seen["headers"]}["x-api-key"] for seen in upstream.seen] == [canary_credential]

    # 5. what happened
    status, events = sr.curl("/v1/audit?limit=10", *as_admin)
    assert status == 200
    actions = {e["action"] for e in events}
    assert {"tenant.create", "api_key.create", "secret.put", "token.issue", "secret.use", "broker.call"} <= actions
    assert {e["purpose"] for e in events if e["action"] == "secret.use"} == {"broker:echo"}
    assert all(e["hash"] for e in events)
    status, document = sr.curl("/v1/tenants/acme/gpt/openapi.json", *as_acme)
    echo = next(c for c in load_connectors(connectors_file) if c.name == "echo")  # ``other``: no credential held
    assert status == 200
    assert set(document["paths"]) == {f"/v1/actions/echo{op.path}" for op in echo.operations}

    assert set(sr.called) == _documented_paths(), "the quickstart and this test call different URLs"

    # One more call, then SIGTERM at once: its audit events are still queued (written every 0.2 s), and the
    # shutdown must write them and close the vault, though uvicorn re-raises the signal after its lifespan.
    status, _ = sr.curl(
        "/v1/actions/echo/anything?q=hello",
        "-H",
        f"Authorization: Bearer {token}",
        "-H",
        "X-Request-Id: last-call-before-sigterm",
    )
    assert status == 200
    sr.process.send_signal(signal.SIGTERM)
    # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught: -15 is a clean exit here.
    assert sr.process.wait(timeout=15) in (0, -signal.SIGTERM), sr.log()[-3000:]
    with Vault.open(home=sr.home) as after:
        last = [e.action for e in after.audit_events(tenant="acme") if e.request_id == "last-call-before-sigterm"]
    assert sorted(last) == ["broker.call", "secret.use"]
    log = sr.log()
    assert "Application shutdown complete" in log
    assert "GET /v1/actions/echo/anything?q=hello" in log  # the access log is on: it is really the server's log
    assert_not_leaked([bootstrap, admin, canary_credential, acme, token], log)
    assert_not_leaked([canary_credential], *sr.curl_outputs)
