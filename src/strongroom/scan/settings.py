"""The scanner's project settings: ``[tool.strongroom.scan]`` in the nearest ``pyproject.toml``.

    [tool.strongroom.scan]
    exclude_paths = ["tests/fixtures/**", "*.min.js"]   # globs on the path relative to the project
    exclude_rules = ["generic-secret-assignment"]       # rule ids never reported
    max_file_bytes = 10485760                           # files found under a directory above this are skipped
    fail_on = "low"                                     # lowest severity that makes the exit code 1

Unknown keys and ill-typed values are refused by name, so a typo never silently widens a scan's blind spot.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from strongroom.errors import InvalidInput
from strongroom.rules.base import SEVERITIES

DEFAULT_MAX_FILE_BYTES = 10 * 1024 * 1024
# Lock files are full of integrity hashes: the generic assignment rule would only ever be noise there.
LOCK_FILES = ("*.lock", "package-lock.json", "npm-shrinkwrap.json", "pnpm-lock.yaml", "go.sum", "*.lock.json")
GENERIC_RULE = "generic-secret-assignment"


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A gitignore-like glob: ``**`` crosses directories, ``*`` does not; a glob without a slash matches at
    any depth, a leading slash anchors it at the project root, a trailing slash means a directory."""
    anchored = pattern.startswith("/")
    pattern = pattern.strip("/")
    parts = []
    for piece in re.split(r"(\*\*/?|\*|\?)", pattern):
        if piece in ("**", "**/"):
            parts.append(".*" if piece == "**" else "(?:.*/)?")
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    body = "".join(parts)
    prefix = "" if anchored or "/" in pattern else "(?:.*/)?"
    return re.compile(f"{prefix}{body}(?:/.*)?")


@dataclass(frozen=True)
class ScanSettings:
    exclude_paths: tuple[str, ...] = ()
    exclude_rules: frozenset[str] = frozenset()
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    fail_on: str = "low"
    source: Path | None = None  # the pyproject.toml they came from
    _globs: tuple[re.Pattern[str], ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_globs", tuple(_glob_regex(p) for p in self.exclude_paths))

    def excludes(self, relative_path: str) -> bool:
        return any(glob.fullmatch(relative_path) for glob in self._globs)

    def relative(self, path: Path, scanned_root: Path) -> str:
        """The path globs are matched against: relative to the project (where pyproject.toml is) when the
        file is inside it, so ``tests/fixtures/**`` means the same whichever directory is scanned."""
        if self.source is not None:
            try:
                return path.resolve().relative_to(self.source.parent).as_posix()
            except ValueError:
                pass
        return path.relative_to(scanned_root).as_posix() if path.is_relative_to(scanned_root) else path.as_posix()

    def rules_skipped_for(self, relative_path: str) -> frozenset[str]:
        """Rules not applied to this file: the excluded ones, plus the generic rule in lock files."""
        name = PurePosixPath(relative_path).name
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in LOCK_FILES):
            return self.exclude_rules | {GENERIC_RULE}
        return self.exclude_rules

    def fails(self, severity: str) -> bool:
        return SEVERITIES.index(severity) >= SEVERITIES.index(self.fail_on)


def find_pyproject(start: Path) -> Path | None:
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _strings(source: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(f"{source}: [tool.strongroom.scan] {key} must be a list of strings")
    return tuple(value)


def check_severity(value: object, where: str) -> str:
    if value not in SEVERITIES:
        raise InvalidInput(f"{where} must be one of {', '.join(SEVERITIES)}, not {value!r}")
    return str(value)


def load_settings(start: Path) -> ScanSettings:
    """Settings from the nearest pyproject.toml at or above ``start`` (defaults if there is none)."""
    source = find_pyproject(start)
    if source is None:
        return ScanSettings()
    try:
        document = tomllib.loads(source.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{source}: cannot read it as TOML ({exc})") from None
    table: Any = document
    for depth, level in enumerate(("tool", "strongroom", "scan"), 1):
        table = table.get(level, {})
        if not isinstance(table, dict):
            name = ".".join(("tool", "strongroom", "scan")[:depth])
            raise InvalidInput(f"{source}: [{name}] must be a table")
    known = {"exclude_paths", "exclude_rules", "max_file_bytes", "fail_on"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise InvalidInput(
            f"{source}: unknown key(s) in [tool.strongroom.scan]: {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    max_bytes = table.get("max_file_bytes", DEFAULT_MAX_FILE_BYTES)
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes <= 0:
        raise InvalidInput(f"{source}: [tool.strongroom.scan] max_file_bytes must be a positive integer")
    return ScanSettings(
        exclude_paths=_strings(source, "exclude_paths", table.get("exclude_paths", [])),
        exclude_rules=frozenset(_strings(source, "exclude_rules", table.get("exclude_rules", []))),
        max_file_bytes=max_bytes,
        fail_on=check_severity(table.get("fail_on", "low"), f"{source}: [tool.strongroom.scan] fail_on"),
        source=source,
    )
