"""``strongroom key status|rotate|rewrap|retire|shred|migrate``: the key lifecycle (docs/crypto.md)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.progress import Progress

from strongroom import defaults
from strongroom.cli import common

app = typer.Typer(help="Rotate, retire and shred keys; move the root of trust.", no_args_is_help=True)

_JSON = typer.Option(False, "--json", help="Print JSON.")
_BATCH = typer.Option(defaults.REWRAP_BATCH, "--batch-size", min=1, help="Data keys rewrapped per transaction.")


def _waiting(_: Path | None = None) -> None:
    common.err.print("waiting for another key rotation to finish")


@contextmanager
def _progress(label: str) -> Iterator[Callable[[int, int], None] | None]:
    if not common.err.is_terminal:  # no bar to draw: nor anything to count for it (a query over every key)
        yield None
        return
    with Progress(console=common.err, transient=True) as progress:
        task = progress.add_task(label, total=None)
        yield lambda done, total: progress.update(task, completed=done, total=total)


@app.command("status")
def status(as_json: bool = _JSON) -> None:
    """Root keys, what each wraps, the provider's versions, what can be retired, pending shreds."""
    with common.vault() as vault:
        report = vault.keys.status()
    if as_json:
        common.print_json(report.as_dict())
        return
    versions = "?" if report.provider_versions is None else ", ".join(map(str, report.provider_versions))
    common.out.print(f"provider: {report.provider} (current version {report.provider_current})")
    common.out.print(f"provider versions: {versions}; needed: {', '.join(map(str, report.needed_provider_versions))}")
    rows = [[str(r.version), r.state, f"{r.provider_id} v{r.provider_version}", str(r.data_keys)] for r in report.roots]
    common.print_table("root keys", ["root", "state", "wrapped by", "data keys"], rows)
    for key_id, version, count in report.provider_wrapped:
        common.out.print(f"{count} data keys still wrapped by {key_id} v{version}: run `strongroom key rewrap`")
    if report.retirable:
        common.out.print(f"retirable root keys: {', '.join(map(str, report.retirable))} (`strongroom key retire`)")
    if report.deletions_pending:
        common.out.print(f"{report.deletions_pending} tenant deletions await a shred (`strongroom key shred`)")


@app.command("rotate")
def rotate(
    as_json: bool = _JSON,
    stage: bool = typer.Option(False, "--stage", help="Only add the new root key, decrypt-only."),
    batch_size: int = _BATCH,
) -> None:
    """Add a root key (under a new provider version when the provider can), promote it, rewrap every data key.

    Resumable: after an interruption, run it again. Concurrent rotations wait for each other.
    """
    from strongroom.bootstrap import rotate_kek

    with _progress("rewrapping data keys") as progress:
        result = rotate_kek(
            common.settings(),
            add_version=True,
            stage_only=stage,
            batch_size=batch_size,
            progress=progress,
            on_wait=_waiting,
        )
    _print_rotation(result, as_json)


@app.command("rewrap")
def rewrap(as_json: bool = _JSON, batch_size: int = _BATCH) -> None:
    """Rewrap every data key not yet under the primary root key (resumes an interrupted rotation)."""
    from strongroom.bootstrap import rotate_kek

    with _progress("rewrapping data keys") as progress:
        result = rotate_kek(
            common.settings(), add_version=False, batch_size=batch_size, progress=progress, on_wait=_waiting
        )
    _print_rotation(result, as_json)


def _print_rotation(result: object, as_json: bool) -> None:
    from strongroom.bootstrap import RotationResult

    assert isinstance(result, RotationResult)  # noqa: S101 -- typed for mypy
    if as_json:
        common.print_json(
            {
                "key_id": result.key_id,
                "primary": result.primary,
                "root_version": result.root_version,
                "rewrapped": result.rewrapped,
                "staged_only": result.staged_only,
            }
        )
    elif result.staged_only:
        common.out.print(f"root key v{result.root_version} added decrypt-only; run `key rotate` to promote it")
    else:
        common.out.print(
            f"root key v{result.root_version} primary (key {result.key_id} version {result.primary}); "
            f"{result.rewrapped} data keys rewrapped"
        )


@app.command("retire")
def retire(as_json: bool = _JSON) -> None:
    """Destroy root keys and provider versions that nothing needs any more (see `key status`)."""
    with common.vault() as vault:
        report = vault.keys.retire(on_wait=_waiting)
    if as_json:
        common.print_json(
            {
                "roots_retired": list(report.roots_retired),
                "roots_in_use": [{"version": v, "data_keys": n} for v, n in report.roots_in_use],
                "provider_versions_destroyed": list(report.provider_versions_destroyed),
            }
        )
        return
    common.out.print(
        f"retired root keys: {list(report.roots_retired)}; "
        f"destroyed provider versions: {list(report.provider_versions_destroyed)}"
    )
    for version, count in report.roots_in_use:
        common.out.print(f"root key v{version} still wraps {count} data keys: run `strongroom key rewrap`")


@app.command("shred")
def shred(
    as_json: bool = _JSON,
    force: bool = typer.Option(False, "--force", help="Re-key even if no deletion is pending."),
    batch_size: int = _BATCH,
) -> None:
    """Make deleted tenants unrecoverable from every copy of the database (re-key, then destroy old keys)."""
    with common.vault() as vault, _progress("rewrapping data keys") as progress:
        report = vault.keys.shred(force=force, batch_size=batch_size, progress=progress, on_wait=_waiting)
    if as_json:
        common.print_json(
            {
                "deletions": report.deletions,
                "root_version": report.root_version,
                "provider_version": report.provider_version,
                "rewrapped": report.rewrapped,
                "roots_retired": list(report.roots_retired),
                "provider_versions_destroyed": list(report.provider_versions_destroyed),
            }
        )
    elif report.root_version is None:
        common.out.print("no tenant deletion awaits a shred (use --force to re-key anyway)")
    else:
        common.out.print(
            f"shredded {report.deletions} deletions: root key v{report.root_version}, "
            f"{report.rewrapped} data keys rewrapped; destroyed roots {list(report.roots_retired)} and "
            f"provider versions {list(report.provider_versions_destroyed)}"
        )


@app.command("migrate")
def migrate(
    to: str = typer.Option(..., "--to", help="The new key provider's URI (as STRONGROOM_KEK takes it)."),
    as_json: bool = _JSON,
    batch_size: int = _BATCH,
) -> None:
    """Move the root of trust to another key provider, online; then set STRONGROOM_KEK to it everywhere."""
    from strongroom.bootstrap import key_provider_at

    target = key_provider_at(common.settings(), to)
    with common.vault() as vault, _progress("rewrapping data keys") as progress:
        moved = vault.keys.migrate(target, batch_size=batch_size, progress=progress, on_wait=_waiting)
    if as_json:
        common.print_json({"root_keys_moved": moved, "key_id": target.key_id})
    else:
        shown = to.split("?", maxsplit=1)[0]
        common.out.print(f"{moved} root keys now wrapped by {target.key_id}; set STRONGROOM_KEK={shown}")
