"""Online re-keying: secrets keep being served while ``strongroom key rotate`` and then ``key retire`` run.

Three reader processes (each its own ``Vault.open`` on the store, no value cache and no data-key cache, so every
read unwraps its data key under whatever root key wraps it at that moment) read every secret over and over, and a
writer process creates tenants, while a real ``strongroom key rotate`` and then ``strongroom key retire`` run.

Nothing is left to timing. Each child answers ``pass TOKEN`` on its stdin once it has completed a full pass begun
after the request (with its read and failure counts and the root keys ``vault.keys.status()`` showed it then).
The rotation stops after its first committed batch of rewraps (its progress callback waits for ``go``), while
some data keys are under the new root and some under the old; the retirement stops as it replaces the key file to
destroy the old provider version, once the old root key is destroyed in the database. At each stop the parent
asks every child for a pass, then lets the rotation go on. No sleeps: the barriers are the children's pipes.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

BOUND = 300.0  # seconds: only how long a broken run may hang before it fails; nothing is timed
BARRIER = "@@barrier"
READERS = 3

READER = r"""
import json, os, queue, sys, threading
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

plan = json.loads(open(os.environ["REKEY_PLAN"]).read())
commands = queue.Queue()

def listen():
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("stop")

threading.Thread(target=listen, daemon=True).start()

def say(**fields):
    print(json.dumps(fields), flush=True)

vault = Vault.open(plan["url"], key_provider=LocalKeyProvider.from_file(plan["key_file"]), migrate=False,
                   actor="reader", cache_ttl_seconds=0, dek_cache_ttl_seconds=0)
reads = failures = passes = 0
errors = []
primaries = set()
stop = False
while not stop:
    asked = []
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            break
        if command == "stop":
            stop = True
        elif command.startswith("pass "):
            asked.append(command.split()[1])
    if stop:
        break
    for tenant, name, value in plan["secrets"]:
        reads += 1
        try:
            with vault.use(tenant, name, purpose="rekey-test") as secret:
                if secret.reveal() != value:
                    failures += 1
                    errors.append(f"{tenant}/{name}: another value")
        except Exception as exc:
            failures += 1
            errors.append(f"{tenant}/{name}: {type(exc).__name__}: {exc}")
    passes += 1
    status = vault.keys.status()
    primaries.add(status.primary)
    roots = {str(r.version): [r.state, r.data_keys] for r in status.roots}
    if passes == 1:
        say(event="ready")
    for token in asked:
        say(event="pass", token=token, reads=reads, failures=failures, roots=roots)
vault.close()
say(event="done", reads=reads, failures=failures, passes=passes, primaries=sorted(primaries), errors=errors[:20])
"""

WRITER = r"""
import json, os, queue, sys, threading
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

plan = json.loads(open(os.environ["REKEY_PLAN"]).read())
commands = queue.Queue()

def listen():
    for line in sys.stdin:
        commands.put(line.strip())
    commands.put("stop")

threading.Thread(target=listen, daemon=True).start()

def say(**fields):
    print(json.dumps(fields), flush=True)

vault = Vault.open(plan["url"], key_provider=LocalKeyProvider.from_file(plan["key_file"]), migrate=False,
                   actor="writer", cache_ttl_seconds=0, dek_cache_ttl_seconds=0)
created = []
errors = []
stop = False
while not stop:
    asked = []
    while True:
        try:
            command = commands.get_nowait()
        except queue.Empty:
            break
        if command == "stop":
            stop = True
        elif command.startswith("pass "):
            asked.append(command.split()[1])
    if stop:
        break
    name = f"w{len(created) + len(errors)}"
    try:
        vault.create_tenant(name)
        vault.put(name, "s", plan["salt"] + name)
        created.append(name)
    except Exception as exc:
        errors.append(f"{name}: {type(exc).__name__}: {exc}")
    if len(created) + len(errors) == 1:
        say(event="ready")
    for token in asked:
        say(event="pass", token=token, reads=len(created), failures=len(errors), roots={})
vault.close()
say(event="done", created=created, failures=len(errors), errors=errors[:20])
"""

# A `strongroom` CLI run that stops at a barrier until its stdin says "go", where $REKEY_PAUSE says: "rewrap",
# after the first committed batch of rewraps that leaves more to do (the progress callback `key rotate` reports
# through); "key-file", each time the key file is replaced (`key retire` destroying a provider version).
PAUSING_CLI = f"""
import os, sys
from contextlib import contextmanager
from pathlib import Path

import strongroom.cli.key as key_cli

def barrier(where):
    if os.environ["REKEY_PAUSE"] != where:
        return
    print({BARRIER!r} + " " + where, flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(3)

@contextmanager
def progress(label):
    paused = []
    def update(done, total):
        if 0 < done < total and not paused:
            paused.append(done)
            barrier("rewrap")
    yield update

key_cli._progress = progress
key_file = Path(os.environ["REKEY_KEY_FILE"]).resolve()
real_replace = os.replace

def replace(src, dst, *args, **kwargs):
    if Path(dst).resolve() == key_file:
        barrier("key-file")
    return real_replace(src, dst, *args, **kwargs)

os.replace = replace
from strongroom.cli.main import main
main(sys.argv[1:])
"""


class Child:
    """A real subprocess whose stdout lines arrive on a queue and whose stderr is kept."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        assert self.proc.stdout is not None
        assert self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self.stderr.extend, args=(self.proc.stderr,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.lines.put(line)
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def next_line(self) -> str:
        line = self.lines.get(timeout=BOUND)
        assert line is not None, f"child ended (exit {self.proc.wait(timeout=BOUND)}): {''.join(self.stderr)}"
        return line

    def event(self, name: str) -> dict[str, Any]:
        """The next JSON line this child prints, which must be event ``name``."""
        found = json.loads(self.next_line())
        assert found["event"] == name, found
        return dict(found)

    def rest(self) -> str:
        """Everything it prints until it exits (and its exit status checked by the caller)."""
        out = []
        while (line := self.lines.get(timeout=BOUND)) is not None:
            out.append(line)
        self.proc.wait(timeout=BOUND)
        return "".join(out)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=BOUND)


def _every_pass(children: list[Child], token: str) -> list[dict[str, Any]]:
    """Ask every child for a full pass begun now; their answers."""
    for child in children:
        child.send(f"pass {token}")
    answers = [child.event("pass") for child in children]
    assert all(a["token"] == token for a in answers)
    return answers


@pytest.mark.slow
def test_reads_never_fail_while_keys_rotate_and_retire(
    tmp_path: Path, store_url: str, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    home = tmp_path / "home"
    key_file = home / "keys" / "dev.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_URL=store_url, NO_COLOR="1", COLUMNS="200")
    assert cli_invoke(["init"], env=env).returncode == 0

    secrets: list[tuple[str, str, str]] = []
    with Vault.open(store_url, key_provider=LocalKeyProvider.from_file(key_file), actor="test") as vault:
        for t in range(8):
            vault.create_tenant(f"t{t}")
            for s in range(3):
                if t % 3 == 0 and s == 1:
                    vault.rotate_data_key(f"t{t}")  # some tenants' values are under two data keys
                value = f"value-{t}-{s}-{os.urandom(8).hex()}"
                vault.put(f"t{t}", f"s{s}", value)
                secrets.append((f"t{t}", f"s{s}", value))
    plan = tmp_path / "plan.json"
    plan.write_text(
        json.dumps({"url": store_url, "key_file": str(key_file), "secrets": secrets, "salt": os.urandom(8).hex()})
    )
    child_env = {**env, "REKEY_PLAN": str(plan), "REKEY_KEY_FILE": str(key_file)}

    readers = [Child(["-c", READER], child_env) for _ in range(READERS)]
    writer = Child(["-c", WRITER], child_env)
    children = [*readers, writer]
    rotation: Child | None = None
    try:
        for child in children:
            child.event("ready")
        before = _every_pass(children, "before")

        # The rotation, stopped after its first committed batch: data keys under both roots.
        rotation = Child(
            ["-c", PAUSING_CLI, "key", "rotate", "--json", "--batch-size", "4"], {**child_env, "REKEY_PAUSE": "rewrap"}
        )
        assert rotation.next_line().strip() == f"{BARRIER} rewrap"
        during_rotation = _every_pass(children, "rotating")
        rotation.send("go")
        rotated = json.loads(rotation.rest())
        assert rotation.proc.returncode == 0, rotation.stderr
        assert rotated["root_version"] == 2
        assert rotated["rewrapped"] > 4
        after_rotation = _every_pass(children, "rotated")

        # The retirement, stopped as it destroys provider version 1: root key v1 is destroyed already.
        retirement = Child(["-c", PAUSING_CLI, "key", "retire", "--json"], {**child_env, "REKEY_PAUSE": "key-file"})
        assert retirement.next_line().strip() == f"{BARRIER} key-file"
        during_retirement = _every_pass(children, "retiring")
        retirement.send("go")
        retired = json.loads(retirement.rest())
        assert retirement.proc.returncode == 0, retirement.stderr
        after_retirement = _every_pass(children, "retired")

        for child in children:
            child.send("stop")
        done = [child.event("done") for child in children]
        for child in children:
            assert child.proc.wait(timeout=BOUND) == 0, child.stderr
    finally:
        for child in [*children, *([rotation] if rotation else [])]:
            child.kill()

    # No read failed, in any reader, at any time; the writer created every tenant it tried.
    assert [(d["failures"], d["errors"]) for d in done] == [(0, [])] * len(done)
    # Reads happened in each phase: every reader's count grew by at least one full pass across each.
    phases = [before, during_rotation, after_rotation, during_retirement, after_retirement]
    for index in range(len(readers)):
        counts = [phase[index]["reads"] for phase in phases]
        assert all(b - a >= len(secrets) for a, b in itertools.pairwise(counts)), counts
    assert all(phase[-1]["reads"] > before[-1]["reads"] for phase in phases[1:])  # the writer went on writing
    # Mid-rotation, each reader's pass read a store with data keys under the old root and the new one.
    for answer in during_rotation[:READERS]:
        (old_state, under_old), (new_state, under_new) = answer["roots"]["1"], answer["roots"]["2"]
        assert (old_state, new_state) == ("active", "primary"), answer
        assert min(under_old, under_new) > 0, answer
    for answer in during_retirement[:READERS]:
        assert answer["roots"]["1"] == ["retired", 0], answer
    assert all(d["primaries"] == [1, 2] for d in done[:READERS])

    # Afterwards: no data key under a retired root, and the key file holds no destroyed version.
    assert retired["roots_retired"] == [1]
    assert retired["provider_versions_destroyed"] == [1]
    status = json.loads(cli_invoke(["key", "status", "--json"], env=env).stdout)
    assert [(r["version"], r["state"]) for r in status["roots"]] == [(1, "retired"), (2, "primary")]
    assert all(r["data_keys"] == 0 for r in status["roots"] if r["state"] == "retired")
    in_file = sorted(int(v) for v in json.loads(key_file.read_text())["keys"])
    assert in_file == status["provider_versions_needed"] == [2]
    assert not set(in_file) & set(retired["provider_versions_destroyed"])

    # Every secret, the writer's too, reads back in a fresh process's vault.
    created = done[-1]["created"]
    assert len(created) >= len(phases)
    salt = json.loads(plan.read_text())["salt"]
    with Vault.open(store_url, key_provider=LocalKeyProvider.from_file(key_file), actor="test") as vault:
        for tenant, name, value in [*secrets, *((w, "s", salt + w) for w in created)]:
            with vault.use(tenant, name, purpose="test") as secret:
                assert secret.reveal() == value
