"""``strongroom serve`` as a subprocess on a loopback port, for the attacks only a real server shows (its access
log, uvicorn's handling of forwarded headers). Loaded by path (the suite imports in importlib mode).

The server runs with a throwaway ``$STRONGROOM_HOME`` and no terminal, so the admin key is written to
``$STRONGROOM_HOME/bootstrap-admin-key``; ``stop()`` sends SIGTERM and waits, so the log is complete.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from _strongroom_server_fixtures import free_port, strongroom_command

STARTUP_SECONDS = 30.0


@dataclass
class RealServer:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def admin(self) -> str:
        return (self.home / "bootstrap-admin-key").read_text().strip()

    def log(self) -> str:
        return self.output.read_text(errors="replace")

    def call(
        self,
        method: str,
        path: str,
        *,
        credential: str | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        """The status and the JSON (or text) body of one request."""
        sent = dict(headers or {})
        if credential is not None:
            sent["Authorization"] = f"Bearer {credential}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=sent)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=20) as answer:  # noqa: S310 -- loopback
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as refused:
            status, text = refused.code, refused.read().decode()
        try:
            return status, json.loads(text)
        except ValueError:
            return status, text

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def real_server(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Iterator[RealServer]:
    """``strongroom serve --port <free> ARGS`` until ``/healthz`` answers; stopped at the end."""
    home = tmp_path / "home"
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    environment.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:real-server", NO_COLOR="1")
    environment.update(PYTHONUNBUFFERED="1", **(env or {}))
    output = tmp_path / f"server-{port}.log"
    with output.open("wb") as out:
        process = subprocess.Popen(  # a new session: no terminal, so the admin key goes to a file
            [*strongroom_command(), "serve", "--port", str(port), *args],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=tmp_path,
            start_new_session=True,
        )
    server = RealServer(url=f"http://127.0.0.1:{port}", home=home, process=process, output=output)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:  # polls the process's readiness; no test outcome depends on time
            if process.poll() is not None:
                pytest.fail(f"strongroom serve exited with {process.returncode}:\n{server.log()[-3000:]}")
            try:
                with urllib.request.urlopen(server.url + "/healthz", timeout=1) as answer:  # noqa: S310
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"strongroom serve did not answer in {STARTUP_SECONDS:g} s:\n{server.log()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()
