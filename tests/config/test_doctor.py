"""``strongroom doctor`` on real git repositories."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

SCHEMA = """
from strongroom import Secret
from strongroom.config import Settings, secret

class App(Settings):
    database_url: Secret[str] = secret()
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
                   check=True, capture_output=True)


def _doctor(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    base["STRONGROOM_HOME"] = str(repo / ".strongroom")
    return subprocess.run([sys.executable, "-m", "strongroom.cli.main", "doctor", "--json", *args], cwd=repo,
                          env={**base, **(env or {})}, capture_output=True, text=True, timeout=60, check=False)


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    return repo


def test_clean_repository_has_no_findings(tmp_path: Path) -> None:
    """A repository that ignores .env and .strongroom passes with exit 0."""
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text(".env\n.env.local\n.strongroom/\n")
    (repo / ".env").write_text("X=1\n")
    _git(repo, "add", ".gitignore")
    _git(repo, "commit", "-qm", "init")
    done = _doctor(repo)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_committed_env_file_and_unignored_home_are_high(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """A committed .env and an unignored .strongroom are high-severity findings (exit 1), naming files only."""
    repo = _repo(tmp_path)
    value = make_canary("db")
    (repo / ".env").write_text(f"DATABASE_URL={value}\n")
    _git(repo, "add", ".env")
    _git(repo, "commit", "-qm", "oops")
    (repo / ".strongroom").mkdir()
    done = _doctor(repo)
    assert done.returncode == 1
    checks = {(f["severity"], f["check"]) for f in json.loads(done.stdout)}
    assert ("high", "env-file-tracked") in checks
    assert ("high", "not-ignored") in checks
    assert value not in done.stdout + done.stderr


def test_same_value_in_two_environments_is_found(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """With --schema, a secret whose value is identical in dev and prod is reported, without the value."""
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text(".env\n.strongroom/\n__pycache__/\n")
    (repo / "schema.py").write_text(SCHEMA)
    value = make_canary("shared")
    done = _doctor(repo, "--schema", "schema:App", env={"DATABASE_URL": value})
    assert done.returncode == 1
    findings = json.loads(done.stdout)
    shared = [f for f in findings if f["check"] == "shared-value"]
    assert len(shared) == 1
    assert "database_url" in shared[0]["message"]
    assert value not in done.stdout + done.stderr
