"""``strongroom secret put|list|versions|delete``.

Values are read from stdin or a file, never from the command line: argv is visible to every user of
the machine (``ps``, ``/proc/*/cmdline``) and lands in shell history.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput

if TYPE_CHECKING:
    from strongroom.vault.destinations import DestinationPolicy

app = typer.Typer(help="Write secrets and read their metadata (never their values).", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")
DESTINATION_HELP = (
    "Where the broker may send it: ORIGIN=PLACEMENT[,PLACEMENT], e.g. "
    "https://api.stripe.com=basic or https://api.example.com=header:X-Api-Key. Repeat for more origins."
)


def _policy(destinations: list[str] | None) -> DestinationPolicy | None:
    # imported here: the vault package pulls in the store (SQLAlchemy), which `strongroom scan` never needs
    from strongroom.vault.destinations import DestinationPolicy, parse_option

    if not destinations:
        return None
    return DestinationPolicy(tuple(parse_option(d) for d in destinations))


def read_value(from_file: Path | None, keep_newline: bool, max_bytes: int) -> str | bytes:
    # Read at most the limit plus a CR LF plus one byte: more than that is over the limit whatever
    # newline is stripped, and is refused rather than silently cut.
    budget = max_bytes + 3
    if from_file is not None:
        try:
            with from_file.open("rb") as handle:
                raw = handle.read(budget)
        except OSError as exc:
            raise InvalidInput(f"cannot read --from-file {from_file}: {exc.strerror}") from None
    elif sys.stdin.isatty():
        raw = getpass.getpass("value (hidden): ").encode()
    else:
        raw = sys.stdin.buffer.read(budget)
    if len(raw) >= budget:
        raise InvalidInput(f"the value is over the limit of {max_bytes} bytes")
    if not keep_newline:
        raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1] if raw.endswith(b"\n") else raw
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw


@app.command("put")
def put(
    tenant: str,
    name: str,
    value_on_command_line: str | None = typer.Argument(None, hidden=True, show_default=False),
    from_file: Path | None = typer.Option(None, "--from-file", help="Read the value from this file."),
    kind: str | None = typer.Option(None, help="platform, tenant (default) or ephemeral."),
    sensitivity: str | None = typer.Option(None, help="low, medium, high (default) or critical."),
    description: str | None = typer.Option(None, help="What the secret is for."),
    expected_version: int | None = typer.Option(None, help="Check-and-set: fail unless at this version (0: new)."),
    ttl: float | None = typer.Option(None, "--ttl", help="Seconds an ephemeral secret stays usable."),
    keep_newline: bool = typer.Option(False, help="Keep a trailing newline of the input."),
    destination: list[str] | None = typer.Option(None, "--destination", help=DESTINATION_HELP),
    as_json: bool = JSON,
) -> None:
    """Store a new version of a secret, reading the value from stdin or --from-file.

    Without --destination the stored policy is kept; a new secret then has none, and only the operator's
    declared connectors may use it.
    """
    if value_on_command_line is not None:
        raise InvalidInput(
            "refusing a secret value given on the command line: every user of this machine can read argv. "
            "Pipe it on stdin or use --from-file."
        )
    policy = _policy(destination)
    with common.vault() as vault:
        value = read_value(from_file, keep_newline, vault.max_value_bytes)
        info = vault.put(
            tenant,
            name,
            value,
            kind=kind,
            sensitivity=sensitivity,
            description=description,
            expected_version=expected_version,
            ttl_seconds=ttl,
            destinations=policy,
        )
    if as_json:
        common.print_json(info.to_dict())
    else:
        common.out.print(f"stored {info.tenant}/{info.name} version {info.version}")


@app.command("destinations")
def destinations(
    tenant: str,
    name: str,
    destination: list[str] | None = typer.Option(None, "--destination", help=DESTINATION_HELP),
    none: bool = typer.Option(False, "--none", help="Remove the policy: declared connectors only."),
    as_json: bool = JSON,
) -> None:
    """Set where the broker may send a secret, without a new version (audited)."""
    if none == bool(destination):
        raise InvalidInput("give --destination ORIGIN=PLACEMENT (repeatable) or --none")
    with common.vault() as vault:
        info = vault.set_destinations(tenant, name, _policy(destination))
    if as_json:
        common.print_json(info.to_dict())
    elif info.destinations is None:
        common.out.print(f"{tenant}/{name}: only the operator's declared connectors")
    else:
        common.out.print(f"{tenant}/{name}: {info.destinations.describe()}")


@app.command("list")
def list_(
    tenant: str,
    include_deleted: bool = typer.Option(False, "--all", help="Include soft-deleted secrets."),
    as_json: bool = JSON,
) -> None:
    """List a tenant's secrets (metadata only)."""
    with common.vault() as vault:
        infos = vault.list(tenant, include_deleted=include_deleted)
    if as_json:
        common.print_json([i.to_dict() for i in infos])
        return
    rows, notes = [], []
    for info in infos:
        rows.append((info.name, info.kind, info.sensitivity, info.version, common.when(info.updated_at)))
        if info.deleted_at:
            notes.append(f"{info.name}: deleted {common.when(info.deleted_at)} (a put revives it)")
        if info.expires_at:
            notes.append(f"{info.name}: expires {common.when(info.expires_at)}")
    common.print_table(f"secrets of {tenant}", ["name", "kind", "sensitivity", "v", "updated"], rows, notes=notes)


@app.command("versions")
def versions(tenant: str, name: str, as_json: bool = JSON) -> None:
    """List the versions of a secret (metadata only)."""
    with common.vault() as vault:
        infos = vault.versions(tenant, name)
    if as_json:
        common.print_json([i.to_dict() for i in infos])
        return
    common.print_table(
        f"versions of {tenant}/{name}",
        ["version", "stage", "created", "by", "expires"],
        [(i.version, i.stage, common.when(i.created_at), i.created_by, common.when(i.expires_at)) for i in infos],
    )


@app.command("delete")
def delete(
    tenant: str,
    name: str,
    purge: bool = typer.Option(False, "--purge", help="Remove every version for good."),
    as_json: bool = JSON,
) -> None:
    """Soft-delete a secret (versions kept), or with --purge remove it for good."""
    with common.vault() as vault:
        if purge:
            vault.purge(tenant, name)
        else:
            vault.delete(tenant, name)
    if as_json:
        common.print_json({"tenant": tenant, "name": name, "purged": purge, "versions_kept": not purge})
        return
    common.out.print(f"{'purged' if purge else 'deleted'} {tenant}/{name}")
