"""``strongroom admin-key create|list|revoke``: the operator's admin keys, on the host.

This is also how a lost admin key is recovered: whoever holds the environment's key file and database
runs ``strongroom admin-key create`` (never over HTTP), then revokes the lost key by its id. The last
live admin key cannot be revoked: create another first.
"""

from __future__ import annotations

import typer

from strongroom.cli import common

app = typer.Typer(help="Create, list and revoke the operator's admin keys.", no_args_is_help=True)

JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("create")
def create(
    name: str = typer.Option("admin", help="What the key is for (shown in listings)."),
    ttl: float | None = typer.Option(None, "--ttl", help="Seconds until the key expires (default: never)."),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print only the key, for a script: ADMIN=$(strongroom admin-key create -q)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create an admin key and print it once (store it now: only its hash is kept).

    This is also how a lost admin key is replaced, on the host that holds the key file and the database:
    create a new one, then revoke the lost one (`strongroom admin-key list`, `revoke ID`). The key goes to
    stdout alone (the notes to stderr), so a script can capture it.
    """
    from strongroom.tokens import ADMIN_SCOPE, ApiKeys

    with common.vault() as vault:
        keys = ApiKeys(vault)
        key, info = keys.create(tenant=None, name=name, scopes=[ADMIN_SCOPE], ttl_seconds=ttl, actor=vault.actor)
        others = [k.prefix for k in keys.list(None) if k.revoked_at is None and k.id != info.id]
    if as_json:
        common.print_json({**info.to_dict(), "key": key.reveal()})
        return
    if not quiet:
        common.err.print(f"admin key {info.prefix} created; shown once, store it now:")
    common.out.print(key.reveal())
    if others and not quiet:
        common.err.print(
            f"{len(others)} other live admin key(s): {', '.join(others[:3])}{' …' if len(others) > 3 else ''}.\n"
            "Replacing a lost one? Revoke it: strongroom admin-key revoke ID"
        )


@app.command("list")
def list_(as_json: bool = JSON) -> None:
    """List the operator's keys (metadata only: never a key)."""
    from strongroom.tokens import ApiKeys

    with common.vault() as vault:
        keys = ApiKeys(vault).list(None)
    if as_json:
        common.print_json([k.to_dict() for k in keys])
        return
    common.print_table(
        f"operator keys ({common.settings().environment})",
        ["id", "name", "scopes", "created", "expires", "revoked", "last used"],
        [
            (
                k.prefix,
                k.name,
                " ".join(sorted(k.scopes)),
                d["created_at"],
                d["expires_at"],
                d["revoked_at"],
                d["last_used_at"],
            )
            for k in keys
            for d in [k.to_dict()]
        ],
    )


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(
        ..., help="The key's id, as `admin-key list` shows it (srk_ and 8 characters), or the 8 characters."
    ),
) -> None:
    """Revoke an admin key at once (refused for the last live one: create another first)."""
    from strongroom.tokens import ApiKeys

    with common.vault() as vault:
        revoked = ApiKeys(vault).revoke(key_id, tenant=None, actor=vault.actor)
    common.out.print(f"revoked admin key srk_{revoked}")
