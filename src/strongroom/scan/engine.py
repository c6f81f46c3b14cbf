"""Scanning text: one prefilter pass over the whole text, rule regexes only on the lines it flags.

The prefilter (``strongroom.rules.prefilter``) is Hyperscan, Aho-Corasick or a keyword regex, whichever is
installed; text in which it finds nothing costs that one pass and nothing else. Findings never hold the
secret: only the rule, where it is, its length, and a keyed fingerprint.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.rules.prefilter import Prefilter, make_prefilter

ALLOW_MARKER = "strongroom:allow"
SPAN_WINDOW = 2048  # bytes around a candidate line that a multi-line rule (a JSON key file) is run on
_ALLOW_BYTES = ALLOW_MARKER.encode()


@dataclass(frozen=True, slots=True)
class Finding:
    """A secret found: which rule, where, and how long it is. Never the value."""

    rule_id: str
    description: str
    severity: str
    path: str
    line: int
    column: int
    length: int
    fingerprint: str = ""  # keyed HMAC of rule id and secret (see ``fingerprint``): stable, never reversible
    commit: str | None = None  # set for findings in git history
    author: str | None = None
    date: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def masked(self) -> str:
        return f"[REDACTED:{self.rule_id} {self.length} chars]"


def _without_generic_duplicates(findings: list[Finding]) -> list[Finding]:
    """A generic rule's finding yields to a provider rule's finding of the same secret (one report, the
    specific one): `aws_secret_access_key = "..."` is an AWS secret key, not also a generic assignment."""
    specific = {(f.line, f.column) for f in findings if not f.rule_id.startswith("generic-")}
    if not specific:
        return findings
    return [f for f in findings if not (f.rule_id.startswith("generic-") and (f.line, f.column) in specific)]


# How a line ends when its name's value is on the next line: a markup tag, a YAML block scalar.
_OPENS_NEXT_LINE = (b">", b"|", b"|-", b"|+", b">-", b">+")


def _continues(line: bytes, next_line: bytes) -> bool:
    """Whether a value on ``next_line`` may belong to a name on ``line`` (the context model's next-line
    forms: ``<token>`` or ``token: |`` then the value; ``- name: TOKEN`` then ``value: ...``)."""
    return line.rstrip().endswith(_OPENS_NEXT_LINE) or next_line.lstrip(b" \t-").lower().startswith(
        (b"value", b'"value', b"'value")
    )


def _value_window(data: bytes, start: int) -> tuple[int, int]:
    """The candidate line at ``start``, with the line before or after it where a value may continue there.

    Most candidate lines hold name and value together; only these few are worth a wider regex run."""
    end = data.find(b"\n", start)
    end = len(data) if end == -1 else end
    low, high = start, end
    if start:
        before = data.rfind(b"\n", 0, start - 1) + 1
        if _continues(data[before : start - 1], data[start:end]):
            low = before
    if end < len(data):
        after = data.find(b"\n", end + 1)
        after = len(data) if after == -1 else after
        if _continues(data[start:end], data[end + 1 : after]):
            high = after
    return low, high


def fingerprint(key: bytes, rule_id: str, secret: str) -> str:
    """HMAC-SHA256 of the rule id and the secret under ``key``, 128 bits in hex.

    Keyed so that a fingerprint in a report or baseline cannot be matched against a table of hashes of
    common passwords, nor across repositories that use different keys.
    """
    message = rule_id.encode() + b"\0" + secret.encode("utf-8", "surrogatepass")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


class ValueMatcher(Protocol):
    """Finds exact stored values (``strongroom.scan.known.KnownValues``) beside the rules."""

    rule_id: str

    def scan_bytes(self, data: bytes, path: str) -> list[Finding]: ...


class Scanner:
    """The rules, a prefilter over them, and the key fingerprints are computed under.

    ``fingerprint_key`` defaults to a random key per scanner: fingerprints then tell findings of one run
    apart but mean nothing across runs. A baseline supplies its own key so they stay comparable.
    """

    def __init__(
        self,
        rules: Sequence[Rule] = RULES,
        *,
        fingerprint_key: bytes | None = None,
        prefilter: str = "auto",
        known: ValueMatcher | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.fingerprint_key = fingerprint_key or os.urandom(32)
        self.known = known
        self._prefilter: Prefilter = make_prefilter(self.rules, prefilter)

    @property
    def prefilter(self) -> str:
        return self._prefilter.name

    def scan_bytes(
        self, data: bytes, path: str = "<bytes>", *, skip_rules: frozenset[str] = frozenset()
    ) -> list[Finding]:
        """Every rule match in ``data`` whose secret passes the rule's entropy floor and checksum, and every
        exact stored value if the scanner was given ``known`` values."""
        findings = self._rule_findings(data, path, skip_rules)
        if self.known is not None and self.known.rule_id not in skip_rules:
            findings += self.known.scan_bytes(data, path)
        return findings

    def _rule_findings(self, data: bytes, path: str, skip_rules: frozenset[str]) -> list[Finding]:
        candidates = self._prefilter.candidates(data)
        if not candidates:
            return []
        findings: list[Finding] = []
        spanning: dict[int, list[int]] = {}  # multi-line rule index -> candidate line starts
        line_number, counted_to = 1, 0
        for start in sorted(candidates):
            end = data.find(b"\n", start)
            raw = data[start:] if end == -1 else data[start:end]
            if _ALLOW_BYTES in raw:
                continue
            line = raw.decode("utf-8", "replace")
            line_number += data.count(b"\n", counted_to, start)  # in C, and each byte counted once
            counted_to = start
            for index in sorted(candidates[start]):
                rule = self.rules[index]
                if rule.id in skip_rules:
                    continue
                if rule.multiline or rule.spans_lines:
                    spanning.setdefault(index, []).append(start)
                    continue
                for match in rule.regex.finditer(line):
                    secret = rule.secret_of(match)
                    if not secret or not rule.accepts(secret):
                        continue
                    column = match.start("secret" if "secret" in rule.regex.groupindex else 0) + 1
                    findings.append(
                        Finding(
                            rule.id,
                            rule.description,
                            rule.severity,
                            path,
                            line_number,
                            column,
                            len(secret),
                            fingerprint(self.fingerprint_key, rule.id, secret),
                        )
                    )
        for index, starts in sorted(spanning.items()):  # rule order, whichever prefilter found them
            findings += self._spanning_findings(self.rules[index], data, starts, path)
        return _without_generic_duplicates(findings)

    def _spanning_findings(self, rule: Rule, data: bytes, starts: list[int], path: str) -> list[Finding]:
        """A rule whose match may cross lines, run on a window around each candidate line: ``SPAN_WINDOW``
        bytes either side for a multi-line rule (a JSON key file), the lines before and after for a rule
        whose value may follow its name on the next line (``<token>`` then the value)."""
        found: dict[int, Finding] = {}
        low_line, counted_to = 1, 0  # the line number of `low`: windows come in order, so count each byte once
        for start in starts:
            if rule.multiline:
                low = max(0, start - SPAN_WINDOW)
                low = data.rfind(b"\n", 0, low) + 1 if low else 0  # whole lines, so offsets decode cleanly
                high = start + SPAN_WINDOW
            else:
                low, high = _value_window(data, start)
            low_line += data.count(b"\n", counted_to, low)
            counted_to = low
            window = data[low:high].decode("utf-8", "replace")
            for match in rule.regex.finditer(window):
                secret = rule.secret_of(match)
                if not secret or not rule.accepts(secret):
                    continue
                where = low + len(
                    window[: match.start("secret" if "secret" in rule.regex.groupindex else 0)].encode(
                        "utf-8", "surrogatepass"
                    )
                )
                line_start = data.rfind(b"\n", 0, where) + 1
                line_end = data.find(b"\n", where)
                if where in found or _ALLOW_BYTES in data[line_start : line_end if line_end != -1 else None]:
                    continue
                column = len(data[line_start:where].decode("utf-8", "replace")) + 1
                found[where] = Finding(
                    rule.id,
                    rule.description,
                    rule.severity,
                    path,
                    low_line + data.count(b"\n", low, where),
                    column,
                    len(secret),
                    fingerprint(self.fingerprint_key, rule.id, secret),
                )
        return list(found.values())

    def scan_text(self, text: str, path: str = "<text>") -> list[Finding]:
        return self.scan_bytes(text.encode("utf-8", "surrogatepass"), path)

    def scan_lines(self, lines: Iterable[str | bytes], path: str) -> Iterable[Finding]:
        """Stream a large log: scanned in chunks of about a megabyte of whole lines, line numbers kept."""
        chunk: list[bytes] = []
        first_line = 1
        size = 0
        for line in lines:
            raw = line if isinstance(line, bytes) else line.encode("utf-8", "surrogatepass")
            chunk.append(raw)
            size += len(raw)
            if size >= 1 << 20:
                yield from self._scan_chunk(chunk, path, first_line)
                first_line += len(chunk)
                chunk, size = [], 0
        if chunk:
            yield from self._scan_chunk(chunk, path, first_line)

    def _scan_chunk(self, chunk: list[bytes], path: str, first_line: int) -> list[Finding]:
        return [replace(f, line=f.line + first_line - 1) for f in self.scan_bytes(b"".join(chunk), path)]
