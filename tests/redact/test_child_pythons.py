"""How redaction reaches a child Python (``install()`` in the parent; the child's own start-up through
``strongroom_redact.pth``): the values never travel in its environment, the file they travel in is 0600, a value
registered after ``install()`` reaches it, and its prints and uncaught exception are masked. And the fallback
where the .pth is missing, ``python -m strongroom.redact.startup``. Every other output path of a process is the
leak matrix's (``test_leak_matrix.py``)."""

from __future__ import annotations

import base64
import json
import os
import secrets
import site
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PRELUDE = """
import json, logging, os, sys, threading, traceback, warnings
import strongroom.redact

VALUES = json.loads(os.environ.pop("TEST_VALUES_FILE_CONTENT", '{"pem": "", "key": "", "late": ""}'))  # spawned: none
PEM, KEY = VALUES["pem"], VALUES["key"]


def install(**options):
    strongroom.redact.register(PEM, "pem_key")
    strongroom.redact.register(KEY, "api_key")
    strongroom.redact.install(**options)


def child_target(pem):
    print("MARK child printed", pem, flush=True)
    raise ValueError("MARK child failed " + pem)
"""

CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "subprocess_python": (
        """
        import subprocess
        install()
        code = (
            "import os, stat, sys; v = sys.stdin.read(); "
            "print('MARK env clean', all(v not in x and sys.argv[1] not in x for x in os.environ.values())); "
            "print('MARK file mode', oct(stat.S_IMODE(os.stat(sys.argv[2]).st_mode))); "
            "print('MARK late', sys.argv[1]); "
            "print('MARK child printed', v); raise ValueError('MARK child failed ' + v)"
        )
        strongroom.redact.register(VALUES["late"], "late_key")  # known after install(): the file is rewritten
        shared = os.environ["STRONGROOM_REDACT_VALUES"]  # the child's own install() points it at its own
        subprocess.run([sys.executable, "-c", code, VALUES["late"], shared], input=PEM, text=True, check=False)
        """,
        (
            "MARK env clean True",
            "MARK late [REDACTED:late_key]",
            "MARK file mode 0o600",
            "MARK child printed [REDACTED:pem_key]",
            "ValueError: MARK child failed [REDACTED:pem_key]",
        ),
    ),
}


CHILD_PYTHONS = frozenset({"subprocess_python"})  # need the .pth installed


def pem_canary() -> str:
    """A PEM-shaped private key made of random bytes (split so the repository's scanner sees no key)."""
    body = base64.b64encode(secrets.token_bytes(48 * 6)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN " + "PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END " + "PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def values() -> dict[str, str]:
    return {"pem": pem_canary(), "key": "k" + secrets.token_urlsafe(30)[:39], "late": "l" + secrets.token_hex(16)}


@pytest.fixture(scope="module")
def results(
    values: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case, run at once (two at a time: the machine's cores)."""
    root = tmp_path_factory.mktemp("paths")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_REDACT")}
    env["TEST_VALUES_FILE_CONTENT"] = json.dumps(values)  # the test's canaries, handed to the script only

    def run(name: str) -> subprocess.CompletedProcess[str]:
        script = root / f"{name}.py"
        script.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent(CASES[name][0]), encoding="utf-8")
        return subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False, env=env, cwd=root
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


def _leaks(values: dict[str, str], text: str) -> list[str]:
    pieces = [values["pem"], values["pem"].strip(), values["key"], values["late"]]
    pieces += [line for line in values["pem"].splitlines() if len(line) >= 8]
    return [piece[:20] + "..." for piece in pieces if piece in text]


@pytest.mark.parametrize("case", list(CASES))
def test_output_path_leaks_nothing(
    case: str, values: dict[str, str], results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    """The path's output arrived (with its masks) and holds neither key, nor any line of the PEM key."""
    if case in CHILD_PYTHONS and not any((Path(p) / "strongroom_redact.pth").exists() for p in site.getsitepackages()):
        pytest.fail("strongroom_redact.pth is not in site-packages: reinstall (pip install -e .) to get it")
    result = results[case]
    output = result.stdout + result.stderr
    assert "Error processing line" not in result.stderr, result.stderr  # the .pth failed
    for expected in CASES[case][1]:
        assert expected in output, (expected, output[-3000:])
    assert _leaks(values, output) == [], output[-3000:]


def test_the_startup_module_runs_a_script_with_redaction_on(tmp_path: Path) -> None:
    """``python -m strongroom.redact.startup script.py ARGS``, the fallback where the .pth is not installed, runs
    the script as ``__main__`` with its arguments, after install()."""
    script = tmp_path / "app.py"
    script.write_text("import sys\nprint(__name__, type(sys.stdout).__name__, sys.argv[1:])\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_REDACT")}
    result = subprocess.run(
        [sys.executable, "-m", "strongroom.redact.startup", str(script), "one", "two"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "__main__ _StdWriter ['one', 'two']\n"
