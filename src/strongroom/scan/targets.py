"""What to scan: the files under paths, in git's view (respecting .gitignore) inside a repository."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BINARY_SNIFF_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


def _git_files(root: Path) -> list[Path] | None:
    try:
        done = subprocess.run(  # noqa: S603
            [  # noqa: S607
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return [root / name for name in done.stdout.decode("utf-8", "surrogateescape").split("\0") if name]


def iter_files(paths: list[Path]) -> Iterator[Path]:
    """Files under ``paths``: git's view (tracked plus untracked-not-ignored) where there is one."""
    for path in paths:
        if path.is_file():
            yield path
            continue
        listed = _git_files(path)
        if listed is not None:
            yield from (p for p in listed if p.is_file() and not p.is_symlink())
            continue
        for directory, subdirs, files in os.walk(path, followlinks=False):
            subdirs[:] = [d for d in subdirs if d not in (".git", ".venv", "node_modules", "__pycache__")]
            for name in files:
                candidate = Path(directory) / name
                if not candidate.is_symlink():
                    yield candidate
