"""``strongroom audit``: verify (against signed checkpoints), checkpoint, public-key, tail, head."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

import typer

from strongroom.cli import common
from strongroom.clock import iso
from strongroom.errors import InvalidInput

app = typer.Typer(help="Read, verify and anchor the keyed audit log.", no_args_is_help=True)


@app.command("verify")
def verify(
    checkpoints: list[str] = typer.Option(
        [],
        "--checkpoints",
        help="Also prove the log against signed checkpoints: a file, '-' or s3://bucket/prefix (repeatable).",
    ),
    public_key: str | None = typer.Option(
        None, "--public-key", help="Verify checkpoints under this key (base64), not the vault's own."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Check every chain under the audit key, and the checkpoints if given; exit 1 naming the first break."""
    from strongroom.audit.checkpoints import read_checkpoints

    found = [c for source in checkpoints for c in read_checkpoints(source)]
    with common.vault() as vault:
        report = vault.verify_audit()
        anchored = vault.verify_audit_checkpoints(found, public_key=public_key) if checkpoints else None
    ok = report.ok and (anchored is None or anchored.ok)
    if as_json:
        common.print_json(
            {
                "ok": ok,
                "chains": report.chains,
                "events": report.events,
                "broken": None if report.broken is None else _asdict(report.broken),
                "keyed_over": [{"at": iso(at), "detail": detail} for at, detail in report.keyed_over],
                "checkpoints": None
                if anchored is None
                else {
                    "checked": anchored.checkpoints,
                    "newest": None if anchored.newest is None else iso(anchored.newest),
                    "other_environments": anchored.other_environments,
                    "divergence": None if anchored.divergence is None else _asdict(anchored.divergence),
                },
            }
        )
    else:
        if report.ok:
            common.out.print(f"audit log intact: {report.events} events in {report.chains} chains")
        else:
            common.err.print(f"audit log BROKEN at {report.broken}")
        for at, detail in report.keyed_over:
            common.out.print(
                f"note: the audit key was made at {iso(at)} over events already there ({detail}). Once, at the "
                "upgrade to schema 0008, is expected; any other time the key was reset: check --checkpoints"
            )
        if anchored is not None and anchored.ok and anchored.newest is not None:
            common.out.print(f"matches {anchored.checkpoints} signed checkpoints, newest {iso(anchored.newest)}")
        elif anchored is not None:
            common.err.print(f"audit log DIVERGES from {anchored.divergence}")
        elif report.ok:
            common.out.print(_checkpoint_hint())
    if not ok:
        raise typer.Exit(1)


def _checkpoint_hint() -> str:
    """What verify did not check, and the option that checks it (with this home's own file, if any)."""
    from strongroom import defaults

    settings = common.settings()
    spec = defaults.checkpoint_sinks(settings.environment, settings.home)
    files = [item.removeprefix("file:") for item in spec.split(",") if item.startswith(("file:", "/"))]
    where = f"--checkpoints {files[0]}" if files else "--checkpoints SOURCE"
    return f"not checked against signed checkpoints: add {where}"


def _asdict(item: object) -> dict[str, object]:
    return {name: getattr(item, name) for name in item.__slots__}  # type: ignore[attr-defined]


@app.command("checkpoint")
def checkpoint(
    to: str | None = typer.Option(None, "--to", help="Sinks, as in STRONGROOM_AUDIT_CHECKPOINTS (default: those)."),
    as_json: bool = typer.Option(False, "--json", help="Print the checkpoint."),
) -> None:
    """Sign the chains' heads now and write the checkpoint outside the database."""
    from strongroom.audit.checkpoints import sinks_from_spec

    sinks = sinks_from_spec(to) if to else []
    with common.vault() as vault:
        written = vault.checkpoint_audit(sinks)
    if as_json:
        common.print_json({"at": iso(written.at), "events": written.events, "chains": len(written.heads)})
    else:
        common.out.print(f"checkpoint of {written.events} events in {len(written.heads)} chains written")


@app.command("public-key")
def public_key_command() -> None:
    """Print the key that verifies this environment's checkpoints: keep a copy where the checkpoints are."""
    with common.vault() as vault:
        common.out.print(vault.audit_public_key())


@app.command("tail")
def tail(
    n: int = typer.Option(20, "-n", min=0, help="How many of the newest events."),
    tenant: str | None = typer.Option(None, help="Only this tenant's events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the newest audit events, oldest first, each with its context (who, on whose behalf, from where,
    what the caller got: docs/audit.md)."""
    from strongroom.audit.context import decode, summary

    with common.vault() as vault:
        events = list(reversed(vault.audit_events(tenant=tenant, limit=n, newest_first=True)))
    if as_json:
        common.print_json(
            [
                {**{k: getattr(e, k) for k in e.__slots__}, "at": iso(e.at), "context": decode(e.context) or None}
                for e in events
            ]
        )
        return
    # One event per entry, not a table: ten columns do not fit 80, and a squeezed column cuts names. The first
    # line says what happened, the indented rest who did it and why, each wrapped whole to the terminal's width.
    for e in events:
        what = (e.tenant or "-") if e.secret_name is None else f"{e.tenant or '-'}/{e.secret_name}"
        version = "" if e.version is None else f" v{e.version}"
        common.print_wrapped(f"#{e.id} {common.when(e.at)} {e.action} {e.outcome} {what}{version}", indent="    ")
        details = [f"by {e.actor}"]
        if e.purpose:
            details.append(f"purpose: {e.purpose}")
        context = summary(e.context)  # the consoles read no markup: an agent's "[bold]" is shown as it is
        if context:
            details.append(f"context: {context}")
        common.print_wrapped("    " + "; ".join(details), indent="    ")


@app.command("head")
def head(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every chain's head (seq and hash): record them elsewhere to detect a rewritten log later."""
    with common.vault() as vault:
        heads = vault.audit_heads()
    if as_json:
        common.print_json({chain: {"seq": seq, "hash": digest} for chain, (seq, digest) in heads.items()})
        return
    common.print_table(
        "audit chain heads",
        ["chain", "seq", "hash"],
        [(chain, seq, digest) for chain, (seq, digest) in sorted(heads.items())],
    )


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    OTEL = "otel"
    CEF = "cef"


def _window(since: str | None, until: str | None) -> tuple[float | None, float | None]:
    from strongroom.audit.export import parse_when

    now = time.time()
    start = None if since is None else parse_when(since, now, option="--since")
    end = None if until is None else parse_when(until, now, option="--until")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(f"--until {until!r} is not after --since {since!r}: give a later --until")
    return start, end


def _open_output(path: Path) -> IO[str]:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # an existing file keeps its mode otherwise: a 0644 one would stay readable to all
    except OSError as exc:
        raise InvalidInput(f"--output {path}: cannot write it ({exc.strerror or type(exc).__name__})") from None
    return os.fdopen(fd, "w", encoding="utf-8", newline="\n")


@app.command("export")
def export_events(
    fmt: ExportFormat = typer.Option(..., "--format", help="jsonl, otel (OTLP JSON lines) or cef."),
    since: str | None = typer.Option(None, help="From this time: ISO-8601 or an age (24h, 7d)."),
    until: str | None = typer.Option(None, help="Before this time: ISO-8601 or an age."),
    tenant: str | None = typer.Option(None, help="Only this tenant's events."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write to this file (0600), not stdout."),
) -> None:
    """Export the environment's audit events, oldest first, for a SIEM: never a value."""
    from strongroom.audit.export import export

    start, end = _window(since, until)
    with common.vault() as vault:
        _check_tenant(vault, tenant)
        records = vault.iter_audit_events(tenant=tenant, since=start, until=end)
        if output is None:
            try:
                export(records, fmt.value, sys.stdout, environment=vault.environment)
                sys.stdout.flush()
            except BrokenPipeError:  # `| head`: the reader has what it wanted (Python's documented remedy)
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        with _open_output(output) as out, _progress(f"exporting to {output.name}") as advance:
            written = export(records, fmt.value, out, environment=vault.environment, progress=advance)
    common.err.print(f"exported {written} events to {output} ({fmt.value})")


def _check_tenant(vault: Any, tenant: str | None) -> None:
    """A misspelt --tenant is an error, not an empty export or report. Histories are kept by tenant id, so a
    deleted tenant's name addresses none: its events are in the export without --tenant."""
    names = [t.name for t in vault.list_tenants()]
    if tenant is not None and tenant not in names:
        raise InvalidInput(f"no tenant {tenant!r} in {vault.environment}{common.did_you_mean(tenant, names)}")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int], object]]:
    """A progress bar on stderr when it is a terminal (the total is not known ahead: a count and a rate)."""
    if not common.err.is_terminal:
        yield lambda _n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=common.err, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


@app.command("report")
def report(
    tenant: str = typer.Option(..., help="The tenant whose secrets' accesses to report."),
    since: str | None = typer.Option(None, help="From this time: ISO-8601 or an age (24h, 7d)."),
    until: str | None = typer.Option(None, help="Before this time: ISO-8601 or an age."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    chart: Path | None = typer.Option(None, "--chart", help="Also draw accesses over time to this PNG."),
) -> None:
    """Accesses to a tenant's secrets (uses and brokered calls) per secret, actor and purpose, by outcome."""
    from strongroom.audit import report as reports

    start, end = _window(since, until)
    if chart is not None:
        reports.require_pillow()
    with common.vault() as vault:
        _check_tenant(vault, tenant)
        records = vault.iter_audit_events(tenant=tenant, since=start, until=end, actions=reports.ACCESS_ACTIONS)
        built = reports.build(records, tenant, since=start, until=end)
    if chart is not None:
        reports.chart_png(built, chart)
    if as_json:
        common.print_json(built.as_json())
    else:
        _print_report(built)
    if chart is not None:
        common.err.print(f"chart written to {chart}")


def _print_report(built: Any) -> None:
    outcomes = built.outcomes()
    first, last = _minute(built.total.first), _minute(built.total.last)
    span = f" from {first} to {last}" if built.total.accesses else ""
    common.out.print(f"{built.total.accesses} accesses to {built.tenant}'s secrets{span}")
    if not built.total.accesses:
        return
    for title, key, groups in (
        ("per secret", "secret", built.by_secret),
        ("per actor", "actor", built.by_actor),
        ("per purpose", "purpose", built.by_purpose),
    ):
        ordered = sorted(groups.items(), key=lambda kv: (-kv[1].accesses, kv[0]))
        common.print_table(
            title,
            [key, "accesses", *outcomes, "last"],
            [(name, g.accesses, *(g.outcomes[o] for o in outcomes), _minute(g.last)) for name, g in ordered],
        )


def _minute(seconds: float | None) -> str | None:
    """``2026-11-30 15:00Z``: narrow enough for a table in 80 columns."""
    text = iso(seconds)
    return None if text is None else text[:16].replace("T", " ") + "Z"
