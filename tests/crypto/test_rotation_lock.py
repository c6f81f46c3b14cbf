"""Two ``strongroom key rotate`` runs at once, as two real processes: the key file's lock makes one wait for the
other, so each adds its own version, none is lost, and every secret reads back.

The race is forced, not hoped for: each child stops at the moment it would replace the key file (``os.replace``
wrapped in the child) and tells the parent on stdout; the parent lets the first one go only once the other has
either reached the same point too (no lock: both read the file before either wrote it, the lost-version race) or
said on stderr that it is waiting for the lock. No sleeps: the barrier is the children's pipes.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

BARRIER = "@@barrier replacing the key file"
WAITING = "waiting for another key rotation to finish"
BOUND = 300.0  # seconds: only how long a broken run may hang before it fails; nothing is timed

CHILD = f"""
import os, sys
from pathlib import Path

key_file = Path(os.environ["ROTATION_TEST_KEY_FILE"]).resolve()
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if Path(dst).resolve() == key_file:
        print({BARRIER!r}, flush=True)
        if sys.stdin.readline().strip() != "go":
            raise SystemExit(3)
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
from strongroom.cli.main import main
main(["key", "rotate", "--json"])
"""


def _pump(index: int, stream: str, pipe: IO[str], events: queue.Queue[tuple[int, str, str | None]]) -> None:
    for line in pipe:
        events.put((index, stream, line))
    events.put((index, stream, None))


def _rotate_twice_at_once(env: dict[str, str]) -> list[tuple[int, str, str]]:
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    events: queue.Queue[tuple[int, str, str | None]] = queue.Queue()
    for index, child in enumerate(children):
        for stream, pipe in (("out", child.stdout), ("err", child.stderr)):
            assert pipe is not None
            threading.Thread(target=_pump, args=(index, stream, pipe, events), daemon=True).start()
    at_barrier: list[int] = []
    waiting: set[int] = set()
    released = False
    open_streams = 4
    output: list[tuple[int, str, str]] = []
    try:
        while open_streams:
            index, stream, line = events.get(timeout=BOUND)
            if line is None:
                open_streams -= 1
                continue
            output.append((index, stream, line))
            if stream == "out" and line.strip() == BARRIER:
                at_barrier.append(index)
            elif stream == "err" and WAITING in line:
                waiting.add(index)
            if not released and (len(at_barrier) == 2 or (at_barrier and waiting - set(at_barrier))):
                released = True
            if released:
                for waiter in at_barrier:
                    stdin = children[waiter].stdin
                    assert stdin is not None
                    stdin.write("go\n")
                    stdin.flush()
                at_barrier.clear()
    finally:
        for child in children:
            if child.poll() is None and child.stdin is not None:
                child.stdin.close()
            child.wait(timeout=BOUND)
    codes = [child.returncode for child in children]
    assert codes == [0, 0], output
    return output


@pytest.mark.slow
def test_two_concurrent_rotations_both_complete_and_lose_nothing(
    tmp_path: Path, store_url: str, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    home = tmp_path / "home"
    key_file = home / "keys" / "dev.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="200")
    assert cli_invoke(["init"], env=env).returncode == 0
    values: dict[tuple[str, str], str] = {}
    with Vault.open(store_url, key_provider=LocalKeyProvider.from_file(key_file), actor="test") as vault:
        for t in range(4):
            vault.create_tenant(f"t{t}")
            for s in range(5):
                values[(f"t{t}", f"s{s}")] = value = f"value-{t}-{s}-{os.urandom(8).hex()}"
                vault.put(f"t{t}", f"s{s}", value)

    output = _rotate_twice_at_once({**env, "ROTATION_TEST_KEY_FILE": str(key_file)})

    assert any(stream == "err" and WAITING in line for _, stream, line in output)  # one waited for the other
    results = [
        json.loads(
            "".join(line for i, stream, line in output if i == child and stream == "out" and BARRIER not in line)
        )
        for child in (0, 1)
    ]
    assert sorted(r["primary"] for r in results) == [2, 3]
    doc = json.loads(key_file.read_text())
    assert sorted(int(v) for v in doc["keys"]) == [1, 2, 3]
    assert doc["primary"] == 3
    with Vault.open(store_url, key_provider=LocalKeyProvider.from_file(key_file), actor="test") as vault:
        for (tenant, name), value in values.items():
            with vault.use(tenant, name, purpose="test") as secret:
                assert secret.reveal() == value
        assert vault.rewrap_data_keys() == 0  # every data key is under version 3 already


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows")
def test_the_lock_file_is_private_and_left_in_place(tmp_path: Path) -> None:
    provider = LocalKeyProvider.create_file(tmp_path / "keys" / "dev.json", "dev")
    assert provider.add_version() == 2
    lock = tmp_path / "keys" / "dev.json.lock"
    assert lock.exists()
    assert lock.stat().st_mode & 0o077 == 0
    assert LocalKeyProvider.from_file(tmp_path / "keys" / "dev.json").versions() == [1, 2]
