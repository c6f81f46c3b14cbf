"""The composition root: settings in; a ready ``Vault``, the service on it, and the process-wide resets.

The CLI and the server are built here and nowhere else: ``open_vault`` (key provider, store, schema,
``Vault`` with its audit log and caches, through ``Vault.open``, which a library user calls directly),
``service_state`` (API keys, token service, broker, shares, the response redactor and the door's rate
limit on that vault) and ``build_app``. Nothing here runs at import time.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from strongroom import defaults
from strongroom.crypto.providers.local import MASTER_KEY_ENV, LocalKeyProvider, default_provider, key_file_lock
from strongroom.errors import KeyProviderError, StoreError, WrongKeyError
from strongroom.names import check_environment
from strongroom.vocabulary import KEK_ENV

if TYPE_CHECKING:
    from fastapi import FastAPI

    from strongroom.audit import AuditMode
    from strongroom.broker import Broker
    from strongroom.crypto.providers import KeyProvider
    from strongroom.server.app import ServiceState
    from strongroom.tokens import TokenService
    from strongroom.vault import Vault


@dataclass(frozen=True, slots=True)
class Settings:
    home: Path
    url: str
    environment: str
    actor: str

    @property
    def key_file(self) -> Path:
        return defaults.key_file(self.environment, self.home)


def settings_from_env(environment: str | None = None) -> Settings:
    home = defaults.home_dir()
    env = check_environment(environment) if environment is not None else defaults.environment_name()
    return Settings(home=home, url=defaults.store_url(home), environment=env, actor=defaults.actor())


def open_vault(
    settings: Settings,
    *,
    migrate: bool = False,
    key_provider: KeyProvider | None = None,
    audit_mode: AuditMode = "async",
) -> Vault:
    from strongroom.vault import Vault

    refuse_untrusted_home(settings)
    if not migrate and key_provider is None:
        refuse_missing_home(settings)
    provider = key_provider or default_provider(settings.key_file, settings.environment)
    return Vault.open(
        settings.url,
        key_provider=provider,
        environment=settings.environment,
        home=settings.home,
        migrate=migrate,
        actor=settings.actor,
        audit_mode=audit_mode,
    )


def refuse_untrusted_home(settings: Settings) -> None:
    """Refuse a home another user owns or may write to, however it was found (git refuses such a
    repository the same way): its key file could have been planted or swapped."""
    problem = defaults.home_problem(settings.home)
    if problem is not None:
        raise KeyProviderError(
            f"refusing the strongroom home:\n{problem}.\n"
            f"Fix: make it yours alone (chown, chmod 700 {settings.home}),\n"
            f"or set {defaults.HOME_ENV} to a home of your own."
        )


def refuse_missing_home(settings: Settings) -> None:
    """Before a command that needs an initialised home: refuse, creating nothing, when the key file or the
    SQLite database is missing, saying where strongroom looked and the fix. ``strongroom init`` is the fix only
    when neither exists: a new key cannot read an existing database (its key file must be restored)."""
    from strongroom.store.engines import sqlite_file

    database = sqlite_file(settings.url)
    keys_elsewhere = bool(os.environ.get(KEK_ENV) or os.environ.get(MASTER_KEY_ENV))
    database_missing = database is not None and not database.exists()
    if not keys_elsewhere and not settings.key_file.exists():
        if database_missing or (database is None and not _has_schema(settings.url)):
            raise KeyProviderError(
                f"no strongroom home found (no key file {settings.key_file}).\n"
                f"{defaults.home_searched()}\n"
                f"Fix: run `strongroom init` to create one, or set {defaults.HOME_ENV} to the\n"
                f"existing home (or {MASTER_KEY_ENV} to its key)."
            )
        raise KeyProviderError(missing_key_message(settings))
    if database_missing:
        variable = defaults.URL_ENV if os.environ.get(defaults.URL_ENV) else defaults.HOME_ENV
        raise StoreError(
            f"no database at {database}: the SQLite file does not exist.\n"
            f"Fix: check {variable} (a typo?), or run `strongroom init`\n"
            "to create a new database there."
        )


def missing_key_message(settings: Settings) -> str:
    """The key file of an existing database is missing: restore it (``init`` would make a new, wrong key)."""
    from strongroom.store.engines import safe_url

    return (
        "this database's key file is missing.\n"
        f"database: {safe_url(settings.url)}\n"
        f"key file: {settings.key_file} (environment {settings.environment!r})\n"
        f"{defaults.home_searched()}\n"
        f"Fix: restore that key file from your backup (or set {MASTER_KEY_ENV}).\n"
        "Do not run `strongroom init`: a new key cannot read this database."
    )


def _has_schema(url: str) -> bool:
    """Whether ``url`` holds a strongroom schema (a database that is somebody else's counts as one)."""
    from strongroom.store import Store

    store = Store(url)
    try:
        return store.schema_revision() is not None
    except StoreError:
        return True
    finally:
        store.close()


@dataclass(frozen=True, slots=True)
class InitResult:
    key_file: Path | None
    url: str
    revision: str
    gitignore: Path | None = None  # the .gitignore that ``.strongroom/`` was added to


def initialise(settings: Settings) -> InitResult:
    """Create ``$STRONGROOM_HOME`` (0700), the environment's key file (never overwritten), the schema, and the
    key's check value in the database (so a key file changed later under the same key id is refused)."""
    from strongroom.store import Store
    from strongroom.store.migrate import upgrade

    refuse_untrusted_home(settings)  # an existing home someone else may have made is not built upon
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path: Path | None = None
    kek_uri = os.environ.get(KEK_ENV) or ""
    new_key_file = _key_file_to_create(settings, kek_uri)
    if new_key_file is None:
        # keys given elsewhere (STRONGROOM_MASTER_KEY, an HSM, a KMS): validated before touching the database
        default_provider(settings.key_file, settings.environment)
    elif new_key_file.exists():
        found_above = not os.environ.get(defaults.HOME_ENV) and settings.home.is_absolute()
        raise KeyProviderError(
            f"key file {new_key_file} already exists; refusing to overwrite a key.\n"
            + (
                f"That home was found in a parent directory; for a separate one here,\n"
                f"set {defaults.HOME_ENV}=.strongroom and run `strongroom init` again."
                if found_above
                else "This home is initialised: nothing to do."
            )
        )
    store = Store(settings.url)
    try:
        store.schema_revision()  # refuses a database that is not strongroom's before any key is written
        if new_key_file is not None:
            LocalKeyProvider.create_file(new_key_file, settings.environment)
            key_path = new_key_file
        try:
            revision = upgrade(store)
            with open_vault(settings):  # stores the key's check value; a wrong key for this database fails here
                pass
        except WrongKeyError:
            if key_path is None:
                raise
            key_path.unlink(missing_ok=True)  # a new key for a database that has one: its file was lost
            raise KeyProviderError(missing_key_message(settings)) from None
        except BaseException:
            if key_path is not None:
                key_path.unlink(missing_ok=True)  # a key that protects nothing yet; let a retry start clean
            raise
    finally:
        store.close()
    return InitResult(key_file=key_path, url=settings.url, revision=revision, gitignore=ignore_home(settings.home))


GITIGNORE_LINE = ".strongroom/"


def ignore_home(home: Path) -> Path | None:
    """Add ``.strongroom/`` to the ``.gitignore`` beside ``home`` when ``home`` is the default ``.strongroom``
    inside a git work tree and no line there names it yet; the file changed, else ``None``."""
    if home.name != defaults.DEFAULT_HOME:
        return None
    directory = home.absolute().parent
    if not _in_git_work_tree(directory):
        return None
    gitignore = directory / ".gitignore"
    try:
        text = gitignore.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    names = {line.strip() for line in text.splitlines()}
    if names & {".strongroom", ".strongroom/", "/.strongroom", "/.strongroom/"} or _git_ignores(directory, home):
        return None
    with gitignore.open("a", encoding="utf-8") as handle:
        handle.write(("\n" if text and not text.endswith("\n") else "") + GITIGNORE_LINE + "\n")
    return gitignore


def _git_ignores(directory: Path, home: Path) -> bool:
    """Whether git already ignores ``home`` by a rule of its own (``.*``, a global excludes file)."""
    import shutil
    import subprocess

    git = shutil.which("git")
    if git is None:
        return False
    try:
        done = subprocess.run(  # noqa: S603 -- a fixed git subcommand; only the paths vary
            [git, "-C", str(directory), "check-ignore", "-q", f"{home.name}/"],
            capture_output=True,
            check=False,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _in_git_work_tree(directory: Path) -> bool:
    """Whether ``directory`` is inside a git work tree: a ``.git`` (directory, or file for a worktree) in it
    or a parent. Read from the file system: no git process, and no git needed."""
    return any((parent / ".git").exists() for parent in (directory, *directory.parents))


def _key_file_to_create(settings: Settings, kek_uri: str) -> Path | None:
    """The key file ``init`` creates: ``STRONGROOM_KEK=file:<path>`` or the default one; none when the keys are
    given elsewhere (``STRONGROOM_KEK`` of another scheme, or ``STRONGROOM_MASTER_KEY``)."""
    if kek_uri:
        if not kek_uri.startswith("file:"):
            return None
        return Path(kek_uri[len("file:") :]) if kek_uri != "file:" else settings.key_file
    return None if os.environ.get(MASTER_KEY_ENV) else settings.key_file


def upgrade_schema(settings: Settings) -> str:
    """Create or upgrade the schema at ``settings.url``; refuses a database that is not strongroom's."""
    from strongroom.store import Store
    from strongroom.store.migrate import upgrade

    store = Store(settings.url)
    try:
        return upgrade(store)
    finally:
        store.close()


@dataclass(frozen=True)
class RotationResult:
    key_id: str
    primary: int  # the provider's current version
    rewrapped: int
    root_version: int
    staged_only: bool = False


def key_provider_at(settings: Settings, uri: str) -> KeyProvider:
    """The key provider ``uri`` names (``STRONGROOM_KEK``'s syntax), for this settings' environment."""
    from strongroom.crypto.providers.uri import provider_from_uri

    return provider_from_uri(uri, environment=settings.environment, key_file=settings.key_file)


def rotate_kek(
    settings: Settings,
    *,
    add_version: bool,
    stage_only: bool = False,
    batch_size: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    on_wait: Callable[[Path], object] | None = None,
) -> RotationResult:
    """``add_version``: a new root key (under a new provider version when the provider can add one), promoted
    once staged, then every data key rewrapped under it in batches; otherwise only the rewrap (resuming an
    interrupted rotation). ``stage_only``: add the root key decrypt-only and stop (the next run promotes it).

    A key file's lock is held throughout (``on_wait(lock_path)`` if another rotation holds it), and the
    database's rotation lock inside it, so concurrent rotations run one after the other. The provider is
    checked against the database before it gains a version (a wrong key is refused first).
    """
    from strongroom.vault.key_lifecycle import DEFAULT_BATCH

    provider = default_provider(settings.key_file, settings.environment)
    path = provider.path if isinstance(provider, LocalKeyProvider) else None
    with key_file_lock(path, on_wait=on_wait) if path is not None else nullcontext():
        # Under the key file's lock: a concurrent rotation has finished (its version is in the file, its rewrap
        # committed) or has not begun; it waits for this one in turn.
        if isinstance(provider, LocalKeyProvider):
            provider.reload()
        with open_vault(settings, key_provider=provider) as vault:
            waiting = (lambda: on_wait(path or settings.key_file)) if on_wait is not None else None
            batch = batch_size or DEFAULT_BATCH
            if add_version:
                report = vault.keys.rotate(stage_only=stage_only, batch_size=batch, progress=progress, on_wait=waiting)
                root, rewrapped, staged = report.root_version, report.rewrapped, report.staged_only
            else:
                rewrapped = vault.keys.rewrap(batch_size=batch, progress=progress, on_wait=waiting)
                root, staged = vault.keys.status().primary or 0, False
    return RotationResult(provider.key_id, provider.current_version(), rewrapped, root, staged)


def service_state(
    vault: Vault,
    *,
    public_url: str = "http://127.0.0.1:8200",
    connectors_file: Path | None = None,
    broker: Broker | None = None,
    tokens: TokenService | None = None,
    rate_limit_storage: str | None = None,
    rotation_interval: float | None = None,
) -> ServiceState:
    """Everything the HTTP service runs on ``vault``: tokens issued for ``public_url``, the broker (with the
    connectors declared in ``connectors_file``), API keys, shares, rotation and the door's rate limit (counted in
    ``rate_limit_storage``, default ``$STRONGROOM_RATE_LIMIT_STORAGE`` or ``memory://``). ``broker``/``tokens``
    replace the defaults (tests hand in a broker with a loopback transport, a token service with a fixed
    clock). ``rotation_interval``: seconds between the rotation worker's runs (``None``: no worker, as in
    tests; ``strongroom serve`` passes ``$STRONGROOM_ROTATION_INTERVAL``, default 60)."""
    from strongroom.broker import Broker, load_connectors
    from strongroom.rotation import Rotations
    from strongroom.rotation.worker import RotationWorker
    from strongroom.server.app import ServiceState
    from strongroom.server.auth import DoorLimiter
    from strongroom.tokens import ApiKeys, TokenService
    from strongroom.tokens.shares import Shares

    declared = {c.name: c for c in load_connectors(connectors_file)} if connectors_file else {}
    rotations = Rotations(vault, clock=vault.clock)
    worker = RotationWorker(rotations, interval_seconds=rotation_interval) if rotation_interval else None
    return ServiceState(
        vault=vault,
        api_keys=ApiKeys(vault),
        tokens=tokens or TokenService(vault, issuer=public_url),
        broker=broker or Broker(vault),
        audience=public_url,
        public_url=public_url,
        shares=Shares(vault),
        declared_connectors=declared,
        door=DoorLimiter(storage=rate_limit_storage_url(rate_limit_storage)),
        rotations=rotations,
        rotation_worker=worker,
    )


def rate_limit_storage_url(given: str | None = None) -> str:
    """Where failed authentications are counted: ``given``, else ``$STRONGROOM_RATE_LIMIT_STORAGE``, else
    this process's memory. ``InvalidInput`` for a scheme other than ``memory://`` or ``redis(s)://``."""
    from strongroom.errors import InvalidInput
    from strongroom.vocabulary import RATE_LIMIT_STORAGE_ENV

    url = given or os.environ.get(RATE_LIMIT_STORAGE_ENV) or "memory://"
    if not url.startswith(("memory://", "redis://", "rediss://")):
        raise InvalidInput(
            f"{RATE_LIMIT_STORAGE_ENV}: use memory:// or redis://host:port/db, not {url.split(':')[0][:20]!r}"
        )
    return url


def build_app(
    vault: Vault,
    *,
    public_url: str = "http://127.0.0.1:8200",
    connectors_file: Path | None = None,
    broker: Broker | None = None,
    tokens: TokenService | None = None,
    close_vault: bool = False,
    rate_limit_storage: str | None = None,
    rotation_interval: float | None = None,
) -> FastAPI:
    """The FastAPI service on ``vault`` (``close_vault``: the app closes the vault when it shuts down;
    ``rotation_interval``: run the rotation worker, as ``service_state`` says)."""
    from strongroom.server import create_app

    state = service_state(
        vault,
        public_url=public_url,
        connectors_file=connectors_file,
        broker=broker,
        tokens=tokens,
        rate_limit_storage=rate_limit_storage,
        rotation_interval=rotation_interval,
    )
    return create_app(state, close_vault=close_vault)


def reset_process_state() -> None:
    """Put strongroom's process-wide state back as a fresh import has it, for tests and for applications
    that embed strongroom and reconfigure themselves: redaction uninstalled (logging filters,
    ``Logger.addHandler``, excepthooks) and its default redactor dropped; the values pinned by
    ``redact.register`` forgotten (values a live ``Secret`` carries stay masked); the pydantic-settings
    source's shared store closed. Vaults and apps the
    caller opened are theirs to close. The CLI resets its own state on every invocation."""
    import strongroom.redact
    from strongroom.live_values import LIVE

    strongroom.redact.uninstall()
    LIVE.clear()
    if "strongroom.config.pydantic" in sys.modules:  # never imported: nothing to close (and pydantic optional)
        from strongroom.config.pydantic import close_shared_store

        close_shared_store()
