"""``strongroom check`` and ``strongroom run``, with canary values that must never be printed.

Most tests invoke ``strongroom`` in-process through its real ``main()`` (``invoke_cli``: the environment, working
directory and exit code a subprocess would have; a child of ``run`` writes to the captured descriptors). What only a
real process proves stays one: the child reading run's stdin, and signals sent to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import communicate_or_describe  # noqa: TID252 -- pytest importlib mode resolves the package

SCHEMA_MODULE = textwrap.dedent("""
    from strongroom import Secret
    from strongroom.config import Settings, secret


    class AppSettings(Settings):
        database_url: Secret[str] = secret(sensitivity="critical", rotate="90d")
        jwt_signing_key: Secret[str] = secret(sensitivity="critical", rotate="30d")
        openai_api_key: Secret[str] = secret(required_in=("preview", "prod"), env="LLM_KEY")
        port: int = 8080
        debug: bool = False
        log_level: str
""")
REQUIRED_IN_DEV = ("DATABASE_URL", "JWT_SIGNING_KEY", "LOG_LEVEL")


def _canary(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex}{uuid.uuid4().hex}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class App:
    """A working directory with a schema module and a .env, and a clean environment to run the CLI in."""

    def __init__(self, root: Path, invoke: Callable[..., subprocess.CompletedProcess[str]]) -> None:
        self.invoke = invoke
        self.cwd = root / "app"
        self.cwd.mkdir()
        self.secrets_dir = root / "secrets"
        (self.cwd / "appschema.py").write_text(SCHEMA_MODULE, encoding="utf-8")
        self.values = {
            "DATABASE_URL": f"postgresql://app:{_canary('db')}@db:5432/app",
            "JWT_SIGNING_KEY": _canary("jwt"),
            "LLM_KEY": _canary("llm"),
        }
        self.dotenv: dict[str, str] = {**self.values, "LOG_LEVEL": "warning", "PORT": "9000"}
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_") and k not in (*self.dotenv, "DEBUG")
        }
        self.env.update(
            STRONGROOM_HOME=str(root / "home"),
            STRONGROOM_SECRETS_DIR=str(root / "secrets"),
            STRONGROOM_ACTOR="test:config-cli",
            NO_COLOR="1",
            COLUMNS="1000",  # wide enough for a table row holding a pytest tmp path (longer under xdist)
            PYTHONUNBUFFERED="1",
        )
        self.env.pop("FORCE_COLOR", None)
        self.transcript: list[str] = []

    def write_dotenv(self) -> None:
        text = "".join(f'{k}="{v}"\n' for k, v in self.dotenv.items())
        (self.cwd / ".env").write_text(text, encoding="utf-8")

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "strongroom.cli.main", *args]

    def run(
        self,
        *args: str,
        stdin: str = "",
        env: dict[str, str] | None = None,
        real_process: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        self.write_dotenv()
        if not real_process:
            result = self.invoke(args, env={**self.env, **(env or {})}, cwd=self.cwd, stdin=stdin)
            self.transcript += [result.stdout, result.stderr]
            return result
        proc = subprocess.run(
            self.command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            cwd=self.cwd,
            env={**self.env, **(env or {})},
            timeout=60,
            check=False,
        )
        self.transcript += [proc.stdout, proc.stderr]
        return proc

    def assert_no_value_printed(self) -> None:
        assert self.transcript, "nothing was run"
        for value in self.values.values():
            for output in self.transcript:
                assert value not in output, "a secret value was printed"


@pytest.fixture
def app(tmp_path: Path, cli_invoke: Callable[..., subprocess.CompletedProcess[str]]) -> App:
    return App(tmp_path, cli_invoke)


SCHEMA = ("--schema", "appschema:AppSettings")


def test_check_passes_with_a_table(app: App) -> None:
    """check exits 0 and prints a table of every field with variable, source and rotation due date."""
    app.secrets_dir.mkdir()
    (app.secrets_dir / "DATABASE_URL").write_text(app.values["DATABASE_URL"] + "\n", encoding="utf-8")
    del app.dotenv["DATABASE_URL"]
    result = app.run("check", *SCHEMA)
    assert result.returncode == 0, result.stderr
    assert "AppSettings in dev: all required values present" in result.stdout
    for text in (
        "database_url",
        "DATABASE_URL",
        "jwt_signing_key",
        "openai_api_key",
        "LLM_KEY",
        "port",
        ".env",
        f"secrets-dir:{app.secrets_dir}",
        "in 90.0d",
        "default",
    ):
        assert text in result.stdout
    assert "Traceback" not in result.stderr
    app.assert_no_value_printed()


def test_check_json_lists_fields_with_source(app: App) -> None:
    """check --json prints ok true and every field with its source, secret flag and status."""
    del app.dotenv["PORT"]
    result = app.run("check", *SCHEMA, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] is True
    assert data["environment"] == "dev"
    fields = {f["name"]: f for f in data["fields"]}
    assert list(fields) == ["database_url", "jwt_signing_key", "openai_api_key", "port", "debug", "log_level"]
    assert fields["database_url"]["source"] == ".env"
    assert fields["database_url"]["secret"] is True
    assert fields["database_url"]["env"] == "DATABASE_URL"
    assert fields["database_url"]["status"] == "ok"
    assert fields["database_url"]["rotation_due_in_seconds"] is None  # dotenv has no update time
    assert fields["openai_api_key"]["env"] == "LLM_KEY"
    assert fields["log_level"]["secret"] is False
    assert fields["port"]["source"] is None
    assert fields["port"]["status"].startswith("default")
    app.assert_no_value_printed()


def test_check_env_wins_over_dotenv(app: App) -> None:
    """A variable in the process environment beats the same one in .env (json source "env")."""
    result = app.run("check", *SCHEMA, "--json", env={"JWT_SIGNING_KEY": app.values["JWT_SIGNING_KEY"] + "-env"})
    assert result.returncode == 0, result.stderr
    sources = {f["name"]: f["source"] for f in json.loads(result.stdout)["fields"]}
    assert sources["jwt_signing_key"] == "env"
    assert sources["database_url"] == ".env"


def test_check_missing_lists_every_missing_name(app: App) -> None:
    """With every required value removed, check exits 1 and stderr lists each missing variable, no values."""
    app.dotenv = {"LLM_KEY": app.values["LLM_KEY"]}
    result = app.run("check", *SCHEMA)
    assert result.returncode == 1
    for name in REQUIRED_IN_DEV:
        assert f"{name}: missing" in result.stderr
    assert "LLM_KEY" not in result.stderr  # present, so not a problem
    assert "3 problem(s)" in result.stderr
    assert "Traceback" not in result.stderr
    app.assert_no_value_printed()


def test_check_missing_json_lists_problems(app: App) -> None:
    """check --json on failure prints ok false and the problems, and exits 1."""
    del app.dotenv["DATABASE_URL"]
    app.dotenv["JWT_SIGNING_KEY"] = "changeme"
    result = app.run("check", *SCHEMA, "--json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert data["ok"] is False
    assert [p.split(":")[0] for p in data["problems"]] == ["DATABASE_URL", "JWT_SIGNING_KEY"]
    app.assert_no_value_printed()


def test_check_env_option_selects_required_secrets(app: App) -> None:
    """A secret required only in prod passes check in dev and fails it with --env prod (or STRONGROOM_ENV)."""
    del app.dotenv["LLM_KEY"]
    assert app.run("check", *SCHEMA).returncode == 0
    prod = app.run("check", *SCHEMA, "--env", "prod")
    assert prod.returncode == 1
    assert "LLM_KEY: missing (required in prod" in prod.stderr
    via_env = app.run("check", *SCHEMA, env={"STRONGROOM_ENV": "prod"})
    assert via_env.returncode == 1
    assert "LLM_KEY" in via_env.stderr
    app.assert_no_value_printed()


def test_check_bad_schema_reference_is_an_error(app: App) -> None:
    """An unimportable module or a non-schema class is a one-line error, not a traceback."""
    missing = app.run("check", "--schema", "no_such_module:AppSettings")
    assert missing.returncode == 1
    assert "no_such_module" in missing.stderr
    assert "Traceback" not in missing.stderr
    not_schema = app.run("check", "--schema", "appschema:secret")
    assert not_schema.returncode == 1
    assert "not a strongroom.config.Settings subclass" in not_schema.stderr


CHILD_PRINTS = textwrap.dedent("""
    import hashlib, json, os
    names = ["DATABASE_URL", "JWT_SIGNING_KEY", "LLM_KEY", "PORT", "DEBUG", "LOG_LEVEL"]
    print(json.dumps({n: {"digest": hashlib.sha256(os.environ[n].encode()).hexdigest(),
                          "length": len(os.environ[n])} for n in names}))
    print(json.dumps({n: os.environ[n] for n in ("PORT", "DEBUG", "LOG_LEVEL", "STRONGROOM_ENV")}))
""")


def test_run_injects_values_as_env_vars(app: App) -> None:
    """run passes every schema value to the child as an env var named from the schema, plus STRONGROOM_ENV."""
    result = app.run("run", *SCHEMA, "--", sys.executable, "-c", CHILD_PRINTS)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    digests = json.loads(lines[0])
    for name, value in app.values.items():
        assert digests[name] == {"digest": _digest(value), "length": len(value)}
    assert json.loads(lines[1]) == {"PORT": "9000", "DEBUG": "false", "LOG_LEVEL": "warning", "STRONGROOM_ENV": "dev"}
    app.assert_no_value_printed()


@pytest.mark.slow
def test_run_passes_stdin_through(app: App) -> None:
    """The child reads the stdin given to strongroom run."""
    child = "import sys, hashlib; data = sys.stdin.read(); print(len(data), hashlib.sha256(data.encode()).hexdigest())"
    payload = "line one\nline two\n" * 100
    result = app.run("run", *SCHEMA, "--", sys.executable, "-c", child, stdin=payload, real_process=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [str(len(payload)), _digest(payload)]


@pytest.mark.parametrize("code", [0, 3, 7, 255])
def test_run_propagates_exit_code(app: App, code: int) -> None:
    """run exits with the child's exit code."""
    result = app.run("run", *SCHEMA, "--", sys.executable, "-c", f"import sys; sys.exit({code})")
    assert result.returncode == code, result.stderr


def test_run_reports_death_by_signal_as_128_plus_n(app: App) -> None:
    """A child killed by SIGKILL makes run exit 128+9, as a shell reports it."""
    result = app.run("run", *SCHEMA, "--", sys.executable, "-c", "import os, signal; os.kill(os.getpid(), 9)")
    assert result.returncode == 128 + signal.SIGKILL


def _start_waiting_child(app: App, child: str) -> subprocess.Popen[str]:
    app.write_dotenv()
    return subprocess.Popen(
        app.command("run", *SCHEMA, "--", sys.executable, "-c", child),
        cwd=app.cwd,
        env=app.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _signal_and_wait(app: App, proc: subprocess.Popen[str], signum: int) -> tuple[str, str]:
    """Once the child says "ready" (on stdout, which is run's), signal run and wait for it to exit."""
    assert proc.stdout is not None
    try:
        ready = proc.stdout.readline()  # a line, or "" if run exited first: no polling, no sleeping
        assert ready == "ready\n", (ready, proc.poll())
        proc.send_signal(signum)  # run installs its forwarding handlers before it starts the child
        stdout, stderr = communicate_or_describe(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    app.transcript += [stdout, stderr]
    return stdout, stderr


@pytest.mark.parametrize(
    "signum",
    [signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2],
    ids=lambda s: signal.Signals(s).name,
)
@pytest.mark.slow
def test_run_forwards_signals_to_the_child(app: App, tmp_path: Path, signum: int) -> None:
    """A signal sent to strongroom run reaches the child, whose handler runs; run exits with the child's code."""
    marker = tmp_path / "got-signal"
    child = textwrap.dedent(f"""
        import pathlib, signal, sys, time
        def on_signal(signum, frame):
            pathlib.Path({str(marker)!r}).write_text(signal.Signals(signum).name)
            sys.exit(0)
        signal.signal({int(signum)}, on_signal)
        print("ready", flush=True)
        time.sleep(60)  # the child's wait for the signal; the test waits on its "ready" line, not on time
        sys.exit(5)
    """)
    proc = _start_waiting_child(app, child)
    _, stderr = _signal_and_wait(app, proc, signum)
    assert marker.read_text() == signal.Signals(signum).name
    assert proc.returncode == 0, stderr
    app.assert_no_value_printed()


def test_run_child_killed_by_forwarded_sigterm_exits_143(app: App) -> None:
    """A child without a handler dies of the forwarded SIGTERM, and run exits 128+15."""
    child = "import time; print('ready', flush=True); time.sleep(60)"
    proc = _start_waiting_child(app, child)
    _signal_and_wait(app, proc, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM


def test_run_with_missing_secret_does_not_start_the_child(app: App, tmp_path: Path) -> None:
    """run fails before starting the command when a required value is missing, listing every missing name."""
    marker = tmp_path / "child-started"
    del app.dotenv["DATABASE_URL"]
    del app.dotenv["LOG_LEVEL"]
    child = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('started')"
    result = app.run("run", *SCHEMA, "--", sys.executable, "-c", child)
    assert result.returncode == 1
    assert not marker.exists()
    assert "DATABASE_URL: missing" in result.stderr
    assert "LOG_LEVEL: missing" in result.stderr
    assert "Traceback" not in result.stderr
    app.assert_no_value_printed()


def test_run_in_prod_requires_prod_secrets(app: App, tmp_path: Path) -> None:
    """run --env prod refuses to start when a prod-only secret is missing, though dev would start."""
    marker = tmp_path / "child-started"
    del app.dotenv["LLM_KEY"]
    child = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('started')"
    prod = app.run("run", *SCHEMA, "--env", "prod", "--", sys.executable, "-c", child)
    assert prod.returncode == 1
    assert "LLM_KEY: missing" in prod.stderr
    assert not marker.exists()
    dev = app.run("run", *SCHEMA, "--", sys.executable, "-c", child)
    assert dev.returncode == 0, dev.stderr
    assert marker.exists()
    app.assert_no_value_printed()


def test_run_with_unknown_command_is_an_error(app: App) -> None:
    """A command that cannot be started is a usage error naming it, without a traceback."""
    result = app.run("run", *SCHEMA, "--", str(app.cwd / "no-such-program"))
    assert result.returncode == 2
    assert "no-such-program" in result.stderr
    assert "Traceback" not in result.stderr
    app.assert_no_value_printed()


def test_check_and_run_read_platform_secrets_from_the_store(app: App) -> None:
    """A value put in the _platform tenant is found by check (source store:dev, version, rotation due), injected by
    run, and each read is an audited use with purpose config:<field>."""
    del app.dotenv["DATABASE_URL"]
    for args, stdin in (
        (("init",), ""),
        (("tenant", "create", "_platform"), ""),
        (("secret", "put", "_platform", "database_url", "--kind", "platform"), app.values["DATABASE_URL"]),
    ):
        result = app.run(*args, stdin=stdin)
        assert result.returncode == 0, result.stderr

    checked = app.run("check", *SCHEMA, "--json")
    assert checked.returncode == 0, checked.stderr
    row = next(f for f in json.loads(checked.stdout)["fields"] if f["name"] == "database_url")
    assert (row["source"], row["version"], row["status"]) == ("store:dev", "1", "ok")
    assert 89 * 86400 < row["rotation_due_in_seconds"] <= 90 * 86400

    child = "import os, hashlib; print(hashlib.sha256(os.environ['DATABASE_URL'].encode()).hexdigest())"
    ran = app.run("run", *SCHEMA, "--", sys.executable, "-c", child)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == _digest(app.values["DATABASE_URL"])

    tail = app.run("audit", "tail", "--json")
    assert tail.returncode == 0, tail.stderr
    uses = [
        e
        for e in json.loads(tail.stdout)
        if e["action"] == "secret.use" and e["tenant"] == "_platform" and e["outcome"] == "ok"
    ]
    assert len(uses) >= 2
    assert {e["purpose"] for e in uses} == {"config:database_url"}
    assert {e["secret_name"] for e in uses} == {"database_url"}
    app.assert_no_value_printed()
