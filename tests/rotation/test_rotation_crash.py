"""``strongroom rotate`` killed with SIGKILL at each step boundary, and in the middle of ``set``: the next run
completes every rotation, a consumer never lacks a working credential, and the audit chain verifies.

The rotator is a plugin installed the real way: a directory on the child's ``PYTHONPATH`` holding
``fakeprov-0.dist-info`` (its ``entry_points.txt`` declares ``fake`` in ``strongroom.rotators``) and
``fakeprov.py``. Its "provider" is a JSON file of the SHA-256 digests of the credentials it accepts: ``set``
adds the pending one, ``retire`` removes the previous one, ``undo`` removes the pending one, ``test`` checks the
pending one is accepted. At the entry and the exit of each method (``set``'s exit: the provider already
changed, the method not yet returned) it reports to the test on a pipe and waits for "go" on another, so the
test kills it exactly there; at every such pause the test reads the secret as a consumer does (``Vault.use``)
and checks the provider accepts it. Nothing sleeps: the test waits on the pipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault
from strongroom.vocabulary import Stage

BOUND = 120.0  # seconds a broken child may hang before the test fails; nothing is timed
NAME = "svc-token"
TENANT = "_platform"

FAKEPROV = '''
"""A test rotator whose provider is a JSON file of accepted credential digests."""
import hashlib, json, os, secrets

from strongroom.errors import RotationError
from strongroom.rotation import BaseRotator

_REPORT = os.environ.get("FAKEPROV_REPORT_FD")
_GO = os.environ.get("FAKEPROV_GO_FD")


def _pause(point):
    if _REPORT is None:
        return
    os.write(int(_REPORT), (point + "\\n").encode())
    line = b""
    while not line.endswith(b"\\n"):
        chunk = os.read(int(_GO), 1)
        if not chunk:
            raise SystemExit(3)
        line += chunk
    if line.strip() != b"go":
        raise SystemExit(3)


def _digest(secret):
    value = secret.reveal()
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


def _edit(change):
    path = os.environ["FAKEPROV_FILE"]
    with open(path) as f:
        accepted = set(json.load(f))
    change(accepted)
    with open(path + ".tmp", "w") as f:
        json.dump(sorted(accepted), f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def _accepted():
    with open(os.environ["FAKEPROV_FILE"]) as f:
        return set(json.load(f))


class FakeRotator(BaseRotator):
    name = "fake"

    def create(self, ctx):
        _pause("create:enter")
        value = "fake-" + secrets.token_urlsafe(32)
        _pause("create:exit")
        return value

    def set(self, ctx, pending):
        _pause("set:enter")
        digest = _digest(pending)
        _edit(lambda accepted: accepted.add(digest))
        _pause("set:exit")  # the provider changed, the method has not returned

    def test(self, ctx, pending):
        _pause("test:enter")
        if os.environ.get("FAKEPROV_REFUSE") or _digest(pending) not in _accepted():
            raise RotationError(f"{ctx.describe()}: the provider refuses the new credential")
        _pause("test:exit")

    def undo(self, ctx, pending):
        _pause("undo:enter")
        digest = _digest(pending)
        _edit(lambda accepted: accepted.discard(digest))
        _pause("undo:exit")

    def retire(self, ctx, previous):
        _pause("retire:enter")
        digest = _digest(previous)
        _edit(lambda accepted: accepted.discard(digest))
        _pause("retire:exit")
'''

POINTS = [
    f"{step}:{edge}" for step in ("create", "set", "test", "retire") for edge in ("enter", "exit")
]  # retire:enter is just after finish committed


def _sha(value: str | bytes) -> str:
    return hashlib.sha256(value.encode() if isinstance(value, str) else value).hexdigest()


@dataclass
class Setup:
    env: dict[str, str]
    key_file: Path
    url: str
    provider: Path

    def accepted(self) -> set[str]:
        return set(json.loads(self.provider.read_text()))

    def child(self, *args: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "strongroom.cli.main", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )


def _plugin(where: Path) -> Path:
    info = where / "fakeprov-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeprov\nVersion: 0\n")
    (info / "entry_points.txt").write_text("[strongroom.rotators]\nfake = fakeprov:FakeRotator\n")
    (where / "fakeprov.py").write_text(FAKEPROV)
    return where


@pytest.fixture
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'home' / 'strongroom.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def setup(backend_url: str, tmp_path: Path, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]) -> Setup:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "FAKEPROV_"))}
    env.update(
        STRONGROOM_HOME=str(home),
        STRONGROOM_URL=backend_url,
        STRONGROOM_ACTOR="test:rotation",
        NO_COLOR="1",
        PYTHONPATH=os.pathsep.join([str(_plugin(tmp_path / "plugins")), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        FAKEPROV_FILE=str(tmp_path / "provider.json"),
    )
    first = "fake-" + secrets.token_urlsafe(32)
    Path(env["FAKEPROV_FILE"]).write_text(json.dumps([_sha(first)]))
    for args, stdin in (
        (["init"], ""),
        (["tenant", "create", TENANT], ""),
        (["secret", "put", TENANT, NAME], first),
    ):
        result = cli_invoke(args, env=env, stdin=stdin)
        assert result.returncode == 0, result.stderr
    # Set directly: this process has no entry point for ``fake``; the children find it through theirs.
    with Vault.open(backend_url, key_provider=LocalKeyProvider.from_file(home / "keys" / "dev.json")) as vault:
        every = 30 * 86400.0
        vault.rotation_repo.set_policy(
            TENANT, NAME, rotate_every=every, overlap=0.0, rotator="fake", options={}, next_due=time.time() + every
        )
    return Setup(env=env, key_file=home / "keys" / "dev.json", url=backend_url, provider=Path(env["FAKEPROV_FILE"]))


@pytest.fixture
def consumer(setup: Setup) -> Iterator[Vault]:
    """A reader in the test process, without a hot cache (it must see each commit of the child at once)."""
    vault = Vault.open(
        setup.url,
        key_provider=LocalKeyProvider.from_file(setup.key_file),
        migrate=False,
        actor="test:consumer",
        cache_ttl_seconds=0.0,
        home=setup.key_file.parent.parent / "consumer-home",
    )
    yield vault
    vault.close()


def _assert_consumer_works(setup: Setup, vault: Vault, where: str) -> None:
    with vault.use(TENANT, NAME, purpose="consumer") as secret:
        digest = _sha(secret.reveal())
    assert digest in setup.accepted(), f"at {where}, the current credential is not accepted by the provider"


def _read_line(stream: IO[bytes]) -> str:
    return stream.readline().decode().strip()


def _run_until_killed(setup: Setup, vault: Vault, kill_at: str, *args: str) -> list[str]:
    """``strongroom ARGS`` paused at every point; SIGKILL at ``kill_at``. The points it passed."""
    report_r, report_w = os.pipe()
    go_r, go_w = os.pipe()
    env = {**setup.env, "FAKEPROV_REPORT_FD": str(report_w), "FAKEPROV_GO_FD": str(go_r)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "strongroom.cli.main", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        pass_fds=(report_w, go_r),
    )
    os.close(report_w)
    os.close(go_r)
    passed: list[str] = []
    with os.fdopen(report_r, "rb") as reports, os.fdopen(go_w, "wb", buffering=0) as go:
        try:
            while True:
                point = _read_line(reports)
                if not point:
                    break  # the child exited without reaching the kill point
                passed.append(point)
                _assert_consumer_works(setup, vault, point)  # the child is paused here: observe
                if point == kill_at:
                    proc.send_signal(signal.SIGKILL)
                    break
                go.write(b"go\n")
        finally:
            _, stderr = proc.communicate(timeout=BOUND)
    assert proc.returncode == -signal.SIGKILL, (
        f"the rotation never reached {kill_at} (passed {passed}; exit {proc.returncode}): {stderr.decode()}"
    )
    return passed


def _assert_settled(setup: Setup, vault: Vault, old_version: int) -> None:
    """Completed: no rotation open, one current version (newer than ``old_version``), nothing pending or
    previous, and the provider accepts exactly the current credential."""
    assert vault.rotation_repo.open_rotations() == []
    versions = vault.versions(TENANT, NAME)
    stages = [v.stage for v in versions]
    assert stages.count(Stage.CURRENT) == 1
    assert Stage.PENDING not in stages
    assert Stage.PREVIOUS not in stages
    current = next(v for v in versions if v.stage == Stage.CURRENT)
    assert current.version > old_version, "the rotation completed: a new version is current"
    with vault.use(TENANT, NAME, purpose="consumer") as secret:
        assert setup.accepted() == {_sha(secret.reveal())}
    assert vault.rotation_repo.latest(TENANT)[(TENANT, NAME)].status == "succeeded"


def _assert_audit_verifies(
    setup: Setup, vault: Vault, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    vault.flush_audit()
    verified = cli_invoke(["audit", "verify"], env=setup.env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intact" in verified.stdout


# SQLite: one rotation killed at every point in turn, each run resuming what the last one left (so recovery is
# itself killed at each point). PostgreSQL: the kill in the middle of ``set``, enough to show the store's part.
@pytest.mark.parametrize(
    ("backend_url", "kill_points"),
    [("sqlite", POINTS), ("postgresql", ["set:exit"])],
    ids=["sqlite-every-point", "postgresql-mid-set"],
    indirect=["backend_url"],
)
@pytest.mark.slow
def test_rotation_killed_at_each_step_boundary_is_completed_by_the_next_run(
    setup: Setup,
    consumer: Vault,
    kill_points: list[str],
    cli_invoke: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    old_version = max(v.version for v in consumer.versions(TENANT, NAME))
    for i, kill_at in enumerate(kill_points):
        args = ("rotate", NAME) if i == 0 else ("rotate", "--due")  # the first run now, then cron's
        passed = _run_until_killed(setup, consumer, kill_at, *args)
        assert passed[-1] == kill_at
        _assert_consumer_works(setup, consumer, f"after SIGKILL at {kill_at}")
        # begin commits before create runs, and retire has not committed: one rotation open, resumable
        assert [r.name for r in consumer.rotation_repo.open_rotations()] == [NAME], kill_at
        stages = [v.stage for v in consumer.versions(TENANT, NAME)]
        assert stages.count(Stage.CURRENT) == 1, kill_at

    resumed = setup.child("rotate", "--due", "--json")
    stdout, stderr = resumed.communicate(timeout=BOUND)
    assert resumed.returncode == 0, stderr.decode()
    outcomes = json.loads(stdout)
    assert [(o["name"], o["status"]) for o in outcomes] == [(NAME, "succeeded")], outcomes
    _assert_consumer_works(setup, consumer, "after the next run")
    _assert_settled(setup, consumer, old_version)
    assert len(consumer.versions(TENANT, NAME)) == 2, "one rotation, one new version, however often killed"
    _assert_audit_verifies(setup, consumer, cli_invoke)


@pytest.mark.parametrize("backend_url", ["sqlite"], indirect=True)
@pytest.mark.slow
def test_killed_rotation_whose_test_fails_on_the_next_run_is_rolled_back(
    setup: Setup, consumer: Vault, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """Killed in the middle of ``set``; on the next run the provider refuses the new credential: ``test`` fails,
    ``undo`` takes it back at the provider, the pending version is discarded, the old credential stays."""
    _run_until_killed(setup, consumer, "set:exit", "rotate", NAME)
    with consumer.use(TENANT, NAME, purpose="consumer") as secret:
        old = _sha(secret.reveal())
    resumed = subprocess.Popen(
        [sys.executable, "-m", "strongroom.cli.main", "rotate", NAME],
        env={**setup.env, "FAKEPROV_REFUSE": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    _, stderr = resumed.communicate(timeout=BOUND)
    assert resumed.returncode == 1
    assert "failed" in stderr.decode()
    assert "refuses the new credential" in stderr.decode()
    assert consumer.rotation_repo.open_rotations() == []
    stages = [v.stage for v in consumer.versions(TENANT, NAME)]
    assert stages == [Stage.CURRENT]
    assert setup.accepted() == {old}
    _assert_consumer_works(setup, consumer, "after the rollback")
    assert consumer.rotation_repo.latest(TENANT)[(TENANT, NAME)].status == "failed"
    _assert_audit_verifies(setup, consumer, cli_invoke)
