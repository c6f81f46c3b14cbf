"""``strongroom drill``: rotate, remove, scan: the three validations against a running app (docs/rotation.md).

Exit codes: 0 every step passed; 1 a step failed (the last line names each failed step); 2 bad input.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput


def drill(
    schema: str = typer.Option(..., "--schema", help="The app's settings schema, MODULE:CLASS."),
    environment: str | None = typer.Option(None, "--env", help="Environment (default: $STRONGROOM_ENV or dev)."),
    health: str = typer.Option(..., "--health", help="The app's health URL, polled throughout the rotations."),
    logs: list[Path] = typer.Option(
        [], "--logs", help="A log file or directory to scan for stored values (repeat for more)."
    ),
    only: str | None = typer.Option(None, "--only", help="Drill only this secret (field or variable name)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    junit: Path | None = typer.Option(None, "--junit", help="Also write a JUnit XML report to this file."),
    interval: float = typer.Option(0.05, "--interval", help="Seconds between health probes."),
    settle: int = typer.Option(3, "--settle", help="Healthy probes needed after each retirement."),
) -> None:
    """Rotate each rotatable secret while polling --health, confirm each required secret fails start-up when
    removed, and scan --logs for stored values; exit 1 if any step fails."""
    from strongroom.config.loader import import_schema
    from strongroom.rotation.drill import check_health_url, run_drill

    if environment is not None:
        common.set_environment(environment)
    check_health_url(health)
    if interval <= 0 or settle < 1:
        raise InvalidInput("--interval must be positive and --settle at least 1")
    settings_class = import_schema(schema)
    with common.vault() as vault, _progress(enabled=not as_json) as progress:
        report = run_drill(
            settings_class,
            vault,
            health_url=health,
            logs=logs,
            only=only,
            interval=interval,
            settle_probes=settle,
            progress=progress,
            reference=schema,
        )
    if junit is not None:
        try:
            junit.write_bytes(report.to_junit())
        except OSError as exc:
            raise InvalidInput(f"cannot write JUnit XML to {junit}: {exc.strerror}") from None
    if as_json:
        common.print_json(report.to_dict())
    else:
        for step in report.steps:
            common.out.print(step.line())
            if step.failed and len(step.line()) < len(step.line(10_000)):
                for part in textwrap.wrap(step.detail, 74):
                    common.out.print(f"      {part}")
    if not report.passed:
        failed = ", ".join(f"{s.step} {s.target}" for s in report.failed)
        common.err.print(textwrap.fill(f"drill failed: {failed}", 80))
        raise typer.Exit(1)
    if not as_json:
        common.out.print(f"drill passed: {len(report.steps)} step(s)")


@contextmanager
def _progress(*, enabled: bool) -> Iterator[Callable[[str], object] | None]:
    """What the drill is doing, on stderr, only when a person is watching."""
    if not (enabled and common.err.is_terminal):
        yield None
        return
    with common.err.status("drill: starting") as status:
        yield lambda text: status.update(f"drill: {text}")
