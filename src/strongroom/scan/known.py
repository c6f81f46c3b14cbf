"""Exact leaks of stored values, found by keyed fingerprint: the scanner never holds a plaintext.

The vault gives one fingerprint key per tenant data key and, per stored version, HMAC-SHA256(its
tenant's key, value), which key that is (``key_ref``) and the value's length (``Vault.known_fingerprints``;
this module takes them as plain data, so the scanner stays free of the vault's imports). Scanning cuts the
text into candidate strings of exactly those lengths and tests each one's HMAC, under every key that has a
value of that length, against that key's own set: keys x candidates HMACs (docs/scanning.md).

Candidates are the runs of text between whitespace, quotes and brackets, and the pieces of a run between
the separators that surround values in logs, URLs and configs (``= : @ / & ? # , .``): so a value is found in
``password=<v>``, ``"token": "<v>"``, ``postgresql://user:<v>@host`` or ``?key=<v>&``. A value that itself
contains whitespace or quotes is not found (stated in docs/scanning.md).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from strongroom.scan.engine import Finding, fingerprint

RULE_ID = "known-secret"
_RUN = re.compile(rb"[^\s\"'`<>()\[\]{};|\\]+")
_SEPARATOR = re.compile(rb"[=:@/&?#,.]")
_MAX_STARTS = 4096  # separators considered per run: bounds the work on a pathological run


@dataclass(frozen=True, slots=True)
class KnownSecret:
    tenant: str
    name: str
    version: int

    def __str__(self) -> str:
        return f"{self.tenant}/{self.name} v{self.version}"


class StoredValue(Protocol):
    """One stored version as the vault describes it (``strongroom.vault.fingerprints.StoredFingerprint``)."""

    @property
    def tenant(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def fingerprint(self) -> str | None: ...
    @property
    def length(self) -> int: ...
    @property
    def key_ref(self) -> int: ...


class KnownValues:
    """The stored values' fingerprints, ready to test candidate strings against.

    ``keys`` are the vault's fingerprint keys (one per tenant data key; an entry names its own by
    ``key_ref``); ``fingerprint_key`` is the scanner's own key for the fingerprints it reports, so that
    report fingerprints are comparable with the other rules' ones.
    """

    rule_id = RULE_ID

    def __init__(self, keys: Sequence[bytes], entries: Iterable[StoredValue], *, fingerprint_key: bytes) -> None:
        self._report_key = fingerprint_key
        # per key: its digests; per length: the keys that have a value of that length (only those are tried)
        by_key: dict[int, dict[bytes, list[KnownSecret]]] = {}
        lengths: dict[int, set[int]] = {}
        for entry in entries:
            if entry.fingerprint is None or entry.length <= 0 or not 0 <= entry.key_ref < len(keys):
                continue
            owners = by_key.setdefault(entry.key_ref, {}).setdefault(bytes.fromhex(entry.fingerprint), [])
            owners.append(KnownSecret(entry.tenant, entry.name, entry.version))
            lengths.setdefault(entry.length, set()).add(entry.key_ref)
        self._count = sum(len(digests) for digests in by_key.values())
        self._by_length: dict[int, list[tuple[bytes, dict[bytes, list[KnownSecret]]]]] = {
            length: [(keys[ref], by_key[ref]) for ref in sorted(refs)] for length, refs in lengths.items()
        }
        self._lengths = frozenset(lengths)
        self._shortest = min(self._lengths, default=0)

    def __len__(self) -> int:
        return self._count

    def _spans(self, run: bytes) -> Iterable[tuple[int, int]]:
        size = len(run)
        if size in self._lengths:
            yield 0, size
        if size <= self._shortest:
            return
        cuts = [m.start() for m in _SEPARATOR.finditer(run)][:_MAX_STARTS]
        if not cuts:
            return
        ends = {*cuts, size}
        # Per start, only the stored lengths are tried: work grows with separators x distinct lengths.
        for start in (0, *(c + 1 for c in cuts)):
            for length in self._lengths:
                if start + length in ends and (start, start + length) != (0, size):
                    yield start, start + length

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]:
        if not self._count:
            return []
        findings: list[Finding] = []
        for run in _RUN.finditer(data):
            text = run.group()
            if len(text) < self._shortest:
                continue
            for start, end in self._spans(text):
                candidate = text[start:end]
                owners = [
                    owner
                    for key, digests in self._by_length[end - start]
                    for owner in digests.get(hmac.digest(key, candidate, "sha256"), ())
                ]
                if not owners:
                    continue
                offset = run.start() + start
                line_start = data.rfind(b"\n", 0, offset) + 1
                column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
                names = ", ".join(str(owner) for owner in owners)
                findings.append(
                    Finding(
                        RULE_ID,
                        f"stored secret {names}",
                        "critical",
                        path,
                        data.count(b"\n", 0, offset) + 1,
                        column,
                        len(candidate.decode("utf-8", "replace")),
                        fingerprint(self._report_key, RULE_ID, candidate.decode("utf-8", "surrogateescape")),
                    )
                )
        return findings
