"""The example app (examples/platform_app) started through the real ``strongroom run``, in a subprocess.

Each test works on a copy of the example directory in ``tmp_path`` with a throwaway ``$STRONGROOM_HOME``, no
inherited ``STRONGROOM_*`` variables and none of the schema's own variables. Every secret value is generated
by the test; half reach ``strongroom run`` through its environment and half through a ``.env`` in the copy,
and no test lets one of them appear in stdout or stderr.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform_app"
SCHEMA = "settings:PlatformSettings"


def _load_schema() -> Any:
    """The example's ``PlatformSettings`` class, imported from its file (the test reads names from it)."""
    spec = importlib.util.spec_from_file_location("example_platform_app_settings", EXAMPLE / "settings.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(spec.name, None)
    return module.PlatformSettings


PLATFORM_SETTINGS = _load_schema()
FIELDS = PLATFORM_SETTINGS.fields()
SECRETS = {spec.env: spec for spec in FIELDS.values() if spec.is_secret}  # variable -> FieldSpec
ALL_VARIABLES = {spec.env for spec in FIELDS.values()}


def _required(environment: str) -> list[str]:
    return [env for env, spec in SECRETS.items() if spec.required(environment)]


def _cli() -> list[str]:
    """The installed ``strongroom`` console script next to this Python, else its module entry point."""
    script = Path(sys.executable).with_name("strongroom")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "strongroom.cli.main"]


class Example:
    """A copy of the example app, the values the test generated for it, and every output seen."""

    def __init__(self, root: Path, make_canary: Callable[[str], str]) -> None:
        self.dir = root / "platform_app"
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".env", ".env.local"))
        self.home = root / "strongroom-home"
        self.secrets_dir = root / "no-secrets-dir"  # absent: keeps the host's /run/secrets out of the test
        self.values: dict[str, str] = {}
        self.tokens: dict[str, str] = {}  # the random part of each value (the password inside DATABASE_URL)
        for env in SECRETS:
            token = self.tokens[env] = make_canary(env.lower().replace("_", "-"))
            self.values[env] = f"postgresql://app:{token}@db.internal:5432/app" if env == "DATABASE_URL" else token
        names = sorted(self.values)
        self.via_env = names[0::2]
        self.via_dotenv = names[1::2]
        self.outputs: list[str] = []

    def write_dotenv(self, omit: Collection[str] = ()) -> None:
        lines = [f'{env}="{self.values[env]}"' for env in self.via_dotenv if env not in omit]
        (self.dir / ".env").write_text("\n".join(["# written by the test", *lines]) + "\n", encoding="utf-8")

    def environ(self, environment: str | None, omit: Collection[str] = ()) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_") and k not in ALL_VARIABLES}
        env.update(
            STRONGROOM_HOME=str(self.home), STRONGROOM_SECRETS_DIR=str(self.secrets_dir), NO_COLOR="1", COLUMNS="250"
        )
        if environment is not None:
            env["STRONGROOM_ENV"] = environment
        env.pop("FORCE_COLOR", None)
        env.update({name: self.values[name] for name in self.via_env if name not in omit})
        return env

    def run(
        self, environment: str | None, *args: str, omit: Collection[str] = (), command: list[str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``STRONGROOM_ENV=environment strongroom [args] run --schema settings:PlatformSettings -- python app.py``."""
        self.write_dotenv(omit)
        child = command or [sys.executable, "app.py"]
        return self.cli(environment, *args, "run", "--schema", SCHEMA, "--", *child, omit=omit)

    def cli(self, environment: str | None, *args: str, omit: Collection[str] = ()) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [*_cli(), *args],
            cwd=self.dir,
            env=self.environ(environment, omit),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.outputs += [proc.stdout, proc.stderr]
        return proc

    def assert_no_value_printed(self) -> None:
        seen = "\n".join(self.outputs)
        leaked = [env for env, token in self.tokens.items() if token in seen]
        assert not leaked, f"values of {leaked} appeared in the output"


@pytest.fixture
def example(tmp_path: Path, make_canary: Callable[[str], str]) -> Example:
    return Example(tmp_path, make_canary)


def test_schema_declares_a_secret_per_platform_category() -> None:
    """The example schema has at least eight secrets, with rotation periods, some required only in preview/prod."""
    assert len(SECRETS) >= 8
    assert all(spec.rotate_seconds for spec in SECRETS.values())
    assert any(spec.required_in == ("preview", "prod") for spec in SECRETS.values())
    assert set(_required("prod")) == set(SECRETS)
    assert set(_required("dev")) < set(SECRETS)


@pytest.mark.parametrize("environment", ["dev", "prod"])
@pytest.mark.slow
def test_app_starts_under_strongroom_run(example: Example, environment: str) -> None:
    """With every secret supplied (half environment, half .env), the app starts and names each secret's source."""
    proc = example.run(environment)
    assert proc.returncode == 0, proc.stderr
    assert f"started in {environment} with {len(SECRETS)} secrets" in proc.stdout
    for spec in SECRETS.values():
        line = next(line for line in proc.stdout.splitlines() if line.split()[:1] == [spec.name])
        assert line.split()[1:] == [spec.env, "env"]  # strongroom run injected it into the child's environment
    assert "log_level=info port=8000" in proc.stdout
    example.assert_no_value_printed()


def test_child_receives_exactly_the_generated_values(example: Example) -> None:
    """Values from the environment and from .env both reach the child as environment variables (compared by digest)."""
    digests = (
        "import hashlib, os, sys\nfor n in sys.argv[1:]: print(n, hashlib.sha256(os.environ[n].encode()).hexdigest())"
    )
    proc = example.run("prod", command=[sys.executable, "-c", digests, *sorted(SECRETS)])
    assert proc.returncode == 0, proc.stderr
    got = dict(line.split() for line in proc.stdout.splitlines())
    assert got == {env: hashlib.sha256(value.encode()).hexdigest() for env, value in example.values.items()}
    example.assert_no_value_printed()


@pytest.mark.slow
def test_secrets_optional_in_dev_may_be_absent_in_dev(example: Example) -> None:
    """In dev the preview/prod-only secrets may be missing: the app still starts and reports them absent."""
    optional = set(SECRETS) - set(_required("dev"))
    proc = example.run("dev", omit=optional)
    assert proc.returncode == 0, proc.stderr
    assert f"started in dev with {len(SECRETS) - len(optional)} secrets" in proc.stdout
    assert proc.stdout.count("absent (optional in dev)") == len(optional)
    example.assert_no_value_printed()


@pytest.mark.parametrize(
    ("environment", "missing"),
    [("prod", env) for env in sorted(_required("prod"))] + [("dev", env) for env in sorted(_required("dev"))],
)
@pytest.mark.slow
def test_any_missing_required_secret_stops_run_before_the_app(example: Example, environment: str, missing: str) -> None:
    """Removing one required secret makes `strongroom run` exit 1 naming it, without starting the app."""
    proc = example.run(environment, omit={missing})
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "started" not in proc.stdout
    assert "not starting" not in proc.stderr  # the app's own message: it must never have run
    assert f"error: configuration of PlatformSettings for {environment} has 1 problem(s)" in proc.stderr
    assert f"{missing}: missing (required in {environment}" in proc.stderr
    example.assert_no_value_printed()


def test_two_missing_secrets_are_both_listed(example: Example) -> None:
    """Removing two required secrets (one from the environment, one from .env) lists both names in one report."""
    gone = {example.via_env[0], example.via_dotenv[0]}
    proc = example.run("prod", omit=gone)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "started" not in proc.stdout
    assert "has 2 problem(s)" in proc.stderr
    for name in gone:
        assert f"{name}: missing (required in prod" in proc.stderr
    example.assert_no_value_printed()


def test_env_example_placeholders_are_refused(example: Example) -> None:
    """The shipped .env.example copied to .env as it is: `strongroom run` refuses it, naming every placeholder."""
    shutil.copyfile(example.dir / ".env.example", example.dir / ".env")
    proc = example.cli("prod", "run", "--schema", SCHEMA, "--", sys.executable, "app.py", omit=SECRETS)
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    assert "started" not in proc.stdout
    for env in SECRETS:
        assert f"{env}: looks like a placeholder, not a real value (from .env)" in proc.stderr
    example.assert_no_value_printed()


@pytest.mark.slow
def test_run_env_option_reaches_the_child(example: Example) -> None:
    """`strongroom run --env prod` starts a child that loads its settings in prod too, not in the default dev."""
    proc = example.run(None, "--env", "prod")
    assert proc.returncode == 0, proc.stderr
    assert f"started in prod with {len(SECRETS)} secrets" in proc.stdout
    example.assert_no_value_printed()
