"""Two ``strongroom rotate --due`` processes against one PostgreSQL store rotate each due secret exactly once.

The secrets are made due by setting their policies through the engine with a clock two days behind: as if
the policies had been set then (``every`` one day), which is what a real store looks like a day later. Both
processes import everything, say they are ready, then block reading one pipe; closing its write end releases
them together (a barrier, not a sleep).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.rotation import Rotations
from strongroom.vault import Vault
from strongroom.vocabulary import Action, Stage

BOUND = 180.0  # seconds a broken child may hang before the test fails; nothing is timed
N = 30
TENANT = "acme"

# `strongroom rotate --due --json`, held at a barrier: the fd in RACE_BARRIER_FD returns EOF when released.
AT_BARRIER = """
import os, sys
import strongroom.cli.main, strongroom.rotation, strongroom.rotation.random_value, strongroom.vault
print("ready", flush=True)
assert os.read(int(os.environ["RACE_BARRIER_FD"]), 1) == b""
strongroom.cli.main.main(["rotate", "--due", "--json"])
"""


def _start(env: dict[str, str], barrier: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", AT_BARRIER],
        env={**env, "RACE_BARRIER_FD": str(barrier)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        pass_fds=(barrier,),
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.stderr.read() if proc.stderr else ""
    return proc


@pytest.mark.slow
def test_two_rotate_due_processes_rotate_each_due_secret_exactly_once(
    postgres_url: str, tmp_path: Path, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=postgres_url, STRONGROOM_ACTOR="test:race", NO_COLOR="1")
    init = cli_invoke(["init"], env=env)
    assert init.returncode == 0, init.stderr
    provider = LocalKeyProvider.from_file(home / "keys" / "dev.json")
    names = [f"svc-{i:02d}" for i in range(N)]
    with Vault.open(postgres_url, key_provider=provider, actor="test", home=tmp_path / "test-home") as vault:
        vault.create_tenant(TENANT)
        two_days_ago = time.time() - 2 * 86400
        past = Rotations(vault, clock=lambda: two_days_ago)
        for name in names:
            vault.put(TENANT, name, f"first-{name}-{os.urandom(16).hex()}")
            past.set_policy(TENANT, name, every="1d", rotator="random")
        assert len(vault.rotation_repo.policies(TENANT, due_before=time.time())) == N

    barrier_r, barrier_w = os.pipe()
    try:
        procs = [_start(env, barrier_r), _start(env, barrier_r)]
    finally:
        os.close(barrier_r)
    os.close(barrier_w)  # both read EOF now: released together
    results = [p.communicate(timeout=BOUND) for p in procs]
    for proc, (_, stderr) in zip(procs, results, strict=True):
        assert proc.returncode == 0, stderr
        assert "Traceback" not in stderr

    outcomes: list[dict[str, Any]] = [o for stdout, _ in results for o in json.loads(stdout)]
    rotated = Counter(o["name"] for o in outcomes if o["status"] == "succeeded")
    assert rotated == Counter(names), "each due secret rotated once, by one of the two processes"
    assert all(o["status"] in ("succeeded", "skipped") for o in outcomes), outcomes

    with Vault.open(postgres_url, key_provider=provider, actor="test", home=tmp_path / "test-home") as vault:
        finished = vault.audit_events(tenant=TENANT, action=Action.ROTATION_FINISH)
        assert Counter(e.secret_name for e in finished) == Counter(names)
        assert vault.rotation_repo.open_rotations() == []
        latest = vault.rotation_repo.latest(TENANT)
        for name in names:
            versions = vault.versions(TENANT, name)
            assert [(v.version, v.stage) for v in versions] == [(1, Stage.RETIRED), (2, Stage.CURRENT)], name
            assert latest[(TENANT, name)].status == "succeeded"
        policies = vault.rotation_repo.policies(TENANT, due_before=time.time())
        assert policies == [], "every rotated secret is next due a period from now"
