"""The eleven ways to tamper with the audit log, each done as a database writer without the audit key would.

Each form changes the tables directly (SQL, as an attacker with database access would) and, where the form needs
the chain to look whole, recomputes links and heads with the best a writer without the key can do: SHA-256 over
the same fields. Eight forms are caught by the keyed chain alone; three (a deleted chain, the newest events
removed with their head rewound, an older copy restored) need the signed checkpoints, and the test shows the
chain alone passes them. docs/crypto.md, "Audit checkpoints", lists the same eleven.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from strongroom.audit.chain import GENESIS, LEGACY_FIELDS, LINKED_FIELDS, legacy_hash
from strongroom.audit.checkpoints import FileSink, read_checkpoints, sign
from strongroom.audit.keys import derive_audit_keys
from strongroom.store import engines
from strongroom.vault import Vault


@dataclass
class Scene:
    vault: Vault
    url: str
    checkpoints: Path
    acme: str  # chain names
    beta: str
    older: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # the audit tables, copied earlier

    def rows(self, chain: str) -> list[dict[str, Any]]:
        with self.engine() as engine, engine.connect() as conn:
            query = sa.text("select * from audit_events where chain = :c order by seq")
            return [dict(r) for r in conn.execute(query, {"c": chain}).mappings()]

    def sql(self, *statements: tuple[str, dict[str, Any]]) -> None:
        with self.engine() as engine, engine.begin() as conn:
            for statement, params in statements:
                conn.execute(sa.text(statement), params)

    @staticmethod
    def _engine(url: str) -> sa.Engine:
        return sa.create_engine(engines.normalise_url(url))

    def engine(self) -> _Disposing:
        return _Disposing(self._engine(self.url))


class _Disposing:
    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def __enter__(self) -> sa.Engine:
        return self._engine

    def __exit__(self, *exc: object) -> None:
        self._engine.dispose()


def _unkeyed_link(row: dict[str, Any]) -> str:
    """What a writer without the audit key can compute: SHA-256 over the linked fields."""
    return hashlib.sha256(json.dumps([row[n] for n in LINKED_FIELDS], separators=(",", ":")).encode()).hexdigest()


def _relink(scene: Scene, chain: str) -> None:
    """Renumber ``chain`` 1..n in its current order and recompute every link and the head, without the key."""
    rows = scene.rows(chain)
    prev, statements = GENESIS, []
    for seq, row in enumerate(rows, 1):
        statements.append(("update audit_events set seq = :s where id = :id", {"s": -seq, "id": row["id"]}))
    for seq, row in enumerate(rows, 1):
        row.update(seq=seq, prev_hash=prev)
        link = _unkeyed_link(row)
        statements.append(
            (
                "update audit_events set seq = :s, prev_hash = :p, hash = :h where id = :id",
                {"s": seq, "p": prev, "h": link, "id": row["id"]},
            )
        )
        prev = link
    statements.append(
        (
            "update audit_chains set head_seq = :s, head_hash = :h where chain = :c",
            {"s": len(rows), "h": prev, "c": chain},
        )
    )
    scene.sql(*statements)


def _copy(row: dict[str, Any], **changes: Any) -> dict[str, Any]:
    fresh = {k: v for k, v in row.items() if k != "id"}
    fresh.update(changes)
    return fresh


def _insert(scene: Scene, row: dict[str, Any]) -> None:
    columns = ", ".join(row)
    values = ", ".join(f":{c}" for c in row)
    scene.sql((f"insert into audit_events ({columns}) values ({values})", row))


# -- the eleven forms: each returns the chains it broke ---------------------------------------------------


def edit_an_event(scene: Scene) -> set[str]:
    row = scene.rows(scene.acme)[1]
    scene.sql(("update audit_events set actor = 'mallory' where id = :id", {"id": row["id"]}))
    return {scene.acme}


def edit_and_relink(scene: Scene) -> set[str]:
    row = scene.rows(scene.acme)[1]
    scene.sql(("update audit_events set purpose = 'nothing to see' where id = :id", {"id": row["id"]}))
    _relink(scene, scene.acme)
    return {scene.acme}


def delete_an_event(scene: Scene) -> set[str]:
    row = scene.rows(scene.acme)[1]
    scene.sql(("delete from audit_events where id = :id", {"id": row["id"]}))
    return {scene.acme}


def delete_and_relink(scene: Scene) -> set[str]:
    row = scene.rows(scene.acme)[1]
    scene.sql(("delete from audit_events where id = :id", {"id": row["id"]}))
    _relink(scene, scene.acme)
    return {scene.acme}


def reorder_two_events(scene: Scene) -> set[str]:
    first, second = scene.rows(scene.acme)[1:3]
    scene.sql(
        ("update audit_events set seq = -1 where id = :id", {"id": first["id"]}),
        ("update audit_events set seq = :s where id = :id", {"s": first["seq"], "id": second["id"]}),
        ("update audit_events set seq = :s where id = :id", {"s": second["seq"], "id": first["id"]}),
    )
    return {scene.acme}


def insert_a_forged_event(scene: Scene) -> set[str]:
    rows = scene.rows(scene.acme)
    _insert(scene, _copy(rows[1], seq=len(rows) + 1, actor="alibi", purpose="routine check"))
    _relink(scene, scene.acme)  # renumbered in insertion order, so it sits at the end; then relinked
    return {scene.acme}


def append_after_the_last_checkpoint(scene: Scene) -> set[str]:
    rows = scene.rows(scene.acme)
    last = rows[-1]
    forged = _copy(last, seq=last["seq"] + 1, prev_hash=last["hash"], actor="alibi", at=last["at"] + 1)
    forged["hash"] = _unkeyed_link(forged)
    _insert(scene, forged)
    scene.sql(
        (
            "update audit_chains set head_seq = :s, head_hash = :h where chain = :c",
            {"s": forged["seq"], "h": forged["hash"], "c": scene.acme},
        )
    )
    return {scene.acme}


def move_to_another_tenant(scene: Scene) -> set[str]:
    row = scene.rows(scene.acme)[1]
    target = scene.rows(scene.beta)
    tenant_id = target[0]["tenant_id"]
    scene.sql(
        (
            "update audit_events set chain = :c, tenant_id = :t, seq = :s where id = :id",
            {"c": scene.beta, "t": tenant_id, "s": len(target) + 1, "id": row["id"]},
        )
    )
    _relink(scene, scene.acme)
    _relink(scene, scene.beta)
    return {scene.acme, scene.beta}


def truncate_the_newest_and_rewind_the_head(scene: Scene) -> set[str]:
    rows = scene.rows(scene.acme)
    keep = rows[-3]
    scene.sql(
        ("delete from audit_events where chain = :c and seq > :s", {"c": scene.acme, "s": keep["seq"]}),
        (
            "update audit_chains set head_seq = :s, head_hash = :h where chain = :c",
            {"s": keep["seq"], "h": keep["hash"], "c": scene.acme},
        ),
    )
    return {scene.acme}


def delete_a_whole_chain(scene: Scene) -> set[str]:
    scene.sql(
        ("delete from audit_events where chain = :c", {"c": scene.beta}),
        ("delete from audit_chains where chain = :c", {"c": scene.beta}),
    )
    return {scene.beta}


def restore_an_older_copy(scene: Scene) -> set[str]:
    """Put back the audit tables as they were before the newest events (a backup restored over the log)."""
    older = scene.older
    scene.sql(("delete from audit_events", {}), ("delete from audit_chains", {}))
    for row in older["events"]:
        _insert(scene, {k: v for k, v in row.items() if k != "id"})
    for head in older["chains"]:
        scene.sql(
            ("insert into audit_chains (chain, head_seq, head_hash) values (:chain, :head_seq, :head_hash)", head)
        )
    return {scene.acme}


CAUGHT_BY_THE_KEYED_CHAIN = [
    edit_an_event,
    edit_and_relink,
    delete_an_event,
    delete_and_relink,
    reorder_two_events,
    insert_a_forged_event,
    append_after_the_last_checkpoint,
    move_to_another_tenant,
]
NEED_A_CHECKPOINT = [truncate_the_newest_and_rewind_the_head, delete_a_whole_chain, restore_an_older_copy]


@pytest.fixture
def scene(open_vault: Callable[..., Vault], tmp_path: Path) -> Scene:
    """Two tenants with a few puts and uses each; an older copy of the audit tables; a checkpoint; then more
    events after it (the ones a form may touch unseen by any checkpoint)."""
    checkpoints = tmp_path / "checkpoints.jsonl"
    vault = open_vault(checkpoints="off")
    for tenant in ("acme", "beta"):
        vault.create_tenant(tenant)
        for name in ("db", "stripe"):
            vault.put(tenant, name, f"value-of-{tenant}-{name}")
            with vault.use(tenant, name, purpose="test") as secret:
                secret.reveal()
    url = vault._store.engine.url.render_as_string(hide_password=False)
    ids = {t.name: t.id for t in vault.list_tenants()}
    acme, beta = f"dev/tenant:{ids['acme']}", f"dev/tenant:{ids['beta']}"
    scene = Scene(vault, url, checkpoints, acme, beta)
    vault.flush_audit()
    scene.older = {
        "events": [r for c in (acme, beta) for r in scene.rows(c)] + _other_rows(scene, {acme, beta}),
        "chains": _heads(scene),
    }
    for _ in range(3):
        with vault.use("acme", "db", purpose="after the copy") as secret:
            secret.reveal()
    vault.checkpoint_audit([FileSink(checkpoints)])
    with vault.use("acme", "stripe", purpose="after the checkpoint") as secret:
        secret.reveal()
    vault.flush_audit()
    return scene


def _other_rows(scene: Scene, skip: set[str]) -> list[dict[str, Any]]:
    with scene.engine() as engine, engine.connect() as conn:
        rows = conn.execute(sa.text("select * from audit_events order by id")).mappings()
        return [dict(r) for r in rows if r["chain"] not in skip]


def _heads(scene: Scene) -> list[dict[str, Any]]:
    with scene.engine() as engine, engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text("select * from audit_chains")).mappings()]


def _checkpoint_report(scene: Scene) -> Any:
    return scene.vault.verify_audit_checkpoints(read_checkpoints(str(scene.checkpoints)))


def test_an_untouched_log_passes_both_checks(scene: Scene) -> None:
    assert scene.vault.verify_audit().ok
    report = _checkpoint_report(scene)
    assert report.ok, report.divergence
    assert report.checkpoints == 1


@pytest.mark.parametrize("tamper", CAUGHT_BY_THE_KEYED_CHAIN, ids=lambda f: f.__name__)
@pytest.mark.slow
def test_the_keyed_chain_catches(scene: Scene, tamper: Callable[[Scene], set[str]]) -> None:
    chains = tamper(scene)
    report = scene.vault.verify_audit()
    assert not report.ok
    assert report.broken is not None
    assert report.broken.chain in chains


@pytest.mark.parametrize("tamper", NEED_A_CHECKPOINT, ids=lambda f: f.__name__)
def test_a_checkpoint_catches_what_the_chain_cannot(scene: Scene, tamper: Callable[[Scene], set[str]]) -> None:
    chains = tamper(scene)
    assert scene.vault.verify_audit().ok  # every chain left is whole: only the checkpoint knows better
    report = _checkpoint_report(scene)
    assert not report.ok
    assert report.divergence is not None
    assert report.divergence.chain in chains
    assert "checkpoint of" in str(report.divergence)


def test_a_checkpoint_signed_by_another_key_is_refused(scene: Scene, tmp_path: Path) -> None:
    """A forged checkpoint (its own key, the right key id written in) that vouches for a rewound chain."""
    truncate_the_newest_and_rewind_the_head(scene)
    mallory = derive_audit_keys(b"m" * 32)
    real = read_checkpoints(str(scene.checkpoints))[0]
    forged = sign(mallory, "dev", real.at + 1, scene.vault.audit_heads())
    line = json.loads(forged.to_line())
    line["key_id"] = real.key_id
    forged_file = tmp_path / "forged.jsonl"
    forged_file.write_text(json.dumps(line) + "\n")
    report = scene.vault.verify_audit_checkpoints(read_checkpoints(str(forged_file)))
    assert not report.ok
    assert report.divergence is not None
    assert "not signed by this environment's audit key" in report.divergence.reason


def test_checkpoints_in_a_syslog_capture_are_found(scene: Scene, tmp_path: Path) -> None:
    """A checkpoint line behind a syslog prefix (as journald or a shipper stores it) reads the same."""
    line = scene.checkpoints.read_text().strip()
    capture = tmp_path / "syslog.txt"
    capture.write_text(f"Dec  3 08:00:00 host strongroom: {line}\nDec  3 08:00:01 host other: noise\n")
    assert scene.vault.verify_audit_checkpoints(read_checkpoints(str(capture))).ok


def test_a_chain_relinked_the_old_unkeyed_way_stays_a_forgery(scene: Scene, open_vault: Callable[..., Vault]) -> None:
    """Rewritten with the unkeyed SHA-256 of before schema 0008 (what a writer might hope gets re-linked as an
    old chain): refused as forged, and opening the vault again re-links nothing (the key exists already)."""
    rows, prev, statements = scene.rows(scene.acme), GENESIS, []
    for row in rows:
        row.update(actor="mallory", prev_hash=prev)
        link = legacy_hash([row[n] for n in LEGACY_FIELDS])
        statements.append(
            (
                "update audit_events set actor = 'mallory', prev_hash = :p, hash = :h where id = :id",
                {"p": prev, "h": link, "id": row["id"]},
            )
        )
        prev = link
    rewind = "update audit_chains set head_hash = :h where chain = :c"
    scene.sql(*statements, (rewind, {"h": prev, "c": scene.acme}))
    for vault in (scene.vault, open_vault(checkpoints="off")):
        report = vault.verify_audit()
        assert report.broken is not None
        assert report.broken.chain == scene.acme
        assert "forged" in report.broken.reason
