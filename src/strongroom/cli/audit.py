"""``strongroom audit verify|tail``."""

from __future__ import annotations

import typer

from strongroom.cli import common
from strongroom.clock import iso

app = typer.Typer(help="Read and verify the hash-chained audit log.", no_args_is_help=True)


@app.command("verify")
def verify(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Check every chain; exit 1 naming the first broken event if any was edited, deleted or reordered."""
    with common.vault() as vault:
        report = vault.verify_audit()
    if as_json:
        common.print_json(
            {
                "ok": report.ok,
                "chains": report.chains,
                "events": report.events,
                "broken": None
                if report.broken is None
                else {
                    "chain": report.broken.chain,
                    "event_id": report.broken.event_id,
                    "seq": report.broken.seq,
                    "reason": report.broken.reason,
                },
            }
        )
    elif report.ok:
        common.out.print(f"audit log intact: {report.events} events in {report.chains} chains")
    else:
        common.err.print(f"audit log BROKEN at {report.broken}")
    if not report.ok:
        raise typer.Exit(1)


@app.command("tail")
def tail(
    n: int = typer.Option(20, "-n", min=0, help="How many of the newest events."),
    tenant: str | None = typer.Option(None, help="Only this tenant's events."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the newest audit events, oldest first."""
    with common.vault() as vault:
        events = list(reversed(vault.audit_events(tenant=tenant, limit=n, newest_first=True)))
    if as_json:
        common.print_json([{**{k: getattr(e, k) for k in e.__slots__}, "at": iso(e.at)} for e in events])
        return
    common.print_table(
        "audit events",
        ["id", "at", "actor", "tenant", "action", "secret", "v", "purpose", "outcome"],
        [
            (e.id, iso(e.at), e.actor, e.tenant, e.action, e.secret_name, e.version, e.purpose, e.outcome)
            for e in events
        ],
    )


@app.command("head")
def head(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every chain's head (seq and hash): record them elsewhere to detect a rewritten log later."""
    with common.vault() as vault:
        heads = vault.audit_heads()
    if as_json:
        common.print_json({chain: {"seq": seq, "hash": digest} for chain, (seq, digest) in heads.items()})
        return
    common.print_table(
        "audit chain heads",
        ["chain", "seq", "hash"],
        [(chain, seq, digest) for chain, (seq, digest) in sorted(heads.items())],
    )
