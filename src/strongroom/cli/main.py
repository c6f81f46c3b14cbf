"""Entry point of the ``strongroom`` command.

Exit codes: 0 success, 1 a refused or failed operation (the message says why), 2 bad usage.
Tracebacks are never printed (they can hold secrets in their frames) unless ``STRONGROOM_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys

import typer

from strongroom.cli import (
    admin_key,
    audit,
    common,
    config,
    dev_upstream,
    drill,
    inventory,
    key,
    rotate,
    scan,
    secret,
    serve,
    tenant,
)
from strongroom.errors import InvalidInput, StrongroomError

app = typer.Typer(
    help="strongroom: secrets for multi-tenant SaaS and AI-agent backends.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(tenant.app, name="tenant")
app.add_typer(secret.app, name="secret")
app.add_typer(audit.app, name="audit")
app.add_typer(key.app, name="key")
app.add_typer(admin_key.app, name="admin-key")
app.add_typer(rotate.app, name="rotation")
app.command("rotate")(rotate.rotate)
app.command("scan")(scan.scan)
app.command("serve")(serve.serve)
app.command("inventory")(inventory.inventory)
app.command("check")(config.check)
app.command("doctor")(config.doctor)
app.command("drill")(drill.drill)
app.command("dev-upstream")(dev_upstream.dev_upstream)
app.command("run", context_settings={"allow_interspersed_args": False})(config.run)


def _print_version(asked: bool) -> None:
    if asked:
        import strongroom

        common.out.print(f"strongroom {strongroom.__version__}")
        raise typer.Exit(0)


@app.callback()
def root(
    environment: str | None = typer.Option(None, "--env", help="Environment (default: $STRONGROOM_ENV or dev)."),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print strongroom's version and exit."
    ),
) -> None:
    common.set_environment(environment)


@app.command("init")
def init() -> None:
    """Create $STRONGROOM_HOME with this environment's key file and the database (never overwrites a key)."""
    from strongroom.bootstrap import initialise

    settings = common.settings()
    result = initialise(settings)
    where = f"key file {result.key_file} (0600)" if result.key_file else "key from STRONGROOM_MASTER_KEY"
    common.out.print(f"initialised {settings.environment}: {where}, database at schema {result.revision}")


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the strongroom schema in $STRONGROOM_URL (refuses a database that is not strongroom's)."""
    from strongroom.bootstrap import upgrade_schema

    common.out.print(f"database at schema {upgrade_schema(common.settings())}")


def main(argv: list[str] | None = None) -> None:
    # Typer handles usage errors and --help itself (exit 2 / 0) and exits through SystemExit;
    # strongroom's own errors arrive here as exceptions and are printed without a traceback.
    try:
        app(args=argv)
    except InvalidInput as exc:
        common.err.print(f"error: {exc}")
        sys.exit(2)
    except StrongroomError as exc:
        common.err.print(f"error: {exc}")
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("STRONGROOM_DEBUG") == "1":
            raise
        common.err.print(f"internal error ({type(exc).__name__}); set STRONGROOM_DEBUG=1 for the traceback")
        sys.exit(70)


if __name__ == "__main__":
    main()
