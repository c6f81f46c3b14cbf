"""``strongroom inventory``: every secret with its sensitivity, rotation state and last use; never a value.

A table on a terminal (fits 80 columns; purposes, actors and errors are in ``--json`` and ``--csv``), ``--json``
(a list of objects) or ``--csv`` (the same fields, one row per secret) for compliance evidence. Exit 1 when a
critical secret is overdue or its last rotation failed (each named on stderr), else 0.
"""

from __future__ import annotations

import csv
import sys
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.table import Table

from strongroom.cli import common
from strongroom.errors import InvalidInput

if TYPE_CHECKING:
    from strongroom.rotation.inventory import InventoryRow

_KIND = {"platform": "plat", "tenant": "tenant", "ephemeral": "eph"}
_SENSITIVITY = {"critical": "CRIT", "high": "high", "medium": "med", "low": "low"}
_STATUS = {"succeeded": "ok", "retiring": "ok*", "running": "running", "failed": "FAILED", "cancelled": "cancel"}


def inventory(
    schema: str | None = typer.Option(
        None, "--schema", help="Also list a config schema's secrets, as MODULE:CLASS (imported from the current dir)."
    ),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's secrets (_platform: the platform's)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list of objects."),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV with a header row."),
) -> None:
    """List every secret: kind, sensitivity, rotation period and state, age, next due, last use (never a value).

    Exit 1 when a critical secret is overdue or its last rotation failed.
    """
    from strongroom.rotation.inventory import alarms
    from strongroom.rotation.inventory import inventory as build

    if as_json and as_csv:
        raise InvalidInput("give --json or --csv, not both")
    declared = None
    if schema is not None:
        from strongroom.config.loader import import_schema

        declared = import_schema(schema)
    with common.vault() as vault:
        rows = build(vault, schema=declared, tenant=tenant)
        now = vault.clock()
    if as_json:
        common.print_json([row.to_dict() for row in rows])
    elif as_csv:
        _print_csv(rows)
    else:
        _print_table(rows, now)
    problems = alarms(rows)
    for line in problems:
        common.err.print(f"error: {line}")
    if problems:
        raise typer.Exit(1)


def _print_csv(rows: list[InventoryRow]) -> None:
    from strongroom.rotation.inventory import FIELDS

    writer = csv.DictWriter(sys.stdout, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        data = row.to_dict()
        data["purposes"], data["actors"] = ";".join(row.purposes), ";".join(row.actors)
        writer.writerow({key: _cell(value) for key, value in data.items()})


def _cell(value: object) -> object:
    """A cell a spreadsheet shows as text: purposes and actors are caller-chosen, and one starting with ``=``
    must not run as a formula when the evidence is opened (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    if isinstance(value, bool):
        return "true" if value else "false"  # as in --json
    return "" if value is None else value


def _print_table(rows: list[InventoryRow], now: float) -> None:
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True)
    table.add_column("SECRET", overflow="fold", ratio=1, min_width=12)
    for column in ("KIND", "SENS", "EVERY", "AGE", "DUE", "LAST ROT", "USED"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        due = "-" if row.next_due is None else _span(row.next_due - now, signed=True)
        table.add_row(
            f"{row.tenant}/{row.name}",
            _KIND.get(row.kind, row.kind),
            _SENSITIVITY.get(row.sensitivity, row.sensitivity),
            "-" if row.rotate_every_seconds is None else _span(row.rotate_every_seconds),
            "-" if row.age_seconds is None else _span(row.age_seconds),
            ("OVERDUE " + due) if row.overdue else due,
            "-" if row.last_rotation_status is None else _STATUS.get(row.last_rotation_status, "?"),
            "never" if row.last_used_at is None else _span(now - row.last_used_at) + " ago",
        )
    common.out.print(table)
    common.out.print(f"{len(rows)} secrets. DUE < 0: past due. Purposes, actors, errors: --json")


def _span(seconds: float, *, signed: bool = False) -> str:
    """A duration in its largest whole unit: 90d, 3h, 12m, 5s (``-2d`` when ``signed`` and in the past)."""
    sign = "-" if signed and seconds < 0 else ""
    seconds = abs(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{sign}{int(seconds // size)}{unit}"
    return f"{sign}{int(seconds)}s"
