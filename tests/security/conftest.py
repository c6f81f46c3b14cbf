"""Attacks on the running service, each written as the attacker would try it over HTTP.

The fixtures are the service suite's (``tests/server/conftest.py``): a real vault, tenants A and B with
full-scope keys and tokens, the operator's admin key, and a loopback upstream that records what it got.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_SERVER_CONFTEST = Path(__file__).resolve().parent.parent / "server" / "conftest.py"
_name = "_strongroom_server_fixtures"
if _name not in sys.modules:
    _spec = importlib.util.spec_from_file_location(_name, _SERVER_CONFTEST)
    assert _spec is not None
    assert _spec.loader is not None
    sys.modules[_name] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules[_name])

from _strongroom_server_fixtures import *  # noqa: E402, F403 -- the fixtures, registered for this folder
