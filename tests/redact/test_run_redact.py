"""``strongroom run --redact``: the child's stdout and stderr pass through the redactor, which knows the schema's
secret values; the child still gets the real values and its exit code is kept.

``strongroom`` runs in-process through its real ``main()`` (``invoke_cli``); the child is a real process whose
output reaches the captured descriptors."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom.testing import assert_not_leaked

SCHEMA_MODULE = textwrap.dedent("""
    from strongroom import Secret
    from strongroom.config import Settings, secret


    class AppSettings(Settings):
        api_token: Secret[str] = secret()
        log_level: str = "info"
""")

CHILD = textwrap.dedent("""
    import base64, json, os, sys
    value = os.environ["API_TOKEN"]
    print(value)
    print("b64", base64.b64encode(value.encode()).decode(), "json", json.dumps({"v": value}))
    print("err", value, file=sys.stderr)
    print("level", os.environ["LOG_LEVEL"])
    sys.exit(int(sys.argv[1]))
""")


class Runner:
    def __init__(self, root: Path, value: str, invoke: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.invoke = invoke
        self.cwd = root / "app"
        self.cwd.mkdir()
        (self.cwd / "appschema.py").write_text(SCHEMA_MODULE, encoding="utf-8")
        (self.cwd / ".env").write_text(f'API_TOKEN="{value}"\n', encoding="utf-8")
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("STRONGROOM_") and k not in ("API_TOKEN", "LOG_LEVEL")
        }
        self.env.update(
            STRONGROOM_HOME=str(root / "home"),
            STRONGROOM_SECRETS_DIR=str(root / "secrets"),
            STRONGROOM_ACTOR="test:run-redact",
            NO_COLOR="1",
            PYTHONUNBUFFERED="1",
        )

    def run(self, *options: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        command = [
            "run",
            *options,
            "--schema",
            "appschema:AppSettings",
            "--",
            sys.executable,
            "-c",
            CHILD,
            str(code),
        ]
        return self.invoke(command, env=self.env, cwd=self.cwd)


@pytest.fixture
def value(make_canary: Callable[[str], str]) -> str:
    return make_canary("run")


@pytest.fixture
def runner(tmp_path: Path, value: str, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]) -> Runner:
    return Runner(tmp_path, value, cli_invoke)


@pytest.mark.parametrize("code", [0, 3])
def test_run_redact_prints_a_mask_and_keeps_the_exit_code(runner: Runner, value: str, code: int) -> None:
    """With --redact, the child's printed value (raw, base64, JSON; stdout and stderr) shows as a mask, and run
    exits with the child's code."""
    result = runner.run("--redact", code=code)
    assert result.returncode == code, result.stderr
    padding = "=" * (-len(value.encode()) % 3)  # base64 padding is left after the mask, by design
    assert result.stdout.splitlines() == [
        "[REDACTED:API_TOKEN]",
        f'b64 [REDACTED:API_TOKEN]{padding} json {{"v": "[REDACTED:API_TOKEN]"}}',
        "level info",
    ]
    assert "err [REDACTED:API_TOKEN]" in result.stderr
    assert_not_leaked([value], result.stdout, result.stderr)


def test_run_without_redact_passes_the_value_through(runner: Runner, value: str) -> None:
    """Without --redact the child sees and prints the real value: it did reach the child."""
    result = runner.run(code=0)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == value
    assert f"err {value}" in result.stderr


PEM_CHILD = textwrap.dedent("""
    import os, sys
    value = os.environ["API_TOKEN"]
    print("before")
    for line in value.splitlines(keepends=True):  # a line at a time, each flushed: the pump sees them apart
        sys.stdout.write(line)
        sys.stdout.flush()
    print("after", flush=True)
""")


def test_run_redact_masks_a_multi_line_value_written_a_line_at_a_time(
    runner: Runner, make_canary: Callable[[str], str]
) -> None:
    """A PEM-shaped secret the child writes line by line is masked whole: no line of it reaches the output."""
    body = base64.b64encode(os.urandom(144)).decode()
    pem = "-----BEGIN " + "PRIVATE KEY-----\n" + body[:64] + "\n" + body[64:128] + "\n" + body[128:]
    pem += "\n-----END " + "PRIVATE KEY-----\n"
    runner.env["API_TOKEN"] = pem
    command = ["run", "--redact", "--schema", "appschema:AppSettings", "--", sys.executable, "-c", PEM_CHILD]
    result = runner.invoke(command, env=runner.env, cwd=runner.cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["before", "[REDACTED:API_TOKEN]after"]
    assert_not_leaked([pem, *(line for line in pem.splitlines() if len(line) >= 8)], result.stdout, result.stderr)
