"""``strongroom dev-upstream``: the quickstart's loopback echo upstream, run as a real process."""

from __future__ import annotations

import json
import secrets
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def _command() -> list[str]:
    script = Path(sys.executable).parent / "strongroom"
    return [str(script)] if script.exists() else [sys.executable, "-m", "strongroom.cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def upstream() -> Iterator[tuple[subprocess.Popen[str], int, str]]:
    """The echo server on a free port, once it has said where it listens (its first line of output)."""
    port = _free_port()
    process = subprocess.Popen(
        [*_command(), "dev-upstream", "--port", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        yield process, port, first
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of the TCP sockets listening on ``port`` (Linux's /proc/net/tcp and tcp6, in hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.rpartition(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_echoes_the_request_and_stops_cleanly_on_ctrl_c(upstream: tuple[subprocess.Popen[str], int, str]) -> None:
    process, port, first = upstream
    assert first.strip() == f"dev-upstream echoing requests on http://127.0.0.1:{port} (Ctrl-C stops it)"
    credential = secrets.token_urlsafe(24)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/anything/items?q=hello&q=again&page=2",
        data=b'{"note": "hi"}',
        method="POST",
        headers={"X-Api-Key": credential, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 -- loopback
        assert answer.status == 200
        assert answer.headers["Content-Type"] == "application/json"
        echo = json.load(answer)
    assert echo["method"] == "POST"
    assert echo["path"] == "/anything/items"
    assert echo["query"] == {"q": ["hello", "again"], "page": ["2"]}
    assert echo["headers"]["X-Api-Key"] == credential
    assert echo["body"] == '{"note": "hi"}'

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "dev-upstream: POST /anything/items" in err  # one line per request ...
    assert "hello" not in err  # ... without the query
    assert credential not in err  # or a header
    assert "dev-upstream stopped" in err
    assert "Traceback" not in out + err


def test_a_path_with_terminal_escapes_is_logged_escaped(upstream: tuple[subprocess.Popen[str], int, str]) -> None:
    """The path is anyone's text: an escape sequence in it is logged as ``\\x1b``, never sent to the terminal."""
    process, port, _ = upstream
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # http.client refuses to send this
        raw.sendall(b"GET /a\x1b[2Kb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert raw.recv(64).startswith(b"HTTP/1.1 200")
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=15)
    assert "\x1b" not in err
    assert "dev-upstream: GET /a\\x1b[2Kb" in err


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from /proc/net/tcp")
def test_listens_on_loopback_only(upstream: tuple[subprocess.Popen[str], int, str]) -> None:
    _, port, _ = upstream
    assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex; nothing else


def test_a_busy_port_is_refused_naming_the_fix() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [*_command(), "dev-upstream", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
        )
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: port {port} is in use: choose another with --port"
    assert done.stdout == ""


@pytest.mark.parametrize("port", ["0", "70000"])
def test_a_port_out_of_range_is_bad_usage(port: str) -> None:
    done = subprocess.run(
        [*_command(), "dev-upstream", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: --port must be 1 to 65535, not {port}"
    assert "Traceback" not in done.stderr
