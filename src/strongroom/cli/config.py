"""``strongroom check`` and ``strongroom run``: the config layer from the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from typing import IO, TYPE_CHECKING, Any

import typer

from strongroom.cli import common
from strongroom.clock import iso
from strongroom.config.loader import environment_for_child, import_schema, load, report
from strongroom.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from strongroom.redact import Redactor

SCHEMA = typer.Option(..., "--schema", help="The schema class, as MODULE:CLASS (imported from the current directory).")
ENV = typer.Option(None, "--env", help="Environment (default: $STRONGROOM_ENV or dev).")


def _days(seconds: float | None) -> str:
    if seconds is None:
        return ""
    return f"{seconds / 86400:.1f}d"


def check(
    schema: str = SCHEMA,
    environment: str | None = ENV,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Validate a schema's secrets for an environment; exit 1 listing every problem (never a value)."""
    env = environment or common.settings().environment
    try:
        settings = load(import_schema(schema), environment=env)
    except ConfigError as exc:
        if as_json:
            common.print_json({"ok": False, "environment": env, "problems": exc.problems or [str(exc)]})
        else:
            common.err.print(f"error: {exc}")
        raise typer.Exit(1) from None
    settings.close()
    cls = type(settings)
    now = time.time()
    rows = report(settings)
    if as_json:
        common.print_json(
            {
                "ok": True,
                "environment": env,
                "fields": [
                    {
                        "name": r.name,
                        "env": r.env,
                        "secret": r.is_secret,
                        "source": r.source,
                        "version": r.version,
                        "updated_at": iso(r.updated_at),
                        "rotation_due_in_seconds": r.rotation_due(now),
                        "status": r.status,
                    }
                    for r in rows
                ],
            }
        )
        return
    # Columns of short values, to fit 80: the notes after a status go below the table.
    notes = [f"{r.name}: {r.status}" for r in rows if " " in r.status]
    common.print_table(
        f"{cls.__name__} in {env}: all required values present",
        ["name", "variable", "source", "v", "age", "rotation", "status"],
        [
            (
                r.name,
                r.env,
                r.source or "-",
                r.version or "",
                _days(now - r.updated_at) if r.updated_at else "",
                _rotation(r.rotation_due(now)),
                r.status.split(" ", 1)[0],
            )
            for r in rows
        ],
        notes=notes,
    )


def _rotation(due: float | None) -> str:
    if due is None:
        return ""
    return f"OVERDUE by {_days(-due)}" if due < 0 else f"in {_days(due)}"


def run(
    command: list[str] = typer.Argument(..., help="The command to run, after --."),
    schema: str = SCHEMA,
    environment: str | None = ENV,
    redact: bool = typer.Option(
        False, "--redact", help="Pass the command's output through the redactor: its secrets are masked."
    ),
) -> None:
    """Validate, then run COMMAND with the schema's values as environment variables; exits with its code."""
    if not command:
        raise InvalidInput("give the command to run after --")
    cls = import_schema(schema)
    settings = load(cls, environment=environment or common.settings().environment)
    try:
        values = environment_for_child(settings)
        redactor = _redactor_for(settings, values) if redact else None
    finally:
        settings.close()  # the child gets values, not our database pool
    # The child gets the values, never the keys to the store: no master key, key id, home or store URL.
    inherited = {k: v for k, v in os.environ.items() if k not in _WITHHELD_FROM_CHILD}
    child_env = {**inherited, **values, "STRONGROOM_ENV": settings.environment}
    sys.exit(_run_child(command, child_env, redactor))


def _redactor_for(settings: Any, values: dict[str, str]) -> Redactor:
    """A redactor that knows the child's secret values (and every shape of secret the rules know)."""
    from strongroom.config.cache import LiveSecret
    from strongroom.redact import Redactor

    redactor = Redactor(follow_live=False)
    for spec in type(settings).__fields__.values():
        if isinstance(getattr(settings, spec.name, None), LiveSecret) and spec.env in values:
            redactor.register(values[spec.env], spec.env)
    return redactor


def _pump(source: IO[bytes], target: IO[bytes], redactor: Redactor) -> None:
    """Copy the child's output redacted, as it comes: the writer of ``strongroom.redact`` lets each line out
    once its newline arrives, and holds lines that may begin a multi-line secret (a PEM key) until it is
    whole; a last line without a newline goes out when the child closes the stream."""
    from strongroom.redact.integrations import RedactingBinaryWriter

    writer = RedactingBinaryWriter(target, redactor)
    read = getattr(source, "read1", source.read)
    try:
        for chunk in iter(lambda: read(1 << 16), b""):
            writer.write(chunk)
    finally:
        writer.close()


_WITHHELD_FROM_CHILD = frozenset(
    {"STRONGROOM_MASTER_KEY", "STRONGROOM_MASTER_KEY_ID", "STRONGROOM_URL", "STRONGROOM_HOME"}
)


def _run_child(command: list[str], env: dict[str, str], redactor: Redactor | None = None) -> int:
    # The forwarding handlers are installed before the child is started: a signal that arrives while it starts
    # (before Popen returns) is held and forwarded once the child exists, instead of killing us and orphaning it.
    forwarded = [signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2]
    # At a terminal, Ctrl-C already reaches the child (same process group); forwarding it would be a
    # second SIGINT, which many servers read as "force quit". Otherwise (a supervisor signalling us) forward it.
    # (At a terminal SIGINT is caught and dropped, not SIG_IGN: an ignored signal stays ignored in the child.)
    if not sys.stdin.isatty():
        forwarded.append(signal.SIGINT)
    started: list[subprocess.Popen[bytes]] = []
    held: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        if started:
            started[0].send_signal(signum)
        else:
            held.append(signum)

    def ignore(_signum: int, _frame: Any) -> None:
        pass

    previous: dict[int, Any] = {signal.SIGINT: signal.getsignal(signal.SIGINT)}
    for signum in forwarded:
        previous[signum] = signal.signal(signum, forward)
    if signal.SIGINT not in forwarded:
        signal.signal(signal.SIGINT, ignore)
    try:
        pipe = subprocess.PIPE if redactor is not None else None
        try:
            child = subprocess.Popen(command, env=env, stdout=pipe, stderr=pipe)  # noqa: S603 -- the user's command
        except OSError as exc:
            raise InvalidInput(f"cannot start {command[0]!r}: {exc.strerror}") from None
        started.append(child)
        while held:  # what arrived while the child was starting; a handler now forwards directly
            child.send_signal(held.pop(0))
        pumps = []
        if redactor is not None and child.stdout is not None and child.stderr is not None:
            pumps = [
                threading.Thread(target=_pump, args=(stream, target, redactor), daemon=True)
                for stream, target in ((child.stdout, sys.stdout.buffer), (child.stderr, sys.stderr.buffer))
            ]
            for pump in pumps:
                pump.start()
        code = child.wait()
        for pump in pumps:
            pump.join()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    return 128 - code if code < 0 else code  # a child killed by signal N exits 128+N, as shells report it


def doctor(
    schema: str | None = typer.Option(None, "--schema", help="Also check a schema across environments."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Report secret-hygiene problems of this repository (and schema); exit 1 on any high-severity finding."""
    from pathlib import Path

    from strongroom.config.doctor import HIGH, repository_findings, schema_findings

    findings = repository_findings(Path.cwd())
    if schema is not None:
        findings += schema_findings(import_schema(schema))
    if as_json:
        common.print_json([{"severity": f.severity, "check": f.check, "message": f.message} for f in findings])
    elif findings:
        common.print_table(
            "strongroom doctor", ["severity", "check", "finding"], [(f.severity, f.check, f.message) for f in findings]
        )
    else:
        common.out.print("strongroom doctor: no findings")
    if any(f.severity == HIGH for f in findings):
        raise typer.Exit(1)
