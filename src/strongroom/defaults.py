"""Where strongroom looks when nothing is configured: environment variables and ``$STRONGROOM_HOME``."""

from __future__ import annotations

import os
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
    "URL_ENV",
    "actor",
    "checkpoint_interval",
    "checkpoint_sinks",
    "environment_name",
    "home_dir",
    "key_file",
    "rotation_interval",
    "store_url",
]
DEFAULT_HOME = ".strongroom"
DEFAULT_ENVIRONMENT = "dev"
DATABASE_FILE = "strongroom.db"
CHECKPOINT_SECONDS = 60.0


def home_dir() -> Path:
    return Path(os.environ.get(HOME_ENV) or DEFAULT_HOME)


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
    text = os.environ.get(AUDIT_CHECKPOINT_SECONDS_ENV)
    if not text:
        return CHECKPOINT_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 86400 * 7:
        raise InvalidInput(f"{AUDIT_CHECKPOINT_SECONDS_ENV}={text!r}: give seconds between checkpoints, e.g. 60")
    return seconds


ROTATION_SECONDS = 60.0


def rotation_interval() -> float:
    """Seconds between the service's rotation runs (``STRONGROOM_ROTATION_INTERVAL``; 0: no worker)."""
    text = os.environ.get(ROTATION_INTERVAL_ENV)
    if not text:
        return ROTATION_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86400:
        raise InvalidInput(f"{ROTATION_INTERVAL_ENV}={text[:20]!r}: give seconds between runs (0-86400), e.g. 60")
    return seconds
