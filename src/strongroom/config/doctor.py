"""``strongroom doctor``: repository hygiene for secrets.

Findings name files, fields and environments, never values. Values are compared across environments by
HMAC-SHA256 under a key made for this run and thrown away, so nothing comparable outlives the check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from strongroom.config.cache import LiveSecret
from strongroom.config.loader import load
from strongroom.config.schema import Settings
from strongroom.config.sources import Source
from strongroom.crypto.providers.local import MASTER_KEY_ENV
from strongroom.defaults import key_file
from strongroom.errors import ConfigError

HIGH, MEDIUM, INFO = "high", "medium", "info"
ENV_FILES = (".env", ".env.local")
STRONGROOM_ARTIFACTS = (".strongroom",)


@dataclass(frozen=True, slots=True)
class Finding:
    severity: str
    check: str
    message: str


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Fixed git subcommands; only the repository path varies.
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(root), *args],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


_TEMPLATES = (".env.example", ".env.sample", ".env.template", ".env.dist")


def _is_env_file(name: str) -> bool:
    return name in (".env", ".envrc") or (name.startswith(".env.") and name not in _TEMPLATES)


def repository_findings(start: Path) -> list[Finding]:
    top = _git(start, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return [Finding(INFO, "git", f"{start} is not inside a git repository: repository checks skipped")]
    root = Path(top.stdout.strip())
    tracked = set(_git(root, "ls-files", "-z").stdout.split("\0")) - {""}
    # Untracked files that no ignore rule covers: one `git add .` away from a commit.
    exposed = set(_git(root, "ls-files", "-z", "--others", "--exclude-standard").stdout.split("\0")) - {""}
    findings: list[Finding] = []
    for path in sorted(tracked):
        name = Path(path).name
        if _is_env_file(name):
            findings.append(
                Finding(
                    HIGH,
                    "env-file-tracked",
                    f"{path} is committed: remove it from git (git rm --cached) and rotate every value it held",
                )
            )
        if any(part in STRONGROOM_ARTIFACTS for part in Path(path).parts) or name.startswith("strongroom.db"):
            findings.append(
                Finding(
                    HIGH,
                    "strongroom-file-tracked",
                    f"{path} is committed: strongroom keys and databases never belong in git",
                )
            )
        elif _is_key_file(root / path):
            findings.append(Finding(HIGH, "key-file-tracked", f"{path} is a strongroom key file and is committed"))
    for path in sorted(exposed):
        parts = Path(path).parts
        if (
            _is_env_file(parts[-1])
            or any(part in STRONGROOM_ARTIFACTS for part in parts)
            or parts[-1].startswith("strongroom.db")
            or _is_key_file(root / path)
        ):
            findings.append(
                Finding(
                    HIGH,
                    "not-ignored",
                    f"{path} is not ignored by git: one `git add .` from being committed (add it to .gitignore)",
                )
            )
    return findings


def _is_key_file(path: Path) -> bool:
    """A strongroom key file, whatever it is named (by content; only small files are read)."""
    try:
        if path.stat().st_size > 64 * 1024:
            return False
        with path.open("rb") as handle:
            head = handle.read(64 * 1024)
    except OSError:
        return False
    if b'"strongroom_keyfile"' not in head:  # cheap test first: most files are not JSON at all
        return False
    try:
        document = json.loads(head)
    except ValueError:  # source code or docs that name the format, not a key file
        return False
    if not (isinstance(document, dict) and "strongroom_keyfile" in document and "key_id" in document):
        return False
    keys = document.get("keys")
    # A key file holds key material: an example with placeholders ("<base64 32 bytes>") documents the format.
    return isinstance(keys, dict) and any(_is_key_material(value) for value in keys.values())


def _is_key_material(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return len(base64.b64decode(value, validate=True)) >= 16
    except (binascii.Error, ValueError):
        return False


def schema_findings(schema: type[Settings], sources: list[Source] | None = None) -> list[Finding]:
    """Load every environment this machine holds a key for; report missing secrets, and values that are the
    same in two environments among those that come from per-environment sources (store, cloud managers)."""
    run_key = os.urandom(32)
    fingerprints: dict[str, dict[str, str]] = {}
    findings: list[Finding] = []
    for environment in schema.environments:
        if sources is None and not _has_key(environment):
            findings.append(
                Finding(INFO, "schema", f"[{environment}] skipped: no key for {environment} on this machine")
            )
            continue
        try:
            settings = load(schema, environment=environment, sources=sources)
        except ConfigError as exc:
            for problem in exc.problems or [str(exc)]:
                severity = HIGH if environment == "prod" else MEDIUM
                findings.append(Finding(severity, "schema", f"[{environment}] {problem}"))
            continue
        try:
            for name in schema.__fields__:
                value = getattr(settings, name)
                if isinstance(value, LiveSecret) and value.environment_scoped:
                    digest = hmac.new(run_key, value.reveal().encode(), hashlib.sha256).hexdigest()
                    fingerprints.setdefault(name, {})[environment] = digest
        finally:
            settings.close()
    for name, by_environment in sorted(fingerprints.items()):
        seen: dict[str, list[str]] = {}
        for environment, digest in by_environment.items():
            seen.setdefault(digest, []).append(environment)
        for environments in seen.values():
            if len(environments) > 1:
                findings.append(
                    Finding(
                        HIGH,
                        "shared-value",
                        f"{name} has the same value in "
                        f"{' and '.join(environments)}: give each environment its own credential",
                    )
                )
    return findings


def _has_key(environment: str) -> bool:
    return bool(os.environ.get(MASTER_KEY_ENV)) or key_file(environment).exists()
