"""Where strongroom looks when nothing is configured: environment variables and ``$STRONGROOM_HOME``."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from strongroom.errors import InvalidInput
from strongroom.names import check_environment
from strongroom.vocabulary import (
    ACTOR_ENV,
    AUDIT_CHECKPOINT_SECONDS_ENV,
    AUDIT_CHECKPOINTS_ENV,
    ENVIRONMENT_ENV,
    HOME_ENV,
    ROTATION_INTERVAL_ENV,
    URL_ENV,
)

__all__ = [
    "ACTOR_ENV",
    "ENVIRONMENT_ENV",
    "HOME_ENV",
    "REWRAP_BATCH",
    "URL_ENV",
    "actor",
    "checkpoint_interval",
    "checkpoint_sinks",
    "environment_name",
    "find_home",
    "home_dir",
    "home_problem",
    "home_searched",
    "key_file",
    "rotation_interval",
    "store_url",
]
DEFAULT_HOME = ".strongroom"
DEFAULT_ENVIRONMENT = "dev"
DATABASE_FILE = "strongroom.db"
CHECKPOINT_SECONDS = 60.0
REWRAP_BATCH = 5000
"""Data keys a rewrap writes per transaction (docs/benchmarks.md, "Re-keying": the batch size against the rate)."""


def home_dir() -> Path:
    """``$STRONGROOM_HOME`` when set (a relative one is relative to the working directory); else the nearest
    existing ``.strongroom`` in the working directory or a parent (as git finds ``.git``), so a command run
    from a subdirectory uses the project's home rather than making a second, empty one; else ``.strongroom``
    here (what ``strongroom init`` creates)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return Path(configured)
    return find_home() or Path(DEFAULT_HOME)


def find_home(start: Path | None = None) -> Path | None:
    """The nearest existing ``.strongroom`` directory in ``start`` (default: the working directory) or one of
    its parents: ``.strongroom`` itself when it is in the working directory, else its absolute path."""
    try:
        here = Path.cwd() if start is None else start
        here = here.absolute()
    except OSError:  # the working directory was removed
        return None
    for directory in (here, *here.parents):
        candidate = directory / DEFAULT_HOME
        if candidate.is_dir() and trusted_home(candidate):
            return Path(DEFAULT_HOME) if start is None and directory == here else candidate
    return None


def trusted_home(path: Path) -> bool:
    """Whether a ``.strongroom`` found on the way up may be used: a real directory (not a link) for which
    ``home_problem`` finds nothing. Another user able to write to a parent (``/tmp``, a shared ``/srv``) could
    otherwise plant one and be handed our admin key and database (git passes over such a ``.git`` too)."""
    try:
        status = path.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(status.st_mode) and home_problem(path) is None


def home_problem(path: Path) -> str | None:
    """Why an existing home must not be used, or ``None``: it is another user's, or others may write to it.
    Whoever can write there can swap its key file for one they hold, and read every value written after."""
    try:
        status = path.stat()
    except OSError:
        return None  # not there (yet): init makes it, mode 0700
    if status.st_uid != os.geteuid():
        return f"{path} belongs to another user (uid {status.st_uid})"
    if status.st_mode & 0o022:
        return f"{path} is writable by others (mode {stat.S_IMODE(status.st_mode):o})"
    return None


def home_searched() -> str:
    """Where ``home_dir`` looked, for messages (lines that fit 80 columns but for a long path)."""
    configured = os.environ.get(HOME_ENV)
    if configured:
        return f"Looked in {HOME_ENV}={configured}."
    try:
        here = str(Path.cwd())
    except OSError:
        here = "the working directory"
    return f"Looked for {DEFAULT_HOME} in {here}\nand its parents ({HOME_ENV} is unset)."


def environment_name() -> str:
    return check_environment(os.environ.get(ENVIRONMENT_ENV) or DEFAULT_ENVIRONMENT)


def store_url(home: Path | None = None) -> str:
    url = os.environ.get(URL_ENV)
    if url:
        return url
    return f"sqlite:///{(home or home_dir()) / DATABASE_FILE}"


def key_file(environment: str, home: Path | None = None) -> Path:
    """Each environment has its own key file, so a dev machine never holds the prod key."""
    return (home or home_dir()) / "keys" / f"{environment}.json"


def actor() -> str:
    if os.environ.get(ACTOR_ENV):
        return os.environ[ACTOR_ENV]
    try:
        return "local:" + os.getlogin()
    except OSError:
        return f"local:uid{os.getuid()}"


def checkpoint_sinks(environment: str, home: Path | None = None) -> str:
    """Where audit checkpoints go: ``STRONGROOM_AUDIT_CHECKPOINTS``, else, when the home exists (``strongroom
    init`` made it), a file of the environment's under ``$STRONGROOM_HOME/audit/`` (outside the database;
    docs/crypto.md, section 8a, says how to anchor them further); else nowhere (``off``)."""
    configured = os.environ.get(AUDIT_CHECKPOINTS_ENV)
    if configured:
        return configured
    home = home or home_dir()
    if not home.is_dir():
        return "off"
    return f"file:{home / 'audit' / f'{environment}-checkpoints.jsonl'}"


def checkpoint_interval() -> float:
    """Seconds between signed audit checkpoints (``STRONGROOM_AUDIT_CHECKPOINT_SECONDS``)."""
    return _seconds(AUDIT_CHECKPOINT_SECONDS_ENV, CHECKPOINT_SECONDS, "between checkpoints", low=0.0, high=86400 * 7)


ROTATION_SECONDS = 60.0


def rotation_interval() -> float:
    """Seconds between the service's rotation runs (``STRONGROOM_ROTATION_INTERVAL``; 0: no worker)."""
    return _seconds(ROTATION_INTERVAL_ENV, ROTATION_SECONDS, "between runs (0 for none)", low=None, high=86400)


def _seconds(variable: str, default: float, what: str, *, low: float | None, high: float) -> float:
    """A number of seconds from ``variable``: above ``low`` (``None``: zero or more) and at most ``high``."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    floor_ok = seconds >= 0 if low is None else seconds > low
    if not floor_ok or seconds > high:
        raise InvalidInput(f"{variable}={text[:20]!r}: give seconds {what}, e.g. {default:g}")
    return seconds
