"""moto's server as a real AWS KMS stand-in: a subprocess on a loopback port, fake credentials only.

``start_moto_server()`` starts ``moto`` in a child process that binds port 0 itself and reports the port
on its stdout (no free-port race, no polling), and exits when its stdin closes: ``stop()`` closes it, and
so does this process dying, so no server outlives the test run. Start one per test process (a
session-scoped fixture) and give each test an alias of its own (``MotoServer.new_uri()``)::

    @pytest.fixture(scope="session")
    def moto_kms() -> Iterator[MotoServer]:
        server = start_moto_server()
        yield server
        server.stop()

The process that talks to it needs the fake credentials too: ``use_fake_credentials(monkeypatch)``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}
_UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
STARTUP_SECONDS = 60.0

# Runs in the child: moto's own threaded server on port 0, the port on stdout, then wait for stdin's EOF.
_CHILD = """
import sys
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
"""


@dataclass
class MotoServer:
    endpoint: str
    process: subprocess.Popen[str] = field(repr=False)

    def new_uri(self, name: str | None = None) -> str:
        """An ``aws-kms:`` URI on this server for an alias of its own (``name``, or a fresh one)."""
        name = name or f"t/{uuid.uuid4().hex[:12]}"
        return f"aws-kms:alias/{name}?region={REGION}&endpoint={self.endpoint}"

    def stop(self) -> None:
        if self.process.stdin is not None and not self.process.stdin.closed:
            self.process.stdin.close()  # the child's stdin.read() returns: it exits
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def fake_environment() -> dict[str, str]:
    """This process's environment with the fake AWS credentials in place of any real ones."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(FAKE_CREDENTIALS)
    return env


def use_fake_credentials(patch: pytest.MonkeyPatch) -> None:
    """Fake credentials (and no profile or session token) in this process's environment."""
    for name in _UNSET:
        patch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        patch.setenv(name, value)


def start_moto_server() -> MotoServer:
    """Start moto's server on a loopback port; returns once it listens. The caller ``stop()``s it."""
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=fake_environment(),
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()  # blocks until the child listens (or exits: an empty line)
    if not line.strip().isdigit():
        process.kill()
        process.wait(timeout=STARTUP_SECONDS)
        pytest.fail(f"moto's server did not start (exit code {process.returncode})")
    return MotoServer(endpoint=f"http://127.0.0.1:{int(line)}", process=process)
