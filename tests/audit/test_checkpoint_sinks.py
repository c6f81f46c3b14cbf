"""Checkpoints reach each sink outside the database and read back from it: a file, syslog over UDP on
loopback, an S3 bucket with object lock (moto's server), and stdout; the spec's mistakes are named."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.provider_fixtures.moto_kms import REGION, MotoServer, start_moto_server, use_fake_credentials

from strongroom.audit.checkpoints import (
    FileSink,
    S3Sink,
    StdoutSink,
    SyslogSink,
    parse_line,
    read_checkpoints,
    sinks_from_spec,
)
from strongroom.errors import InvalidInput
from strongroom.vault import Vault


def _busy(vault: Vault, tenant: str = "acme") -> None:
    vault.create_tenant(tenant)
    vault.put(tenant, "db", "postgres://checkpointed")
    with vault.use(tenant, "db", purpose="test") as secret:
        secret.reveal()


def test_a_vault_opened_with_defaults_leaves_a_checkpoint_file_at_close(
    store_url: str, key_provider: object, tmp_path: Path
) -> None:
    """In a home that exists (``strongroom init`` made it), checkpoints go to a file of its own; a vault whose
    home does not exist writes none, and creates no directory where it was started."""
    nowhere = tmp_path / "not-made"
    with Vault.open(store_url, key_provider=key_provider, home=nowhere) as elsewhere:  # type: ignore[arg-type]
        _busy(elsewhere, "other")
    assert not nowhere.exists()
    home = tmp_path / "home"
    home.mkdir()
    vault = Vault.open(store_url, key_provider=key_provider, home=home, actor="test")  # type: ignore[arg-type]
    _busy(vault)
    vault.put("acme", "db", "postgres://moved-on")
    heads = vault.audit_heads()
    vault.close()
    path = home / "audit" / "dev-checkpoints.jsonl"
    [checkpoint] = read_checkpoints(str(path))
    assert checkpoint.heads == {c: h for c, h in heads.items() if c.startswith("dev/")}
    assert path.stat().st_mode & 0o777 == 0o600
    with Vault.open(store_url, key_provider=key_provider, home=home, checkpoints="off") as again:  # type: ignore[arg-type]
        assert again.verify_audit_checkpoints([checkpoint]).ok
        assert again.audit_public_key()  # what a verifier elsewhere is given


def test_a_checkpoint_is_written_only_when_the_heads_moved(open_vault: Callable[..., Vault], tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    vault = open_vault(checkpoints=f"file:{path}")
    _busy(vault)
    vault.checkpoint_audit()
    vault.checkpoint_audit()  # forced: written again
    vault.close()  # nothing moved since: no third line
    assert len(read_checkpoints(str(path))) == 2


def test_syslog_over_udp_carries_a_checkpoint_that_verifies(open_vault: Callable[..., Vault]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        port = receiver.getsockname()[1]
        vault = open_vault(checkpoints="off")
        _busy(vault)
        [sink] = sinks_from_spec(f"syslog://127.0.0.1:{port}")
        assert isinstance(sink, SyslogSink)
        written = vault.checkpoint_audit([sink])
        receiver.settimeout(30)  # a datagram on loopback arrives at once; this only bounds a broken test
        message = receiver.recv(65535).decode()
    assert message.startswith("<"), message  # a syslog priority, then the line
    found = parse_line(message, "udp")
    assert found is not None
    assert found.heads == written.heads
    assert vault.verify_audit_checkpoints([found]).ok


def test_stdout_sink_prints_one_line(open_vault: Callable[..., Vault], capsys: pytest.CaptureFixture[str]) -> None:
    vault = open_vault(checkpoints="off")
    _busy(vault)
    vault.checkpoint_audit([StdoutSink()])
    [line] = capsys.readouterr().out.splitlines()
    found = parse_line(line)
    assert found is not None
    assert vault.verify_audit_checkpoints([found]).ok


@pytest.mark.parametrize(
    ("spec", "named"),
    [
        ("syslog://nohost", "syslog://host:port"),
        ("s3://", "name a bucket"),
        ("s3://b/p?mode=SOMETIMES", "mode=COMPLIANCE|GOVERNANCE"),
        ("ftp://x", "is not known"),
    ],
)
def test_a_wrong_sink_is_named_with_the_fix(spec: str, named: str) -> None:
    with pytest.raises(InvalidInput, match="checkpoint sink") as refused:
        sinks_from_spec(spec)
    assert named in str(refused.value)


def test_a_mangled_checkpoint_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text('{"strongroom_audit_checkpoint": 1, "heads": 7}\n')
    with pytest.raises(InvalidInput, match=r"c\.jsonl:1: not a checkpoint"):
        read_checkpoints(str(path))


# -- S3 with object lock, on moto's server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[MotoServer]:
    server = start_moto_server()
    yield server
    server.stop()


@pytest.mark.slow
def test_s3_with_object_lock_keeps_checkpoints_nobody_can_delete(
    moto_s3: MotoServer, open_vault: Callable[..., Vault], monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from botocore.exceptions import ClientError

    use_fake_credentials(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_s3.endpoint)
    bucket = f"audit-{os.urandom(4).hex()}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    vault = open_vault(checkpoints="off")
    _busy(vault)
    [sink] = sinks_from_spec(f"s3://{bucket}/strongroom?retain_days=30")
    assert isinstance(sink, S3Sink)
    written = vault.checkpoint_audit([sink])

    [item] = s3.list_object_versions(Bucket=bucket)["Versions"]
    head = s3.head_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
    [found] = read_checkpoints(f"s3://{bucket}/strongroom")
    assert found.heads == written.heads
    assert vault.verify_audit_checkpoints([found]).ok


def test_file_sink_appends(tmp_path: Path, open_vault: Callable[..., Vault]) -> None:
    vault = open_vault(checkpoints="off")
    _busy(vault)
    sink = FileSink(tmp_path / "deep" / "c.jsonl")
    vault.checkpoint_audit([sink])
    vault.put("acme", "db", "postgres://again")
    vault.checkpoint_audit([sink])
    first, second = read_checkpoints(str(sink.path))
    assert second.events > first.events
    assert (tmp_path / "deep").stat().st_mode & 0o777 == 0o700


class _Recording:
    """A sink that keeps what it is given and says when it got one; ``fail`` makes it raise."""

    def __init__(self, *, fail: bool = False) -> None:
        self.name = "failing" if fail else "recording"
        self.written: list[object] = []
        self.arrived = threading.Event()
        self.fail = fail

    def write(self, checkpoint: object) -> None:
        if self.fail:
            raise OSError("disk full (injected)")
        self.written.append(checkpoint)
        self.arrived.set()


def test_the_interval_thread_writes_without_waiting_for_close(open_vault: Callable[..., Vault]) -> None:
    vault = open_vault(checkpoints="off")
    _busy(vault)
    sink = _Recording()
    vault.start_checkpoints([sink], interval_seconds=0.01)
    assert sink.arrived.wait(timeout=60)  # woken by the sink; the bound only ends a broken test
    assert sink.written


def test_a_failing_sink_is_logged_once_and_never_stops_the_vault(
    open_vault: Callable[..., Vault], caplog: pytest.LogCaptureFixture
) -> None:
    vault = open_vault(checkpoints="off")
    broken, working = _Recording(fail=True), _Recording()
    vault.start_checkpoints([broken, working], interval_seconds=3600)
    _busy(vault)
    vault.checkpoint_audit()
    vault.put("acme", "db", "postgres://still-working")
    vault.checkpoint_audit()
    assert len(working.written) == 2
    failures = [r for r in caplog.records if "not written to failing" in r.getMessage()]
    assert len(failures) == 1
    assert "OSError" in failures[0].getMessage()
