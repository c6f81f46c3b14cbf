"""``strongroom run`` signalled while it starts its child: it must never die and leave the child behind.

run installs its forwarding handlers before it starts the child; a SIGTERM that arrives while the child is being
started is held and forwarded once the child exists. Before that fix, a SIGTERM in that window killed run and
orphaned the child (11 of 30 tries; 20 of 30 with --redact).

Each try is a real ``strongroom run`` process, signalled the moment its child process appears (a condition
polled in /proc, not a delay). The tries are forked from a helper that has already imported strongroom, so a
hundred of them take seconds, not minutes; from ``main()`` on, each is exactly the installed command.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ..conftest import communicate_or_describe  # noqa: TID252 -- pytest importlib mode resolves the package

TRIES_PER_HELPER = 25
HELPERS = [False, False, True, True]  # with --redact or not: 4 x 25 = 100 tries

SCHEMA = textwrap.dedent("""
    from strongroom.config import Settings


    class RaceSettings(Settings):
        port: int = 8080
""")

# argv: tries, work dir, "1" for --redact. One line "RESULT <json>" per try on stdout.
HELPER = textwrap.dedent("""
    import json, os, signal, sys

    import strongroom.redact
    from strongroom.cli.main import main

    MAX_POLLS = 200_000  # each poll lists /proc; bounded so a run that never starts its child fails the test


    def children_of(parent, everyone):
        # New pids are higher than the parent's unless the pid counter wrapped: look at those, and now and then
        # at every process.
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == parent or (int(entry) < parent and not everyone):
                continue
            try:
                with open(f"/proc/{entry}/stat", "rb") as stat_file:
                    stat = stat_file.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2 :].split()[1]) == parent:
                found.append(int(entry))
        return found


    def alive(pid):
        try:
            with open(f"/proc/{pid}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:
            return False
        return stat[stat.rindex(b")") + 2 :].split()[0] != b"Z"


    tries, work, redact = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1"
    os.chdir(work)
    try:  # import once what loading the schema imports, so each forked run starts quickly
        main(["check", "--schema", "raceschema:RaceSettings", "--json"])
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
    for attempt in range(tries):
        recorded = os.path.join(work, f"child-{os.getpid()}-{attempt}.pid")
        argv = ["run", "--schema", "raceschema:RaceSettings", *(["--redact"] if redact else [])]
        argv += ["--", "sh", "-c", f"echo $$ > {recorded}; exec sleep 60"]
        run_pid = os.fork()
        if run_pid == 0:  # this process is `strongroom run` from main() on
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            code = 0
            try:
                main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                os._exit(code)
        children, exited = [], None
        for poll in range(MAX_POLLS):
            children = children_of(run_pid, everyone=poll % 64 == 63)
            if children:
                break
            pid, status = os.waitpid(run_pid, os.WNOHANG)
            if pid:
                exited = status
                break
        os.kill(run_pid, signal.SIGTERM)  # at once: the child exists, run may still be starting it
        if exited is None:
            exited = os.waitpid(run_pid, 0)[1]
        pid_file = None
        if os.path.exists(recorded):
            with open(recorded) as f:
                pid_file = int(f.read().strip() or 0) or None  # empty: killed before it wrote
        suspects = set(children) | ({pid_file} if pid_file else set())
        survivors = [pid for pid in suspects if alive(pid)]
        for pid in survivors:
            os.kill(pid, signal.SIGKILL)  # leave nothing behind, whatever the outcome
        print("RESULT", json.dumps({
            "children": children,
            "recorded": pid_file,
            "exit_code": os.waitstatus_to_exitcode(exited),
            "survivors": survivors,
        }), flush=True)
""")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="watches for run's child in /proc (Linux)")
@pytest.mark.slow
def test_sigterm_while_run_starts_its_child_never_orphans_it(tmp_path: Path) -> None:
    """100 tries, each SIGTERMed as soon as its child appears: run exits 128+15 and its child is gone."""
    (tmp_path / "raceschema.py").write_text(SCHEMA, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_HOME"] = str(tmp_path / "home")
    helpers = [
        subprocess.Popen(
            [sys.executable, "-c", HELPER, str(TRIES_PER_HELPER), str(tmp_path), "1" if redact else "0"],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for redact in HELPERS
    ]
    results = []
    for helper in helpers:
        try:
            stdout, stderr = helper.communicate(timeout=300)
        finally:
            if helper.poll() is None:
                helper.kill()
                helper.communicate()
        assert helper.returncode == 0, stderr
        results += [
            json.loads(line.removeprefix("RESULT ")) for line in stdout.splitlines() if line.startswith("RESULT ")
        ]
    assert len(results) == TRIES_PER_HELPER * len(HELPERS)
    for result in results:
        assert len(result["children"]) == 1, result  # the child appeared, and run had started exactly one
        assert result["recorded"] in (None, *result["children"]), result
        assert result["survivors"] == [], f"run left its child running: {result}"
        assert result["exit_code"] == 128 + signal.SIGTERM, result  # the child died of the forwarded SIGTERM


def test_ctrl_c_at_a_terminal_reaches_the_child_once(tmp_path: Path) -> None:
    """At a terminal, Ctrl-C (SIGINT to the foreground process group) reaches the child from the terminal alone: run
    does not forward a second one, and the child does not inherit an ignored SIGINT. run exits with its code."""
    (tmp_path / "raceschema.py").write_text(SCHEMA, encoding="utf-8")
    child = textwrap.dedent("""
        import signal, sys, threading
        start = "ignored" if signal.getsignal(signal.SIGINT) is signal.SIG_IGN else "not-ignored"
        got, done = [], threading.Event()
        signal.signal(signal.SIGINT, lambda *_: got.append("INT"))
        signal.signal(signal.SIGUSR1, lambda *_: done.set())
        print("ready", start, flush=True)
        done.wait()
        print("sigints", len(got), flush=True)
        sys.exit(7)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_HOME"] = str(tmp_path / "home")
    controller, terminal = os.openpty()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "strongroom.cli.main",
                "run",
                "--schema",
                "raceschema:RaceSettings",
                "--",
                sys.executable,
                "-c",
                child,
            ],
            cwd=tmp_path,
            env=env,
            stdin=terminal,  # a terminal: run takes Ctrl-C as already delivered to the child
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # a process group of its own, as a shell's foreground job
        )
    finally:
        os.close(terminal)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready not-ignored\n"  # the child's handlers are set
        os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        # SIGUSR1, forwarded by run, ends the child; a second SIGINT forwarded by run would have been handled first
        proc.send_signal(signal.SIGUSR1)
        stdout, stderr = communicate_or_describe(proc, timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
        os.close(controller)
    assert proc.returncode == 7, stderr
    assert stdout == "sigints 1\n"
