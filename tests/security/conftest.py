"""Attacks on the running service, each written as the attacker would try it over HTTP.

The fixtures are the service suite's (``tests/server/conftest.py``): a real vault, tenants A and B with
full-scope keys and tokens, the operator's admin key, and a loopback upstream that records what it got.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from strongroom.broker import Broker
from strongroom.vault import Vault

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
from _strongroom_server_fixtures import Service, Upstream, build_service  # noqa: E402


class ToLoopback(httpx.AsyncBaseTransport):
    """Sends every request, whatever its host, to the test's loopback listener (path and query kept): what
    the broker sends "to attacker.example" is recorded there."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(scheme="http", host="127.0.0.1", port=self._port)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


PUBLIC_ADDRESS = "93.184.215.14"  # what every host resolves to here: public, so the SSRF guard lets it by


async def _public(host: str) -> list[str]:
    return [PUBLIC_ADDRESS]


@pytest.fixture
def any_host_service(sqlite_vault: Vault, upstream: Upstream, connectors_file: Path) -> Iterator[Service]:
    """The service, with tenants A and B, whose broker reaches "any host" at the loopback upstream: an
    exfiltration target the test owns."""
    broker = Broker(sqlite_vault, transport=ToLoopback(upstream.port), resolve=_public)
    yield from build_service(sqlite_vault, upstream, connectors_file, broker=broker)
