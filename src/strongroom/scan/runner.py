"""Scanning many files: listing, skipping, reading and streaming, spread over every core.

Files are read and scanned in a thread pool. Hyperscan and file reads release the GIL, so with the
``[scan]`` extra the work really runs on all cores; the pure-Python prefilters get overlap of I/O only.

What was not scanned is reported, split in two: *skipped* on purpose (binary, over the size limit,
excluded by settings), which does not make a scan incomplete, and *errors* (unreadable, vanished, not a
file), which do: the CLI's exit code says so.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import BinaryIO

from strongroom.scan.engine import Finding, Scanner
from strongroom.scan.settings import ScanSettings
from strongroom.scan.targets import BINARY_SNIFF_BYTES, Skipped, iter_files

STREAM_BLOCK = 8 * 1024 * 1024
STREAMED_SUFFIXES = (".log", ".jsonl", ".ndjson")  # logs are scanned whatever their size


@dataclass
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)  # left out on purpose
    errors: list[Skipped] = field(default_factory=list)  # could not be read: the scan is incomplete
    files: int = 0
    bytes: int = 0
    commits: int | None = None  # a scan of git history: the commits read (files counts the changed files)

    @property
    def complete(self) -> bool:
        return not self.errors

    def add(self, other: ScanReport) -> None:
        self.findings += other.findings
        self.skipped += other.skipped
        self.errors += other.errors
        self.files += other.files
        self.bytes += other.bytes
        if other.commits is not None:
            self.commits = (self.commits or 0) + other.commits


def scan_stream(
    scanner: Scanner,
    handle: BinaryIO,
    path: str,
    *,
    skip_rules: frozenset[str] = frozenset(),
    block: int = STREAM_BLOCK,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[Finding]:
    """Scan a file of any size in blocks of whole lines; line numbers stay those of the file.

    A single line longer than ``block`` is read on until its end, so a minified file costs memory for its
    longest line, never a missed secret at a block edge.
    """
    carry = b""
    lines_before = 0
    while True:
        data = handle.read(block)
        if on_bytes is not None:
            on_bytes(len(data))
        if not data:
            break
        data = carry + data
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        chunk, carry = data[:cut], data[cut:]
        for finding in scanner.scan_bytes(chunk, path, skip_rules=skip_rules):
            yield replace(finding, line=finding.line + lines_before)
        lines_before += chunk.count(b"\n")
    if carry:
        for finding in scanner.scan_bytes(carry, path, skip_rules=skip_rules):
            yield replace(finding, line=finding.line + lines_before)


def _display(path: Path) -> str:
    text = str(path)
    return text[2:] if text.startswith("./") else text


class FileScanner:
    """Scans one file at a time (safe to call from many threads at once)."""

    def __init__(self, scanner: Scanner, settings: ScanSettings, on_bytes: Callable[[int], None] | None = None):
        self.scanner = scanner
        self.settings = settings
        self.on_bytes = on_bytes

    def scan(self, path: Path, relative: str, *, explicit: bool) -> ScanReport:
        report = ScanReport()
        where = _display(path)
        if self.settings.excludes(relative):
            report.skipped.append(Skipped(where, "excluded by settings"))
            return report
        skip_rules = self.settings.rules_skipped_for(relative)
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                head = handle.read(BINARY_SNIFF_BYTES)
                if b"\0" in head:
                    report.skipped.append(Skipped(where, "binary"))
                    return report
                streamed = explicit or path.suffix in STREAMED_SUFFIXES
                if size > self.settings.max_file_bytes and not streamed:
                    report.skipped.append(Skipped(where, f"larger than {self.settings.max_file_bytes} bytes"))
                    return report
                handle.seek(0)
                if size <= STREAM_BLOCK:
                    data = handle.read()
                    report.findings += self.scanner.scan_bytes(data, where, skip_rules=skip_rules)
                    if self.on_bytes is not None:
                        self.on_bytes(len(data))
                else:
                    report.findings += scan_stream(
                        self.scanner, handle, where, skip_rules=skip_rules, on_bytes=self.on_bytes
                    )
                report.files, report.bytes = 1, size
        except OSError as exc:
            report.errors.append(Skipped(where, f"unreadable ({exc.strerror or type(exc).__name__})"))
        return report


def _targets(paths: Iterable[Path], settings: ScanSettings) -> Iterator[tuple[Path, str, bool] | Skipped]:
    """(file, path the settings' globs see, named explicitly?) for each file; a Skipped for a bad path."""
    for root in paths:
        if root.is_file():
            yield root, settings.relative(root, Path(".")), True
        elif root.is_dir():
            for path in iter_files([root]):
                yield path, settings.relative(path, root), False
        elif root.is_symlink():
            yield Skipped(str(root), "a symlink that leads nowhere (broken, or a loop)")
        else:
            yield Skipped(str(root), "no such file or directory")


def scan_paths(
    scanner: Scanner,
    paths: Iterable[Path],
    settings: ScanSettings,
    *,
    workers: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> ScanReport:
    """Scan every file under ``paths``; findings come back in file order, whatever thread found them."""
    report = ScanReport()
    files = FileScanner(scanner, settings, on_bytes)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        targets = _targets(paths, settings)
        while batch := list(itertools.islice(targets, 256)):  # bounded, so a million files are not all queued
            for item in batch:
                if isinstance(item, Skipped):
                    report.errors.append(item)
            jobs = [
                (p, rel, explicit) for item in batch if not isinstance(item, Skipped) for p, rel, explicit in [item]
            ]
            for result in pool.map(lambda job: files.scan(job[0], job[1], explicit=job[2]), jobs):
                report.add(result)
    return report
