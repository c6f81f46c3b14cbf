"""``strongroom scan``: find secrets in files and standard input.

Exit codes: 0 nothing found, 1 findings, 2 the scan could not read everything it was asked to (and found nothing).
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from strongroom.cli import common
from strongroom.scan import Finding, Scanner
from strongroom.scan.targets import DEFAULT_MAX_FILE_BYTES, Skipped, iter_files, read_text


def scan(paths: list[Path] = typer.Argument(None, help="Files or directories (default: the current directory)."),
         stdin: bool = typer.Option(False, "--stdin", help="Scan standard input instead of files."),
         as_json: bool = typer.Option(False, "--json", help="Print JSON."),
         max_file_bytes: int = typer.Option(DEFAULT_MAX_FILE_BYTES, help="Skip files larger than this.")) -> None:
    """Scan files (respecting .gitignore) or stdin for credentials; exit 1 if any is found."""
    scanner = Scanner()
    findings: list[Finding] = []
    skipped: list[Skipped] = []
    if stdin:
        findings += scanner.scan_lines(sys.stdin, "<stdin>")
    else:
        for path in iter_files(paths or [Path(".")]):
            text = read_text(path, max_file_bytes)
            if isinstance(text, Skipped):
                if text.reason.startswith("unreadable"):
                    skipped.append(text)
                continue
            findings += scanner.scan_text(text, str(path))
    if as_json:
        common.print_json({"findings": [f.to_dict() for f in findings],
                           "skipped": [{"path": s.path, "reason": s.reason} for s in skipped]})
    else:
        if findings:
            common.print_table(f"{len(findings)} secret(s) found", ["rule", "severity", "where", "secret"],
                               [(f.rule_id, f.severity, f"{f.path}:{f.line}:{f.column}", f.masked) for f in findings])
        for item in skipped:
            common.err.print(f"skipped {item.path}: {item.reason}")
        if not findings:
            common.out.print(f"no secrets found ({len(scanner.rules)} rules)")
    if findings:
        raise typer.Exit(1)
    if skipped:
        raise typer.Exit(2)
