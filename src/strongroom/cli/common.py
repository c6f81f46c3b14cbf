"""What every command shares: the vault it opens, JSON and table output, and error reporting."""

from __future__ import annotations

import difflib
import json
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from strongroom.errors import NotFound

if TYPE_CHECKING:  # the vault pulls in SQLAlchemy: imported by the commands that open one, not by `scan`
    from strongroom.bootstrap import Settings
    from strongroom.vault import Vault


def _console(*, stderr: bool = False) -> Console:
    # markup off: messages carry user-chosen names, and "[...]" in them must print as typed.
    return Console(stderr=stderr, highlight=False, soft_wrap=True, markup=False)


out = _console()
err = _console(stderr=True)

_state: dict[str, str | None] = {"environment": None}


def set_environment(environment: str | None) -> None:
    _state["environment"] = environment


def reset_state() -> None:
    """Start afresh for the next command run in this process, as the tests do (``strongroom`` itself runs one
    command per process): forget ``--env``, and make new consoles, since a console fixes the terminal's width
    from ``$COLUMNS`` when it is made."""
    global out, err
    _state["environment"] = None
    out, err = _console(), _console(stderr=True)


def settings() -> Settings:
    from strongroom.bootstrap import settings_from_env

    return settings_from_env(_state["environment"])


@contextmanager
def vault() -> Iterator[Vault]:
    from strongroom.bootstrap import open_vault

    with open_vault(settings()) as opened:
        try:
            yield opened
        except NotFound as exc:
            raise _suggest_tenant(exc, opened) from None


_TENANT_NOT_FOUND = re.compile(r"tenant '([^']*)' not found in ")


def _suggest_tenant(exc: NotFound, opened: Vault) -> NotFound:
    """A mistyped tenant: name the closest existing one. The command line is the operator's, who may see every
    tenant's name (the HTTP API never suggests: a tenant's key must not learn other tenants' names)."""
    found = _TENANT_NOT_FOUND.match(str(exc))
    if found is None:
        return exc
    return NotFound(f"{exc}{did_you_mean(found.group(1), [t.name for t in opened.list_tenants()])}")


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """``"\\ndid you mean 'acme'? ..."`` for the closest of ``names``, or the command that lists them."""
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if close:
        return f"\ndid you mean {close[0]!r}? (strongroom tenant list shows them all)"
    return "\nstrongroom tenant list shows the tenants"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``): a file path, commit author or name that came
    from someone else must never move the cursor, erase a line or retitle the terminal it is printed to."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def print_table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    notes: Sequence[str] = (),
) -> None:
    """A table that fits the terminal (80 columns included): no borders, and no cell is ever cut with an
    ellipsis (a cell that does not fit wraps). Long free text (reasons, notes) goes in ``notes``, printed below
    the table, each wrapped to the width: callers keep the columns to short values."""
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, header_style="bold underline")
    cells = [["" if cell is None else printable(str(cell)) for cell in row] for row in rows]
    # The first column names the row (a name, an id): kept whole while it takes at most half the width, the
    # others wrapping first to make room. Headers are never split.
    keys = max((len(row[0]) for row in cells if row), default=0)
    for i, column in enumerate(columns):
        table.add_column(column, overflow="fold", no_wrap=i == 0 and keys <= out.width // 2, min_width=len(column))
    for row in cells:
        table.add_row(*row)
    out.print(table)
    for note in notes:
        print_wrapped(note, indent="  ")


def print_wrapped(text: str, *, indent: str = "") -> None:
    """``text`` wrapped to the terminal's width at spaces (a word is never split), continued after ``indent``."""
    import textwrap

    width = max(out.width, 40)
    wrapped = textwrap.wrap(text, width=width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    out.print("\n".join(wrapped) if wrapped else "")


def when(seconds: float | None) -> str:
    """A time for a table: ISO 8601 UTC to the minute (``2026-11-30T15:00Z``), narrow enough for 80 columns; the
    --json output has the full ISO 8601 time."""
    from strongroom.clock import iso

    text = iso(seconds)
    return "" if text is None else text[:16] + "Z"


def interactive() -> bool:
    return sys.stdin.isatty()
