"""``strongroom drill``: the real CLI against the example app run as a real process, and the steps in-process.

The end-to-end tests copy examples/platform_app into ``tmp_path``, start its token service (a real HTTP
server on loopback that accepts a set of tokens), register the example's ``token-service`` rotator the way a
user's package would (a ``*.dist-info`` with an ``entry_points.txt`` on the subprocesses' ``PYTHONPATH``), put
the dev secrets in a fresh store, start ``python app.py serve`` and run ``strongroom drill`` against it. Every
secret value is generated here (canaries) and none may appear in any output, log or report.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from strongroom import Secret
from strongroom.config import Settings, secret
from strongroom.config.sources.env import EnvSource
from strongroom.config.sources.store import StoreSource
from strongroom.errors import InvalidInput
from strongroom.rotation import Rotations
from strongroom.rotation.drill import (
    FAIL,
    PASS,
    SKIP,
    DrillReport,
    HealthProbe,
    StepResult,
    logs_step,
    required_steps,
    rotate_step,
    run_drill,
)
from strongroom.vault import Vault
from strongroom.vocabulary import PLATFORM_TENANT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "platform_app"
SCHEMA = "settings:PlatformSettings"
DEV_REQUIRED = ("database_url", "jwt_signing_key", "service_token", "webhook_signing_secret")


def _cli() -> list[str]:
    script = Path(sys.executable).with_name("strongroom")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "strongroom.cli.main"]


def _token_service_module() -> Any:
    spec = importlib.util.spec_from_file_location("example_token_service", EXAMPLE / "token_service.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Deployment:
    """The example app's world: a store, the token service, the rotator plugin, the app process."""

    def __init__(self, root: Path, make_canary: Callable[[str], str]) -> None:
        self.dir = root / "platform_app"
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".env", ".env.local"))
        self.home = root / "home"
        self.log = root / "app.log"
        self.junit = root / "drill.xml"
        plugins = root / "plugins"
        info = plugins / "platform_app_rotators-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: platform-app-rotators\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(
            "[strongroom.rotators]\ntoken-service = token_service:TokenServiceRotator\n"
        )
        self.values = {name: make_canary(name.replace("_", "-")) for name in DEV_REQUIRED}
        self.values["database_url"] = f"postgresql://app:{make_canary('db-password')}@db.internal:5432/app"
        self.service = _token_service_module().TokenService(0, (self.values["service_token"],))
        threading.Thread(target=self.service.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
        for spec in _schema_fields():
            self.env.pop(spec, None)
        self.env.update(
            STRONGROOM_HOME=str(self.home),
            STRONGROOM_SECRETS_DIR=str(root / "no-secrets-dir"),
            NO_COLOR="1",
            COLUMNS="80",
            PYTHONPATH=os.pathsep.join([str(plugins), str(self.dir)]),
            TOKEN_SERVICE_URL=self.service.url,
            ROTATION_OVERLAP="1s",  # longer than the app's TTL below: it must read the new token in time
            SECRETS_TTL_SECONDS="0.2",
            PORT="0",
        )
        init = subprocess.run([*_cli(), "init"], env=self.env, capture_output=True, text=True, check=False)
        assert init.returncode == 0, init.stderr
        with self.vault() as vault:
            vault.create_tenant(PLATFORM_TENANT)
            for name, value in self.values.items():
                vault.put(PLATFORM_TENANT, name, value)
        self.app: subprocess.Popen[str] | None = None

    def vault(self) -> Vault:
        return Vault.open(f"sqlite:///{self.home / 'strongroom.db'}", home=self.home, environment="dev")

    def start_app(self, script: str = "app.py") -> str:
        """Start the app; its health URL, once it listens (it prints the URL when its socket is bound)."""
        with self.log.open("w") as log:
            self.app = subprocess.Popen(
                [sys.executable, script, "serve"],
                cwd=self.dir,
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        assert self.app.stdout is not None
        line = self.app.stdout.readline()
        assert line.startswith("serving on "), (line, self.log.read_text())
        return line.split()[-1]

    def drill(self, url: str, *args: str) -> subprocess.CompletedProcess[str]:
        command = [*_cli(), "drill", "--schema", SCHEMA, "--env", "dev", "--health", url, "--logs", str(self.log)]
        return subprocess.run(
            [*command, "--junit", str(self.junit), *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def close(self) -> None:
        if self.app is not None:
            self.app.kill()
            self.app.communicate()
        self.service.shutdown()
        self.service.server_close()

    def assert_no_value_in(self, *texts: str) -> None:
        seen = "\n".join([*texts, self.log.read_text(), self.junit.read_text() if self.junit.exists() else ""])
        for name, value in self.values.items():
            assert value.split(":")[-1].split("@")[0] not in seen, f"{name} leaked"
            assert value not in seen, f"{name} leaked"


def _schema_fields() -> list[str]:
    import re

    text = (EXAMPLE / "settings.py").read_text()
    names = re.findall(r"^    (\w+): ", text, flags=re.MULTILINE)
    envs = re.findall(r'env="(\w+)"', text)
    return [n.upper() for n in names] + envs + ["ROTATION_OVERLAP", "SECRETS_TTL_SECONDS"]


@pytest.fixture
def deployment(tmp_path: Path, make_canary: Callable[[str], str]) -> Iterator[Deployment]:
    world = Deployment(tmp_path, make_canary)
    yield world
    world.close()


@pytest.mark.slow
def test_drill_passes_on_the_example_app(deployment: Deployment) -> None:
    """Both rotatable secrets rotate with every probe healthy, each dev-required secret fails the load when
    removed, the app's log holds no stored value; JUnit says the same, and the token service now accepts only
    the new token."""
    url = deployment.start_app()
    proc = deployment.drill(url)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    lines = proc.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    for name in ("jwt_signing_key", "service_token"):
        assert any(line.startswith(f"PASS  rotate    {name} ") for line in lines), lines
    for env in ("DATABASE_URL", "JWT_SIGNING_KEY", "SERVICE_TOKEN", "WEBHOOK_SIGNING_SECRET"):
        assert any(line.startswith(f"PASS  required  {env} ") for line in lines), lines
    assert any(line.startswith("PASS  logs ") for line in lines), lines
    assert lines[-1] == "drill passed: 7 step(s)"
    suite = ET.parse(deployment.junit).getroot().find("testsuite")  # noqa: S314 -- written by the drill
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("7", "0")
    with deployment.vault() as vault, vault.use(PLATFORM_TENANT, "service_token", purpose="test") as token:
        assert token.version == 2
        assert deployment.service.accepted == {token.reveal()}  # the old token was revoked at the provider
    deployment.assert_no_value_in(proc.stdout, proc.stderr)


@pytest.mark.slow
def test_drill_fails_the_rotate_step_for_an_app_that_caches_its_token(deployment: Deployment) -> None:
    """An app that read SERVICE_TOKEN once at start-up keeps presenting the revoked token after the overlap:
    the drill exits 1 naming the rotate step of service_token, and only that step."""
    (deployment.dir / "cached_app.py").write_text(
        "import sys\n\nimport app\n\n"
        "settings = app.load()\n"
        "token = settings.service_token.reveal()  # read once at start-up and kept: the bug a drill catches\n"
        "sys.exit(app.serve(settings, service_token=lambda: token))\n"
    )
    url = deployment.start_app("cached_app.py")
    proc = deployment.drill(url, "--json")
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    report = json.loads(proc.stdout)
    assert report["failed"] == ["rotate service_token"]
    step = next(s for s in report["steps"] if s["target"] == "service_token")
    assert "unhealthy" in step["detail"]
    # Healthy until the previous token was revoked, then refused at once.
    assert step["detail"].endswith(("(retire): HTTP 503", "(after): HTTP 503"))
    assert "drill failed: rotate service_token" in proc.stderr
    failures = ET.parse(deployment.junit).getroot().iter("failure")  # noqa: S314 -- written by the drill
    assert [f.get("type") for f in failures] == ["rotate"]
    deployment.assert_no_value_in(proc.stdout, proc.stderr)


# -- the steps in-process ----------------------------------------------------------------------------------


class _Schema(Settings):
    api_token: Secret[str] = secret(rotate="30d", rotator="random", rotator_options={"length": 40})
    other_key: Secret[str] = secret(rotate="30d")
    optional_key: Secret[str] = secret(required_in=("prod",))


def _health(
    status: Callable[[int], int], identity: Callable[[int], int] = lambda _n: 1
) -> type[BaseHTTPRequestHandler]:
    """A health endpoint answering ``status(n)`` to its n-th probe, with process id ``identity(n)``."""
    lock, count = threading.Lock(), [0]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                count[0] += 1
                n = count[0]
            body = json.dumps({"pid": identity(n), "started_at": 1.0}).encode()
            self.send_response(status(n))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def _rotate(vault: Vault, port: int, **kwargs: Any) -> StepResult:
    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "api_token", "first-value-of-api-token-0123456789")
    spec = _Schema.fields()["api_token"]
    with HealthProbe(f"http://127.0.0.1:{port}/health", interval=0.01) as health:
        return rotate_step(vault, spec, health, rotations=Rotations(vault), **kwargs)


def test_rotate_step_sets_the_schema_policy_and_passes_with_a_healthy_app(
    vault: Vault, start_http_server: Callable[..., int]
) -> None:
    port = start_http_server(_health(lambda _n: 200))
    step = _rotate(vault, port)
    assert (step.step, step.target, step.status) == ("rotate", "api_token", PASS), step.detail
    assert "policy from schema" in step.detail
    policy = vault.rotation_repo.policy(PLATFORM_TENANT, "api_token")
    assert policy is not None
    assert policy.rotator == "random"
    assert [v.stage for v in vault.versions(PLATFORM_TENANT, "api_token")] == ["retired", "current"]


def test_rotate_step_fails_on_an_unhealthy_probe(vault: Vault, start_http_server: Callable[..., int]) -> None:
    port = start_http_server(_health(lambda n: 503 if n == 3 else 200))
    step = _rotate(vault, port, settle_probes=5)
    assert step.status == FAIL
    assert "1 of" in step.detail
    assert "HTTP 503" in step.detail


def test_rotate_step_does_not_rotate_under_an_app_that_is_down(vault: Vault) -> None:
    """Nothing listens at the health URL: the step fails before rotating, and the secret keeps its version."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    step = _rotate(vault, port)
    assert step.status == FAIL
    assert "not healthy before the rotation" in step.detail
    assert [v.version for v in vault.versions(PLATFORM_TENANT, "api_token")] == [1]


def test_rotate_step_fails_when_the_app_restarted(vault: Vault, start_http_server: Callable[..., int]) -> None:
    """Every probe answered 200, but the process id changed: a restart, which a drill must not accept."""
    port = start_http_server(_health(lambda _n: 200, identity=lambda n: 1 if n < 3 else 2))
    step = _rotate(vault, port, settle_probes=5)
    assert step.status == FAIL
    assert "restarted" in step.detail


def test_rotate_step_waits_out_the_overlap_before_retiring(
    open_vault: Callable[..., Vault], start_http_server: Callable[..., int]
) -> None:
    """With an overlap the previous version is retired only after it ends: the drill waits (here on an injected
    clock, the vault's and the engine's, that the wait advances) and then retires it."""
    now = [1_000_000.0]
    waited: list[float] = []

    def wait(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    vault = open_vault(clock=lambda: now[0])
    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "api_token", "first-value-of-api-token-0123456789")
    rotations = Rotations(vault, clock=lambda: now[0])
    rotations.set_policy(PLATFORM_TENANT, "api_token", every="30d", rotator="random", overlap="1h")
    port = start_http_server(_health(lambda _n: 200))
    with HealthProbe(f"http://127.0.0.1:{port}/health", interval=0.01) as health:
        spec = _Schema.fields()["api_token"]
        step = rotate_step(vault, spec, health, rotations=rotations, clock=lambda: now[0], wait=wait)
    assert step.status == PASS, step.detail
    assert waited == [3600.0]
    assert [v.stage for v in vault.versions(PLATFORM_TENANT, "api_token")] == ["retired", "current"]


def test_retire_refuses_until_the_overlap_ends(open_vault: Callable[..., Vault]) -> None:
    """``Rotations.retire`` never cuts an overlap short and never starts a rotation."""
    now = [1_000_000.0]
    vault = open_vault(clock=lambda: now[0])
    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "api_token", "first-value-of-api-token-0123456789")
    rotations = Rotations(vault, clock=lambda: now[0])
    assert rotations.retire(PLATFORM_TENANT, "api_token").reason == "no finished rotation waits to retire"
    rotations.set_policy(PLATFORM_TENANT, "api_token", every="30d", rotator="random", overlap="1h")
    assert rotations.rotate(PLATFORM_TENANT, "api_token").status == "retiring"
    early = rotations.retire(PLATFORM_TENANT, "api_token")
    assert (early.status, early.reason) == ("skipped", "the overlap has not ended")
    assert [v.stage for v in vault.versions(PLATFORM_TENANT, "api_token")] == ["previous", "current"]
    now[0] += 3600
    assert rotations.retire(PLATFORM_TENANT, "api_token").status == "succeeded"
    assert [v.stage for v in vault.versions(PLATFORM_TENANT, "api_token")] == ["retired", "current"]


def test_rotate_step_fails_when_the_rotation_fails(vault: Vault, start_http_server: Callable[..., int]) -> None:
    class Refused(_Schema):
        api_token: Secret[str] = secret(rotate="30d", rotator="no-such-rotator")

    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "api_token", "first-value-of-api-token-0123456789")
    port = start_http_server(_health(lambda _n: 200))
    with HealthProbe(f"http://127.0.0.1:{port}/health", interval=0.01) as health:
        step = rotate_step(vault, Refused.fields()["api_token"], health, rotations=Rotations(vault))
    assert step.status == FAIL
    assert "unknown rotator 'no-such-rotator'" in step.detail


def test_required_steps_name_exactly_the_removed_secret(make_canary: Callable[[str], str]) -> None:
    values = {"API_TOKEN": make_canary("a"), "OTHER_KEY": make_canary("b")}
    steps = required_steps(_Schema, "dev", sources=[EnvSource(values)])
    assert [(s.target, s.status) for s in steps] == [("API_TOKEN", PASS), ("OTHER_KEY", PASS)]
    assert all(v not in s.detail for s in steps for v in values.values())


def test_required_steps_fail_when_the_schema_does_not_load_at_all(make_canary: Callable[[str], str]) -> None:
    steps = required_steps(_Schema, "dev", sources=[EnvSource({"API_TOKEN": make_canary("a")})])
    assert [(s.target, s.status) for s in steps] == [("(all present)", FAIL)]
    assert "OTHER_KEY" in steps[0].detail


def test_run_drill_only_limits_the_rotate_and_required_steps(
    vault: Vault, start_http_server: Callable[..., int]
) -> None:
    class Stored(_Schema):
        @classmethod
        def sources(cls) -> list[Any]:
            return [StoreSource(vault)]

    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "api_token", "first-value-of-api-token-0123456789")
    vault.put(PLATFORM_TENANT, "other_key", "value-of-other-key-0123456789")
    url = f"http://127.0.0.1:{start_http_server(_health(lambda _n: 200))}/health"
    report = run_drill(Stored, vault, health_url=url, only="OTHER_KEY")
    assert [(s.step, s.target, s.status) for s in report.steps] == [
        ("rotate", "OTHER_KEY", SKIP),
        ("required", "OTHER_KEY", PASS),
        ("logs", "0 path(s)", SKIP),
    ]
    report = run_drill(Stored, vault, health_url=url, only="api_token", interval=0.01)
    assert [(s.step, s.target, s.status) for s in report.steps][:2] == [
        ("rotate", "api_token", PASS),
        ("required", "API_TOKEN", PASS),
    ]
    assert report.passed
    with pytest.raises(InvalidInput, match="--only 'nope'"):
        run_drill(Stored, vault, health_url=url, only="nope")


def test_logs_step_finds_a_stored_value_and_names_only_the_secret(
    vault: Vault, tmp_path: Path, make_canary: Callable[[str], str]
) -> None:
    value = make_canary("leaky")
    vault.create_tenant(PLATFORM_TENANT)
    vault.put(PLATFORM_TENANT, "leaky", value)
    clean, leaky = tmp_path / "clean.log", tmp_path / "logs" / "app.log"
    leaky.parent.mkdir()
    clean.write_text("GET /health 200\n" * 100)
    leaky.write_text(f"GET /health 200\nconnecting with password={value} to db\n")
    assert logs_step(vault, [clean]).status == PASS
    step = logs_step(vault, [clean, tmp_path / "logs"])
    assert step.status == FAIL
    assert "app.log:2: stored secret _platform/leaky v1" in step.detail
    assert value not in step.detail
    assert logs_step(vault, []).status == SKIP
    assert logs_step(vault, [tmp_path / "absent.log"]).status == FAIL


def test_report_lines_fit_80_columns_and_junit_counts_each_step() -> None:
    report = DrillReport("m:C", "dev")
    report.steps += [
        StepResult("rotate", "api_token", PASS, "v2, 40 probes healthy, previous retired", 1.5),
        StepResult("required", "OTHER_KEY", FAIL, "the schema loads without OTHER_KEY: " + "x" * 100),
        StepResult("logs", "0 path(s)", SKIP, "no --logs given"),
    ]
    assert all(len(s.line()) <= 80 for s in report.steps)
    root = ET.fromstring(report.to_junit())  # noqa: S314 -- made by the drill
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    assert report.to_dict()["failed"] == ["required OTHER_KEY"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--health", "ftp://127.0.0.1/health"], "--health must be an http:// or https:// URL"),
        (["--health", "http://127.0.0.1:9/health", "--interval", "0"], "--interval must be positive"),
    ],
)
def test_bad_input_exits_2_naming_the_option(
    cli_invoke: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path, args: list[str], message: str
) -> None:
    proc = cli_invoke(
        ["drill", "--schema", "settings:PlatformSettings", *args],
        env={"STRONGROOM_HOME": str(tmp_path), "NO_COLOR": "1", "COLUMNS": "200"},
    )
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
