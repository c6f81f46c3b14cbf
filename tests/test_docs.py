"""ACCEPTANCE 1 of issue 18: the shell blocks of README.md, docs/quickstart.md and docs/gpt-actions.md work as
written, offline.

Which blocks run: fenced blocks whose info string is ``sh``, ``bash`` or ``shell`` run as they are; in a
``console`` block only the lines starting with ``$ `` run (the prompt removed; the other lines are output).
Every other fence (``toml``, ``python``, ``json``, none) is not a shell block and is never run.

How: each document's blocks run in order in ONE bash session (``set -euo pipefail``; variables and ``cd``
carry over from block to block, as they do for a reader at one terminal), in a fresh temporary working
directory holding a symlink to the repository's ``examples/``, with ``STRONGROOM_HOME=./.strongroom`` in it,
a fresh ``$HOME``, no other ``STRONGROOM_*`` variable, this checkout's ``strongroom`` and ``python3`` first
on ``PATH``, and no network but loopback: the session runs in a new user and network namespace
(``unshare -rn``, loopback brought up inside) where that works, and in every case with
``HTTP(S)_PROXY``/``ALL_PROXY`` pointing at a dead loopback port. A document's ports (8200, 8201) are then its
own, and nothing reaches the internet.

Markers, an HTML comment on the line right before a fence:

- ``<!-- docs-test: skip REASON -->``: the block is not run; a test of its own is skipped with REASON, so
  ``pytest -rs`` lists every block the documents hold that is not tested, and why;
- ``<!-- docs-test: background [URL] -->``: a server (``serve``, ``dev-upstream``): the block runs in the
  background, in its own process group, and the session goes on once URL answers a 2xx (default
  ``http://127.0.0.1:8200/readyz``), polled a bounded number of times, failing at once if the block exits
  first. Background blocks are stopped (SIGTERM to their group) when the document's session ends.

Installing the project (``python3 -m pip install -e ARG``) is already done in the environment running the
tests: that command alone becomes ``true`` (what follows it on the line, ``&& strongroom serve``, runs).

Every ``curl`` of a block runs with ``--fail-with-body`` (a shell function of the session): an HTTP error
answer (4xx, 5xx) fails its block, its body shown.

A block that needs a value the reader supplies gets it from ``SETUP`` below, per document, shown in a
failure like any block; each value is generated at test time.

A failure names the document and line of the failing block, shows the block as run and its stdout and
stderr (and the output of the background blocks, whose failure can be the cause).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/quickstart.md", "docs/gpt-actions.md")
SHELL_FENCES = {"sh", "bash", "shell"}
DEFAULT_READY_URL = "http://127.0.0.1:8200/readyz"
READY_POLLS = 600  # times 0.1 s between polls: a readiness poll with a retry count, not a time bound
SESSION_TIMEOUT_SECONDS = 120  # a hung session is killed and reported, never waited on forever
INSTALL = re.compile(r"python3 -m pip install -e (?:'[^']*'|\"[^\"]*\"|\S+)")
MARKER = re.compile(r"<!--\s*docs-test:\s*(skip|background)\b\s*(.*?)\s*-->")
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: nothing listens, so a proxied request fails at once

# Values a document's blocks take from the reader, generated here, run before the document's first block.
_GENERATE_VALUE = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
SETUP: dict[str, str] = {
    # "printf '%s' \"$STRIPE_KEY\"" and "--from-file ./dsn.txt": the reader's own values.
    "README.md": (
        f'export STRIPE_KEY="$({_GENERATE_VALUE})"\n'
        f"printf 'postgresql://orders@db.internal/orders?password=%s' \"$({_GENERATE_VALUE})\" > dsn.txt\n"
    ),
    # The page starts from a running service (the quickstart's) with a tenant acme and its key $ACME_KEY.
    "docs/gpt-actions.md": (
        "strongroom serve --connectors examples/connectors.toml > serve.log 2>&1 &\n"
        "__started $!\n"
        "__wait_ready $! http://127.0.0.1:8200/readyz\n"
        "export SR=http://127.0.0.1:8200\n"
        "ADMIN=$(strongroom admin-key create --name docs-test)\n"
        'curl -s -X POST $SR/v1/tenants -H "Authorization: Bearer $ADMIN" '
        "-H 'Content-Type: application/json' -d '{\"name\": \"acme\"}' > /dev/null\n"
        'ACME_KEY=$(curl -s -X POST $SR/v1/tenants/acme/api-keys -H "Authorization: Bearer $ADMIN" '
        '-H \'Content-Type: application/json\' -d \'{"name": "acme-backend", "scopes": ["secrets:write", '
        '"secrets:read-metadata", "tokens:issue", "actions:invoke", "connectors:read", "connectors:write", '
        '"destinations:write", "keys:manage"]}\' '
        "| python3 -c 'import json, sys; print(json.load(sys.stdin)[\"key\"])')\n"
    ),
}


@dataclass(frozen=True)
class Block:
    document: str
    line: int  # of the opening fence, 1-based
    code: str
    skip: str | None = None
    background: str | None = None  # the URL to wait on

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"


def shell_blocks(document: str, text: str) -> list[Block]:
    """The document's shell blocks (see the module's docstring for the rule), in order, with their markers."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = lines[i].strip()
        if not opening.startswith("```"):
            i += 1
            continue
        info = opening[3:].strip().split(" ")[0].lower()
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), len(lines))
        body = lines[i + 1 : end]
        if info in SHELL_FENCES or info == "console":
            if info == "console":
                body = [line[2:] for line in body if line.startswith("$ ")]
            marker = MARKER.search(lines[i - 1]) if i > 0 else None
            kind, argument = (marker.group(1), marker.group(2)) if marker else (None, "")
            blocks.append(
                Block(
                    document=document,
                    line=i + 1,
                    code="\n".join(body) + "\n",
                    skip=(argument or "no reason given") if kind == "skip" else None,
                    background=(argument or DEFAULT_READY_URL) if kind == "background" else None,
                )
            )
        i = end + 1
    return blocks


def _session_script(blocks: list[Block], setup: str, state: Path) -> str:
    """One bash script: the setup, then each block, its output kept per block, the current block recorded."""
    parts = [
        "set -euo pipefail",
        "set -m  # background blocks in process groups of their own, and not ignoring Ctrl-C",
        "__bg=()",
        'curl() { command curl --fail-with-body "$@"; }  # an HTTP error answer fails its block',
        f"__wait_ready() {{  # PID URL: until URL answers 2xx ({READY_POLLS} polls), or PID exits",
        f"  for _ in $(seq {READY_POLLS}); do",
        '    command curl -fs -o /dev/null --max-time 2 "$2" && return 0',
        '    kill -0 "$1" 2>/dev/null || { echo "exited before $2 answered" >&2; return 1; }',
        "    sleep 0.1",
        "  done",
        '  echo "$2 did not answer" >&2; return 1',
        "}",
        f'__started() {{ __bg+=("$1"); echo "$1" >> {state}/background; }}  # PID: stopped at the end',
        "__stop() {",
        '  for p in "${__bg[@]}"; do kill -TERM -- "-$p" 2>/dev/null || true; done',
        '  for p in "${__bg[@]}"; do wait "$p" 2>/dev/null || true; done',
        "}",
        "trap __stop EXIT",
        f"echo setup > {state}/current",
        f"{{\n:\n{setup}}} > {state}/setup.out 2> {state}/setup.err",
    ]
    for index, block in enumerate(blocks):
        code = INSTALL.sub("true", block.code)
        out, err = state / f"{index}.out", state / f"{index}.err"
        parts.append(f"echo {index} > {state}/current")
        if block.background:
            script = state / f"{index}.sh"
            script.write_text(code, encoding="utf-8")
            parts += [
                f"bash -euo pipefail {script} > {out} 2> {err} &",
                '__started "$!"',
                f'__wait_ready "$!" {block.background}',
            ]
        else:
            parts.append(f"{{\n:\n{code}}} > {out} 2> {err}")
    parts.append(f"echo done > {state}/current")
    return "\n".join(parts) + "\n"


def _tail(path: Path, limit: int = 4000) -> str:
    text = path.read_text(errors="replace") if path.exists() else ""
    return text if len(text) <= limit else "...\n" + text[-limit:]


def _can_unshare() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    done = subprocess.run(
        ["unshare", "-rn", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


def run_session(blocks: list[Block], setup: str, workdir: Path) -> str | None:
    """Run a document's blocks in one bash session in ``workdir``: None if every block succeeded, else why."""
    state = workdir.parent / f"{workdir.name}-state"
    state.mkdir()
    (workdir / "home").mkdir(exist_ok=True)
    script = state / "session.sh"
    runnable = [b for b in blocks if b.skip is None]
    script.write_text(_session_script(runnable, setup, state), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_") and "PROXY" not in k.upper()}
    env.update(
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        HOME=str(workdir / "home"),
        STRONGROOM_HOME=str(workdir / ".strongroom"),
        NO_COLOR="1",
        COLUMNS="80",
        PYTHONUNBUFFERED="1",
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        **dict.fromkeys(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"), DEAD_PROXY),
    )
    command = ["bash", str(script)]
    if _can_unshare():
        command = ["unshare", "-rn", "bash", "-c", f"ip link set lo up && exec bash {script}"]
    try:
        done = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=SESSION_TIMEOUT_SECONDS,
            check=False,
            start_new_session=True,  # no controlling terminal: `serve` writes its admin key to a file
        )
        returncode, session_err = done.returncode, done.stderr
    except subprocess.TimeoutExpired:
        returncode, session_err = -1, f"the session did not end in {SESSION_TIMEOUT_SECONDS} s"
    finally:
        for pid in _tail(state / "background").split():
            with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                os.killpg(int(pid), signal.SIGKILL)  # what the session's own SIGTERM left running
    current = _tail(state / "current").strip()
    if returncode == 0 and current == "done":
        return None
    if current == "setup":
        where, code, name = "the test's setup (SETUP in tests/test_docs.py)", setup, "setup"
    elif current.isdigit():
        block = runnable[int(current)]
        where, code, name = f"the block at {block.where}", block.code, current
    else:
        where, code, name = "the session", "", "none"
    report = [
        f"{where} failed (exit {returncode}):",
        code.rstrip(),
        "--- its stdout:",
        _tail(state / f"{name}.out"),
        "--- its stderr:",
        _tail(state / f"{name}.err"),
        "--- the session's stderr:",
        session_err[-2000:],
    ]
    for index, block in enumerate(runnable):
        if block.background and name != str(index):
            report += [f"--- background block at {block.where}, its output:", _tail(state / f"{index}.err", 1500)]
    return "\n".join(report)


def _document_blocks(document: str) -> list[Block]:
    return shell_blocks(document, (ROOT / document).read_text(encoding="utf-8"))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    return work


requires_tools = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None, reason="the documents' blocks need bash and curl"
)


@requires_tools
@pytest.mark.slow  # a server per document: about 40 s in all
@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_runs_as_written(document: str, workdir: Path) -> None:
    blocks = _document_blocks(document)
    assert any(b.skip is None for b in blocks), f"{document} has no shell block this test runs"
    failure = run_session(blocks, SETUP.get(document, ""), workdir)
    assert failure is None, failure


@pytest.mark.parametrize("block", [b for d in DOCUMENTS for b in _document_blocks(d) if b.skip], ids=lambda b: b.where)
def test_skipped_block(block: Block) -> None:
    pytest.skip(f"{block.where}: {block.skip}")


# -- the harness itself ---------------------------------------------------------------------------------------

_SAMPLE = """\
# sample

```sh
export FIRST=1
SECOND=2
cd sub
```

<!-- docs-test: skip needs the internet -->
```sh
curl https://example.com
```

```toml
not = "shell"
```

```console
$ test "$FIRST$SECOND" = 12 && test "$(basename "$PWD")" = sub
this line is output, never run
$ python3 -m pip install -e '.[server]' && echo installed
```

```bash
echo to-stdout; echo to-stderr >&2
false
```
"""


def test_blocks_are_found_with_their_markers_and_lines() -> None:
    blocks = shell_blocks("sample.md", _SAMPLE)
    assert [(b.line, b.skip) for b in blocks] == [(3, None), (10, "needs the internet"), (18, None), (24, None)]
    assert blocks[2].code.splitlines()[0].startswith('test "$FIRST$SECOND" = 12')
    assert "output" not in blocks[2].code
    background = shell_blocks("b.md", "<!-- docs-test: background http://127.0.0.1:8201/ -->\n```sh\nx\n```\n")
    assert background[0].background == "http://127.0.0.1:8201/"


@requires_tools
def test_a_session_carries_state_and_reports_a_failing_block(workdir: Path) -> None:
    (workdir / "sub").mkdir()
    blocks = shell_blocks("sample.md", _SAMPLE)
    failure = run_session(blocks, "", workdir)
    assert failure is not None
    assert failure.startswith("the block at sample.md:24 failed (exit 1):\necho to-stdout")
    assert "--- its stdout:\nto-stdout" in failure
    assert "--- its stderr:\nto-stderr" in failure
    # the blocks before it passed: the exports and the cd carried over, the install became `true`
    assert run_session(blocks[:3], "", _fresh(workdir, "b")) is None


def _fresh(workdir: Path, name: str) -> Path:
    other = workdir.parent / name
    (other / "sub").mkdir(parents=True)
    return other


@requires_tools
def test_an_http_error_answer_fails_its_block(workdir: Path) -> None:
    """curl exits 0 on a 404: the session's curl must not, or a block calling a wrong URL would pass."""
    with socket.socket() as probe:  # a free port (in the session's own network namespace, any port is)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    document = (
        f"<!-- docs-test: background http://127.0.0.1:{port}/ -->\n"
        f"```sh\npython3 -m http.server --bind 127.0.0.1 {port}\n```\n"
        f"```sh\ncurl -s http://127.0.0.1:{port}/\n```\n"
        f"```sh\ncurl -s http://127.0.0.1:{port}/no-such-page\n```\n"
    )
    failure = run_session(shell_blocks("served.md", document), "", workdir)
    assert failure is not None
    assert failure.startswith("the block at served.md:8 failed (exit 22):")  # curl's "HTTP error" exit
    assert "Error code: 404" in failure  # the body is shown
