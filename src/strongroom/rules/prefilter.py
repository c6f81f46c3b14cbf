"""Prefilters: one pass over a whole file that says which lines a rule could match on.

Only those lines are then decoded and given to the rules' Python regexes, so the cost of a scan is the
cost of the prefilter pass plus a little per candidate. Three implementations, best first:

- ``hyperscan``: every rule's own regex compiled into one Hyperscan database in *prefilter* mode (it
  accepts the lookarounds Hyperscan cannot run exactly and may over-report, never under-report).
  Candidates are then almost always real matches. Compiling 150 rules takes seconds, so the compiled
  database is cached under ``$XDG_CACHE_HOME/strongroom`` keyed by a digest of the rules.
- ``ahocorasick``: one Aho-Corasick automaton (pyahocorasick) over every rule's keywords.
- ``regex``: the same keywords as one ``re`` alternation, for an install without the ``[scan]`` extra.

All three work on bytes and report lines by their start offset.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from strongroom.rules.base import Rule

# line start offset -> indexes of the rules to try on that line
Candidates = dict[int, set[int]]


class Prefilter(Protocol):
    name: str

    def candidates(self, data: bytes) -> Candidates: ...


def _line_start(data: bytes, offset: int) -> int:
    return data.rfind(b"\n", 0, offset) + 1


def _keyword_index(rules: Sequence[Rule]) -> dict[str, list[int]]:
    """Each keyword's rules, plus the rules of every keyword inside it: a match of `secret_access_key`
    then also stands for `access_key`, so no matcher can lose a keyword to a longer one around it."""
    by_keyword: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        for keyword in rule.keywords:
            by_keyword.setdefault(keyword, []).append(index)
    return {
        keyword: sorted({i for other, indexes in by_keyword.items() if other in keyword for i in indexes})
        for keyword in by_keyword
    }


class RegexPrefilter:
    """Every keyword in one alternation over the lower-cased bytes (the standard library only).

    Lower-casing first and matching case-sensitively is several times faster in ``re`` than IGNORECASE.
    """

    name = "regex"

    def __init__(self, rules: Sequence[Rule]) -> None:
        self._by_keyword = {k.encode(): v for k, v in _keyword_index(rules).items()}
        # A lookahead, so that keywords overlapping each other are all seen (each position is tried); longest
        # first, and a keyword's index includes the keywords inside it.
        alternation = b"|".join(re.escape(k) for k in sorted(self._by_keyword, key=len, reverse=True))
        self._regex = re.compile(b"(?=(" + alternation + b"))")

    def candidates(self, data: bytes) -> Candidates:
        found: Candidates = {}
        for hit in self._regex.finditer(data.lower()):
            found.setdefault(_line_start(data, hit.start()), set()).update(self._by_keyword[hit.group(1)])
        return found


class AhoCorasickPrefilter:
    """Every keyword in one Aho-Corasick automaton, run over the lower-cased bytes."""

    name = "ahocorasick"

    def __init__(self, rules: Sequence[Rule]) -> None:
        import ahocorasick  # type: ignore[import-not-found]  # optional extra (no type stubs)

        self._automaton: Any = ahocorasick.Automaton()
        for keyword, indexes in _keyword_index(rules).items():
            self._automaton.add_word(keyword, tuple(indexes))
        self._automaton.make_automaton()

    def candidates(self, data: bytes) -> Candidates:
        found: Candidates = {}
        # latin-1 maps each byte to one code point, so offsets stay byte offsets; keywords are ASCII.
        for end, indexes in self._automaton.iter(data.lower().decode("latin-1")):
            found.setdefault(_line_start(data, end), set()).update(indexes)
        return found


def _hyperscan_version() -> str:
    from importlib.metadata import version

    return version("hyperscan")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "strongroom"


def _trusted(path: Path) -> bool:
    """A cached database is only loaded if it is ours and nobody else could have written it."""
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


class HyperscanPrefilter:
    """The rules' regexes themselves, compiled by Hyperscan in prefilter mode.

    Only for ASCII data: Hyperscan matches bytes while the rules run on decoded text, where ``[^\\n]{0,40}``
    counts characters and ``\\s`` includes Unicode spaces. Data with any non-ASCII byte goes to the keyword
    prefilter instead (``bytes.isascii`` is a vectorised check, so ASCII data pays nothing for this).
    """

    name = "hyperscan"

    def __init__(self, rules: Sequence[Rule], cache_dir: Path | None = None) -> None:
        import hyperscan  # optional extra, imported only when chosen

        self._keywords = _keyword_prefilter(rules)
        self._hs: Any = hyperscan
        expressions = [(rule.prefilter or rule.pattern).encode() for rule in rules]
        flags = [self._flags(rule) for rule in rules]
        digest = hashlib.sha256(repr((_hyperscan_version(), expressions, flags)).encode()).hexdigest()[:32]
        self._db = self._load(cache_dir or _cache_dir(), digest, expressions, flags)
        self._local = threading.local()  # a scratch space per thread: Hyperscan's scratch is not shareable

    def _flags(self, rule: Rule) -> int:
        hs = self._hs
        flags: int = hs.HS_FLAG_PREFILTER
        if rule.flags & re.IGNORECASE:
            flags |= hs.HS_FLAG_CASELESS
        if rule.flags & re.DOTALL:
            flags |= hs.HS_FLAG_DOTALL
        return flags

    def _load(self, cache_dir: Path, digest: str, expressions: list[bytes], flags: list[int]) -> Any:
        hs = self._hs
        cached = cache_dir / f"hyperscan-{digest}.db"
        try:
            if cached.is_file() and _trusted(cached):
                return hs.loadb(cached.read_bytes(), hs.HS_MODE_BLOCK)
        except (OSError, hs.error):
            pass  # unreadable or stale: compile afresh below
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=expressions, ids=list(range(len(expressions))), elements=len(expressions), flags=flags)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(hs.dumpb(db))
            os.chmod(partial, 0o600)
            os.replace(partial, cached)
        except OSError:
            pass  # a read-only home only costs the compile next time
        return db

    def _scratch(self) -> Any:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        return scratch

    def candidates(self, data: bytes) -> Candidates:
        if not data.isascii():
            return self._keywords.candidates(data)
        found: Candidates = {}
        self._db.scan(data, match_event_handler=_on_match, context=(data, found), scratch=self._scratch())
        return found


def _on_match(index: int, _start: int, end: int, _flags: int, context: tuple[bytes, Candidates]) -> None:
    # Module-level, with the data in `context`: a closure per scan would cost more than a short line's scan.
    data, found = context
    found.setdefault(_line_start(data, end - 1), set()).add(index)


PREFILTERS = ("hyperscan", "ahocorasick", "regex")


def _keyword_prefilter(rules: Sequence[Rule]) -> Prefilter:
    try:
        return AhoCorasickPrefilter(rules)
    except ImportError:
        return RegexPrefilter(rules)


class _NoRules:
    """The prefilter of an empty rule set (a scanner for known values only, or every rule excluded)."""

    name = "none"

    def candidates(self, data: bytes) -> Candidates:
        return {}


def make_prefilter(rules: Sequence[Rule], name: str = "auto") -> Prefilter:
    """The named prefilter, or with ``auto`` the best one whose package is installed."""
    if name not in ("auto", *PREFILTERS):
        raise ValueError(f"unknown prefilter {name!r}: choose one of auto, {', '.join(PREFILTERS)}")
    if not rules:
        return _NoRules()
    if name in ("auto", "hyperscan"):
        try:
            return HyperscanPrefilter(rules)
        except ImportError:
            if name == "hyperscan":
                raise
    if name in ("auto", "ahocorasick"):
        try:
            return AhoCorasickPrefilter(rules)
        except ImportError:
            if name == "ahocorasick":
                raise
    return RegexPrefilter(rules)
