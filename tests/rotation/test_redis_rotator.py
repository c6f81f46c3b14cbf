"""The ``redis`` rotator against the real Redis server (STRONGROOM_TEST_REDIS_URL).

Each test makes ACL users of its own (unique names, generated passwords) and deletes them at teardown.
"""

from __future__ import annotations

import hashlib
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

from strongroom import Secret
from strongroom.config import Settings, secret
from strongroom.config.sources.store import StoreSource
from strongroom.crypto import LocalKeyProvider
from strongroom.errors import InvalidInput
from strongroom.rotation import Rotations, Rotators
from strongroom.rotation.redis_acl import RedisRotator
from strongroom.rotation.rotator import RotationContext
from strongroom.vault import Vault

redis = pytest.importorskip("redis")

REDIS_ENV = "STRONGROOM_TEST_REDIS_URL"
SERVER_URL = os.environ.get(REDIS_ENV)
pytestmark = pytest.mark.skipif(not SERVER_URL, reason=f"set {REDIS_ENV}=redis://127.0.0.1:6379/0")
PLATFORM = "_platform"
ADMIN = "redis_admin"  # the name of the secret holding the admin URL
NAME = "cache_url"
WORKERS = 3


def _url(user: str, password: str, *, port: int | None = None) -> str:
    assert SERVER_URL
    parts = urlsplit(SERVER_URL)
    where = f"{parts.hostname or '127.0.0.1'}:{port or parts.port or 6379}"
    return f"redis://{quote(user, safe='')}:{quote(password, safe='')}@{where}{parts.path or '/0'}"


def _login(url: str) -> tuple[str, str]:
    user, _, password = urlsplit(url).netloc.rpartition("@")[0].partition(":")
    return unquote(user), unquote(password)


def _hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def _refused(url: str) -> bool:
    try:  # a single-connection client connects (and authenticates) as it is made
        redis.Redis.from_url(url, single_connection_client=True, socket_connect_timeout=30).close()
    except redis.AuthenticationError:
        return True
    return False


def _works(url: str) -> bool:
    client = redis.Redis.from_url(url, single_connection_client=True, socket_connect_timeout=30)
    try:
        return bool(client.ping())
    finally:
        client.close()


@dataclass
class Server:
    admin: Any
    prefix: str
    users: list[str]

    def user(self, suffix: str, *rules: str) -> tuple[str, str]:
        name, password = f"{self.prefix}_{suffix}", secrets.token_urlsafe(24)
        self.admin.execute_command("ACL", "SETUSER", name, "reset", "on", f"#{_hash(password)}", *rules)
        self.users.append(name)
        return name, password

    def hashes(self, user: str) -> list[str]:
        found = self.admin.acl_getuser(user)
        assert found is not None, f"user {user} is gone"
        return [h.decode() if isinstance(h, bytes) else h for h in found["passwords"]]


@pytest.fixture
def server() -> Iterator[Server]:
    assert SERVER_URL
    admin = redis.Redis.from_url(SERVER_URL)
    found = Server(admin, f"sr_rot_{uuid.uuid4().hex[:10]}", [])
    yield found
    if found.users:
        admin.acl_deluser(*found.users)  # also disconnects their clients
    for key in admin.scan_iter(match=f"{found.prefix}_*"):
        admin.delete(key)
    admin.close()


@pytest.fixture
def store(migrated_sqlite: Callable[[Path], str], key_provider: LocalKeyProvider, tmp_path: Path) -> Iterator[Vault]:
    vault = Vault.open(
        migrated_sqlite(tmp_path / "store.db"), key_provider=key_provider, actor="test", home=tmp_path / "no-home"
    )
    vault.create_tenant(PLATFORM)
    yield vault
    vault.close()


class CacheSettings(Settings):
    cache_url: Secret[str] = secret(sensitivity="high", rotate="30d", kind="platform")


# The least an admin needs (docs/rotation.md, "redis"); the app may run its commands and nothing else.
ADMIN_RULES = ("+acl|getuser", "+acl|setuser", "+ping", "+hello", "+auth", "+select")
APP_RULES = ("~sr_rot_*", "+@connection", "+incrby", "+get")


def _app(server: Server, store: Vault, *, admin_rules: tuple[str, ...] = ADMIN_RULES) -> tuple[str, str]:
    """The app's user (its URL stored as cache_url) and an admin user (its URL as redis_admin)."""
    user, password = server.user("app", *APP_RULES)
    admin, admin_password = server.user("admin", *admin_rules)
    store.put(PLATFORM, NAME, _url(user, password), kind="platform")
    store.put(PLATFORM, ADMIN, _url(admin, admin_password), kind="platform")
    return user, admin


def _policy(rotations: Rotations, **options: Any) -> None:
    rotations.set_policy(PLATFORM, NAME, every="30d", overlap="1h", rotator="redis", options=options)


def _current(store: Vault, name: str = NAME) -> str:
    with store.use(PLATFORM, name, purpose="test") as held:
        return str(held.reveal())


# -- acceptance 1 ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_twenty_rotations_fail_no_command(server: Server, store: Vault) -> None:
    """Workers run commands on connections opened before the first rotation and open new ones from the live
    handle while the user's password is rotated 20 times: not one command fails.

    It cannot flake: the user holds the old and the new password from ``set`` until ``retire``, and the
    previous password is retired at the start of the *next* rotation (overlap 1h). Before starting it, this
    test waits (on a condition, no sleeping) until every worker has connected with a URL it read after the
    last rotation finished, so none can still hold the password about to be removed; removing a password
    never ends an authenticated connection, so the pooled ones keep working.
    """
    user, _ = _app(server, store)
    rotations = Rotations(store)
    _policy(rotations, admin_secret=ADMIN, user=user)
    settings = CacheSettings.load(environment="dev", sources=[StoreSource(store)])
    handle = settings.cache_url
    first_url = handle.reveal()
    key = f"{server.prefix}_counter"

    pool: queue.Queue[Any] = queue.Queue()
    for _ in range(WORKERS):
        pooled = redis.Redis.from_url(first_url, single_connection_client=True)
        pooled.ping()
        pool.put(pooled)
    failures: list[str] = []
    generation, seen, stop = [0], [-1] * WORKERS, threading.Event()
    changed = threading.Condition()
    commands = [0]

    def work(index: int) -> None:
        while not stop.is_set():
            with changed:
                started_in = generation[0]
            url = handle.reveal()
            pooled = pool.get()
            try:
                pooled.incr(key)
                fresh = redis.Redis.from_url(url, single_connection_client=True, socket_connect_timeout=30)
                try:
                    fresh.incr(key)
                finally:
                    fresh.close()
            except Exception as exc:  # every failure counts; its type says which
                failures.append(type(exc).__name__)
            finally:
                pool.put(pooled)
            with changed:
                commands[0] += 2
                seen[index] = started_in
                changed.notify_all()

    workers = [threading.Thread(target=work, args=(i,), name=f"cache-worker-{i}") for i in range(WORKERS)]
    for thread in workers:
        thread.start()
    urls = []
    try:
        for n in range(1, 21):
            with changed:  # every worker has connected with the value of the last rotation
                assert changed.wait_for(lambda: min(seen) >= generation[0], timeout=60), "a worker is stuck"
            outcome = rotations.rotate(PLATFORM, NAME)
            assert outcome.status == "retiring", outcome.reason
            urls.append(handle.reveal())
            with changed:
                generation[0] = n
            # The new password and the one it replaced; the one before that was retired.
            assert sorted(server.hashes(user)) == sorted({_hash(_login(u)[1]) for u in [first_url, *urls][-2:]})
        with changed:
            assert changed.wait_for(lambda: min(seen) >= generation[0], timeout=60), "a worker is stuck"
    finally:
        stop.set()
        for thread in workers:
            thread.join(timeout=60)
        while not pool.empty():
            pool.get().close()
    assert failures == []
    assert commands[0] >= 20 * WORKERS * 2
    assert len(set(urls)) == 20
    assert all(_login(u)[0] == user for u in urls)
    # After the overlap, retire removes the previous password: a stale URL is refused from then on.
    later = Rotations(store, clock=lambda: time.time() + 2 * 3600)
    assert [o.status for o in later.run_due()] == ["succeeded"]
    assert server.hashes(user) == [_hash(_login(handle.reveal())[1])]
    assert _refused(urls[-2])
    assert _refused(first_url)
    assert _works(handle.reveal())
    settings.close()


def test_without_an_admin_the_user_rotates_itself(server: Server, store: Vault) -> None:
    user, password = server.user("self", *APP_RULES, "+acl")
    store.put(PLATFORM, NAME, _url(user, password), kind="platform")
    rotations = Rotations(store)
    _policy(rotations, connect_timeout=5)
    before = _current(store)
    for _ in range(3):
        assert rotations.rotate(PLATFORM, NAME).status == "retiring"
    after = _current(store)
    assert _login(after)[0] == user
    assert _works(after)
    assert _refused(before)
    assert len(server.hashes(user)) == 2  # current and previous: the previous goes at the next retire


# -- faults ------------------------------------------------------------------------------------------------


def _assert_failed_cleanly(
    store: Vault, server: Server, outcome: Any, *, step: str, before: str, caplog: pytest.LogCaptureFixture
) -> None:
    assert outcome.status == "failed"
    assert f"step {step}" in (outcome.reason or ""), outcome.reason
    assert "pending" not in [v.stage for v in store.versions(PLATFORM, NAME)]
    assert _current(store) == before
    user, password = _login(before)
    assert server.hashes(user) == [_hash(password)]
    assert _works(before)
    events = store.audit_events(tenant=PLATFORM, action="rotation.fail")
    assert len(events) == 1
    assert events[0].secret_name == NAME
    seen = caplog.text + (outcome.reason or "") + repr(store.audit_events(tenant=PLATFORM))
    admin = _current(store, ADMIN)
    for value in (before, password, _hash(password), admin, _login(admin)[1]):
        assert value not in seen


@pytest.mark.parametrize("fault", ["no +acl", "wrong admin password"])
def test_a_refusing_server_fails_the_rotation(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    user, admin = _app(server, store, admin_rules=("+@connection",) if fault == "no +acl" else ADMIN_RULES)
    if fault == "wrong admin password":
        store.put(PLATFORM, ADMIN, _url(admin, secrets.token_urlsafe(24)))
    rotations = Rotations(store)
    _policy(rotations, admin_secret=ADMIN, user=user)
    before = _current(store)
    caplog.set_level(logging.DEBUG)
    outcome = rotations.rotate(PLATFORM, NAME)
    _assert_failed_cleanly(store, server, outcome, step="set", before=before, caplog=caplog)
    expected = "NoPermissionError" if fault == "no +acl" else "AuthenticationError"
    assert expected in (outcome.reason or "")


@pytest.mark.parametrize("fault", ["refused", "silent"])
@pytest.mark.slow
def test_an_unreachable_server_fails_the_rotation(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture, fault: str
) -> None:
    """The admin URL points at a closed port (refused at once), or one that accepts and never answers."""
    user, admin = _app(server, store)
    with socket.socket() as closed:  # bound and, unless listening, never answering: no other server can be there
        closed.bind(("127.0.0.1", 0))
        if fault == "silent":
            closed.listen(8)  # the kernel completes the handshake; nobody ever reads or answers
        store.put(PLATFORM, ADMIN, _url(admin, secrets.token_urlsafe(24), port=closed.getsockname()[1]))
        rotations = Rotations(store)
        _policy(rotations, admin_secret=ADMIN, user=user, connect_timeout=1)
        before = _current(store)
        caplog.set_level(logging.DEBUG)
        outcome = rotations.rotate(PLATFORM, NAME)
    _assert_failed_cleanly(store, server, outcome, step="set", before=before, caplog=caplog)
    assert ("connect_timeout expired" if fault == "silent" else "connection refused") in (outcome.reason or "")


class _FailsItsTest(RedisRotator):
    """The real rotator, whose test fails after the real one ran (a new credential the app cannot use)."""

    pending: ClassVar[list[str]] = []

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        value = pending.reveal()
        type(self).pending.append(value)
        super().test(ctx, pending)
        raise redis.AuthenticationError(f"canary in a driver message: {value}")


def test_a_new_password_that_fails_its_test_is_removed(
    server: Server, store: Vault, caplog: pytest.LogCaptureFixture
) -> None:
    user, _ = _app(server, store)
    _FailsItsTest.pending.clear()
    rotations = Rotations(store, rotators=Rotators({"redis": _FailsItsTest}))
    _policy(rotations, admin_secret=ADMIN, user=user)
    before = _current(store)
    caplog.set_level(logging.DEBUG)
    outcome = rotations.rotate(PLATFORM, NAME)
    # undo removed the pending password: the user holds only the current one (checked in the helper)
    _assert_failed_cleanly(store, server, outcome, step="test", before=before, caplog=caplog)
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
        ({"strategy": "alternating"}, "strategy"),
        ({"connect_timeout": "soon"}, "connect_timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"admin_secret": 3}, "admin_secret"),
        ({"admin_secret": "redis_admin"}, "give option user"),
    ],
)
def test_bad_options_are_refused_naming_the_option(store: Vault, options: dict[str, Any], named: str) -> None:
    store.put(PLATFORM, NAME, _url("app", secrets.token_urlsafe(16)), kind="platform")
    with pytest.raises(InvalidInput, match=named) as refused:
        _policy(Rotations(store), **options)
    assert len(str(refused.value).splitlines()) == 1


# -- resuming ----------------------------------------------------------------------------------------------


class _KilledAfterSet(RedisRotator):
    """The real rotator; the first ``set`` is interrupted after it added the password and before the engine
    recorded it (as a process killed there), so the next run runs ``set`` again."""

    killed = False

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        super().set(ctx, pending)
        if not _KilledAfterSet.killed:
            _KilledAfterSet.killed = True
            raise KeyboardInterrupt


def test_a_rotation_killed_after_set_resumes_and_finishes(server: Server, store: Vault) -> None:
    user, _ = _app(server, store)
    rotations = Rotations(store, rotators=Rotators({"redis": _KilledAfterSet}))
    _policy(rotations, admin_secret=ADMIN, user=user)
    before = _current(store)
    with pytest.raises(KeyboardInterrupt):
        rotations.rotate(PLATFORM, NAME)
    assert _current(store) == before  # nothing promoted yet
    assert len(server.hashes(user)) == 2
    outcome = rotations.rotate(PLATFORM, NAME)
    assert outcome.status == "retiring", outcome.reason
    after = _current(store)
    assert sorted(server.hashes(user)) == sorted([_hash(_login(before)[1]), _hash(_login(after)[1])])
    assert _works(after)


# -- the URL -----------------------------------------------------------------------------------------------

_LOGIN_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)


@given(user=_LOGIN_TEXT, password=_LOGIN_TEXT, scheme=st.sampled_from(["redis", "rediss"]))
@pytest.mark.slow
def test_create_changes_only_the_password(user: str, password: str, scheme: str) -> None:
    """Whatever characters the stored user and password hold (percent-encoded), the new value keeps scheme,
    host, port, database and user, with a new, generated password."""
    current = f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@cache.example:6380/3"

    def no_other_secret(name: str) -> Secret[Any]:
        raise AssertionError(f"create read {name}")

    ctx = RotationContext(
        tenant=PLATFORM,
        name=NAME,
        rotator="redis",
        options={},
        rotation_id="r1",
        step="create",
        clock=time.time,
        _current=lambda: Secret(NAME, current, 1),
        _secret=no_other_secret,
    )
    new = urlsplit(RedisRotator().create(ctx))
    assert (new.scheme, new.hostname, new.port, new.path) == (scheme, "cache.example", 6380, "/3")
    assert unquote(new.username or "") == user
    assert len(unquote(new.password or "")) >= 43
    assert unquote(new.password or "") != password


def test_a_value_naming_another_user_or_redirecting_is_refused_before_any_change(server: Server, store: Vault) -> None:
    """Whoever may write the value names the admin user (to have the admin connection add a password of theirs
    to it), or adds a query that redirects the connection: create refuses, and no ACL user changes."""
    user, admin = _app(server, store)
    rotations = Rotations(store)
    _policy(rotations, admin_secret=ADMIN, user=user)
    before = server.hashes(admin)
    for planted, says in (
        (_url(admin, "attacker-chosen-password"), "is not option user"),
        (_url(user, "attacker-chosen-password") + "?port=1", "query parameters"),
    ):
        store.put(PLATFORM, NAME, planted, kind="platform")
        outcome = rotations.rotate(PLATFORM, NAME)
        assert outcome.status == "failed"
        assert says in (outcome.reason or "")
        assert "attacker-chosen-password" not in (outcome.reason or "")
    assert server.hashes(admin) == before
