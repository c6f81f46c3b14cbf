#!/usr/bin/env python
"""Cost of ``scan --known`` with per-tenant fingerprint keys: tenants x candidate strings HMACs.

Each stored value is fingerprinted under its own tenant's key, so the scanner tests every candidate string
once per tenant key that holds a value of the candidate's length. This bench measures the matcher alone
(``strongroom.scan.known.KnownValues.scan_bytes``: the part that grows with tenants) on real text: the
``.py`` files of this interpreter's standard library, concatenated up to ``--mb`` megabytes, with one stored
value of each of a few tenants planted in it. Per number of tenants it prints MB/s, the HMACs computed
(counted) and the time per HMAC; and, to show what a vault adds, the time ``Vault.known_fingerprints`` takes
to derive every tenant's key on a SQLite store of ``--vault-tenants`` tenants (one unwrap per tenant).

    .venv/bin/python bench/known_bench.py                       # 5 MB, 1..1000 tenants
    .venv/bin/python bench/known_bench.py --mb 2 --tenants 1 10 100
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import secrets
import string
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from strongroom.scan import known as known_module
from strongroom.scan.known import KnownValues

ALNUM = string.ascii_letters + string.digits
LENGTHS = (24, 32, 40, 64)  # a few typical stored-value lengths; every tenant holds one of each


@dataclass(frozen=True)
class Entry:
    tenant: str
    name: str
    version: int
    fingerprint: str
    length: int
    key_ref: int


def corpus(megabytes: float) -> bytes:
    limit = int(megabytes * 1024 * 1024)
    parts: list[bytes] = []
    size = 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).rglob("*.py")):
        data = path.read_bytes()
        parts.append(data)
        size += len(data)
        if size >= limit:
            break
    return b"\n".join(parts)[:limit]


def value(length: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(length))


def matcher(tenants: int) -> tuple[KnownValues, list[str]]:
    keys = [secrets.token_bytes(32) for _ in range(tenants)]
    entries: list[Entry] = []
    planted: list[str] = []
    for ref, key in enumerate(keys):
        for length in LENGTHS:
            stored = value(length)
            digest = hmac.digest(key, stored.encode(), hashlib.sha256).hex()
            entries.append(Entry(f"t{ref}", f"s{length}", 1, digest, length, ref))
            if ref < 3 and length == 32:
                planted.append(stored)
    return KnownValues(keys, entries, fingerprint_key=secrets.token_bytes(32)), planted


class CountingHmac:
    """Counts the HMACs the matcher computes (wraps ``hmac.digest`` as the module sees it)."""

    def __init__(self) -> None:
        self.calls = 0
        self._digest = hmac.digest

    def digest(self, key: bytes, msg: bytes, digest: str) -> bytes:
        self.calls += 1
        return self._digest(key, msg, digest)


def bench_matcher(text: bytes, tenants: int) -> tuple[float, int, int]:
    values, planted = matcher(tenants)
    data = text + b"\n" + b"\n".join(f"password={v}".encode() for v in planted) + b"\n"
    counter = CountingHmac()
    original = known_module.hmac
    known_module.hmac = counter  # type: ignore[assignment]
    try:
        values.scan_bytes(data, "count")
    finally:
        known_module.hmac = original
    started = time.perf_counter()
    findings = values.scan_bytes(data, "bench")
    elapsed = time.perf_counter() - started
    assert len(findings) == len(planted), (len(findings), len(planted))
    return elapsed, counter.calls, len(data)


def bench_vault(tenants: int) -> float:
    from strongroom.crypto import LocalKeyProvider
    from strongroom.vault import Vault

    with tempfile.TemporaryDirectory() as tmp:
        provider = LocalKeyProvider.create_file(Path(tmp) / "keys" / "dev.json", "dev")
        with Vault.open(f"sqlite:///{tmp}/bench.db", key_provider=provider, actor="bench") as vault:
            for index in range(tenants):
                vault.create_tenant(f"t{index}")
                vault.put(f"t{index}", "k", value(32))
        with Vault.open(f"sqlite:///{tmp}/bench.db", key_provider=provider, actor="bench") as vault:
            started = time.perf_counter()
            known = vault.known_fingerprints()
            elapsed = time.perf_counter() - started
            assert len(known.keys) == tenants
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=5.0, help="megabytes of text to scan (default 5)")
    parser.add_argument("--tenants", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--vault-tenants", type=int, default=200, help="tenants in the vault timing (0: skip)")
    args = parser.parse_args()
    text = corpus(args.mb)
    print(f"text: {len(text) / 1e6:.1f} MB; every tenant stores {len(LENGTHS)} values of lengths {LENGTHS}")
    print(f"{'tenants':>8} {'seconds':>9} {'MB/s':>8} {'HMACs':>12} {'us/HMAC':>8}")
    for tenants in args.tenants:
        elapsed, hmacs, size = bench_matcher(text, tenants)
        per = elapsed / hmacs * 1e6 if hmacs else 0.0
        print(f"{tenants:>8} {elapsed:>9.2f} {size / 1e6 / elapsed:>8.2f} {hmacs:>12,} {per:>8.2f}")
    if args.vault_tenants:
        seconds = bench_vault(args.vault_tenants)
        print(f"Vault.known_fingerprints, {args.vault_tenants} tenants (SQLite, local key file): {seconds:.3f} s")


if __name__ == "__main__":
    main()
