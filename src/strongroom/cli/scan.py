"""``strongroom scan``: find credentials in files, git history, staged changes, standard input and logs.

Exit codes: 0 nothing found; 1 a finding at or above ``--fail-on``; 2 bad input, or nothing found but
the scan was incomplete (a file could not be read, stored values without a fingerprint).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput
from strongroom.rules import RULES
from strongroom.rules.prefilter import PREFILTERS
from strongroom.scan import git
from strongroom.scan.baseline import Baseline
from strongroom.scan.engine import Finding, Scanner
from strongroom.scan.known import RULE_ID as KNOWN_RULE
from strongroom.scan.known import KnownValues
from strongroom.scan.runner import ScanReport, scan_paths, scan_stream
from strongroom.scan.sarif import to_sarif
from strongroom.scan.settings import ScanSettings, check_severity, load_settings
from strongroom.scan.targets import Skipped


def scan(
    paths: list[Path] = typer.Argument(None, help="Files or directories (default: the current directory)."),
    stdin: bool = typer.Option(False, "--stdin", help="Scan standard input (a log piped in, say)."),
    history: bool = typer.Option(False, "--git", help="Scan every commit's added lines in the repository."),
    staged: bool = typer.Option(False, "--staged", help="Scan the changes staged for commit (pre-commit)."),
    known: bool = typer.Option(
        False, "--known", help="Also find exact copies of values stored in the vault (by fingerprint)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    sarif: Path | None = typer.Option(None, "--sarif", help="Also write a SARIF 2.1.0 report to this file."),
    baseline_path: Path | None = typer.Option(None, "--baseline", help="Report only findings not in this file."),
    update_baseline: bool = typer.Option(
        False, "--update-baseline", help="Write every current finding into --baseline, then exit 0."
    ),
    fail_on: str | None = typer.Option(None, "--fail-on", help="Lowest severity that fails (low..critical)."),
    max_file_bytes: int | None = typer.Option(None, help="Skip files found in directories above this size."),
    prefilter: str = typer.Option("auto", help=f"Prefilter: auto, {', '.join(PREFILTERS)}."),
    list_rules: bool = typer.Option(False, "--list-rules", help="List the rules (with --json: as JSON), then exit."),
) -> None:
    """Scan for credentials (respecting .gitignore); exit 1 if any is found."""
    if list_rules:
        _print_rules(as_json=as_json)
        return
    if sum((stdin, history, staged)) > 1:
        raise InvalidInput("choose at most one of --stdin, --git and --staged")
    if update_baseline and baseline_path is None:
        raise InvalidInput("--update-baseline needs --baseline FILE")
    settings = _settings(fail_on, max_file_bytes)
    baseline = _baseline(baseline_path, update_baseline)
    rules = [rule for rule in RULES if rule.id not in settings.exclude_rules]
    try:
        scanner = Scanner(rules, fingerprint_key=baseline.key if baseline is not None else None, prefilter=prefilter)
    except (ValueError, ImportError) as exc:
        raise InvalidInput(f"--prefilter {prefilter}: {exc}") from None
    report = ScanReport()
    if known:
        _attach_known_values(scanner, report)
    with _progress(enabled=not as_json) as advance:
        if stdin:
            report.findings += scan_stream(scanner, sys.stdin.buffer, "<stdin>", on_bytes=advance)
        elif history or staged:
            _scan_git(scanner, settings, paths, history=history, report=report, advance=advance)
        else:
            report.add(scan_paths(scanner, paths or [Path(".")], settings, on_bytes=advance))
    if baseline is not None and baseline_path is not None and update_baseline:
        baseline.write(baseline_path, report.findings)
        common.err.print(f"baseline {baseline_path}: {len(report.findings)} finding(s) recorded")
        return
    new = baseline.new_findings(report.findings) if baseline is not None else report.findings
    _print(report, new, scanner, as_json=as_json, baselined=len(report.findings) - len(new))
    if sarif is not None:
        _write_sarif(sarif, new)
    if any(settings.fails(f.severity) for f in new):
        raise typer.Exit(1)
    if not report.complete:
        raise typer.Exit(2)


def _settings(fail_on: str | None, max_file_bytes: int | None) -> ScanSettings:
    settings = load_settings(Path.cwd())
    if fail_on is not None:
        settings = replace(settings, fail_on=check_severity(fail_on, "--fail-on"))
    if max_file_bytes is not None:
        if max_file_bytes <= 0:
            raise InvalidInput("--max-file-bytes must be positive")
        settings = replace(settings, max_file_bytes=max_file_bytes)
    return settings


def _baseline(path: Path | None, update: bool) -> Baseline | None:
    if path is None:
        return None
    if not path.exists():
        # Not there yet (the first run, in CI say): an empty baseline, so every finding is reported. Reporting
        # more is the safe side of a mistyped name; the note says so and how to record the findings.
        if not update:
            common.err.print(
                f"note: no baseline {path} yet: every finding is new.\n"
                "Record today's findings in it with --update-baseline."
            )
        return Baseline.new()
    return Baseline.load(path)


def _attach_known_values(scanner: Scanner, report: ScanReport) -> None:
    """Give the scanner the vault's per-tenant fingerprints; no value is decrypted, so none is ever here."""
    with common.vault() as vault:
        known = vault.known_fingerprints()
    scanner.known = KnownValues(known.keys, known.entries, fingerprint_key=scanner.fingerprint_key)
    if known.missing:
        report.errors.append(
            Skipped(
                "<vault>",
                f"{known.missing} stored version(s) have no per-tenant fingerprint "
                "(written before it existed; write them again to cover them)",
            )
        )
    if not known.entries:
        common.err.print("note: the vault holds no values to look for")


def _scan_git(
    scanner: Scanner,
    settings: ScanSettings,
    paths: list[Path] | None,
    *,
    history: bool,
    report: ScanReport,
    advance: Callable[[int], None],
) -> None:
    if paths and len(paths) > 1:
        raise InvalidInput("--git and --staged take one repository path")
    repo = paths[0] if paths else Path(".")
    if history:
        report.commits = 0

        def one_more_commit() -> None:
            report.commits = (report.commits or 0) + 1

        added = git.history(repo, on_commit=one_more_commit)
    else:
        added = git.staged(repo)
    report.findings += _findings_in_added(scanner, settings, repo, _counted(added, report), advance)


def _counted(added: Iterable[git.AddedText], report: ScanReport) -> Iterator[git.AddedText]:
    """Count what a git scan read, for its summary: the changes (a file in a commit) and the bytes added."""
    for piece in added:
        report.files += 1
        report.bytes += len(piece.text.encode("utf-8", "surrogateescape"))
        yield piece


def _findings_in_added(
    scanner: Scanner, settings: ScanSettings, repo: Path, added: Iterable[git.AddedText], advance: Callable[[int], None]
) -> Iterator[Finding]:
    for piece in added:
        relative = settings.relative(repo / piece.path, repo)
        if settings.excludes(relative):
            continue
        data = piece.text.encode("utf-8", "surrogateescape")
        advance(len(data))
        for finding in scanner.scan_bytes(data, piece.path, skip_rules=settings.rules_skipped_for(relative)):
            commit = piece.commit
            yield replace(
                finding,
                line=piece.lines[finding.line - 1],
                commit=commit.id if commit else None,
                author=commit.author if commit else None,
                date=commit.date if commit else None,
            )


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[int], None]]:
    """A byte counter on stderr while scanning, only when a person is watching."""
    if not (enabled and common.err.is_terminal):
        yield lambda _n: None
        return
    from rich.progress import DownloadColumn, Progress, SpinnerColumn, TextColumn, TransferSpeedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("scanning"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=common.err,
        transient=True,
    ) as progress:
        task = progress.add_task("scan", total=None)
        yield lambda n: progress.advance(task, n)


def _print(report: ScanReport, findings: list[Finding], scanner: Scanner, *, as_json: bool, baselined: int) -> None:
    if as_json:
        common.print_json(
            {
                "findings": [f.to_dict() for f in findings],
                "skipped": [{"path": s.path, "reason": s.reason} for s in report.skipped if s.reason != "binary"],
                "errors": [{"path": s.path, "reason": s.reason} for s in report.errors],
                "complete": report.complete,
                "files": report.files,
                "bytes": report.bytes,
                "commits": report.commits,
                "baselined": baselined,
                "rules": len(scanner.rules),
                "prefilter": scanner.prefilter,
            }
        )
        return
    if findings and not common.out.is_terminal:
        # One finding per line, like a compiler's diagnostics: greppable, and never cut to a column width.
        for f in findings:
            commit = f" in {f.commit[:12]} by {f.author}" if f.commit else ""
            what = f" {f.description}:" if f.rule_id == KNOWN_RULE else ""
            line = f"{f.path}:{f.line}:{f.column}: {f.rule_id} ({f.severity}){commit}{what} {f.masked}"
            common.out.print(common.printable(line))
    elif findings:
        in_git = any(f.commit for f in findings)
        common.print_table(
            f"{len(findings)} secret(s) found",
            ["rule", "severity", "where", *(["commit", "author"] if in_git else []), "secret"],
            [
                (
                    f"{f.rule_id}: {f.description}" if f.rule_id == KNOWN_RULE else f.rule_id,
                    f.severity,
                    f"{f.path}:{f.line}:{f.column}",
                    *([(f.commit or "")[:12], f.author or ""] if in_git else []),
                    f.masked,
                )
                for f in findings
            ],
        )
    for item in report.skipped:
        if item.reason != "binary":
            common.err.print(f"skipped {item.path}: {item.reason}")
    for item in report.errors:
        common.err.print(f"not scanned {item.path}: {item.reason}")
    read = (
        f"{report.files} file(s)" if report.commits is None else f"{report.commits} commit(s), {report.files} change(s)"
    )
    summary = f"{read}, {_size(report.bytes)}, {len(scanner.rules)} rules"
    if baselined:
        summary += f", {baselined} finding(s) in the baseline"
    if not findings:
        common.out.print(f"no secrets found ({summary})" + ("" if report.complete else "; the scan was incomplete"))
    else:
        common.err.print(summary)


def _size(count: int) -> str:
    if count < 1000:
        return f"{count} bytes"
    return f"{count / 1e3:.1f} kB" if count < 1_000_000 else f"{count / 1e6:.1f} MB"


def _print_rules(*, as_json: bool) -> None:
    """Every rule: what it finds and how (its description says: prefix, checksum, name + shape)."""
    if as_json:
        common.print_json(
            {
                "rules": [
                    {
                        "id": rule.id,
                        "severity": rule.severity,
                        "description": rule.description,
                        "keywords": list(rule.keywords),
                        "entropy": rule.entropy,
                        "validated": rule.validate is not None,
                    }
                    for rule in RULES
                ]
            }
        )
        return
    common.print_table(
        f"{len(RULES)} rules", ["rule", "severity", "finds"], [(r.id, r.severity, r.description) for r in RULES]
    )


def _write_sarif(path: Path, findings: list[Finding]) -> None:
    from importlib.metadata import version

    document = to_sarif(findings, RULES, tool_version=version("strongroom"))
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot write SARIF to {path}: {exc.strerror}") from None
