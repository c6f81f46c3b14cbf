"""Runners of the real ``strongroom`` command for the CLI tests: a fresh home, and one with tenant ``acme``."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.test_cli_commands import Cli

Invoke = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path, cli_invoke: Invoke) -> Cli:
    """A runner on a home that does not exist yet (default SQLite database inside it)."""
    return Cli(tmp_path / "home", tmp_path, cli_invoke)


@pytest.fixture
def ready(cli: Cli) -> Cli:
    """An initialised home with tenant ``acme``."""
    cli.ok("init")
    cli.ok("tenant", "create", "acme")
    return cli
