"""A secrets directory: one file per secret, as Docker and Kubernetes mount them (``/run/secrets``).

The file is named after the environment variable (``DATABASE_URL``) or the field (``database_url``).
Files are re-read when the cache expires, so a rotated Kubernetes secret is picked up without a restart.
"""

from __future__ import annotations

import os
from pathlib import Path

from strongroom.config.sources import Found, SourceKey
from strongroom.errors import ConfigError

MAX_FILE_BYTES = 64 * 1024


class SecretsDirSource:
    dynamic = True
    environment_scoped = False

    def __init__(self, directory: str | Path = "/run/secrets") -> None:
        self.directory = Path(directory)

    @property
    def name(self) -> str:
        return f"secrets-dir:{self.directory}"

    def get(self, key: SourceKey) -> Found | None:
        if not self.directory.exists():
            return None
        if not self.directory.is_dir() or not os.access(self.directory, os.R_OK | os.X_OK):
            raise ConfigError(f"secrets directory {self.directory} is not a readable directory")
        for filename in (key.env, key.name):
            path = self.directory / filename
            if not path.is_file():
                continue
            try:
                with path.open("rb") as handle:
                    raw = handle.read(MAX_FILE_BYTES + 1)
                stat = path.stat()
            except OSError as exc:
                raise ConfigError(f"{path}: cannot be read ({exc.strerror})") from None
            if len(raw) > MAX_FILE_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
            try:
                value: str | None = raw.decode().rstrip("\r\n")
            except UnicodeDecodeError:
                value = None  # the decode error holds the file's bytes: raise outside the except block
            if value is None:
                raise ConfigError(f"{path}: not UTF-8 text")
            return Found(value, self.name, updated_at=stat.st_mtime)
        return None
