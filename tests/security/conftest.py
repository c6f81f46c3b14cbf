"""Attacks on the running service, each written as the attacker would try it over HTTP.

The fixtures are the service suite's (``tests/server/conftest.py``): a real vault, tenants A and B with
full-scope keys and tokens, the operator's admin key, and a loopback upstream that records what it got.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent


def _load(name: str, path: Path) -> None:
    """Import ``path`` as module ``name`` once (the suite imports in importlib mode: no package imports)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        sys.modules[name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[name])


_load("_strongroom_server_fixtures", _HERE.parent / "server" / "conftest.py")
_load("_strongroom_real_server", _HERE / "_real_server.py")  # `strongroom serve` as a subprocess

from _strongroom_server_fixtures import *  # noqa: E402, F403 -- the fixtures, registered for this folder
