"""``strongroom doctor`` on real git repositories."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault

from ..conftest import invoke_cli  # noqa: TID252 -- pytest's importlib mode resolves the package

SCHEMA = """
from strongroom import Secret
from strongroom.config import Settings, secret

class App(Settings):
    database_url: Secret[str] = secret()
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.email=t@example.invalid", "-c", "user.name=t", *args],
        check=True,
        capture_output=True,
    )


def _doctor(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    base["STRONGROOM_HOME"] = str(repo / ".strongroom")
    return invoke_cli(["doctor", "--json", *args], env={**base, **(env or {})}, cwd=repo)


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
    (repo / ".strongroom" / "strongroom.db").write_bytes(b"")
    done = _doctor(repo)
    assert done.returncode == 1
    checks = {(f["severity"], f["check"]) for f in json.loads(done.stdout)}
    assert ("high", "env-file-tracked") in checks
    assert ("high", "not-ignored") in checks
    assert value not in done.stdout + done.stderr


def test_key_files_are_recognised_by_content_not_by_mention(tmp_path: Path) -> None:
    """A committed key file under any name is high; code and docs that name the key-file format are not."""
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text(".strongroom/\n")
    LocalKeyProvider.create_file(repo / "config" / "backup.json", "dev")
    (repo / "loader.py").write_text('FORMAT_FIELD = "strongroom_keyfile"  # the key file names its format\n')
    (repo / "notes.md").write_text('A key file starts with {"strongroom_keyfile": 1, ...}\n')
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "keys")
    done = _doctor(repo)
    assert done.returncode == 1
    flagged = [f["message"] for f in json.loads(done.stdout) if f["check"] == "key-file-tracked"]
    assert len(flagged) == 1
    assert "backup.json" in flagged[0]


def test_same_value_in_two_environments_is_found(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """With --schema, a store secret whose value is identical in dev and prod is reported, without the value."""
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text(".env\n.strongroom/\n__pycache__/\n")
    (repo / "schema.py").write_text(SCHEMA)
    value = make_canary("shared")
    home = repo / ".strongroom"
    url = f"sqlite:///{home / 'strongroom.db'}"
    for environment in ("dev", "preview", "prod"):
        keys = LocalKeyProvider.create_file(home / "keys" / f"{environment}.json", environment)
        with Vault.open(url, key_provider=keys, environment=environment) as vault:
            vault.create_tenant("_platform")
            unique = make_canary(environment)
            vault.put("_platform", "database_url", value if environment in ("dev", "prod") else unique, kind="platform")
    done = _doctor(repo, "--schema", "schema:App")
    assert done.returncode == 1, done.stderr
    findings = json.loads(done.stdout)
    shared = [f for f in findings if f["check"] == "shared-value"]
    assert len(shared) == 1
    assert "database_url" in shared[0]["message"]
    assert "dev and prod" in shared[0]["message"]
    assert value not in done.stdout + done.stderr


def test_env_values_are_not_cross_environment_findings(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """A value from the environment answers every environment alike, so it is not reported as shared;
    environments without a key here are skipped (info), not reported missing."""
    repo = _repo(tmp_path)
    (repo / ".gitignore").write_text(".strongroom/\n__pycache__/\n")
    (repo / "schema.py").write_text(SCHEMA)
    done = _doctor(repo, "--schema", "schema:App", env={"DATABASE_URL": make_canary("env")})
    findings = json.loads(done.stdout)
    assert [f for f in findings if f["check"] == "shared-value"] == []
    assert {f["severity"] for f in findings} <= {"info"}
    assert done.returncode == 0, done.stdout


def test_nested_and_untracked_env_files_are_found(tmp_path: Path) -> None:
    """An unignored services/api/.env, .env.production.local or .envrc anywhere is high; .env.example is fine."""
    repo = _repo(tmp_path)
    (repo / "services" / "api").mkdir(parents=True)
    for name in ("services/api/.env", ".env.production.local", ".envrc", ".env.example"):
        (repo / name).write_text("X=1\n")
    done = _doctor(repo)
    paths = " ".join(f["message"] for f in json.loads(done.stdout))
    assert "services/api/.env" in paths
    assert ".env.production.local" in paths
    assert ".envrc" in paths
    assert ".env.example" not in paths
    assert done.returncode == 1
