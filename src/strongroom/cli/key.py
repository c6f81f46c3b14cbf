"""``strongroom key rotate|rewrap``: KEK rotation for the local key file."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import Progress

from strongroom.cli import common

app = typer.Typer(help="Rotate the key-encryption key and rewrap data keys.", no_args_is_help=True)


def _run(add_version: bool, as_json: bool) -> None:
    from strongroom.bootstrap import rotate_kek

    def waiting(lock: Path) -> None:
        common.err.print(f"waiting for another key rotation to finish (it holds {lock})")

    with Progress(console=common.err, transient=True) as progress:
        task = progress.add_task("rewrapping data keys", total=None)
        result = rotate_kek(
            common.settings(),
            add_version=add_version,
            progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_wait=waiting,
        )
    if as_json:
        common.print_json({"key_id": result.key_id, "primary": result.primary, "rewrapped": result.rewrapped})
    else:
        common.out.print(f"key {result.key_id} at version {result.primary}; {result.rewrapped} data keys rewrapped")


@app.command("rotate")
def rotate(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Add a new KEK version to this environment's key file, make it primary, and rewrap every data key.

    The key file is checked against the database first; concurrent rotations wait for each other (a lock on
    the key file), so each adds its own version and none is lost.
    """
    _run(add_version=True, as_json=as_json)


@app.command("rewrap")
def rewrap(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Rewrap every data key not yet under the current KEK version (resumes an interrupted rotation)."""
    _run(add_version=False, as_json=as_json)
