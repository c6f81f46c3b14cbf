"""``strongroom doctor``: repository hygiene for secrets.

Findings name files, fields and environments, never values. Values are compared across environments by
HMAC-SHA256 under a key made for this run and thrown away, so nothing comparable outlives the check.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from strongroom.config.cache import LiveSecret
from strongroom.config.loader import load
from strongroom.config.schema import Settings
from strongroom.config.sources import Source
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
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False,  # noqa: S603, S607
                          timeout=30)


def repository_findings(start: Path) -> list[Finding]:
    top = _git(start, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        return [Finding(INFO, "git", f"{start} is not inside a git repository: repository checks skipped")]
    root = Path(top.stdout.strip())
    tracked = set(_git(root, "ls-files", "-z").stdout.split("\0")) - {""}
    findings: list[Finding] = []
    for path in sorted(tracked):
        name = Path(path).name
        if name in ENV_FILES or (name.startswith(".env.") and name not in (".env.example", ".env.sample",
                                                                             ".env.template")):
            findings.append(Finding(HIGH, "env-file-tracked", f"{path} is committed: remove it from git "
                                    "(git rm --cached) and rotate every value it held"))
        if any(part in STRONGROOM_ARTIFACTS for part in Path(path).parts) or name.startswith("strongroom.db"):
            findings.append(Finding(HIGH, "strongroom-file-tracked",
                                    f"{path} is committed: strongroom keys and databases never belong in git"))
        elif name.endswith(".json") and _is_key_file(root / path):
            findings.append(Finding(HIGH, "key-file-tracked", f"{path} is a strongroom key file and is committed"))
    for name in (*ENV_FILES, *STRONGROOM_ARTIFACTS):
        candidate = root / name
        if candidate.exists() and name not in tracked and _git(root, "check-ignore", "-q", name).returncode != 0:
            findings.append(Finding(HIGH, "not-ignored", f"{name} exists and is not in .gitignore: one `git add .` "
                                    "from being committed"))
    return findings


def _is_key_file(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return b'"strongroom_keyfile"' in handle.read(4096)
    except OSError:
        return False


def schema_findings(schema: type[Settings], sources: list[Source] | None = None) -> list[Finding]:
    """Load every environment this machine can; report missing secrets and values shared across environments."""
    run_key = os.urandom(32)
    fingerprints: dict[str, dict[str, str]] = {}
    findings: list[Finding] = []
    for environment in schema.environments:
        try:
            settings = load(schema, environment=environment, sources=sources)
        except ConfigError as exc:
            for problem in exc.problems or [str(exc)]:
                severity = HIGH if environment == "prod" else MEDIUM
                findings.append(Finding(severity, "schema", f"[{environment}] {problem}"))
            continue
        for name in schema.__fields__:
            value = getattr(settings, name)
            if isinstance(value, LiveSecret):
                digest = hmac.new(run_key, value.reveal().encode(), hashlib.sha256).hexdigest()
                fingerprints.setdefault(name, {})[environment] = digest
    for name, by_environment in sorted(fingerprints.items()):
        seen: dict[str, list[str]] = {}
        for environment, digest in by_environment.items():
            seen.setdefault(digest, []).append(environment)
        for environments in seen.values():
            if len(environments) > 1:
                findings.append(Finding(HIGH, "shared-value", f"{name} has the same value in "
                                        f"{' and '.join(environments)}: give each environment its own credential"))
    return findings
