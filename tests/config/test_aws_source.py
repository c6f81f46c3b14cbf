"""The AWS Secrets Manager source against moto's server mode: a real HTTP server process on loopback.

Nothing is patched inside the test process: boto3 signs and sends real requests to ``moto.server``.
The credentials are fake (``testing``); no live AWS account is touched.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from strongroom import Secret  # noqa: E402 -- after the importorskip guards
from strongroom.config import ConfigError, Settings, report, secret  # noqa: E402
from strongroom.config.sources import SourceKey, SourceUnavailable  # noqa: E402
from strongroom.config.sources.aws import INSTALL_HINT, AwsSecretsManagerSource  # noqa: E402
from strongroom.config.sources.env import EnvSource  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

from ..conftest import connections_received, finishes  # noqa: E402, TID252 -- pytest's importlib mode resolves the package

REGION = "us-east-1"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}


class AwsSettings(Settings):
    api_key: Secret[str] = secret(sensitivity="high")
    webhook_secret: Secret[str] = secret(sensitivity="critical", rotate="30d")
    log_level: str = "info"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        connection.request("GET", "/")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _use_fake_credentials(patch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        patch.delenv(name, raising=False)
    for name, value in FAKE_CREDENTIALS.items():
        patch.setenv(name, value)


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials for a test that talks to no moto server (so it fails on the network, not on signing)."""
    _use_fake_credentials(monkeypatch)


@pytest.fixture(scope="session")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``moto.server`` on a free loopback port, with fake credentials in this process and in the server's."""
    port = _free_port()
    log = tmp_path_factory.mktemp("moto") / "server.log"
    with pytest.MonkeyPatch.context() as patch:
        _use_fake_credentials(patch)
        with log.open("wb") as output:
            server = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(os.environ),
            )
        try:
            deadline = time.monotonic() + 60
            while not _answers(port):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"moto.server did not start on port {port}:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


@pytest.fixture
def aws(moto_endpoint: str) -> Any:
    """A plain boto3 client on the moto server, for arranging secrets."""
    return boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto_endpoint)


@pytest.fixture
def prefix() -> str:
    """A prefix of this test's own, so tests share the server without seeing each other's secrets."""
    return f"t{uuid.uuid4().hex[:12]}/"


def _source(endpoint: str, prefix: str, **options: Any) -> AwsSecretsManagerSource:
    return AwsSecretsManagerSource(prefix, endpoint_url=endpoint, region=REGION, **options)


def _closed_port() -> int:
    return _free_port()  # bound, then closed: nothing listens there


@pytest.mark.slow
def test_load_reads_values_and_reports_source_and_version(
    moto_endpoint: str, aws: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A schema loads its secrets from AWS, and the check report names the secret and its VersionId."""
    api_key, webhook = make_canary("api"), make_canary("hook")
    made = aws.create_secret(Name=f"{prefix}prod/api_key", SecretString=api_key)
    aws.create_secret(Name=f"{prefix}prod/webhook_secret", SecretBinary=webhook.encode())
    before = time.time()

    settings = AwsSettings.load(environment="prod", sources=[_source(moto_endpoint, prefix)])

    assert settings.api_key.reveal() == api_key
    assert settings.webhook_secret.reveal() == webhook  # SecretBinary, decoded as UTF-8
    assert settings.log_level == "info"
    rows = {row.name: row for row in report(settings)}
    assert rows["api_key"].source == f"aws:{prefix}prod/api_key"
    assert rows["api_key"].version == made["VersionId"]
    assert rows["api_key"].updated_at is not None
    assert abs(rows["api_key"].updated_at - before) < 120
    assert rows["webhook_secret"].source == f"aws:{prefix}prod/webhook_secret"
    assert rows["webhook_secret"].version is not None
    assert rows["webhook_secret"].rotation_due(time.time()) is not None
    assert rows["log_level"].source is None
    assert_not_leaked([api_key, webhook], settings, rows, settings.api_key)


@pytest.mark.parametrize(("overlap_seconds", "expect_previous"), [(600, True), (0, False)])
@pytest.mark.slow
def test_rotation_is_seen_after_refresh_with_overlap(
    moto_endpoint: str,
    aws: Any,
    prefix: str,
    make_canary: Callable[[str], str],
    *,
    overlap_seconds: float,
    expect_previous: bool,
) -> None:
    """After put_secret_value, refresh() shows the new value; candidates() keeps the old one only in the window."""
    old, new, hook = make_canary("old"), make_canary("new"), make_canary("hook")
    aws.create_secret(Name=f"{prefix}prod/api_key", SecretString=old)
    aws.create_secret(Name=f"{prefix}prod/webhook_secret", SecretString=hook)
    settings = AwsSettings.load(
        environment="prod", sources=[_source(moto_endpoint, prefix)], overlap_seconds=overlap_seconds
    )
    assert settings.api_key.candidates() == [old]  # no AWSPREVIOUS yet

    rotated = aws.put_secret_value(SecretId=f"{prefix}prod/api_key", SecretString=new)
    assert settings.api_key.reveal() == old  # still cached: the TTL has not run out
    settings.api_key.refresh()

    assert settings.api_key.reveal() == new
    assert settings.api_key.candidates() == ([new, old] if expect_previous else [new])
    found = _source(moto_endpoint, prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert found is not None
    assert (found.value, found.version, found.previous) == (new, rotated["VersionId"], old)
    assert found.previous_replaced_at == found.updated_at
    assert_not_leaked([old, new, hook], settings, found, report(settings))


def test_missing_secret_is_reported_by_name_without_values(
    moto_endpoint: str, aws: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A secret absent from AWS makes load() fail naming the variable and "aws", and no value."""
    present = make_canary("present")
    aws.create_secret(Name=f"{prefix}prod/api_key", SecretString=present)
    source = _source(moto_endpoint, prefix)
    assert source.get(SourceKey("webhook_secret", "WEBHOOK_SECRET", "prod")) is None

    with pytest.raises(ConfigError) as caught:
        AwsSettings.load(environment="prod", sources=[source])

    assert len(caught.value.problems) == 1
    problem = caught.value.problems[0]
    assert problem.startswith("WEBHOOK_SECRET: missing")
    assert "looked in aws" in problem
    assert_not_leaked([present], caught.value, caught.value.problems)


@pytest.mark.usefixtures("fake_credentials")
def test_unreachable_endpoint_is_unavailable_naming_the_source(prefix: str) -> None:
    """A closed port gives SourceUnavailable naming the secret, the error and the endpoint, within seconds."""
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    source = AwsSecretsManagerSource(prefix, endpoint_url=endpoint, region=REGION, timeout_seconds=0.5)
    with pytest.raises(SourceUnavailable) as direct:
        finishes(lambda: source.get(SourceKey("api_key", "API_KEY", "prod")), within=30)
    with pytest.raises(ConfigError) as loaded:
        finishes(lambda: AwsSettings.load(environment="prod", sources=[source]), within=30)

    assert (
        str(direct.value)
        == f"AWS Secrets Manager secret {prefix}prod/api_key (AWSCURRENT): EndpointConnectionError at {endpoint}"
    )
    problems = loaded.value.problems
    assert [p.split(":")[0] for p in problems] == ["API_KEY", "WEBHOOK_SECRET"], problems  # log_level has a default
    assert all(p.split(":")[1].strip().startswith("missing") for p in problems), problems
    assert all("aws unavailable" in p and "EndpointConnectionError" in p for p in problems), problems


@pytest.mark.usefixtures("fake_credentials")
@pytest.mark.slow
def test_silent_endpoint_times_out_once_per_load(prefix: str) -> None:
    """A server that accepts but never answers costs one read timeout for a whole load, not one per field."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        source = AwsSecretsManagerSource(prefix, endpoint_url=endpoint, region=REGION, timeout_seconds=1.0)
        with pytest.raises(ConfigError) as caught:
            finishes(lambda: AwsSettings.load(environment="prod", sources=[source]), within=60)
        attempts = connections_received(silent)
    first = caught.value.problems[0]
    assert first.startswith("API_KEY: missing"), first
    assert f"{prefix}prod/api_key (AWSCURRENT): ReadTimeoutError at {endpoint}" in first
    assert "not tried, ReadTimeoutError" in caught.value.problems[1]
    # One lookup for the whole load, of MAX_ATTEMPTS (2) attempts in all; a lookup per field would be 4.
    assert attempts == 2, attempts


def test_binary_secret_that_is_not_utf8_is_named_not_shown(
    moto_endpoint: str, aws: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """SecretBinary that is not UTF-8 raises a ConfigError naming the secret id; the bytes are nowhere in it."""
    canary = make_canary("binary")
    aws.create_secret(Name=f"{prefix}prod/api_key", SecretBinary=b"\xff\xfe" + canary.encode())
    with pytest.raises(ConfigError) as caught:
        _source(moto_endpoint, prefix).get(SourceKey("api_key", "API_KEY", "prod"))
    assert f"{prefix}prod/api_key" in str(caught.value)
    assert "not UTF-8" in str(caught.value)
    assert_not_leaked([canary], caught.value)


def test_error_other_than_not_found_is_a_problem_not_a_fall_through(
    moto_endpoint: str, aws: Any, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """A secret pending deletion (InvalidRequestException) is a problem naming the code, even with a lower source."""
    canary, lower = make_canary("deleted"), make_canary("lower")
    aws.create_secret(Name=f"{prefix}prod/api_key", SecretString=canary)
    aws.delete_secret(SecretId=f"{prefix}prod/api_key", RecoveryWindowInDays=7)
    source = _source(moto_endpoint, prefix)
    with pytest.raises(ConfigError) as direct:
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert type(direct.value) is ConfigError  # broken, not SourceUnavailable
    assert str(direct.value) == f"AWS Secrets Manager secret {prefix}prod/api_key (AWSCURRENT): InvalidRequestException"
    assert direct.value.__context__ is None
    with pytest.raises(ConfigError) as loaded:
        AwsSettings.load(environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})])
    assert loaded.value.problems == [f"API_KEY: {direct.value}"]
    assert_not_leaked([canary, lower], direct.value, loaded.value)


def test_no_credentials_is_unavailable_and_lower_sources_answer(
    monkeypatch: pytest.MonkeyPatch, moto_endpoint: str, prefix: str, make_canary: Callable[[str], str]
) -> None:
    """Without AWS credentials the source is unavailable (NoCredentialsError) and a lower source is used."""
    lower = make_canary("lower")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    source = _source(moto_endpoint, prefix)
    with pytest.raises(SourceUnavailable, match="NoCredentialsError"):
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    settings = AwsSettings.load(
        environment="prod", sources=[source, EnvSource({"API_KEY": lower, "WEBHOOK_SECRET": lower})]
    )
    assert settings.api_key.reveal() == lower
    assert settings.api_key.source == "env"


def test_missing_boto3_asks_for_the_extra(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """Without boto3 the source raises ConfigError with the install hint, on first use."""
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes `import boto3` raise ImportError
    source = AwsSecretsManagerSource(prefix, region=REGION)
    with pytest.raises(ConfigError) as caught:
        source.get(SourceKey("api_key", "API_KEY", "prod"))
    assert str(caught.value) == INSTALL_HINT


def test_importing_the_source_does_not_import_boto3() -> None:
    """`import strongroom.config` and the aws module itself leave boto3 and botocore unloaded."""
    code = (
        "import sys, strongroom.config, strongroom.config.sources.aws\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=Path(__file__).parent
    ).stdout
    assert out.strip() == "[]"
