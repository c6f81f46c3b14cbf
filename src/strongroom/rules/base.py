"""The shape of a detector rule, shared by the scanner and (later) the redactor.

A rule is a regex for one provider's credential format, written from that provider's documentation,
plus the literal keywords that must occur for it to possibly match (the prefilter), an optional
Shannon-entropy floor for the secret part, and an optional checksum where the provider defines one.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from strongroom.rules.context import spans_lines
from strongroom.rules.lookalikes import is_lookalike, repeats_its_name

SEVERITIES = ("low", "medium", "high", "critical")


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text`` (0 for empty text)."""
    if not text:
        return 0.0
    counts = Counter(text)
    total = len(text)
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def _name_at(text: str, at: int) -> str:
    """The identifier around offset ``at`` (where a keyed match starts: its label, the last word of a name)."""
    left = at
    while left > 0 and (text[left - 1].isalnum() or text[left - 1] == "_"):
        left -= 1
    right = at
    while right < len(text) and (text[right].isalnum() or text[right] == "_"):
        right += 1
    return text[left:right]


@dataclass(frozen=True)
class Rule:
    """One credential format. ``pattern`` may name a group ``secret``; otherwise the whole match is the secret."""

    id: str
    description: str
    pattern: str
    keywords: tuple[str, ...]
    entropy: float | None = None
    validate: Callable[[str], bool] | None = field(default=None, compare=False)
    severity: str = "high"
    flags: int = 0
    # What a compiling prefilter (Hyperscan) runs instead of ``pattern``: a looser superset that compiles
    # faster (``context.loosely_keyed``); empty means the pattern itself.
    prefilter: str = ""

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.id):
            raise ValueError(f"rule id {self.id!r} must be lower-case words joined by '-'")
        if not self.keywords or any(k != k.lower() or not k for k in self.keywords):
            raise ValueError(f"rule {self.id}: keywords must be non-empty lower-case literals")
        if self.severity not in SEVERITIES:
            raise ValueError(f"rule {self.id}: severity must be one of {SEVERITIES}")

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern, self.flags)

    @cached_property
    def spans_lines(self) -> bool:
        """Whether a match may continue on the next line (``<token>`` then the value): run on three lines."""
        return spans_lines(self.pattern)

    @cached_property
    def multiline(self) -> bool:
        """Whether a match may span lines (a JSON key file, say): such a rule is run on a window, not a line."""
        return "[\\s\\S]" in self.pattern or bool(self.flags & re.DOTALL)

    def secret_of(self, match: re.Match[str]) -> str:
        """The secret a match reports; empty when it is only its key's name again (``RegEnumKey =
        win32api.RegEnumKey``, ``"apiToken": "apiToken"``), which only the match, not the value, can tell."""
        if "secret" not in self.regex.groupindex:
            return match.group(0)
        secret = match.group("secret")
        if match.start("secret") > match.start() and repeats_its_name(_name_at(match.string, match.start()), secret):
            return ""
        return secret

    def accepts(self, secret: str) -> bool:
        """The entropy floor, no look-alike (a documented example, a placeholder, a fake sequence: see
        :mod:`strongroom.rules.lookalikes`) and the checksum, once the regex matched."""
        if not secret:
            return False
        if self.entropy is not None and shannon_entropy(secret) < self.entropy:
            return False
        if is_lookalike(secret):
            return False
        return self.validate is None or self.validate(secret)
