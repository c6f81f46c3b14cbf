"""Scanning text: one keyword prefilter over the whole text, rule regexes only on the lines it hits.

The prefilter is a single compiled alternation of every rule's keywords (case-insensitive), so text
without any keyword costs one pass of the regex engine and nothing else. Findings never hold the secret:
only the rule, where it is, and its length.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from strongroom.rules import RULES
from strongroom.rules.base import Rule

ALLOW_MARKER = "strongroom:allow"
_NEWLINE = re.compile("\n")


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def masked(self) -> str:
        return f"[REDACTED:{self.rule_id} {self.length} chars]"


class Scanner:
    def __init__(self, rules: Sequence[Rule] = RULES) -> None:
        self.rules = tuple(rules)
        self._by_keyword: dict[str, list[int]] = {}
        for index, rule in enumerate(self.rules):
            for keyword in rule.keywords:
                self._by_keyword.setdefault(keyword, []).append(index)
        # Longest first, so a keyword that contains another is reported as itself.
        alternation = "|".join(re.escape(k) for k in sorted(self._by_keyword, key=len, reverse=True))
        self._prefilter = re.compile(alternation, re.IGNORECASE)

    def scan_text(self, text: str, path: str = "<text>") -> list[Finding]:
        """Every rule match in ``text`` whose secret passes the rule's entropy floor and checksum."""
        candidates: dict[int, set[int]] = {}  # line start offset -> rule indexes to try on that line
        for hit in self._prefilter.finditer(text):
            start = text.rfind("\n", 0, hit.start()) + 1
            candidates.setdefault(start, set()).update(self._by_keyword[hit.group(0).lower()])
        if not candidates:
            return []
        newlines: list[int] | None = None
        findings: list[Finding] = []
        for start in sorted(candidates):
            end = text.find("\n", start)
            line = text[start:] if end == -1 else text[start:end]
            if ALLOW_MARKER in line:
                continue
            for index in sorted(candidates[start]):
                rule = self.rules[index]
                for match in rule.regex.finditer(line):
                    secret = rule.secret_of(match)
                    if not secret or not rule.accepts(secret):
                        continue
                    if newlines is None:
                        newlines = [m.start() for m in _NEWLINE.finditer(text)]  # in C, not per char
                    findings.append(Finding(rule.id, rule.description, rule.severity, path,
                                            bisect.bisect_right(newlines, start) + 1,
                                            match.start("secret" if "secret" in rule.regex.groupindex else 0) + 1,
                                            len(secret)))
        return findings

    def scan_lines(self, lines: Iterable[str], path: str) -> Iterable[Finding]:
        """Stream a large log: scanned in chunks of lines, line numbers kept."""
        chunk: list[str] = []
        first_line = 1
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line)
            if size >= 1 << 20:
                yield from self._scan_chunk(chunk, path, first_line)
                first_line += len(chunk)
                chunk, size = [], 0
        if chunk:
            yield from self._scan_chunk(chunk, path, first_line)

    def _scan_chunk(self, chunk: list[str], path: str, first_line: int) -> list[Finding]:
        text = "".join(chunk)
        return [Finding(f.rule_id, f.description, f.severity, f.path, f.line + first_line - 1, f.column, f.length)
                for f in self.scan_text(text, path)]
