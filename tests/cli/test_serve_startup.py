"""``strongroom serve`` start-up as a new user meets it: a bad or busy port, a lost key file, a terminal.

Refusals come before anything is made (no home, no key, no admin key) and name the option to change; at a
terminal every line uvicorn logs is formatted.
"""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

Invoke = Callable[..., subprocess.CompletedProcess[str]]
READ_SECONDS = 120  # a safety net for a hung server, not a bound on start-up time


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.pop("FORCE_COLOR", None)
    env.update(STRONGROOM_HOME=str(home), STRONGROOM_ACTOR="test:serve", NO_COLOR="1", COLUMNS="80", **extra)
    return env


def _assert_refused(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert done.returncode != 0, done.stdout + done.stderr
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr
    assert "serving on" not in done.stdout + done.stderr


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A port on loopback that is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield taken


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    home = tmp_path / "home"
    done = _serve(["--port", port], _env(home), tmp_path)
    assert done.returncode == 2
    _assert_refused(done, "--port")
    assert not home.exists()


@pytest.mark.slow
def test_a_busy_port_is_refused_before_anything_is_made(tmp_path: Path, listener: socket.socket) -> None:
    """The port is bound before the home, the key or the admin key is made: a busy one is refused naming
    --port, and nothing is left behind (the admin key is not spent on a service that never started)."""
    home = tmp_path / "home"
    port = listener.getsockname()[1]
    done = _serve(["--port", str(port)], _env(home), tmp_path)
    _assert_refused(done, f"port {port} on 127.0.0.1 is in use", "--port")
    assert not home.exists()


@pytest.mark.slow
def test_an_unknown_host_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = _serve(["--host", "no-such-host.invalid"], _env(home), tmp_path)
    _assert_refused(done, "--host", "127.0.0.1")
    assert not home.exists()


@pytest.mark.slow
def test_serve_with_a_lost_key_file_makes_no_new_key(tmp_path: Path, cli_invoke: Invoke) -> None:
    """First start initialises; a later start whose key file is gone does not initialise again (a new key
    could not read the database): it names the key file to restore."""
    home = tmp_path / "home"
    env = _env(home)
    assert cli_invoke(["init"], env=env, cwd=tmp_path).returncode == 0
    assert cli_invoke(["tenant", "create", "acme"], env=env, cwd=tmp_path).returncode == 0
    key_file = home / "keys" / "dev.json"
    key_file.unlink()
    done = _serve(["--port", str(_free_port())], env, tmp_path)
    _assert_refused(done, "key file is missing", str(key_file), "restore that key file", "Do not run `strongroom init`")
    assert not key_file.exists()
    assert not (home / "bootstrap-admin-key").exists()


def _serve(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``strongroom serve ARGS`` as a real process, expected to refuse: a regression that starts serving
    instead is stopped after READ_SECONDS (in this process it would never return)."""
    with subprocess.Popen(
        [*_strongroom(), "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    ) as process:
        try:
            out, err = process.communicate(timeout=READ_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _strongroom() -> list[str]:
    script = Path(sys.executable).parent / "strongroom"
    return [str(script)] if script.exists() else [sys.executable, "-m", "strongroom.cli.main"]


def _read_until(master: int, text: str, process: subprocess.Popen[bytes]) -> str:
    """What the terminal shows until ``text`` appears (or the process ends)."""
    seen = b""
    while text.encode() not in seen:
        ready, _, _ = select.select([master], [], [], READ_SECONDS)
        if not ready:
            pytest.fail(f"no output for {READ_SECONDS} s; so far:\n{seen.decode(errors='replace')}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process exited and closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    if text.encode() not in seen:
        process.wait()
        pytest.fail(f"serve exited with {process.returncode}:\n{seen.decode(errors='replace')}")
    return seen.decode(errors="replace")


@pytest.mark.slow
def test_at_a_terminal_uvicorns_lines_are_formatted(tmp_path: Path) -> None:
    """At a terminal (where uvicorn colours its lines) every line is formatted: no `%s`, `%d` placeholders."""
    home = tmp_path / "home"
    env = _env(home)
    env.pop("NO_COLOR")
    env["TERM"] = "xterm-256color"
    master, slave = pty.openpty()
    process = subprocess.Popen(  # a new session: no controlling terminal, so the admin key goes to a file
        [*_strongroom(), "serve", "--port", str(_free_port())],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(slave)
    try:
        shown = _read_until(master, "Application startup complete", process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait()
        os.close(master)
    assert re.search(r"%[sdr]", shown) is None, shown
    assert f"Started server process [{process.pid}]" in shown
    assert "serving on http://127.0.0.1:" in shown
    assert "Traceback" not in shown
    admin = (home / "bootstrap-admin-key").read_text().strip()
    assert admin not in shown


@pytest.mark.parametrize("planted", ["file", "symlink"])
def test_a_planted_admin_key_file_is_replaced_not_written_through(tmp_path: Path, planted: str) -> None:
    """An admin-key file (or a link) someone left in the home before the first start is never written through:
    serve writes the key into a new file of its own, mode 0600, and whatever was planted never holds it."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    target = tmp_path / "planted-target"
    target.write_text("")
    target.chmod(0o666)
    key_file = home / "bootstrap-admin-key"
    if planted == "file":  # the planter keeps a hard link: a key written through the file would show there
        os.link(target, key_file)
    else:
        key_file.symlink_to(target)
    master, slave = pty.openpty()
    process = subprocess.Popen(  # no controlling terminal: the key goes to the file
        [*_strongroom(), "serve", "--port", str(_free_port())],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=_env(home),
        cwd=tmp_path,
        start_new_session=True,
    )
    os.close(slave)
    try:
        _read_until(master, "Application startup complete", process)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait()
        os.close(master)
    written = key_file.lstat()
    assert not key_file.is_symlink()
    assert written.st_nlink == 1
    assert written.st_mode & 0o777 == 0o600
    assert key_file.read_text().startswith("srk_")
    assert target.read_text() == ""
