"""Where strongroom looks when nothing is configured: environment variables and ``$STRONGROOM_HOME``."""

from __future__ import annotations

import os
from pathlib import Path

from strongroom.names import check_environment
from strongroom.vocabulary import ACTOR_ENV, ENVIRONMENT_ENV, HOME_ENV, URL_ENV

__all__ = [
    "ACTOR_ENV",
    "ENVIRONMENT_ENV",
    "HOME_ENV",
    "URL_ENV",
    "actor",
    "environment_name",
    "home_dir",
    "key_file",
    "store_url",
]
DEFAULT_HOME = ".strongroom"
DEFAULT_ENVIRONMENT = "dev"
DATABASE_FILE = "strongroom.db"


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
