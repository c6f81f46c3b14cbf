"""Entry point of the ``strongroom`` command.

Exit codes: 0 success, 1 a refused or failed operation (the message says why), 2 bad usage.
Tracebacks are never printed (they can hold secrets in their frames) unless ``STRONGROOM_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from typing import Any

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


JSON = typer.Option(False, "--json", help="Print JSON.")


@app.command("init")
def init(as_json: bool = JSON) -> None:
    """Create $STRONGROOM_HOME with this environment's key file and the database (never overwrites a key)."""
    from strongroom.bootstrap import initialise

    settings = common.settings()
    result = initialise(settings)
    if as_json:
        common.print_json(
            {
                "environment": settings.environment,
                "key_file": None if result.key_file is None else str(result.key_file),
                "key_source": "file" if result.key_file else "STRONGROOM_MASTER_KEY",
                "revision": result.revision,
                "gitignore": None if result.gitignore is None else str(result.gitignore),
            }
        )
        return
    where = f"key file {result.key_file} (0600)" if result.key_file else "key from STRONGROOM_MASTER_KEY"
    common.out.print(f"initialised {settings.environment}: {where}, database at schema {result.revision}")
    if result.gitignore is not None:
        common.out.print(f"added .strongroom/ to {result.gitignore}")


class Shell(StrEnum):
    BASH = "bash"
    ZSH = "zsh"
    FISH = "fish"


COMPLETE_VAR = "_STRONGROOM_COMPLETE"


@app.command("completion")
def completion(shell: Shell = typer.Argument(..., help="bash, zsh or fish.")) -> None:
    """Print the shell completion script for SHELL.

    Load it in your shell's startup file, e.g. eval "$(strongroom completion bash)",
    or save it where the shell finds completions (docs/cli.md).
    """
    # Typer's own script and protocol (what its --show-completion prints), without its --install-completion,
    # which edits the user's shell start-up files.
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    completion_init()
    script = get_completion_script(prog_name="strongroom", complete_var=COMPLETE_VAR, shell=shell.value)
    sys.stdout.write(script + "\n")


db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(as_json: bool = JSON) -> None:
    """Create or upgrade the strongroom schema in $STRONGROOM_URL (refuses a database that is not strongroom's)."""
    from strongroom.bootstrap import upgrade_schema

    settings = common.settings()
    revision = upgrade_schema(settings)
    if as_json:
        common.print_json({"environment": settings.environment, "revision": revision})
    else:
        common.out.print(f"database at schema {revision}")


def _hide_flag_types(command: Any) -> None:
    """Typer shows every boolean flag's type as ``<bool>`` in --help, as if it took a value: give each flag
    (``--help`` included) an empty metavar, for every command."""
    for param in [*command.params, command.get_help_option(typer.Context(command))]:
        if getattr(param, "is_flag", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _hide_flag_types(sub)


def command() -> Any:
    """The click command behind ``app``, as ``strongroom`` runs it."""
    built = typer.main.get_command(app)
    _hide_flag_types(built)
    return built


def main(argv: list[str] | None = None) -> None:
    # Typer handles usage errors and --help itself (exit 2 / 0) and exits through SystemExit;
    # strongroom's own errors arrive here as exceptions and are printed without a traceback.
    if COMPLETE_VAR in os.environ:  # the shell asks for completions (the script `strongroom completion` prints)
        from typer._completion_classes import completion_init

        completion_init()
    try:
        command()(args=argv, prog_name="strongroom")
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
