"""The ``postgresql`` rotator against the real PostgreSQL server (STRONGROOM_TEST_POSTGRES_URL).

Each test makes roles of its own (unique names, generated passwords) and drops them at teardown. Whether a
role's password is what strongroom stored is checked from its SCRAM verifier in ``pg_authid``, so the tests
hold on a server whose pg_hba.conf trusts loopback logins; where it asks for passwords, logins are checked
too (``_passwords_checked``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import queue
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import connections_received

from strongroom import Secret
from strongroom.config import Settings, secret
from strongroom.config.sources.store import StoreSource
from strongroom.crypto import LocalKeyProvider
from strongroom.errors import InvalidInput
from strongroom.rotation import Rotations, Rotators
from strongroom.rotation.postgresql import PostgresRotator
from strongroom.rotation.rotator import RotationContext
from strongroom.vault import Vault

psycopg = pytest.importorskip("psycopg")

PG_ENV = "STRONGROOM_TEST_POSTGRES_URL"
ADMIN_URL = os.environ.get(PG_ENV)
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not ADMIN_URL, reason=f"set {PG_ENV}=postgresql://postgres@127.0.0.1:5432/postgres"),
]
PLATFORM = "_platform"
ADMIN = "pg_admin"  # the name of the secret holding the admin URL
DB = "database_url"
WORKERS = 3


# -- helpers ---------------------------------------------------------------------------------------------


def _url(user: str, password: str, *, port: int | None = None, query: str = "") -> str:
    assert ADMIN_URL
    parts = urlsplit(ADMIN_URL)
    host = parts.hostname or "127.0.0.1"
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port or parts.port or 5432}"
    return f"postgresql://{netloc}{parts.path or '/postgres'}{'?' + query if query else ''}"


def _login(url: str) -> tuple[str, str]:
    netloc = urlsplit(url).netloc.rpartition("@")[0]
    user, _, password = netloc.partition(":")
    return unquote(user), unquote(password)


def _scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a ``SCRAM-SHA-256$iter:salt$StoredKey:ServerKey`` verifier is ``password``'s (RFC 5802)."""
    if not verifier or not verifier.startswith("SCRAM-SHA-256$"):
        return False
    params, keys = verifier.split("$")[1:]
    iterations, salt = params.split(":")
    stored = base64.b64decode(keys.split(":")[0])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    return hmac.compare_digest(hashlib.sha256(client_key).digest(), stored)


@dataclass
class Server:
    """The test server seen as its superuser: roles made here are dropped at teardown."""

    admin: Any
    prefix: str
    roles: list[str]

    def role(self, suffix: str, *attributes: str) -> tuple[str, str]:
        name, password = f"{self.prefix}_{suffix}", secrets.token_urlsafe(24)
        verifier = self.admin.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        sql = psycopg.sql
        extra = sql.SQL(" ").join(sql.SQL(a) for a in attributes)
        self.admin.execute(
            sql.SQL("CREATE ROLE {} {} PASSWORD {}").format(sql.Identifier(name), extra, sql.Literal(verifier))
        )
        self.roles.append(name)
        return name, password

    def verifier(self, role: str) -> str | None:
        row = self.admin.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
        assert row is not None, f"role {role} is gone"
        return row[0]  # type: ignore[no-any-return]

    def has_password(self, url: str) -> bool:
        user, password = _login(url)
        return _scram_matches(self.verifier(user), password)


def _works(url: str) -> bool:
    with psycopg.connect(url, connect_timeout=30) as conn:
        return bool(conn.execute("SELECT 1").fetchone() == (1,))


def _refused(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=30).close()
    except psycopg.OperationalError:
        return True
    return False


@pytest.fixture
def server() -> Iterator[Server]:
    assert ADMIN_URL
    admin = psycopg.connect(ADMIN_URL, autocommit=True)
    found = Server(admin, f"sr_rot_{uuid.uuid4().hex[:10]}", [])
    yield found
    for role in found.roles:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
        admin.execute(psycopg.sql.SQL("DROP ROLE IF EXISTS {}").format(psycopg.sql.Identifier(role)))
    admin.close()


@pytest.fixture
def store(migrated_sqlite: Callable[[Path], str], key_provider: LocalKeyProvider, tmp_path: Path) -> Iterator[Vault]:
    """A vault on SQLite: the store's backend is not what these tests are about, and SQLite is quick."""
    vault = Vault.open(
        migrated_sqlite(tmp_path / "store.db"), key_provider=key_provider, actor="test", home=tmp_path / "no-home"
    )
    vault.create_tenant(PLATFORM)
    yield vault
    vault.close()


@pytest.fixture
def passwords_checked(server: Server) -> bool:
    """Whether the server refuses a wrong password (pg_hba.conf asks for one on this route)."""
    user, password = server.role("probe", "LOGIN")
    return _refused(_url(user, password + "x"))


class DatabaseSettings(Settings):
    database_url: Secret[str] = secret(sensitivity="critical", rotate="30d", kind="platform")


def _alternating(server: Server, store: Vault, **attributes: str) -> tuple[str, str, str]:
    """Roles app_a (current) and app_b, and an admin role with CREATEROLE; returns the roles and admin URL."""
    user_a, password_a = server.role("app_a", "LOGIN")
    user_b, _ = server.role("app_b", attributes.get("b", "LOGIN"))
    admin, admin_password = server.role("admin", "LOGIN", attributes.get("admin", "CREATEROLE"))
    store.put(PLATFORM, "database_url", _url(user_a, password_a, query="application_name=orders"), kind="platform")
    store.put(PLATFORM, "pg_admin", _url(admin, admin_password), kind="platform")
    return user_a, user_b, admin


def _policy(rotations: Rotations, name: str = "database_url", **options: Any) -> None:
    rotations.set_policy(PLATFORM, name, every="30d", overlap="1h", rotator="postgresql", options=options)


def _stages(store: Vault, name: str = "database_url") -> list[str]:
    return [v.stage for v in store.versions(PLATFORM, name)]


def _current(store: Vault, name: str = "database_url") -> str:
    with store.use(PLATFORM, name, purpose="test") as held:
        return str(held.reveal())


# -- acceptance 1 ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_alternating_rotations_fail_no_query(server: Server, store: Vault, passwords_checked: bool) -> None:
    """Workers query through pooled connections and open new ones from the live handle while the role is
    rotated 20 times: not one query fails.

    It cannot flake: a credential stops working only when ``retire`` revokes it, and the previous version is
    retired at the start of the *next* rotation (overlap 1h). Before starting it, this test waits (on a
    condition, no sleeping) until every worker has opened a connection with a URL it read after the last
    rotation finished, so no worker can still hold the URL that is about to be revoked; revoking a password
    never ends open sessions, so the pooled connections (opened with app_a) keep running throughout.
    """
    user_a, user_b, _ = _alternating(server, store)
    rotations = Rotations(store)
    _policy(rotations, strategy="alternating", users=f"{user_a},{user_b}", admin_secret=ADMIN)
    settings = DatabaseSettings.load(environment="dev", sources=[StoreSource(store)])
    handle = settings.database_url
    first_url = handle.reveal()

    pool: queue.Queue[Any] = queue.Queue()
    for _ in range(WORKERS):
        pool.put(psycopg.connect(first_url, autocommit=True))
    failures: list[str] = []
    generation, seen, stop = [0], [-1] * WORKERS, threading.Event()
    changed = threading.Condition()
    queries = [0]

    def work(index: int) -> None:
        while not stop.is_set():
            with changed:
                started_in = generation[0]
            url = handle.reveal()
            pooled = pool.get()
            try:
                assert pooled.execute("SELECT 1").fetchone() == (1,)
                with psycopg.connect(url, connect_timeout=30) as fresh:
                    assert fresh.execute("SELECT current_user").fetchone() == (_login(url)[0],)
            except Exception as exc:  # every failure counts; its type says which
                failures.append(type(exc).__name__)
            finally:
                pool.put(pooled)
            with changed:
                queries[0] += 2
                seen[index] = started_in
                changed.notify_all()

    workers = [threading.Thread(target=work, args=(i,), name=f"db-worker-{i}") for i in range(WORKERS)]
    for thread in workers:
        thread.start()
    users = []
    try:
        for n in range(1, 21):
            with changed:  # every worker has connected with the value of the last rotation
                assert changed.wait_for(lambda: min(seen) >= generation[0], timeout=60), "a worker is stuck"
            outcome = rotations.rotate(PLATFORM, "database_url")
            assert outcome.status == "retiring", outcome.reason
            users.append(_login(handle.reveal())[0])
            with changed:
                generation[0] = n
            assert server.has_password(handle.reveal())
        with changed:
            assert changed.wait_for(lambda: min(seen) >= generation[0], timeout=60), "a worker is stuck"
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
        while not pool.empty():
            pool.get().close()
    assert failures == []
    assert queries[0] >= 20 * WORKERS * 2
    assert users == [user_b, user_a] * 10  # the inactive role every time
    # After the overlap, retire revokes the previous role's password: a stale URL stops working.
    stale = [v for v in store.versions(PLATFORM, "database_url") if v.stage == "previous"]
    assert len(stale) == 1
    with store.use(PLATFORM, "database_url", purpose="test", version=stale[0].version) as held:
        stale_url = str(held.reveal())
    later = Rotations(store, clock=lambda: time.time() + 2 * 3600)
    assert [o.status for o in later.run_due()] == ["succeeded"]
    assert server.verifier(_login(stale_url)[0]) is None
    assert server.has_password(handle.reveal())
    assert urlsplit(handle.reveal()).query == "application_name=orders"
    if passwords_checked:
        assert _refused(stale_url)
    assert _works(handle.reveal())
    settings.close()


def test_single_strategy_changes_the_roles_own_password(server: Server, store: Vault) -> None:
    user, password = server.role("app", "LOGIN")
    store.put(PLATFORM, "database_url", _url(user, password, query="sslmode=disable"), kind="platform")
    rotations = Rotations(store)
    _policy(rotations)
    for _ in range(3):
        before = _current(store)
        outcome = rotations.rotate(PLATFORM, "database_url")
        after = _current(store)
        assert outcome.status == "retiring", outcome.reason
        assert _login(after)[0] == user
        assert after != before
        assert urlsplit(after).query == "sslmode=disable"
        assert server.has_password(after)
        assert not server.has_password(before)
        assert _works(after)


# -- faults ------------------------------------------------------------------------------------------------


def _assert_failed_cleanly(
    store: Vault, server: Server, outcome: Any, *, step: str, before: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Failed at ``step``, nothing pending, the current value unchanged and still the role's password, audited,
    and no credential in the reason, the log or the audit rows."""
    assert outcome.status == "failed"
    assert f"step {step}" in (outcome.reason or ""), outcome.reason
    assert "pending" not in _stages(store)
    assert _current(store) == before
    assert server.has_password(before)
    assert _works(before)
    events = store.audit_events(tenant=PLATFORM, action="rotation.fail")
    assert len(events) == 1
    assert events[0].secret_name == DB
    seen = caplog.text + (outcome.reason or "") + repr(store.audit_events(tenant=PLATFORM))
    hidden = [before, _login(before)[1]]
    if "pg_admin" in [info.name for info in store.list(PLATFORM)]:
        hidden += [_current(store, "pg_admin"), _login(_current(store, "pg_admin"))[1]]
    for value in hidden:
        assert value not in seen


def test_an_admin_without_createrole_is_refused_and_nothing_changes(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    user_a, user_b, _ = _alternating(server, store, admin="NOCREATEROLE")
    rotations = Rotations(store)
    _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN)
    before, b_before = _current(store), server.verifier(user_b)
    caplog.set_level(logging.DEBUG)
    outcome = rotations.rotate(PLATFORM, "database_url")
    _assert_failed_cleanly(store, server, outcome, step="set", before=before, caplog=caplog)
    assert "SQLSTATE 42501" in (outcome.reason or "")
    assert "CREATEROLE" in (outcome.reason or "")
    assert server.verifier(user_b) == b_before


def test_an_unreachable_server_fails_the_rotation(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    user_a, user_b, admin = _alternating(server, store)
    with socket.socket() as closed:  # bound, never listening: connections to it are refused
        closed.bind(("127.0.0.1", 0))
        store.put(PLATFORM, "pg_admin", _url(admin, secrets.token_urlsafe(16), port=closed.getsockname()[1]))
        rotations = Rotations(store)
        _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN, connect_timeout=2)
        before = _current(store)
        caplog.set_level(logging.DEBUG)
        outcome = rotations.rotate(PLATFORM, "database_url")
    _assert_failed_cleanly(store, server, outcome, step="set", before=before, caplog=caplog)
    assert "unreachable" in (outcome.reason or "")


@pytest.mark.slow
def test_a_server_that_does_not_answer_in_time_fails_the_rotation(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    """Another session holds the inactive role's row (an ALTER ROLE in an open transaction): the rotation's
    ALTER ROLE waits, and fails after connect_timeout instead of hanging."""
    user_a, user_b, _ = _alternating(server, store)
    rotations = Rotations(store)
    _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN, connect_timeout=1)
    before, b_before = _current(store), server.verifier(user_b)
    assert ADMIN_URL
    with psycopg.connect(ADMIN_URL) as blocker:  # a transaction, open until the block ends
        blocker.execute(psycopg.sql.SQL("ALTER ROLE {} CONNECTION LIMIT 5").format(psycopg.sql.Identifier(user_b)))
        caplog.set_level(logging.DEBUG)
        outcome = rotations.rotate(PLATFORM, DB)
        blocker.rollback()
    _assert_failed_cleanly(store, server, outcome, step="set", before=before, caplog=caplog)
    assert "SQLSTATE 57014" in (outcome.reason or "")
    assert server.verifier(user_b) == b_before


def test_a_new_credential_that_cannot_log_in_is_undone(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    """The server accepts the inactive role's new password but the role may not log in: the test fails,
    undo revokes the pending password, the current role is untouched."""
    user_a, user_b, _ = _alternating(server, store, b="NOLOGIN")
    rotations = Rotations(store)
    _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN)
    before = _current(store)
    caplog.set_level(logging.DEBUG)
    outcome = rotations.rotate(PLATFORM, "database_url")
    _assert_failed_cleanly(store, server, outcome, step="test", before=before, caplog=caplog)
    assert "may not log in" in (outcome.reason or "")
    assert server.verifier(user_b) is None  # undo: the pending password is revoked


class _FailsItsTest(PostgresRotator):
    """The real rotator, whose test fails after the real one ran (a new credential the app cannot use)."""

    pending: ClassVar[list[str]] = []

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        value = pending.reveal()
        type(self).pending.append(value)
        super().test(ctx, pending)
        raise psycopg.OperationalError(f"canary in a driver message: {value}")


def test_single_strategy_undo_puts_the_old_password_back(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    user, password = server.role("app", "LOGIN")
    store.put(PLATFORM, "database_url", _url(user, password), kind="platform")
    _FailsItsTest.pending.clear()
    rotations = Rotations(store, rotators=Rotators({"postgresql": _FailsItsTest}))
    _policy(rotations)
    caplog.set_level(logging.DEBUG)
    outcome = rotations.rotate(PLATFORM, "database_url")
    _assert_failed_cleanly(store, server, outcome, step="test", before=_url(user, password), caplog=caplog)
    assert "OperationalError" in (outcome.reason or "")
    assert "canary" not in (outcome.reason or "")
    # The discarded new credential leaked nowhere either.
    (pending,) = _FailsItsTest.pending
    seen = caplog.text + (outcome.reason or "") + repr(store.audit_events(tenant=PLATFORM))
    assert pending not in seen
    assert _login(pending)[1] not in seen


# -- bad options -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"strategy": "round-robin"}, "strategy"),
        ({"strategy": "alternating", "admin_secret": "pg_admin"}, "users"),
        ({"strategy": "alternating", "users": "a,b"}, "admin_secret"),
        ({"strategy": "alternating", "users": "a", "admin_secret": "pg_admin"}, "users"),
        ({"strategy": "alternating", "users": "a,a", "admin_secret": "pg_admin"}, "users"),
        ({"users": "a,b"}, "users"),
        ({"connect_timeout": "soon"}, "connect_timeout"),
        ({"conect_timeout": 3}, "conect_timeout"),
    ],
)
def test_bad_options_are_refused_naming_the_option(store: Vault, options: dict[str, Any], named: str) -> None:
    store.put(PLATFORM, "database_url", _url("app", secrets.token_urlsafe(16)), kind="platform")
    with pytest.raises(InvalidInput, match=named) as refused:
        _policy(Rotations(store), **options)
    assert len(str(refused.value).splitlines()) == 1


# -- resuming ----------------------------------------------------------------------------------------------


class _KilledAfterSet(PostgresRotator):
    """The real rotator; the first ``set`` is interrupted after it changed the password and before the engine
    recorded it (as a process killed there), so the next run runs ``set`` again."""

    killed = False

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        super().set(ctx, pending)
        if not _KilledAfterSet.killed:
            _KilledAfterSet.killed = True
            raise KeyboardInterrupt


@pytest.mark.parametrize("strategy", ["single", "alternating"])
def test_a_rotation_killed_after_set_resumes_and_finishes(server: Server, store: Vault, strategy: str) -> None:
    user_a, user_b, _ = _alternating(server, store)
    rotations = Rotations(store, rotators=Rotators({"postgresql": _KilledAfterSet}))
    if strategy == "single":
        _policy(rotations)
    else:
        _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN)
    _KilledAfterSet.killed = False
    before = _current(store)
    with pytest.raises(KeyboardInterrupt):
        rotations.rotate(PLATFORM, DB)
    assert _current(store) == before  # nothing promoted yet
    assert "pending" in _stages(store)
    outcome = rotations.rotate(PLATFORM, DB)
    assert outcome.status == "retiring", outcome.reason
    after = _current(store)
    assert after != before
    assert server.has_password(after)
    assert _login(after)[0] == (user_a if strategy == "single" else user_b)
    assert "pending" not in _stages(store)


# -- misconfiguration found at rotation time ---------------------------------------------------------------


def test_a_current_role_outside_users_fails_at_create(server: Server, store: Vault) -> None:
    user_a, user_b, _ = _alternating(server, store)
    rotations = Rotations(store)
    _policy(rotations, strategy="alternating", users=[user_b, f"{user_b}_other"], admin_secret=ADMIN)
    outcome = rotations.rotate(PLATFORM, DB)
    assert outcome.status == "failed"
    assert "step create" in (outcome.reason or "")
    assert f"{user_a!r} is not one of option users" in (outcome.reason or "")
    assert _stages(store) == ["current"]


def test_a_value_pointed_at_another_host_never_receives_the_new_password(server: Server, store: Vault) -> None:
    """Whoever may write the secret's value (a tenant's key, an agent's token with secrets:write) points it at a
    host of theirs: the rotation refuses at create, before any password is set or sent anywhere."""
    user_a, user_b, _ = _alternating(server, store)
    with socket.socket() as attacker:  # another host (all of 127/8 is loopback here): the attacker's listener
        attacker.bind(("127.0.0.2", 0))
        attacker.listen(8)
        chosen = secrets.token_urlsafe(12)  # whatever the attacker wrote
        planted = f"postgresql://{user_a}:{chosen}@127.0.0.2:{attacker.getsockname()[1]}/postgres"
        store.put(PLATFORM, DB, planted, kind="platform")
        rotations = Rotations(store)
        _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=ADMIN)
        outcome = rotations.rotate(PLATFORM, DB)
        assert outcome.status == "failed"
        assert "another server or database than admin secret" in (outcome.reason or "")
        assert "pending" not in _stages(store)
        assert connections_received(attacker) == 0


def test_a_missing_admin_secret_fails_naming_it(server: Server, store: Vault) -> None:
    user_a, user_b, _ = _alternating(server, store)
    rotations = Rotations(store)
    missing = "no_such_admin"  # names a secret that was never stored
    _policy(rotations, strategy="alternating", users=[user_a, user_b], admin_secret=missing)
    outcome = rotations.rotate(PLATFORM, DB)
    assert outcome.status == "failed"
    assert "'no_such_admin' not found" in (outcome.reason or "")
    assert "pending" not in _stages(store)


# -- the URL -----------------------------------------------------------------------------------------------

_LOGIN_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(
    user=_LOGIN_TEXT.filter(lambda u: u == u.strip() and len(u) <= 63 and u != "other"),
    password=_LOGIN_TEXT,
    query=st.sampled_from(["", "sslmode=disable", "application_name=a%20b&connect_timeout=3"]),
    strategy=st.sampled_from(["single", "alternating"]),
)
def test_create_changes_only_the_login(user: str, password: str, query: str, strategy: str) -> None:
    """Whatever characters the stored user and password hold (percent-encoded in the URL), the new value keeps
    host, port, database and parameters, and has the right role and a new, generated password."""
    current = f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@db.example:6543/orders"
    current += f"?{query}" if query else ""
    options: dict[str, Any] = {"strategy": strategy}
    if strategy == "alternating":
        options |= {"users": [user, "other"], "admin_secret": ADMIN}

    def admin_only(name: str) -> Secret[Any]:  # alternating: create checks the admin's server is the value's
        assert name == ADMIN, f"create read {name}"
        return Secret(name, "postgresql://admin:pw@DB.example:5432/orders", 1)

    ctx = RotationContext(
        tenant=PLATFORM,
        name=DB,
        rotator="postgresql",
        options=options,
        rotation_id="r1",
        step="create",
        clock=time.time,
        _current=lambda: Secret(DB, current, 1),
        _secret=admin_only,
    )
    new = urlsplit(PostgresRotator().create(ctx))
    assert (new.scheme, new.hostname, new.port, new.path, new.query) == (
        "postgresql",
        "db.example",
        6543,
        "/orders",
        query,
    )
    assert unquote(new.username or "") == (user if strategy == "single" else "other")
    assert len(unquote(new.password or "")) >= 43
    assert unquote(new.password or "") != password
