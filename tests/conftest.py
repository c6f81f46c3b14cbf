"""Shared fixtures. ``store_url`` runs a test on SQLite and, when enabled, on a real PostgreSQL.

PostgreSQL tests need ``STRONGROOM_TEST_POSTGRES_URL`` (for example
``postgresql://postgres@127.0.0.1:5432/postgres``); each test gets a database of its own, dropped after.

Stores are cheap: each test process (each xdist worker) migrates one template per backend once, and a test
that opens a vault (``open_vault``, ``vault``) gets a copy of it: the SQLite file copied, or a PostgreSQL
``CREATE DATABASE ... TEMPLATE``. A test that does not open a vault through these fixtures (the migration
tests) still gets an empty store. ``invoke_cli`` runs ``strongroom`` in this process, through its real ``main()``.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

# Hypothesis's deadline and too-slow check are wall-clock bounds: on a loaded 2-core machine they fail tests
# whose properties hold. Properties are what these tests assert; speed is measured in bench/.
settings.register_profile("strongroom", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("strongroom")

T = TypeVar("T")
PG_ENV = "STRONGROOM_TEST_POSTGRES_URL"
PG_SKIP = f"PostgreSQL tests are off: set {PG_ENV}=postgresql://postgres@127.0.0.1:5432/postgres to run them"

# The modules that take longest (real `strongroom` processes over many tenants), started first: with
# `--dist loadfile` a module runs whole on one worker, and one started last would leave the other idle.
LONGEST_FIRST = (
    "tests/crypto/test_rekey_crash.py",
    "tests/crypto/test_online_rekey.py",
    "tests/redact/test_leak_matrix.py",
    "tests/config/test_run_signal_race.py",
    "tests/vault/test_vault_concurrency.py",
    "tests/server/test_schemathesis.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.path.as_posix()
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the rest keep their order


def postgres_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _conninfo(admin: str) -> str:
    return admin.replace("postgresql+psycopg://", "postgresql://")


def _migrate(url: str) -> None:
    """Bring an empty store to this code's schema with the project's own migrations (what Vault.open does)."""
    from strongroom.store.migrate import upgrade
    from strongroom.store.repository import Store

    store = Store(url)
    try:
        upgrade(store)
    finally:
        store.close()


class _Databases:
    """Test databases, made ahead and dropped behind in the background. A copy of the migrated template is made
    while the test before it runs (a CREATE DATABASE took 0.2-0.4 s of each PostgreSQL test's setup); each DROP
    DATABASE waits for a checkpoint, which no test needs to wait for. ``close`` waits until every database made is
    gone, and fails the session's teardown, naming the error, if one could not be dropped."""

    def __init__(self, conninfo: str, template: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.conninfo = conninfo
        self.template = template
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="test-databases")
        self.pending: list[Future[None]] = []
        self.ahead: Future[str] | None = None

    def _execute(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True, connect_timeout=30) as conn:
            conn.execute(statement)

    def _create(self, template: str | None) -> str:
        name = "strongroom_test_" + uuid.uuid4().hex[:12]
        self._execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name

    def take(self, *, migrated: bool) -> str:
        """A database of the test's own: a copy of the migrated template, or empty."""
        if not migrated:
            return self._create(None)
        made = self.ahead or self.pool.submit(self._create, self.template)
        self.ahead = self.pool.submit(self._create, self.template)  # the next test's, made meanwhile
        return made.result()

    def drop(self, name: str) -> None:
        self.pending.append(self.pool.submit(self._execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        if self.ahead is not None:
            self.drop(self.ahead.result())
        self.pool.shutdown(wait=True)
        for done in self.pending:
            done.result()


@pytest.fixture(scope="session")
def _postgres() -> Iterator[tuple[str, _Databases] | None]:
    """This process's PostgreSQL: the admin URL, and its test databases (copies of a migrated template)."""
    admin = postgres_admin_url()
    if admin is None:
        yield None
        return
    import psycopg

    conninfo = _conninfo(admin)
    # One template per test process (xdist worker), unique so concurrent sessions never share or race on one.
    template = f"strongroom_tpl_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{template}"')
    databases = _Databases(conninfo, template)
    try:
        _migrate(_with_database(admin, template))
        yield admin, databases
    finally:
        databases.close()  # first: its copies of the template must be gone before the template can go
        databases._execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')


def _new_postgres_database(request: pytest.FixtureRequest, *, migrated: bool) -> Iterator[str]:
    state = request.getfixturevalue("_postgres")
    if state is None:
        pytest.skip(PG_SKIP)
    admin, databases = state
    name = databases.take(migrated=migrated)
    try:
        yield _with_database(admin, name)
    finally:
        databases.drop(name)


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from _new_postgres_database(request, migrated=False)


def write_pre_0006_layout(url: str, provider: LocalKeyProvider, environment: str = "dev") -> int:
    """Rewrite a store's data keys as strongroom wrote them before schema 0006 (by the provider itself, no root
    keys), as an attacker or an old release would leave them; returns how many were rewritten. Tests of
    migrations and of ``key migrate`` start from such a store."""
    import sqlalchemy as sa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from strongroom.crypto.keys import open_key, root_context, wrap_context
    from strongroom.store import engines

    engine = sa.create_engine(engines.normalise_url(url))
    count = 0
    try:
        with engine.begin() as conn:
            roots = {
                version: AESGCM(provider.unwrap(wrapped, pv, root_context(environment, pid, version)))
                for version, pid, pv, wrapped in conn.execute(
                    sa.text(
                        "SELECT version, provider_id, provider_version, wrapped FROM root_keys "
                        "WHERE environment = :e AND wrapped IS NOT NULL"
                    ),
                    {"e": environment},
                )
            }
            rows = conn.execute(
                sa.text(
                    "SELECT d.tenant_id, d.version, d.kek_version, d.wrapped FROM data_keys d "
                    "JOIN tenants t ON t.id = d.tenant_id WHERE t.environment = :e AND d.kek_id = 'root'"
                ),
                {"e": environment},
            ).all()
            for tenant_id, version, root_version, wrapped in rows:
                key = open_key(roots[root_version], wrapped, wrap_context(environment, tenant_id, version, "root"))
                kek_version, rewrapped = provider.wrap(
                    key, wrap_context(environment, tenant_id, version, provider.key_id)
                )
                conn.execute(
                    sa.text(
                        "UPDATE data_keys SET kek_id = :k, kek_version = :v, wrapped = :w "
                        "WHERE tenant_id = :t AND version = :n"
                    ),
                    {"k": provider.key_id, "v": kek_version, "w": rewrapped, "t": tenant_id, "n": version},
                )
                count += 1
            conn.execute(sa.text("DELETE FROM root_keys WHERE environment = :e"), {"e": environment})
    finally:
        engine.dispose()
    return count


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], str]:
    """``copy_to(path)``: a SQLite store at ``path`` at this code's schema (a copy of one migrated file)."""
    template = tmp_path_factory.mktemp("template") / "strongroom.db"
    _migrate(f"sqlite:///{template}")

    def copy_to(path: Path) -> str:
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"

    return copy_to


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a store of this test's own: a SQLite file, or a PostgreSQL database.

    Empty, unless the test opens vaults through ``open_vault``: then it is already at this code's schema, as the
    first ``Vault.open`` would leave it (migrating it per test is what made the suite slow).
    """
    migrated = "open_vault" in request.fixturenames
    if request.param == "sqlite":
        path = tmp_path / "strongroom.db"
        yield request.getfixturevalue("migrated_sqlite")(path) if migrated else f"sqlite:///{path}"
        return
    yield from _new_postgres_database(request, migrated=migrated)


@pytest.fixture
def key_provider(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider.create_file(tmp_path / "keys" / "dev.json", "dev")


@pytest.fixture
def open_vault(store_url: str, key_provider: LocalKeyProvider, tmp_path: Path) -> Iterator[Callable[..., Vault]]:
    """Open vaults on the test's store; every one opened is closed at the end. Their home is the test's own
    and does not exist, so no audit checkpoints are written unless a test asks for them (``checkpoints=``)."""
    opened: list[Vault] = []

    def _open(**options: object) -> Vault:
        options.setdefault("key_provider", key_provider)
        options.setdefault("actor", "test")
        options.setdefault("home", tmp_path / "no-home")
        vault = Vault.open(store_url, **options)  # type: ignore[arg-type]
        opened.append(vault)
        return vault

    yield _open
    for vault in opened:
        vault.close()


@pytest.fixture
def vault(open_vault: Callable[..., Vault]) -> Vault:
    return open_vault()


@pytest.fixture
def make_canary() -> Callable[[str], str]:
    """Values that appear nowhere unless strongroom leaked them."""

    def _make(label: str = "canary") -> str:
        return f"{label}-{uuid.uuid4().hex}{uuid.uuid4().hex}"

    return _make


class _QuietHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients under test hang up on purpose (cut bodies, timeouts): no tracebacks on stderr


@pytest.fixture
def start_http_server() -> Iterator[Callable[[type[BaseHTTPRequestHandler]], int]]:
    """Start real HTTP servers on loopback ports (threaded); returns each one's port; all stopped at teardown.

    A fixture that uses this one tears down first, so it can release hung handlers before the shutdown.
    """
    servers: list[ThreadingHTTPServer] = []

    def start(handler: type[BaseHTTPRequestHandler]) -> int:
        server = _QuietHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        servers.append(server)
        return int(server.server_address[1])

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


class _StrongroomMain:
    """``strongroom``'s real entry point, ``main()`` with its error handling and exit codes, as CliRunner calls it."""

    name = "strongroom"

    def main(self, args: Sequence[str], prog_name: str | None = None, **_: Any) -> None:
        from strongroom.cli.common import reset_state
        from strongroom.cli.main import main

        reset_state()  # inside the runner's isolation: the consoles see this invocation's environment ($COLUMNS)
        main(list(args))


def invoke_cli(
    args: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path | None = None,
    stdin: str | bytes = b"",
) -> subprocess.CompletedProcess[str]:
    """Run ``strongroom ARGS`` in this process, as a subprocess with exactly ``env`` in ``cwd`` would run it.

    stdout and stderr are captured at the file descriptors, so a child started by ``strongroom run`` is captured
    too (its stdin is not ``stdin``: tests of what a child reads run ``strongroom`` as a real process). What one
    invocation leaves behind in this process is undone: the environment, the working directory, and the schema
    modules ``--schema`` imported (``sys.modules``, ``sys.path``).
    """
    from click.testing import CliRunner

    from strongroom.cli.common import reset_state

    overrides: dict[str, str | None] = {k: None for k in os.environ if k not in env}
    overrides.update(env)
    modules, path, where, argv = set(sys.modules), list(sys.path), Path.cwd(), sys.argv
    importlib.invalidate_caches()  # a schema module written by this test must be found
    sys.argv = ["strongroom", *args]
    try:
        if cwd is not None:
            os.chdir(cwd)
        result = CliRunner(capture="fd").invoke(
            _StrongroomMain(),  # type: ignore[arg-type]
            list(args),
            input=stdin,
            env=overrides,
            catch_exceptions=False,
            prog_name="strongroom",
        )
    finally:
        os.chdir(where)
        sys.argv = argv
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            module_file = getattr(sys.modules[name], "__file__", None) or ""
            if cwd is not None and module_file.startswith(str(cwd)):
                del sys.modules[name]
        reset_state()
    return subprocess.CompletedProcess(
        ["strongroom", *args],
        result.exit_code,
        result.stdout_bytes.decode(errors="replace"),
        result.stderr_bytes.decode(errors="replace"),
    )


@pytest.fixture
def cli_invoke() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``invoke_cli``: ``strongroom`` in-process (fixtures are how test modules reach it under importlib mode)."""
    return invoke_cli


_SIGNAL_FIELDS = ("State", "Threads", "SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt")


def describe_processes(pid: int) -> str:
    """Where a process and its descendants stand, thread by thread: state, wait channel and signal masks (pending,
    blocked, ignored, caught) from /proc. What a signal test prints when a process did not exit in time, so a rare
    hang says which process held the signal, and where."""
    lines: list[str] = []
    pending = [pid]
    while pending:
        current = pending.pop(0)
        root = Path(f"/proc/{current}")
        try:
            command = (root / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
            for task in sorted((root / "task").iterdir(), key=lambda t: int(t.name)):
                fields = dict(line.split(":", 1) for line in (task / "status").read_text().splitlines() if ":" in line)
                shown = " ".join(f"{name}={fields[name].strip()}" for name in _SIGNAL_FIELDS if name in fields)
                wchan = (task / "wchan").read_text().strip()
                lines.append(f"pid {current} tid {task.name} {shown} wchan={wchan} [{command}]")
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError as exc:
            lines.append(f"pid {current}: {exc.strerror}")
    return "\n".join(lines)


def communicate_or_describe(proc: subprocess.Popen[str], *, timeout: float) -> tuple[str, str]:
    """``proc.communicate(timeout=...)``; if it does not exit in time, fail with ``describe_processes``."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the process did not exit within {timeout} s:\n{describe_processes(proc.pid)}")


def finishes(call: Callable[[], T], *, within: float) -> T:
    """``call()``'s result (or its exception), once a ``threading.Event`` says it returned.

    For code that must not hang or wait out a library's default timeout of minutes: ``within`` is a bound far above
    what the call should take, so load on the machine cannot fail the test. What a test expects of the call's speed
    it asserts by counting (connections, requests, processes), not by measuring elapsed time.
    """
    done = threading.Event()
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append((True, call()))
        except BaseException as exc:
            outcome.append((False, exc))
        finally:
            done.set()

    threading.Thread(target=run, name="finishes", daemon=True).start()
    assert done.wait(within), f"did not finish within {within} s"
    ok, value = outcome[0]
    if not ok:
        raise value
    return value  # type: ignore[no-any-return]


def connections_received(listener: socket.socket) -> int:
    """How many connections a listening socket that never accepted any has received (accepts and closes them)."""
    listener.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = listener.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1
