"""``strongroom tenant create|list|delete``."""

from __future__ import annotations

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput

app = typer.Typer(help="Create, list and delete tenants.", no_args_is_help=True)


@app.command("create")
def create(name: str, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Create a tenant and its first data key.

    Names starting with _ or - are strongroom's own and refused, but _platform (platform secrets).
    """
    with common.vault() as vault:
        info = vault.create_tenant(name)
    if as_json:
        common.print_json(info.to_dict())
    else:
        common.out.print(f"created tenant {info.name} ({info.environment}, id {info.id})")


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the tenants of the environment."""
    with common.vault() as vault:
        tenants = vault.list_tenants()
    if as_json:
        common.print_json([t.to_dict() for t in tenants])
        return
    common.print_table(
        f"tenants ({common.settings().environment})",
        ["name", "id", "created"],
        [(t.name, t.id, common.when(t.created_at)) for t in tenants],
    )


@app.command("delete")
def delete(
    name: str,
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete a tenant and destroy its data keys: its stored secrets can no longer be decrypted.

    Backups taken before the deletion still hold the wrapped keys; see docs/crypto.md (crypto-shredding).
    """
    if not yes:
        if not common.interactive():
            raise InvalidInput("deleting a tenant destroys its keys for good: pass --yes to confirm")
        typer.confirm(f"Delete tenant {name!r} and destroy its keys for good?", abort=True)
    with common.vault() as vault:
        vault.delete_tenant(name)
    if as_json:
        # the text's advice as a field: deleted keys stay in backups until `strongroom key shred`
        common.print_json({"tenant": name, "deleted": True, "keys_deleted": True, "shred_with": "strongroom key shred"})
        return
    common.out.print(
        f"deleted tenant {name}; its data keys are deleted.\n"
        "`strongroom key shred` makes them unrecoverable from every copy."
    )
