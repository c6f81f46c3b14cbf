"""Scanning files: streaming in blocks of whole lines, what is skipped vs what failed, order, threads."""

from __future__ import annotations

import io
import os
import random
import string
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.rules.base import Rule
from strongroom.scan import Finding, Scanner, runner
from strongroom.scan.runner import FileScanner, ScanReport, scan_paths, scan_stream
from strongroom.scan.settings import ScanSettings

DEMO = Rule(
    id="demo-token",
    description="a demo token",
    keywords=("demo_",),
    entropy=3.0,
    pattern=r"(?<![A-Za-z0-9_])demo_(?P<secret>[a-z0-9]{16})(?![A-Za-z0-9_])",
)
LABELLED = Rule(
    id="acme-key",
    description="a key after a label",
    keywords=("acme_key",),
    pattern=r"(?i)acme_key\s*=\s*(?P<secret>[A-F0-9]{32})",
)
RULES = (DEMO, LABELLED)
KEY = bytes(range(32))
FILLER = string.ascii_lowercase + "      ,.;:=-"


def _token(rng: random.Random) -> str:
    # 16 distinct characters: entropy log2(16) = 4 bits, always above DEMO's floor of 3 (drawn with repeats,
    # about one token in a few thousand fell under it and went unreported, failing the test by chance).
    return "demo_" + "".join(rng.sample(string.ascii_lowercase + string.digits, 16))


def _labelled(rng: random.Random) -> str:
    return "ACME_KEY = " + "".join(rng.choice("0123456789ABCDEF") for _ in range(32))


@pytest.fixture(scope="module")
def scanner() -> Scanner:
    return Scanner(RULES, fingerprint_key=KEY, prefilter="regex")


def _stream(scanner: Scanner, data: bytes, block: int) -> list[Finding]:
    return list(scan_stream(scanner, io.BytesIO(data), "big.log", block=block))


def _filler_line(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(FILLER) for _ in range(length))


def _text_with_secrets_at(rng: random.Random, size: int, offsets: list[int], long_lines: list[int]) -> bytes:
    """About ``size`` bytes of lines, a secret starting near each offset, lines of the given lengths mixed in."""
    lines: list[str] = []
    total = 0
    pending = sorted(offsets)
    longs = list(long_lines)
    while total < size or pending:
        line = _filler_line(rng, rng.randint(0, 120))
        if longs and rng.random() < 0.3:
            line = _filler_line(rng, longs.pop())
            if rng.random() < 0.5:  # a secret at the very end of a line longer than the block
                line = line[:-40] + " " + _token(rng)
        if pending and total + len(line) >= pending[0]:
            cut = max(0, min(len(line), pending.pop(0) - total))
            secret = _token(rng) if rng.random() < 0.7 else _labelled(rng)
            line = line[:cut] + " " + secret + " " + line[cut:]
        lines.append(line)
        total += len(line) + 1
    return "\n".join(lines).encode() + (b"\n" if rng.random() < 0.5 else b"")


@settings(max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    block=st.integers(1024, 64 * 1024),
    edges=st.lists(st.tuples(st.integers(1, 6), st.integers(-48, 24)), min_size=1, max_size=6),
    long_lines=st.lists(st.integers(1, 3), max_size=2),
    seed=st.integers(0, 2**16),
)
def test_stream_equals_whole_scan_for_any_block_size(
    scanner: Scanner, block: int, edges: list[tuple[int, int]], long_lines: list[int], seed: int
) -> None:
    """scan_stream gives scan_bytes' findings and line numbers, secrets at block edges and long lines included."""
    rng = random.Random(seed)  # noqa: S311 -- test data
    offsets = [max(0, k * block + delta) for k, delta in edges]
    data = _text_with_secrets_at(rng, 7 * block, offsets, [n * block + rng.randint(1, 200) for n in long_lines])
    whole = scanner.scan_bytes(data, "big.log")
    assert len(whole) >= len(edges)
    assert _stream(scanner, data, block) == whole


@pytest.mark.parametrize("block", [1024, 4096, 65536])
def test_stream_of_one_line_longer_than_every_block(scanner: Scanner, block: int) -> None:
    """A single line (no newline at all) many blocks long is read to its end: its secrets are all found."""
    rng = random.Random(block)  # noqa: S311 -- test data
    parts = [_filler_line(rng, block // 2)]
    for _ in range(5):
        parts += [_token(rng), _filler_line(rng, block)]
    data = " ".join(parts).replace("\n", " ").encode()
    whole = scanner.scan_bytes(data, "big.log")
    assert [f.line for f in whole] == [1] * 5
    assert _stream(scanner, data, block) == whole


def test_stream_of_empty_input_and_of_only_newlines(scanner: Scanner) -> None:
    """Nothing to read gives nothing; blank lines only give nothing; the byte count is reported."""
    seen: list[int] = []
    assert list(scan_stream(scanner, io.BytesIO(b""), "e.log", block=1024, on_bytes=seen.append)) == []
    assert sum(seen) == 0
    assert _stream(scanner, b"\n" * 5000, 1024) == []


def test_stream_reports_every_byte_read(scanner: Scanner) -> None:
    """on_bytes adds up to the size of what was streamed."""
    rng = random.Random(5)  # noqa: S311 -- test data
    data = _text_with_secrets_at(rng, 50_000, [10_000], [])
    seen: list[int] = []
    list(scan_stream(scanner, io.BytesIO(data), "x.log", block=4096, on_bytes=seen.append))
    assert sum(seen) == len(data)


def test_file_larger_than_stream_block_is_streamed(
    scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file over STREAM_BLOCK goes through scan_stream and keeps the file's own line numbers."""
    monkeypatch.setattr(runner, "STREAM_BLOCK", 4096)
    streamed: list[str] = []
    real = runner.scan_stream

    def spy(*args: object, **kwargs: object) -> object:
        streamed.append(str(args[2]))
        kwargs["block"] = 1024
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "scan_stream", spy)
    rng = random.Random(6)  # noqa: S311 -- test data
    lines = [_filler_line(rng, 60) for _ in range(2000)]
    for number in (1, 700, 1500, 2000):
        lines[number - 1] = f"token {_token(rng)}"
    path = tmp_path / "big.txt"
    data = "\n".join(lines).encode()
    path.write_bytes(data)
    seen: list[int] = []
    report = FileScanner(scanner, ScanSettings(), on_bytes=seen.append).scan(path, "big.txt", explicit=True)
    assert streamed == [str(path)]
    assert [f.line for f in report.findings] == [1, 700, 1500, 2000]
    assert report.findings == scanner.scan_bytes(data, str(path))
    assert (report.files, report.bytes, sum(seen)) == (1, len(data), len(data))


def test_small_file_is_not_streamed(scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file within STREAM_BLOCK is read whole, not streamed."""
    monkeypatch.setattr(runner, "scan_stream", None)  # calling it would fail the test
    path = tmp_path / "small.txt"
    path.write_text(f"x\n{_token(random.Random(7))}\n")  # noqa: S311 -- test data
    report = FileScanner(scanner, ScanSettings()).scan(path, "small.txt", explicit=True)
    assert [f.line for f in report.findings] == [2]


# --- skipped on purpose vs could not be read ---------------------------------------------------------------


def _tree(tmp_path: Path) -> Path:
    rng = random.Random(8)  # noqa: S311 -- test data
    root = tmp_path / "project"
    (root / "src").mkdir(parents=True)
    (root / "ignored").mkdir()
    (root / "src" / "app.py").write_text(f"token = '{_token(rng)}'\n")
    (root / "src" / "blob.bin").write_bytes(b"\x00\x01binary" + _token(rng).encode())
    (root / "src" / "huge.txt").write_text("a" * 5000 + f"\n{_token(rng)}\n")
    (root / "src" / "huge.log").write_text("b" * 5000 + f"\n{_token(rng)}\n")
    (root / "ignored" / "x.py").write_text(f"token = '{_token(rng)}'\n")
    return root


def test_skipped_files_are_not_errors_and_bad_paths_are(scanner: Scanner, tmp_path: Path) -> None:
    """Binary, over-limit and excluded files are *skipped*; a missing path and a broken symlink are *errors*."""
    root = _tree(tmp_path)
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    settings = ScanSettings(exclude_paths=("ignored/**",), max_file_bytes=1000)
    report = scan_paths(scanner, [root, tmp_path / "missing.txt", tmp_path / "dangling"], settings, workers=2)
    skipped = {Path(s.path).relative_to(root).as_posix(): s.reason for s in report.skipped}
    assert skipped == {
        "src/blob.bin": "binary",
        "src/huge.txt": "larger than 1000 bytes",
        "ignored/x.py": "excluded by settings",
    }
    assert sorted((Path(e.path).name, e.reason.split(" (")[0]) for e in report.errors) == [
        ("dangling", "a symlink that leads nowhere"),
        ("missing.txt", "no such file or directory"),
    ]
    assert not report.complete
    assert sorted(Path(f.path).name for f in report.findings) == ["app.py", "huge.log"]  # logs: any size
    assert report.files == 2


def test_a_scan_with_only_skips_is_complete(scanner: Scanner, tmp_path: Path) -> None:
    """Skipping on purpose does not make the scan incomplete."""
    root = _tree(tmp_path)
    (root / "src" / "huge.log").unlink()
    report = scan_paths(scanner, [root], ScanSettings(exclude_paths=("ignored/**",), max_file_bytes=1000))
    assert report.skipped
    assert report.errors == []
    assert report.complete


def test_a_big_file_named_explicitly_is_scanned_not_skipped(scanner: Scanner, tmp_path: Path) -> None:
    """The size limit applies to files found under a directory, not to a file named on the command line."""
    root = _tree(tmp_path)
    report = scan_paths(scanner, [root / "src" / "huge.txt"], ScanSettings(max_file_bytes=1000))
    assert report.skipped == []
    assert [f.line for f in report.findings] == [2]


def test_unreadable_file_is_an_error(scanner: Scanner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that cannot be opened is an error (the scan is incomplete), not a crash."""
    path = tmp_path / "locked.txt"
    path.write_text("x\n")
    real_open = Path.open

    def refusing(self: Path, *args: object, **kwargs: object) -> object:
        if self == path:
            raise PermissionError(13, "Permission denied")
        return real_open(self, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", refusing)
    report = scan_paths(scanner, [path], ScanSettings(), workers=1)
    assert [(Path(e.path).name, e.reason) for e in report.errors] == [("locked.txt", "unreadable (Permission denied)")]
    assert not report.complete


def test_symlink_loops_in_a_directory_do_not_hang(scanner: Scanner, tmp_path: Path) -> None:
    """A tree with a self-loop, a two-link loop and a link to its own parent is scanned and finishes."""
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.txt").write_text(f"{_token(random.Random(9))}\n")  # noqa: S311 -- test data
    (root / "self").symlink_to(root / "self")
    (root / "ping").symlink_to(root / "pong")
    (root / "pong").symlink_to(root / "ping")
    (root / "sub" / "up").symlink_to(root)
    result: list[ScanReport] = []
    worker = threading.Thread(
        target=lambda: result.append(scan_paths(scanner, [root], ScanSettings(), workers=2)), daemon=True
    )
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "scan_paths did not finish on a tree with symlink loops"
    [report] = result
    assert [Path(f.path).name for f in report.findings] == ["a.txt"]
    assert report.errors == []
    named = scan_paths(scanner, [root / "self"], ScanSettings())
    assert [e.reason for e in named.errors] == ["a symlink that leads nowhere (broken, or a loop)"]


# --- order and threads -------------------------------------------------------------------------------------


def _many_files(tmp_path: Path, count: int) -> list[Path]:
    rng = random.Random(10)  # noqa: S311 -- test data
    paths = []
    for index in range(count):
        path = tmp_path / "many" / f"d{index % 7}" / f"f{index:03}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [_filler_line(rng, 50) for _ in range(rng.randint(1, 400))]
        for _ in range(rng.randint(1, 3)):
            lines.insert(rng.randint(0, len(lines)), _token(rng) if rng.random() < 0.6 else _labelled(rng))
        path.write_text("\n".join(lines))
        paths.append(path)
    return paths


def _file_order(findings: list[Finding]) -> list[str]:
    order: list[str] = []
    for finding in findings:
        if not order or order[-1] != finding.path:
            order.append(finding.path)
    return order


def test_threaded_scan_gives_the_same_findings_in_file_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over many files, 8 workers give exactly what 1 worker gives; each file's findings stay together."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    paths = _many_files(tmp_path, 300)  # over the 256-file batch, so two batches
    threaded_scanner = Scanner(RULES, fingerprint_key=KEY)  # auto: Hyperscan, a scratch per thread
    one = scan_paths(threaded_scanner, [tmp_path / "many"], ScanSettings(), workers=1)
    many = scan_paths(threaded_scanner, [tmp_path / "many"], ScanSettings(), workers=8)
    assert one.findings == many.findings
    assert (one.files, one.bytes) == (many.files, many.bytes) == (300, sum(p.stat().st_size for p in paths))
    order = _file_order(many.findings)
    assert len(order) == len(set(order)) == 300  # never interleaved


def test_findings_follow_the_order_paths_were_given(scanner: Scanner, tmp_path: Path) -> None:
    """Files named explicitly come back in the order they were named, whatever thread finishes first."""
    paths = _many_files(tmp_path, 12)
    wanted = list(reversed(paths))
    report = scan_paths(scanner, wanted, ScanSettings(), workers=6)
    assert _file_order(report.findings) == [str(p) for p in wanted]
    for path in wanted:
        mine = [f for f in report.findings if f.path == str(path)]
        assert mine == scanner.scan_bytes(path.read_bytes(), str(path))
    assert os.cpu_count()  # the default worker count has something to go on
    assert scan_paths(scanner, wanted, ScanSettings()).findings == report.findings
