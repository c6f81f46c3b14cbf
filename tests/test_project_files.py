"""What people look for before adopting a project: a license that matches the package metadata, a changelog,
a docs index that links every page, and a version the command prints."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import strongroom

ROOT = Path(__file__).resolve().parents[1]


def test_the_license_file_is_the_one_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    assert declared == "Apache-2.0"
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text


def test_the_docs_index_links_every_page_and_every_link_resolves() -> None:
    index = ROOT / "docs" / "index.md"
    links = set(re.findall(r"\]\(([^)#]+)\)", index.read_text()))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")} - {"index.md"}
    assert pages <= links, f"docs/index.md does not link {sorted(pages - links)}"
    for link in links:
        assert (index.parent / link).exists(), link
    assert "## Unreleased" in (ROOT / "CHANGELOG.md").read_text()


def test_strongroom_version_prints_the_package_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "strongroom.cli.main", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"strongroom {strongroom.__version__}"
