"""Canaries: known values go through every operation and are then searched for everywhere they must not be.

Searched: the raw SQLite files (database, WAL, shared memory), every PostgreSQL row rendered as text, all
log records at DEBUG (SQLAlchemy's statement log included), every exception's text, reprs of everything
returned, and the CLI's stdout and stderr.
"""

from __future__ import annotations

import base64
import logging
import os
import subprocess
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from strongroom import StrongroomError
from strongroom.crypto import LocalKeyProvider
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault


def _forms(value: str) -> list[bytes]:
    raw = value.encode()
    return [raw, raw.hex().encode(), base64.b64encode(raw)]


def _assert_absent(haystack: bytes | str, canaries: list[str], where: str) -> None:
    data = haystack.encode(errors="replace") if isinstance(haystack, str) else haystack
    for value in canaries:
        for form in _forms(value):
            assert form not in data, f"canary found in {where}"


def _exercise(vault: Vault, canaries: list[str], errors: list[BaseException], returned: list[Any]) -> None:
    def attempt(fn: Callable[[], Any]) -> None:
        try:
            returned.append(fn())
        except StrongroomError as exc:
            errors.append(exc)

    first, second, third, oversize_marker = canaries
    returned.append(vault.create_tenant("acme"))
    returned.append(vault.create_tenant("other"))
    returned.append(vault.put("acme", "stripe", first, sensitivity="critical", description="stripe key"))
    returned.append(vault.put("acme", "stripe", second.encode(), expected_version=1))
    returned.append(vault.put("acme", "session", third, kind="ephemeral", ttl_seconds=600))
    attempt(lambda: vault.put("acme", "stripe", first, expected_version=1))  # conflict
    attempt(lambda: vault.put("acme", "big", oversize_marker * 5000))  # over the limit
    attempt(lambda: vault.put("nobody", "stripe", first))  # unknown tenant
    attempt(lambda: vault.put("acme", "bad/name", first))  # invalid name
    attempt(lambda: vault.put("acme", "stripe", first, kind="nope"))  # invalid kind
    attempt(lambda: vault.put("acme", "surrogate", first + "\ud800"))  # not Unicode
    with vault.use("acme", "stripe", purpose="charge", request_id="r1") as secret:
        returned.append(repr(secret))
        returned.append(f"{secret} {secret!s} {secret:>40}")
        assert secret.reveal() == second.encode()
        logging.getLogger("app").info("using %s and %r", secret, secret)
    with vault.use("acme", "stripe", purpose="old", version=1) as secret:
        assert secret.reveal() == first
    attempt(secret.reveal)  # used outside its block
    attempt(lambda: vault.use("acme", "missing", purpose="probe"))
    returned.append(vault.list("acme", include_deleted=True))
    returned.append(vault.versions("acme", "stripe"))
    returned.append(vault.rotate_data_key("acme"))
    returned.append(vault.put("other", "copy", first))
    vault.delete("acme", "session")
    vault.purge("other", "copy")
    returned.append(vault.audit_events())
    returned.append(vault.verify_audit())
    returned.append(repr(vault))
    vault.delete_tenant("other")


def test_no_canary_anywhere(
    store_url: str,
    key_provider: LocalKeyProvider,
    tmp_path: Path,
    make_canary: Callable[[str], str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After every vault operation, no canary value is in the database, the logs, errors or returned objects."""
    canaries = [make_canary("first"), make_canary("second"), make_canary("third"), make_canary("big")]
    errors: list[BaseException] = []
    returned: list[Any] = []
    caplog.set_level(logging.DEBUG)
    logging.getLogger("sqlalchemy.engine").setLevel(logging.INFO)  # statements and their parameters
    try:
        vault = Vault.open(store_url, key_provider=key_provider, actor="canary-test")
        _exercise(vault, canaries, errors, returned)
        vault.close()
    finally:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    assert len(errors) >= 7
    for exc in errors:
        _assert_absent("".join(traceback.format_exception(exc)), canaries, f"exception {type(exc).__name__}")
        assert_not_leaked(canaries, exc)  # the whole chain, suppressed contexts too
    _assert_absent(repr(returned), canaries, "returned objects")
    _assert_absent("\n".join(r.getMessage() for r in caplog.records), canaries, "log records")
    assert any("INSERT INTO secret_versions" in r.getMessage() for r in caplog.records), "statement log was off"
    _assert_absent(_database_bytes(store_url, tmp_path), canaries, "the database")


def _database_bytes(store_url: str, tmp_path: Path) -> bytes:
    if store_url.startswith("sqlite"):
        return b"".join(p.read_bytes() for p in tmp_path.glob("strongroom.db*"))
    from sqlalchemy import create_engine

    engine = create_engine(store_url.replace("postgresql://", "postgresql+psycopg://"))
    dump = []
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            dump += [str(row[0]) for row in conn.execute(text(f'SELECT t::text FROM "{table}" t'))]
    engine.dispose()
    assert any("\\x" in line for line in dump), "expected bytea columns in the dump"
    return "\n".join(dump).encode()


def test_no_canary_in_cli_output(
    tmp_path: Path, make_canary: Callable[[str], str], cli_invoke: Callable[..., subprocess.CompletedProcess[str]]
) -> None:
    """The CLI, fed canaries on stdin and in files, never prints them (stdout or stderr) nor stores them in clear.

    In-process through the real ``main()`` (``invoke_cli``), with the environment a subprocess would get."""
    value, file_value = make_canary("stdin"), make_canary("file")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_HOME"] = str(tmp_path / "home")
    value_file = tmp_path / "value.txt"
    value_file.write_text(file_value)
    outputs: list[str] = []

    def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        done = cli_invoke(args, env=env, cwd=tmp_path, stdin=stdin)
        outputs.extend((done.stdout, done.stderr))
        return done

    assert cli("init").returncode == 0
    assert cli("tenant", "create", "acme").returncode == 0
    assert cli("secret", "put", "acme", "k", stdin=value + "\n").returncode == 0
    assert cli("secret", "put", "acme", "f", "--from-file", str(value_file)).returncode == 0
    assert cli("secret", "put", "acme", "k", value).returncode == 2
    assert cli("secret", "put", "acme", "k", "--expected-version", "9", stdin=value).returncode == 1
    assert cli("secret", "put", "acme", "bad/name", stdin=value).returncode == 2
    for args in (
        ("secret", "list", "acme"),
        ("secret", "list", "acme", "--json"),
        ("secret", "versions", "acme", "k", "--json"),
        ("audit", "tail", "--json"),
        ("audit", "verify"),
        ("tenant", "list", "--json"),
    ):
        assert cli(*args).returncode == 0, args
    assert cli("secret", "delete", "acme", "k", "--purge").returncode == 0
    _assert_absent("\n".join(outputs), [value, file_value], "CLI output")
    home = tmp_path / "home"
    _assert_absent(b"".join(p.read_bytes() for p in home.glob("strongroom.db*")), [value, file_value], "database")
