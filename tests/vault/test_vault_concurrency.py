"""Concurrent check-and-set writers lose no update and leave contiguous versions."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from strongroom import Conflict
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

WRITERS = 8
WRITES_EACH = 6


def _write_with_cas(vault: Vault, writer: int) -> int:
    """Write WRITES_EACH versions, retrying on conflict; returns the number of conflicts seen."""
    conflicts = 0
    done = 0
    while done < WRITES_EACH:
        current = vault.list("t")[0].version if vault.list("t") else 0
        try:
            vault.put("t", "counter", f"writer{writer}-write{done}", expected_version=current)
            done += 1
        except Conflict:
            conflicts += 1
    return conflicts


# Run in fresh interpreters: real processes, each with its own connection pool and caches.
WORKER = """
import sys
from strongroom import Conflict
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault
url, key_file, writer, writes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
vault = Vault.open(url, key_provider=LocalKeyProvider.from_file(key_file), actor=f"writer{writer}")
done = 0
while done < writes:
    listed = vault.list("t")
    current = listed[0].version if listed else 0
    try:
        vault.put("t", "counter", f"writer{writer}-write{done}", expected_version=current)
        done += 1
    except Conflict:
        pass
vault.close()
"""


def _assert_no_update_lost(vault: Vault) -> None:
    versions = [v.version for v in vault.versions("t", "counter")]
    assert versions == list(range(1, WRITERS * WRITES_EACH + 1))
    values = set()
    for version in versions:
        with vault.use("t", "counter", purpose="check", version=version) as secret:
            values.add(secret.reveal())
    assert values == {f"writer{w}-write{i}" for w in range(WRITERS) for i in range(WRITES_EACH)}
    report = vault.verify_audit()
    assert report.ok, report.broken


def test_threads_on_sqlite(tmp_path: Path, key_provider: LocalKeyProvider) -> None:
    """Eight threads doing check-and-set puts on one SQLite secret: every write lands once, versions 1..N."""
    url = f"sqlite:///{tmp_path / 'cas.db'}"
    setup = Vault.open(url, key_provider=key_provider)
    setup.create_tenant("t")
    vaults = [Vault.open(url, key_provider=key_provider, actor=f"writer{i}") for i in range(WRITERS)]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            _write_with_cas(vaults[i], i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for vault in vaults:
        vault.close()
    assert errors == []
    _assert_no_update_lost(setup)
    setup.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_processes_on_postgres(postgres_url: str, key_provider: LocalKeyProvider) -> None:
    """Eight processes doing check-and-set puts on one PostgreSQL secret: every write lands once, versions 1..N."""
    setup = Vault.open(postgres_url, key_provider=key_provider)
    setup.create_tenant("t")
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, postgres_url, str(key_provider.path), str(i), str(WRITES_EACH)])
        for i in range(WRITERS)
    ]
    assert [proc.wait(timeout=120) for proc in procs] == [0] * WRITERS
    _assert_no_update_lost(setup)
    setup.close()
