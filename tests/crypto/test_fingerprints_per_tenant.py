"""Known-value fingerprints are keyed per tenant: no cross-tenant oracle, and they die with the tenant.

The attacker of the review holds a database dump (or read access to it) and one tenant's account. Here that is
raw SQL on the store and ``put`` through a tenant of their own. SQLite and PostgreSQL (``store_url``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import string
import subprocess
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from strongroom.store import engines
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault
from strongroom.vault.fingerprints import SCAN_TENANT

from ..conftest import invoke_cli  # noqa: TID252 -- pytest's importlib mode resolves the package

Open = Callable[..., Vault]
ALNUM = string.ascii_letters + string.digits


def weak_value() -> str:
    """A fresh 32-character value (the scanner looks at runs between separators; this is one run)."""
    return "".join(secrets.choice(ALNUM) for _ in range(32))


def stored_rows(store_url: str) -> dict[tuple[str, str], str | None]:
    """(tenant name, secret name) -> the fingerprint column of its latest version, read straight from the store."""
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "select t.name, v.name, v.fingerprint from secret_versions v join tenants t on t.id = v.tenant_id"
                    " order by v.version"
                )
            ).all()
    finally:
        engine.dispose()
    return {(tenant, name): fingerprint for tenant, name, fingerprint in rows}


def run_sql(store_url: str, *statements: str) -> None:
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(sa.text(statement))
    finally:
        engine.dispose()


def as_stored(key: bytes, value: str) -> str:
    digest = hmac.digest(key, value.encode(), hashlib.sha256)
    return "v2:" + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def test_same_value_in_two_tenants_has_different_fingerprints_in_the_database(open_vault: Open, store_url: str) -> None:
    """A dump shows nothing in common between two tenants storing the same value."""
    vault = open_vault()
    value = weak_value()
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        vault.put(tenant, "db_password", value)
    rows = stored_rows(store_url)
    assert rows["acme", "db_password"] is not None
    assert rows["globex", "db_password"] is not None
    assert rows["acme", "db_password"] != rows["globex", "db_password"]
    assert_not_leaked([value], rows)


def test_a_guess_fingerprinted_through_one_tenant_never_matches_another(open_vault: Open, store_url: str) -> None:
    """The review's attack: write guesses in the attacker's tenant, look for their fingerprints in B's rows."""
    vault = open_vault()
    vault.create_tenant("victim")
    vault.create_tenant("attacker")
    secret_of_b = weak_value()
    vault.put("victim", "pin", secret_of_b)
    guesses = [weak_value() for _ in range(5)] + [secret_of_b]  # the right guess among them
    for index, guess in enumerate(guesses):
        vault.put("attacker", f"guess{index}", guess)
    rows = stored_rows(store_url)
    attacker = {rows["attacker", f"guess{index}"] for index in range(len(guesses))}
    assert len(attacker) == len(guesses)
    assert rows["victim", "pin"] not in attacker

    # And with the fingerprint key of the attacker's own tenant in hand (what scan --known reads): no match.
    known = vault.known_fingerprints()
    attacker_keys = {known.keys[e.key_ref] for e in known.entries if e.tenant == "attacker"}
    victim_keys = {known.keys[e.key_ref] for e in known.entries if e.tenant == "victim"}
    assert attacker_keys.isdisjoint(victim_keys)
    assert all(as_stored(key, secret_of_b) != rows["victim", "pin"] for key in attacker_keys)
    assert [as_stored(key, secret_of_b) for key in victim_keys] == [rows["victim", "pin"]]


def test_a_deleted_tenants_fingerprints_match_nothing_scan_known_can_compute(open_vault: Open, store_url: str) -> None:
    """Fingerprints kept from before the deletion (a backup, a WAL page) are dead: no key left derives them."""
    vault = open_vault()
    value = weak_value()
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        vault.put(tenant, "shared", value)  # the same value stays in acme
    vault.put("globex", "own", weak_value())
    saved = stored_rows(store_url)  # what a backup taken before the deletion holds
    globex_rows = {fp for (tenant, _), fp in saved.items() if tenant == "globex"}
    before = vault.known_fingerprints()
    assert len(before.keys) == 2

    vault.delete_tenant("globex")
    other = open_vault()  # a fresh process: nothing cached
    for opened in (vault, other):
        known = opened.known_fingerprints()
        assert {e.tenant for e in known.entries} == {"acme"}
        assert len(known.keys) == 1
        # the value globex held, fingerprinted under every key the vault can still give: never a globex row
        assert globex_rows.isdisjoint({as_stored(key, value) for key in known.keys})
        assert as_stored(known.keys[0], value) == saved["acme", "shared"]


def test_rotating_a_tenants_data_key_gives_new_values_a_new_fingerprint_key(open_vault: Open) -> None:
    """A version written after rotate_data_key is fingerprinted under the new data key; old versions still match."""
    vault = open_vault()
    vault.create_tenant("acme")
    value = weak_value()
    vault.put("acme", "k", value)
    vault.rotate_data_key("acme")
    vault.put("acme", "k", value)
    known = vault.known_fingerprints()
    first, second = known.entries
    assert len(known.keys) == 2
    assert first.key_ref != second.key_ref
    assert first.fingerprint != second.fingerprint
    for entry in known.entries:
        assert entry.fingerprint == hmac.digest(known.keys[entry.key_ref], value.encode(), "sha256").hex()


def test_reading_the_keys_is_audited(open_vault: Open) -> None:
    """known_fingerprints records one fingerprints.read event naming how many tenants and keys it handed out."""
    vault = open_vault()
    for tenant in ("acme", "globex"):
        vault.create_tenant(tenant)
        vault.put(tenant, "k", weak_value())
    vault.known_fingerprints()
    vault.flush_audit()
    [event] = vault.audit_events(action="fingerprints.read")
    assert event.detail == "2 versions, 2 tenants, 2 keys"


def test_legacy_environment_wide_fingerprints_are_dropped_on_open(open_vault: Open, store_url: str) -> None:
    """A database written before: hex fingerprints and a `_scan` tenant. Opening it NULLs them and deletes `_scan`."""
    vault = open_vault()
    vault.create_tenant("acme")
    vault.put("acme", "old", weak_value())
    vault.put("acme", "new", weak_value())
    vault.close()
    legacy = secrets.token_bytes(32).hex()  # what version 1 stored: 64 hex characters
    run_sql(
        store_url,
        f"update secret_versions set fingerprint = '{legacy}' where name = 'old'",
        "insert into tenants (id, environment, name, created_at) values ('legacyscan', 'dev', '_scan', 0)",
    )
    reopened = open_vault()
    rows = stored_rows(store_url)
    assert rows["acme", "old"] is None
    assert rows["acme", "new"] is not None
    assert rows["acme", "new"].startswith("v2:")
    assert not [tenant for tenant, _ in rows if tenant == SCAN_TENANT]
    engine = sa.create_engine(engines.normalise_url(store_url))
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("select name from tenants")).scalars().all()
    finally:
        engine.dispose()
    assert SCAN_TENANT not in names
    known = reopened.known_fingerprints()
    assert known.missing == 1
    reopened.flush_audit()
    assert [e.detail for e in reopened.audit_events(action="fingerprints.drop")] == [
        "1 environment-wide fingerprints dropped, their key's row deleted"
    ]
    open_vault().close()  # a second open finds nothing left to do
    reopened.flush_audit()
    assert len(reopened.audit_events(action="fingerprints.drop")) == 1


# -- scan --known over a real git repository ------------------------------------------------------------------


def _git(repo: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "STRONGROOM_"))}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1", GIT_CEILING_DIRECTORIES=str(repo.parent))
    subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=T",
            "-c",
            "user.email=t@example.com",
            "-c",
            "commit.gpgsign=false",
            *args,
        ],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )


def _scan(cwd: Path, home: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "STRONGROOM_"))}
    env.update(
        STRONGROOM_HOME=str(home),
        STRONGROOM_URL=url,
        STRONGROOM_ACTOR="test:scan",
        NO_COLOR="1",
        COLUMNS="250",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CEILING_DIRECTORIES=str(cwd.parent),
    )
    done = invoke_cli(["scan", *args], env=env, cwd=cwd)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_scan_known_finds_each_tenants_planted_value_in_git_history(
    open_vault: Open, store_url: str, tmp_path: Path
) -> None:
    """Values of two tenants committed then removed: --known --git names each one's tenant; a deleted one, none."""
    vault = open_vault()
    values = {tenant: weak_value() for tenant in ("acme", "globex", "gone")}
    for tenant, value in values.items():
        vault.create_tenant(tenant)
        vault.put(tenant, "api-token", value)
    vault.delete_tenant("gone")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "settings.env").write_text(
        f"ACME_TOKEN={values['acme']}\nGLOBEX_URL=https://u:{values['globex']}@h/x\nOLD={values['gone']}\n"
    )
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "add settings")
    (repo / "settings.env").write_text("nothing here\n")
    _git(repo, "commit", "-q", "-am", "remove them")

    done = _scan(repo, tmp_path, store_url, "--known", "--git", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    found = sorted(
        (f["line"], f["description"]) for f in json.loads(done.stdout)["findings"] if f["rule_id"] == "known-secret"
    )
    assert found == [(1, "stored secret acme/api-token v1"), (2, "stored secret globex/api-token v1")]
    assert_not_leaked(list(values.values()), done.stdout, done.stderr)
