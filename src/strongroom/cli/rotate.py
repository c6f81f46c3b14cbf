"""``strongroom rotate NAME|--due`` and ``strongroom rotation set|show|list|delete|apply``.

``rotate --due`` is what cron or a CI job runs: every overdue secret rotated and every open rotation moved on
(a crashed one resumed, a finished one retired after its overlap); exit 1 when any of them failed. Several
may run at once: each rotation is done by exactly one of them (the engine claims it in the database).

The engine, the vault and the rotators are imported inside the commands: they pull in the store
(SQLAlchemy), which ``strongroom scan`` and ``--help`` never need.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from strongroom.cli import common
from strongroom.clock import iso
from strongroom.errors import ConfigError, InvalidInput, NotFound
from strongroom.vocabulary import PLATFORM_TENANT

if TYPE_CHECKING:
    from strongroom.rotation import PolicySpec, RotationResult, Rotations
    from strongroom.vault import Vault
    from strongroom.vault.rotations import RotationInfo

app = typer.Typer(
    help="Rotation policies: how often each secret rotates, and with which rotator.", no_args_is_help=True
)

JSON = typer.Option(False, "--json", help="Print JSON.")
TENANT = typer.Option(PLATFORM_TENANT, "--tenant", help="The secret's tenant (default: the platform's own).")
SKIPPED = "skipped"


def _rotations(vault: Vault) -> Rotations:
    from strongroom.rotation import Rotations

    return Rotations(vault, actor=common.settings().actor)


def rotate(
    name: str | None = typer.Argument(None, help="The secret to rotate now (or --due)."),
    tenant: str = TENANT,
    due: bool = typer.Option(False, "--due", help="Rotate every overdue secret and resume every open rotation."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="With --due: at most this many due secrets."),
    cancel: bool = typer.Option(False, "--cancel", help="Stop NAME's running rotation and discard its new value."),
    roll_back: bool = typer.Option(False, "--roll-back", help="Make NAME's previous version current again (audited)."),
    as_json: bool = JSON,
) -> None:
    """Rotate a secret now by its policy, or with --due every overdue one; exit 1 if any rotation failed."""
    if due == (name is not None):
        raise InvalidInput("give a secret NAME to rotate now, or --due for every overdue secret (not both)")
    if limit is not None and not due:
        raise InvalidInput("--limit only applies with --due")
    if (cancel or roll_back) and due:
        raise InvalidInput("--cancel and --roll-back act on one secret: give NAME, not --due")
    if cancel and roll_back:
        raise InvalidInput("give --cancel (stop a running rotation) or --roll-back (undo a finished one), not both")
    with common.vault() as vault:
        rotations = _rotations(vault)
        if roll_back:
            assert name is not None  # noqa: S101 -- checked above
            version = vault.rotation_repo.roll_back(tenant, name, actor=common.settings().actor)
            if as_json:
                common.print_json({"tenant": tenant, "name": name, "current_version": version})
            else:
                common.out.print(f"{tenant}/{name}: v{version} is current again (the replaced one is previous)")
            return
        if name is None:
            with _progress_bar() as progress:
                outcomes = rotations.run_due(limit=limit, progress=progress)
        elif cancel:
            outcomes = [rotations.cancel(tenant, name)]
        else:
            outcomes = [rotations.rotate(tenant, name)]
    _report(outcomes, as_json=as_json)
    if any(o.failed for o in outcomes):
        raise typer.Exit(1)
    if name is not None and outcomes[0].status == SKIPPED:
        common.err.print(f"error: {name} was not rotated: another process holds its rotation now; try again shortly")
        raise typer.Exit(1)


def _report(outcomes: Sequence[RotationResult], *, as_json: bool) -> None:
    from strongroom.rotation.engine import describe

    if as_json:
        common.print_json([o.to_dict() for o in outcomes])
        return
    if not outcomes:
        common.out.print("nothing due")
        return
    for outcome in outcomes:
        (common.err if outcome.failed else common.out).print(describe(outcome))
    failed = sum(o.failed for o in outcomes)
    skipped = sum(o.status == SKIPPED for o in outcomes)
    if len(outcomes) > 1:
        common.out.print(f"{len(outcomes)} rotations: {failed} failed, {skipped} skipped")


@contextmanager
def _progress_bar() -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on stderr when it is a terminal; nothing in cron or CI (their logs get the outcomes)."""
    if not common.err.is_terminal:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=common.err, transient=True) as bar:
        task = bar.add_task("rotating", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# -- policies -------------------------------------------------------------------------------------------


def _options(pairs: Sequence[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--option {pair[:40]!r} must be NAME=VALUE, as in --option length=64")
        if key.strip() in options:
            raise InvalidInput(f"--option {key.strip()!r} is given twice: give each option once")
        options[key.strip()] = value.strip()
    return options


def _duration(seconds: float) -> str:
    """30d, 12h, 90s: the largest unit that divides it (how the user most likely wrote it)."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _when(at: float | None) -> str:
    return common.when(at)  # ISO 8601 UTC, to the minute


def _last(rotation: RotationInfo | None) -> str:
    """The last rotation in a few characters: ``succeeded``, ``running: set``, ``failed``."""
    if rotation is None:
        return "never"
    if rotation.status == "running":
        return f"running/{rotation.step}"
    return rotation.status


@app.command("set")
def set_(
    name: str,
    tenant: str = TENANT,
    every: str = typer.Option(..., "--every", help="How often, as 30d, 12h or 90m."),
    rotator: str = typer.Option(..., "--rotator", help="random, postgresql, redis, webhook, or a plugin's name."),
    overlap: str | None = typer.Option(
        None, "--overlap", help="How long the replaced value keeps working (default: 1h if the rotator revokes it)."
    ),
    option: list[str] | None = typer.Option(None, "--option", help="A rotator option NAME=VALUE (repeatable)."),
    as_json: bool = JSON,
) -> None:
    """Set (or replace) a secret's rotation policy; its rotator checks the options first."""
    options = _options(option or [])
    with common.vault() as vault:
        policy = _rotations(vault).set_policy(
            tenant, name, every=every, rotator=rotator, overlap=overlap, options=options
        )
    if as_json:
        common.print_json(policy.to_dict())
    else:
        common.out.print(
            f"{tenant}/{name}: rotated by {policy.rotator} every {_duration(policy.rotate_every)}, "
            f"next due {_when(policy.next_due)}"
        )


@app.command("keys")
def keys(
    root_key: str | None = typer.Option(
        None, "--root-key", help="Rotate the root key (every data key rewrapped) this often, as 90d; off: never."
    ),
    data_keys: str | None = typer.Option(
        None, "--data-keys", help="Give every tenant a new data key this often, as 30d; off: never."
    ),
    as_json: bool = JSON,
) -> None:
    """Schedule the environment's own key rotations (run by rotate --due and the worker); show them."""
    with common.vault() as vault:
        rotations = _rotations(vault)
        for kind, given in (("root-key", root_key), ("data-keys", data_keys)):
            if given is not None:
                rotations.schedule_keys(kind, None if given == "off" else given, actor=common.settings().actor)
        schedules = vault.rotation_repo.key_schedules()
    if as_json:
        common.print_json(
            {kind: {"every_seconds": every, "next_due": iso(due)} for kind, (every, due) in schedules.items()}
        )
        return
    if not schedules:
        common.out.print("no key rotation scheduled: strongroom rotation keys --root-key 90d --data-keys 30d")
    for kind, (period, due) in schedules.items():
        common.out.print(f"{kind}: every {_duration(period)}, next due {_when(due)}")


@app.command("show")
def show(name: str, tenant: str = TENANT, as_json: bool = JSON) -> None:
    """A secret's rotation policy and its last rotation."""
    with common.vault() as vault:
        repo = vault.rotation_repo
        policy = repo.policy(tenant, name)
        last = repo.latest(tenant).get((tenant, name))
    if policy is None and last is None:
        raise NotFound(
            f"secret {name!r} of tenant {tenant!r} has no rotation policy: "
            f"set one with `strongroom rotation set {name} --every 30d --rotator random`"
        )
    if as_json:
        common.print_json(
            {
                "policy": None if policy is None else policy.to_dict(),
                "last_rotation": None if last is None else last.to_dict(),
            }
        )
        return
    if policy is None:
        common.out.print(f"{tenant}/{name}: no rotation policy")
    else:
        options = ", ".join(f"{k}={v}" for k, v in sorted(policy.options.items())) or "none"
        common.out.print(f"{tenant}/{name}")
        common.out.print(f"  rotator   {policy.rotator} (options: {options})")
        common.out.print(f"  every     {_duration(policy.rotate_every)}, overlap {_duration(policy.overlap)}")
        common.out.print(f"  next due  {_when(policy.next_due)}")
    if last is not None:
        common.out.print(f"  last      {_last(last)} (rotation {last.id}, started {iso(last.started_at)})")
        if last.error:
            common.out.print(f"  error     {last.error}")


@app.command("list")
def list_(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant's secrets (default: all)."),
    as_json: bool = JSON,
) -> None:
    """Every secret with a rotation policy, soonest due first."""
    with common.vault() as vault:
        repo = vault.rotation_repo
        policies = repo.policies(tenant)
        latest = repo.latest(tenant)
    if as_json:
        common.print_json(
            [{**p.to_dict(), "last_rotation": _dict_or_none(latest.get((p.tenant, p.name)))} for p in policies]
        )
        return
    now = time.time()
    rows = []
    for p in policies:
        due = "overdue" if p.next_due <= now else _when(p.next_due)
        rows.append(
            (p.name, p.tenant, p.rotator, _duration(p.rotate_every), due, _last(latest.get((p.tenant, p.name))))
        )
    common.print_table("rotation policies", ["name", "tenant", "rotator", "every", "next due", "last"], rows)


def _dict_or_none(rotation: RotationInfo | None) -> dict[str, Any] | None:
    return None if rotation is None else rotation.to_dict()


@app.command("delete")
def delete(name: str, tenant: str = TENANT) -> None:
    """Remove a secret's rotation policy (its versions and past rotations stay)."""
    with common.vault() as vault:
        vault.rotation_repo.delete_policy(tenant, name)
    common.out.print(f"{tenant}/{name}: rotation policy removed")


@app.command("apply")
def apply(
    file: Path | None = typer.Argument(None, help="A TOML file of [[secret]] policies (docs/rotation.md)."),
    schema: str | None = typer.Option(None, "--schema", help="Or a config schema MODULE:CLASS: its rotator= fields."),
    as_json: bool = JSON,
) -> None:
    """Set many policies at once; every one is checked first, and none is set if any is wrong."""
    if (file is None) == (schema is None):
        raise InvalidInput("give a policy FILE.toml or --schema MODULE:CLASS (one of them)")
    specs = _from_file(file) if file is not None else _from_schema(schema or "")
    with common.vault() as vault:
        rotations = _rotations(vault)
        _check_all(vault, rotations, specs)
        applied = [
            rotations.set_policy(
                s.tenant, s.name, every=s.every, rotator=s.rotator, overlap=s.overlap, options=s.options
            )
            for s in specs
        ]
    if as_json:
        common.print_json([p.to_dict() for p in applied])
        return
    for policy in applied:
        common.out.print(
            f"{policy.tenant}/{policy.name}: {policy.rotator} every {_duration(policy.rotate_every)}, "
            f"next due {_when(policy.next_due)}"
        )
    common.out.print(f"applied {len(applied)} polic{'y' if len(applied) == 1 else 'ies'}")


def _from_file(path: Path) -> list[PolicySpec]:
    from strongroom.rotation import load_policy_file

    return load_policy_file(path)


def _from_schema(reference: str) -> list[PolicySpec]:
    from strongroom.config.loader import import_schema
    from strongroom.rotation import PolicySpec

    try:
        cls = import_schema(reference)
    except ConfigError as exc:
        raise InvalidInput(f"--schema: {exc}") from None
    fields: Mapping[str, Any] = getattr(cls, "__fields__", {})
    specs = [
        PolicySpec(
            name=f.name,
            every=f.rotate_seconds,
            rotator=f.rotator,
            overlap=f.overlap_seconds,
            options=dict(f.rotator_options),
        )
        for f in fields.values()
        if f.is_secret and f.rotator is not None and f.rotate_seconds is not None
    ]
    if not specs:
        raise InvalidInput(
            f"schema {reference} declares no secret with a rotator: declare one as "
            "secret(rotate='30d', rotator='random')"
        )
    return specs


def _check_all(vault: Vault, rotations: Rotations, specs: Sequence[PolicySpec]) -> None:
    """Refuse the whole set, naming every problem, before any policy is set."""
    from strongroom.errors import StrongroomError
    from strongroom.rotation.policies import check_options

    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for spec in specs:
        where = f"{spec.tenant}/{spec.name}"
        if (spec.tenant, spec.name) in seen:
            problems.append(f"{where}: given twice; keep one entry per secret")
        seen.add((spec.tenant, spec.name))
        if not spec.every > 0 or not 0 <= (spec.overlap or 0.0) < spec.every:
            problems.append(f"{where}: every must be positive and overlap shorter than it")
        try:
            rotations.rotators.get(spec.rotator).check(check_options(spec.options))
        except StrongroomError as exc:
            problems.append(f"{where}: {exc}")
        try:
            vault.versions(spec.tenant, spec.name)
        except NotFound:
            problems.append(f"{where}: no such secret; store it first with `strongroom secret put`")
        except StrongroomError as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        raise InvalidInput("no policy was set:\n  " + "\n  ".join(problems))
