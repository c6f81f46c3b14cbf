"""``strongroom serve``: the HTTP service, on the embedded default unless ``STRONGROOM_URL`` says otherwise."""

from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path
from typing import Any

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput
from strongroom.vocabulary import AUDIT_MODE_ENV

ADMIN_KEY_FILE = "bootstrap-admin-key"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8200, min=1, max=65535, help="Port to listen on (1-65535)."),
    connectors: Path | None = typer.Option(None, help="TOML file of connectors for the action broker."),
    public_url: str | None = typer.Option(None, help="The URL agents reach this service at (token issuer)."),
    forwarded_allow_ips: str | None = typer.Option(
        None,
        help="Comma-separated addresses of the proxies whose X-Forwarded-For and X-Forwarded-Proto are "
        "trusted (default: none; every peer is counted under its own address).",
    ),
    audit_mode: str = typer.Option(
        "async",
        envvar=AUDIT_MODE_ENV,
        help="async: use events queued, written within 0.2 s; strict: each committed before the value is "
        "served, a use refused if it cannot be (docs/audit.md).",
    ),
) -> None:
    """Serve the API (initialising $STRONGROOM_HOME on first run); print the admin key once.

    Failed authentications are counted in this process unless STRONGROOM_RATE_LIMIT_STORAGE names a Redis
    (redis://host:port/db) that every process of the service shares.
    """
    import uvicorn

    import strongroom.redact
    from strongroom.bootstrap import build_app, initialise, open_vault, rate_limit_storage_url
    from strongroom.defaults import rotation_interval
    from strongroom.server import access_log
    from strongroom.server.middleware import BehindProxies

    storage = rate_limit_storage_url()  # a bad setting is refused before anything starts
    interval = rotation_interval()
    if audit_mode not in ("async", "strict"):
        raise InvalidInput(f"--audit-mode must be 'async' or 'strict', not {audit_mode!r}")

    settings = common.settings()
    listening = bind(host, port)  # a busy port fails here: before a key, a database or the admin key is made
    try:
        if not settings.key_file.exists() and not os.environ.get("STRONGROOM_MASTER_KEY"):
            initialise(settings)  # refused, naming the key file to restore, when the database has keys
        vault = open_vault(settings, migrate=True, audit_mode="strict" if audit_mode == "strict" else "async")
    except BaseException:
        listening.close()
        raise
    where = f"[{host}]" if ":" in host else host  # an IPv6 address, in a URL
    try:
        _bootstrap_admin(vault, settings.home)
        strongroom.redact.install()
        access_log.install()  # one-time link tokens never reach the access log
        app = build_app(
            vault,
            public_url=public_url or f"http://{where}:{port}",
            connectors_file=connectors,
            close_vault=True,
            rate_limit_storage=storage,
            rotation_interval=interval,
        )
        # The port is bound already: this line is true when printed (uvicorn logs no address for a given socket).
        common.err.print(f"strongroom {settings.environment} serving on http://{where}:{port} (Ctrl+C to stop)")
        common.err.print(f"  {vault!r}")
        trusted = forwarded_allow_ips.strip() if forwarded_allow_ips else ""
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: only the proxies named here,
        # through its own middleware, with the proxy's address kept for the audit context (BehindProxies).
        config = uvicorn.Config(
            BehindProxies(app, trusted) if trusted else app,
            host=host,
            port=port,
            log_config=LOG_CONFIG,
            log_level="info",
            access_log=True,
            proxy_headers=False,
        )
        uvicorn.Server(config).run(sockets=[listening])
    finally:
        listening.close()
        vault.close()


# uvicorn's own configuration, without colours: its coloured lines are a second copy of each message that
# the redacting filter (which formats every record once, masked) never sees, so they printed unformatted.
LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "default": {
            "()": "uvicorn.logging.DefaultFormatter",
            "fmt": "%(levelprefix)s %(message)s",
            "use_colors": False,
        },
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
            "use_colors": False,
        },
    },
    "handlers": {
        "default": {"formatter": "default", "class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
        "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "uvicorn": {"handlers": ["default"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
        "uvicorn.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
    },
}


def bind(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port``, or ``InvalidInput`` naming ``--port``/``--host`` (no traceback)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise InvalidInput(f"--host {host!r} is not an address of this machine: use e.g. 127.0.0.1") from None
    listening = socket.socket(family, kind, proto)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no conflict
        listening.bind(address)
        listening.listen(2048)
    except OSError as exc:
        listening.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidInput(
                f"port {port} on {host} is in use (another strongroom serve?).\n"
                f"Fix: stop that process, or choose another port: --port {_other(port)}"
            ) from None
        if exc.errno == errno.EACCES:
            raise InvalidInput(
                f"port {port} on {host} needs privileges.\nFix: choose a port above 1023: --port 8200"
            ) from None
        raise InvalidInput(
            f"cannot listen on {host}:{port} ({exc.strerror or type(exc).__name__}).\n"
            "Fix: check --host (an address of this machine) and --port"
        ) from None
    return listening


def _other(port: int) -> int:
    return port + 1 if port < 65535 else 8200


def _bootstrap_admin(vault: object, home: Path) -> None:
    """Create the operator's admin key on first start and show it once: on the terminal if there is one,
    else in a 0600 file in $STRONGROOM_HOME (never in a log, which is where a redirected stderr goes)."""
    from strongroom.tokens import ADMIN_SCOPE, ApiKeys

    keys = ApiKeys(vault)  # type: ignore[arg-type]
    if any(info.revoked_at is None for info in keys.list(None)):
        return
    key, info = keys.create(tenant=None, name="bootstrap-admin", scopes=[ADMIN_SCOPE], actor="strongroom-serve")
    message = f"admin API key (shown once, store it now): {key.reveal()}\n"
    try:
        with open("/dev/tty", "w") as tty:
            tty.write(message)
        return
    except OSError:
        pass
    path = home / ADMIN_KEY_FILE
    # A new file of our own, never one found there: an existing file (or a link) keeps its owner and mode, so
    # whoever planted it could read the key. O_EXCL and O_NOFOLLOW refuse one that reappears meanwhile.
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.reveal() + "\n")
    sys.stderr.write(f"no terminal: the admin API key ({info.id}) is in {path} (mode 0600); read it, then delete it\n")
