"""The three prefilters (Hyperscan, Aho-Corasick, keyword regex) lead to the same findings; Hyperscan's cache.

Fake credentials are made at run time (``strongroom.testing.samples`` when it is there, else drawn from each
rule's own regex), never written into this file.
"""

from __future__ import annotations

import json
import os
import random
import re
import stat
import string
from collections.abc import Iterator
from pathlib import Path
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]

import pytest

from strongroom.rules import RULES
from strongroom.rules import prefilter as prefilters
from strongroom.rules.base import Rule
from strongroom.scan import Finding, Scanner

ROOT = Path(__file__).resolve().parents[2]
NAMES = ("hyperscan", "ahocorasick", "regex")
KEY = bytes(range(32))  # the scanners' fingerprint key: the same for all, so findings compare equal
SEEDS = (0, 1, 2)

ASCII_FILLER = (
    "import logging",
    "logger = logging.getLogger(__name__)",
    "def handler(event, context):",
    "    return {'statusCode': 200, 'body': json.dumps(event)}",
    "2024-05-01T12:00:00Z INFO request served in 12ms path=/v1/orders status=200",
    "2024-05-01T12:00:01Z WARN retrying upstream call attempt=2 backoff=0.5s",
    "replicas: 3",
    "image: registry.example.com/billing:1.4.2",
    '  "name": "billing-service",',
    "# Configuration for the billing worker; see docs/operations.md",
    "SELECT id, name FROM customers WHERE created_at > now() - interval '1 day';",
    "",
    "    \t  ",
    '<div class="container"><span>Hello, world</span></div>',
)
NON_ASCII_FILLER = (
    "# Kommentar: Größenänderung der Warteschlange, später prüfen",
    "# 注释 这里只是普通的配置说明",
    "// комментарий: обычная строка без ключей",
    "title: Café, naïve résumé",
)


# --- samples ----------------------------------------------------------------------------------------------


def _xeger(pattern: str, rng: random.Random) -> str:
    """A string the pattern matches, ignoring lookarounds (the fallback when testing.samples is missing)."""
    printable = string.ascii_letters + string.digits + "_-./+="
    categories = {
        sre_constants.CATEGORY_DIGIT: string.digits,
        sre_constants.CATEGORY_SPACE: " ",
        sre_constants.CATEGORY_WORD: string.ascii_letters + string.digits + "_",
    }
    out: list[str] = []

    def one_of(items: list[tuple[object, object]]) -> str:
        chars: list[str] = []
        negate = False
        for op, arg in items:
            if op == sre_constants.NEGATE:
                negate = True
            elif op == sre_constants.LITERAL:
                chars.append(chr(arg))
            elif op == sre_constants.RANGE:
                low, high = arg
                chars.extend(chr(c) for c in range(low, high + 1))
            elif op == sre_constants.CATEGORY:
                chars.extend(categories.get(arg, printable))
        return rng.choice([c for c in printable if c not in chars] if negate else chars)

    def walk(parsed: object) -> None:
        for op, arg in parsed:
            if op == sre_constants.LITERAL:
                out.append(chr(arg))
            elif op == sre_constants.NOT_LITERAL:
                out.append(rng.choice([c for c in printable if ord(c) != arg]))
            elif op == sre_constants.ANY:
                out.append(rng.choice(printable))
            elif op == sre_constants.IN:
                out.append(one_of(arg))
            elif op == sre_constants.BRANCH:
                walk(rng.choice(arg[1]))
            elif op == sre_constants.SUBPATTERN:
                walk(arg[3])
            elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
                low, high, sub = arg
                for _ in range(rng.randint(low, min(high, low + 40))):
                    walk(sub)

    walk(sre_parser.parse(pattern))
    return "".join(out)


def _positives(rule: Rule, seed: int) -> tuple[list[str], bool]:
    """Texts holding a positive of ``rule``, and whether they are known to be real positives."""
    try:
        from strongroom.testing.samples import sample

        made = sample(rule, seed)
    except (ImportError, KeyError):
        rng = random.Random(seed)  # noqa: S311 -- test data
        for _ in range(200):
            text = _xeger(rule.pattern, rng)
            match = rule.regex.search(text)
            if match and rule.accepts(rule.secret_of(match)):
                return [text], True
        return [text], False
    contexts = list(made.contexts)
    # The same snippets minified onto one line (JSON in an env var, a log line), as well as pretty-printed.
    contexts += [" ".join(c.split()) for c in made.contexts if "\n" in c.strip()]
    return contexts, True


def _document(pieces: list[str], seed: int, *, ascii_only: bool) -> bytes:
    """The pieces among filler lines, one of them first and one last, with or without a final newline.

    Hyperscan's own database only sees ASCII data (other data goes to its keyword fallback), so both kinds
    of document are made: ASCII filler only, and filler with non-ASCII comment lines.
    """
    rng = random.Random(seed)  # noqa: S311 -- test data
    filler = ASCII_FILLER if ascii_only else ASCII_FILLER + NON_ASCII_FILLER
    lines = [rng.choice(filler) for _ in range(rng.randint(20, 60))]
    if not ascii_only:
        lines.insert(rng.randint(0, len(lines)), NON_ASCII_FILLER[seed % len(NON_ASCII_FILLER)])
    for piece in pieces:
        lines.insert(rng.randint(0, len(lines)), piece.rstrip("\n"))
    lines = [pieces[0].rstrip("\n"), *lines, pieces[-1].rstrip("\n")]
    return ("\n".join(lines) + ("\n" if seed % 2 else "")).encode()


def _findings(scanners: dict[str, Scanner], data: bytes) -> dict[str, list[Finding]]:
    return {name: scanner.scan_bytes(data, "doc.txt") for name, scanner in scanners.items()}


@pytest.fixture(scope="module")
def cache_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """XDG_CACHE_HOME in a temporary directory for this module: compiled databases never land in ~/.cache."""
    path = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(path))
        yield path


@pytest.fixture(scope="module")
def all_rules(cache_home: Path) -> dict[str, Scanner]:
    """One scanner over every rule per prefilter."""
    return {name: Scanner(RULES, fingerprint_key=KEY, prefilter=name) for name in NAMES}


# --- the same findings ------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.id)
@pytest.mark.slow
def test_each_rule_gives_identical_findings_with_every_prefilter(rule: Rule, cache_home: Path) -> None:
    """For every rule, its positives among filler lines give the same findings (and some) with all three."""
    scanners = {name: Scanner([rule], fingerprint_key=KEY, prefilter=name) for name in NAMES}
    assert {name: s.prefilter for name, s in scanners.items()} == {name: name for name in NAMES}
    found_any = False
    for seed in SEEDS:
        pieces, real = _positives(rule, seed)
        for ascii_only in (True, False):
            results = _findings(scanners, _document(pieces, seed, ascii_only=ascii_only))
            where = f"seed {seed}, {'ASCII' if ascii_only else 'non-ASCII'} filler"
            assert results["hyperscan"] == results["ahocorasick"], f"{where}: hyperscan differs"
            assert results["regex"] == results["ahocorasick"], f"{where}: regex prefilter differs"
            found_any = found_any or (real and any(f.rule_id == rule.id for f in results["ahocorasick"]))
    if _positives(rule, 0)[1]:
        assert found_any, f"{rule.id}: none of its samples was found, so the comparison proved nothing"


@pytest.mark.parametrize("ascii_only", [True, False], ids=["ascii", "non-ascii"])
@pytest.mark.slow
def test_all_rules_together_give_identical_findings(all_rules: dict[str, Scanner], ascii_only: bool) -> None:
    """Every rule's samples in one document, over every rule at once: the three prefilters agree exactly."""
    pieces = [piece for rule in RULES for piece in _positives(rule, 7)[0][:4]]
    random.Random(7).shuffle(pieces)  # noqa: S311 -- test data
    data = _document(pieces, 7, ascii_only=ascii_only)
    assert data.isascii() == ascii_only  # so the ASCII case runs Hyperscan's own database
    results = _findings(all_rules, data)
    assert len({f.rule_id for f in results["ahocorasick"]}) > len(RULES) // 2
    assert results["hyperscan"] == results["ahocorasick"]
    assert results["regex"] == results["ahocorasick"]


OUTER = Rule(
    id="outer-key",
    description="a key under a long label",
    keywords=("secret_access_key",),
    pattern=r"secret_access_key=(?P<secret>[A-Za-z0-9]{20})(?![A-Za-z0-9])",
)
INNER = Rule(
    id="inner-key",
    description="a key under a label the long one contains",
    keywords=("access_key",),
    pattern=r"access_key=(?P<secret>[A-Za-z0-9]{20})(?![A-Za-z0-9])",
)


def test_regex_prefilter_keeps_a_keyword_found_inside_a_longer_one(cache_home: Path) -> None:
    """A keyword inside a longer keyword still makes its rule a candidate, with every prefilter."""
    rng = random.Random(11)  # noqa: S311 -- test data
    value = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(20))
    data = f"secret_access_key={value}\n".encode()
    results = _findings({n: Scanner([OUTER, INNER], fingerprint_key=KEY, prefilter=n) for n in NAMES}, data)
    assert sorted(f.rule_id for f in results["ahocorasick"]) == ["inner-key", "outer-key"]
    assert results["hyperscan"] == results["ahocorasick"]
    assert results["regex"] == results["ahocorasick"]


NEAR_LABEL = Rule(
    id="acme-near-label",
    description="hex near a label",
    keywords=("acme",),
    entropy=3.0,
    pattern=r"(?i:acme)[^\n]{0,40}?(?<![A-Za-z0-9_])(?P<secret>[a-f0-9]{32})(?![A-Za-z0-9_-])",
)
ASSIGNED = Rule(
    id="acme-assigned",
    description="base64 after a label",
    keywords=("acme_key",),
    entropy=3.0,
    pattern=r"""(?i:acme_key)["']?\s*(?::|=>?)\s*["']?(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])""",
)


def test_hyperscan_does_not_under_report_on_non_ascii_text(cache_home: Path) -> None:
    """Non-ASCII text between a label and its value: Hyperscan still gives the keyword prefilters' findings."""
    rng = random.Random(12)  # noqa: S311 -- test data
    hex_value = "".join(rng.choice("0123456789abcdef") for _ in range(32))
    b64_value = "".join(rng.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
    text = f"# acme ключ для продакшена сервиса: {hex_value}\nacme_key:\u00a0{b64_value}\nacme_key =\u3000{b64_value}\n"
    scanners = {n: Scanner([NEAR_LABEL, ASSIGNED], fingerprint_key=KEY, prefilter=n) for n in NAMES}
    results = _findings(scanners, text.encode())
    assert [f.line for f in results["ahocorasick"]] == [1, 2, 3]
    assert results["hyperscan"] == results["ahocorasick"]


def test_pretty_printed_service_account_key_file_is_found(all_rules: dict[str, Scanner]) -> None:
    """A service-account key file as downloaded (indented JSON over many lines) is found with every prefilter."""
    rng = random.Random(13)  # noqa: S311 -- test data
    document = json.dumps(
        {
            "type": "service_account",
            "project_id": "demo-project",
            "private_key_id": "".join(rng.choice("0123456789abcdef") for _ in range(40)),
            "client_email": "worker@demo-project.iam.gserviceaccount.com",
        },
        indent=2,
    )
    for name, scanner in all_rules.items():
        assert "gcp-service-account-key" in {f.rule_id for f in scanner.scan_text(document)}, name


def _source_files() -> list[Path]:
    return sorted(p for p in (ROOT / "src").rglob("*") if p.is_file() and "__pycache__" not in p.parts)


@pytest.mark.slow
def test_project_source_tree_gives_identical_empty_findings(all_rules: dict[str, Scanner]) -> None:
    """On the project's own src/ tree the three prefilters agree: no findings at all."""
    files = _source_files()
    assert len(files) > 20
    results: dict[str, list[Finding]] = {name: [] for name in NAMES}
    for path in files:
        data = path.read_bytes()
        for name, scanner in all_rules.items():
            results[name] += scanner.scan_bytes(data, str(path.relative_to(ROOT)))
    assert results["hyperscan"] == results["ahocorasick"] == results["regex"] == []


# --- keywords ignore case ---------------------------------------------------------------------------------


CASELESS_INLINE = Rule(
    id="caseless-inline",
    description="label in any case",
    keywords=("acme_token",),
    pattern=r"(?i)acme_token\s*=\s*(?P<secret>[A-F0-9]{32})",
)
CASELESS_FLAG = Rule(
    id="caseless-flag",
    description="prefix in any case",
    keywords=("zq_live_",),
    pattern=r"zq_live_(?P<secret>[a-z0-9]{24})\b",
    flags=re.IGNORECASE,
)


@pytest.mark.parametrize("name", NAMES)
def test_keywords_match_in_any_case(name: str, cache_home: Path) -> None:
    """Upper-, lower- and mixed-case keywords all make their line a candidate and give the finding."""
    rng = random.Random(14)  # noqa: S311 -- test data
    hex_value = "".join(rng.choice("0123456789ABCDEF") for _ in range(32))
    body = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(24))
    lines = [
        f"ACME_TOKEN = {hex_value}",
        f"Acme_Token = {hex_value}",
        f"acme_token = {hex_value}",
        f"ZQ_LIVE_{body.upper()}",
        f"Zq_Live_{body}",
        f"zq_live_{body}",
    ]
    scanner = Scanner([CASELESS_INLINE, CASELESS_FLAG], fingerprint_key=KEY, prefilter=name)
    data = "\n".join(lines).encode()
    starts = [0]
    for line in lines[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    candidates = prefilters.make_prefilter([CASELESS_INLINE, CASELESS_FLAG], name).candidates(data)
    assert {start: candidates.get(start) for start in starts} == {
        start: {0} if index < 3 else {1} for index, start in enumerate(starts)
    }
    assert [(f.rule_id, f.line) for f in scanner.scan_bytes(data)] == [
        ("caseless-inline", 1),
        ("caseless-inline", 2),
        ("caseless-inline", 3),
        ("caseless-flag", 4),
        ("caseless-flag", 5),
        ("caseless-flag", 6),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_no_rules_gives_a_prefilter_that_finds_nothing(name: str, cache_home: Path) -> None:
    """With an empty rule set each prefilter has no candidates and the scanner no findings."""
    assert prefilters.make_prefilter([], name).candidates(b"password = x\n") == {}
    assert Scanner([], prefilter=name).scan_text("token = x\n") == []


def test_unknown_prefilter_name_is_refused_naming_the_choices() -> None:
    """An unknown prefilter name raises ValueError that names it and every choice."""
    with pytest.raises(ValueError, match="unknown prefilter") as caught:
        prefilters.make_prefilter([CASELESS_INLINE], "turbo")
    for word in ("'turbo'", "auto", *NAMES):
        assert word in str(caught.value)
    with pytest.raises(ValueError, match="turbo"):
        Scanner([CASELESS_INLINE], prefilter="turbo")


# --- the Hyperscan database cache -------------------------------------------------------------------------


DEMO = Rule(
    id="demo-token",
    description="a demo token",
    keywords=("demo_",),
    entropy=3.0,
    pattern=r"(?<![A-Za-z0-9_])demo_(?P<secret>[a-z0-9]{16})(?![A-Za-z0-9_])",
)
OTHER = Rule(id="other-token", description="another token", keywords=("othr_",), pattern=r"othr_[a-z0-9]{16}")


def _demo_line(seed: int) -> bytes:
    rng = random.Random(seed)  # noqa: S311 -- test data
    return ("x = demo_" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(16))).encode()


def test_hyperscan_runs_the_rules_regexes_on_ascii_text(cache_home: Path) -> None:
    """On ASCII text Hyperscan is narrower than keywords: a keyword without a possible match is no candidate."""
    hyperscan = prefilters.make_prefilter([DEMO], "hyperscan")
    keywords = prefilters.make_prefilter([DEMO], "ahocorasick")
    data = b"the demo_ prefix alone\n" + _demo_line(2) + b"\n"
    assert keywords.candidates(data) == {0: {0}, 23: {0}}
    assert hyperscan.candidates(data) == {23: {0}}


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Counts Hyperscan compiles (one entry per Database made); XDG_CACHE_HOME is the test's tmp_path."""
    import hyperscan

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    real = hyperscan.Database
    calls: list[int] = []

    def counting(*args: object, **kwargs: object) -> object:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(hyperscan, "Database", counting)
    return calls


def _cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "strongroom").glob("hyperscan-*.db"))


def _works(prefilter: prefilters.Prefilter) -> bool:
    data = b"nothing here\n" + _demo_line(1) + b"\n"
    return prefilter.candidates(data) == {13: {0}}


def test_cache_file_is_created_0600_in_xdg_cache_home(compiles: list[int], tmp_path: Path) -> None:
    """The first construction compiles and writes the database 0600 under $XDG_CACHE_HOME/strongroom (0700)."""
    prefilter = prefilters.make_prefilter([DEMO], "hyperscan")
    assert _works(prefilter)
    [cached] = _cache_files(tmp_path)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700
    assert len(compiles) == 1
    assert not list(cached.parent.glob("*.tmp"))  # no partial file left behind


def test_cache_file_is_reused_without_compiling(compiles: list[int], tmp_path: Path) -> None:
    """A second construction loads the cached database: no compile, the file untouched."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    [cached] = _cache_files(tmp_path)
    before = cached.stat()
    again = prefilters.make_prefilter([DEMO], "hyperscan")
    assert len(compiles) == 1
    after = cached.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)
    assert _works(again)


def test_different_rules_get_a_database_of_their_own(compiles: list[int], tmp_path: Path) -> None:
    """Another rule set is keyed by another digest: compiled and cached beside the first."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    prefilters.make_prefilter([DEMO, OTHER], "hyperscan")
    assert len(compiles) == 2
    assert len(_cache_files(tmp_path)) == 2


@pytest.mark.parametrize("garbage", [b"", b"not a database\n", os.urandom(4096)], ids=["empty", "text", "random"])
def test_corrupt_cache_file_is_ignored_and_rebuilt(compiles: list[int], tmp_path: Path, garbage: bytes) -> None:
    """A cache file holding garbage is not loaded: the database is compiled again and the file rewritten."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    [cached] = _cache_files(tmp_path)
    good = cached.read_bytes()
    cached.write_bytes(garbage)
    os.chmod(cached, 0o600)
    rebuilt = prefilters.make_prefilter([DEMO], "hyperscan")
    assert _works(rebuilt)
    assert len(compiles) == 2
    assert cached.read_bytes() != garbage
    assert len(cached.read_bytes()) == len(good)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600


def test_truncated_cache_file_is_ignored_and_rebuilt(compiles: list[int], tmp_path: Path) -> None:
    """A cache file cut short (a crash mid-write elsewhere) is not loaded."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    [cached] = _cache_files(tmp_path)
    cached.write_bytes(cached.read_bytes()[:-100])
    assert _works(prefilters.make_prefilter([DEMO], "hyperscan"))
    assert len(compiles) == 2


def _plant_foreign_database(cached: Path) -> None:
    """Put a valid database of *other* rules at the cache path: loading it would lose every DEMO candidate."""
    import hyperscan

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=[OTHER.pattern.encode()], ids=[0], elements=1, flags=[hyperscan.HS_FLAG_PREFILTER])
    cached.write_bytes(hyperscan.dumpb(database))


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666, 0o664])
def test_group_or_world_writable_cache_file_is_ignored_and_rebuilt(
    compiles: list[int], tmp_path: Path, mode: int
) -> None:
    """A cache file others could have written is never loaded; it is replaced by a fresh 0600 one."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    [cached] = _cache_files(tmp_path)
    _plant_foreign_database(cached)
    os.chmod(cached, mode)
    compiled_before = len(compiles)
    prefilter = prefilters.make_prefilter([DEMO], "hyperscan")
    assert _works(prefilter)
    assert len(compiles) == compiled_before + 1
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert _works(prefilters.make_prefilter([DEMO], "hyperscan"))  # and the rewritten file is the good one
    assert len(compiles) == compiled_before + 1


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown to another user needs root")
def test_cache_file_owned_by_another_user_is_ignored(compiles: list[int], tmp_path: Path) -> None:
    """A 0600 cache file that belongs to someone else is not loaded."""
    prefilters.make_prefilter([DEMO], "hyperscan")
    [cached] = _cache_files(tmp_path)
    _plant_foreign_database(cached)
    os.chown(cached, 4242, 4242)
    assert _works(prefilters.make_prefilter([DEMO], "hyperscan"))
    assert len(compiles) == 3  # the first build, the planted one, the rebuild
    assert cached.stat().st_uid == os.getuid()


def test_unwritable_cache_location_still_gives_a_working_prefilter(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """When the cache directory cannot be made (a file is in the way), the compiled database is still used."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    assert _works(prefilters.make_prefilter([DEMO], "hyperscan"))
    assert blocker.read_text() == "x"
