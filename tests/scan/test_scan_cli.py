"""``strongroom scan`` through the real CLI: files (respecting .gitignore), stdin, JSON, exit codes."""

from __future__ import annotations

import json
import random
import string
import subprocess
import sys
from pathlib import Path

from strongroom.rules import RULES


def _stripe_like_key(seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    body = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))
    return "sk_" + "live_" + body  # assembled at run time: nothing credential-shaped is committed


def _scan(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "strongroom.cli.main", "scan", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_rule_set_is_large_and_ids_are_unique() -> None:
    """The shared rule set holds well over a hundred provider rules with unique ids."""
    ids = [rule.id for rule in RULES]
    assert len(ids) >= 140
    assert len(set(ids)) == len(ids)


def test_finds_a_planted_key_and_masks_it(tmp_path: Path) -> None:
    """A key planted in a file is found (exit 1) with file and line, and the key is in no output."""
    key = _stripe_like_key(1)
    (tmp_path / "settings.py").write_text(f"DEBUG = True\nSTRIPE = '{key}'\n")
    done = _scan(tmp_path, ".", "--json")
    assert done.returncode == 1, done.stderr
    [finding] = json.loads(done.stdout)["findings"]
    assert finding["rule_id"] == "stripe-live-secret-key"
    assert finding["line"] == 2
    table = _scan(tmp_path, ".")
    assert "stripe-live-secret-key" in table.stdout
    assert key not in done.stdout + done.stderr + table.stdout + table.stderr


def test_clean_tree_exits_zero_and_gitignored_files_are_skipped(tmp_path: Path) -> None:
    """In a git repository an ignored file holding a key is not scanned; a clean tree exits 0."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("local.env\n")
    (tmp_path / "local.env").write_text(f"STRIPE={_stripe_like_key(2)}\n")
    (tmp_path / "app.py").write_text("print('hello')\n")
    done = _scan(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no secrets found" in done.stdout


def test_stdin_and_binary_files(tmp_path: Path) -> None:
    """--stdin scans piped text; binary files are skipped rather than misread."""
    key = _stripe_like_key(3)
    done = _scan(tmp_path, "--stdin", "--json", stdin=f"log: charging with {key}\n")
    assert done.returncode == 1
    assert json.loads(done.stdout)["findings"][0]["path"] == "<stdin>"
    (tmp_path / "blob.bin").write_bytes(b"\0\1\2" + key.encode())
    assert _scan(tmp_path, str(tmp_path / "blob.bin")).returncode == 0


def test_allow_comment(tmp_path: Path) -> None:
    """A line marked `strongroom:allow` is not reported."""
    (tmp_path / "doc.md").write_text(f"example: {_stripe_like_key(4)}  <!-- strongroom:allow -->\n")
    assert _scan(tmp_path, ".").returncode == 0


def test_list_rules_names_every_rule_and_scans_nothing(tmp_path: Path) -> None:
    """``--list-rules --json`` lists every rule with how it is recognised, and reads no file."""
    (tmp_path / "leak.env").write_text(f"STRIPE_KEY={_stripe_like_key(3)}\n")
    done = _scan(tmp_path, "--list-rules", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)["rules"]
    assert [r["id"] for r in listed] == [rule.id for rule in RULES]
    assert all(r["description"] and r["severity"] and r["keywords"] for r in listed)
    assert "findings" not in done.stdout


def test_the_cli_loads_no_store_or_web_framework_for_a_scan() -> None:
    """``strongroom scan`` is a pre-commit hook: loading the CLI must not pull in SQLAlchemy or FastAPI."""
    code = "import sys, strongroom.cli.main; print(sorted(m for m in ('sqlalchemy', 'fastapi') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_scanning_docs_list_every_rule() -> None:
    """docs/scanning.md's coverage list names every rule, so the documented coverage is the real one."""
    docs = (Path(__file__).parents[2] / "docs" / "scanning.md").read_text(encoding="utf-8")
    missing = [rule.id for rule in RULES if f"`{rule.id}`" not in docs]
    assert not missing, f"add to docs/scanning.md's coverage list: {missing}"
