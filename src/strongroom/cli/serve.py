"""``strongroom serve``: the HTTP service, on the embedded default unless ``STRONGROOM_URL`` says otherwise."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput
from strongroom.vocabulary import AUDIT_MODE_ENV

ADMIN_KEY_FILE = "bootstrap-admin-key"


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8200, help="Port to listen on."),
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
    if not settings.key_file.exists() and not os.environ.get("STRONGROOM_MASTER_KEY"):
        initialise(settings)
    vault = open_vault(settings, migrate=True, audit_mode="strict" if audit_mode == "strict" else "async")
    _bootstrap_admin(vault, settings.home)
    strongroom.redact.install()
    access_log.install()  # one-time link tokens never reach the access log
    app = build_app(
        vault,
        public_url=public_url or f"http://{host}:{port}",
        connectors_file=connectors,
        close_vault=True,
        rate_limit_storage=storage,
        rotation_interval=interval,
    )
    common.err.print(f"strongroom {settings.environment} serving on http://{host}:{port} ({vault!r})")
    trusted = forwarded_allow_ips.strip() if forwarded_allow_ips else ""
    try:
        # uvicorn trusts X-Forwarded-For from 127.0.0.1 unless told otherwise: only the proxies named here,
        # through its own middleware, with the proxy's address kept for the audit context (BehindProxies).
        uvicorn.run(
            BehindProxies(app, trusted) if trusted else app,
            host=host,
            port=port,
            log_level="info",
            access_log=True,
            proxy_headers=False,
        )
    finally:
        vault.close()


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
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key.reveal() + "\n")
    sys.stderr.write(f"no terminal: the admin API key ({info.id}) is in {path} (mode 0600); read it, then delete it\n")
