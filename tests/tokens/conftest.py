"""Fixtures for the service's credentials: an injected clock shared by the vault and the services."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa

from strongroom.store import engines
from strongroom.tokens import ApiKeys, TokenService
from strongroom.vault import Vault

ISSUER = "https://strongroom.test"
AUDIENCE = "https://api.strongroom.test"


class FakeClock:
    """A clock that moves only when told (it starts at the real time, so PyJWT's own checks agree with it)."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def open_service_vault(open_vault: Callable[..., Vault], clock: FakeClock) -> Callable[..., Vault]:
    """Open another vault on the same store and clock: another process, as far as caches go."""

    def _open(**options: object) -> Vault:
        options.setdefault("clock", clock)
        return open_vault(**options)

    return _open


@pytest.fixture
def vault(open_service_vault: Callable[..., Vault]) -> Vault:
    vault = open_service_vault()
    vault.create_tenant("acme")
    vault.create_tenant("globex")
    return vault


@pytest.fixture
def api_keys(vault: Vault, clock: FakeClock) -> ApiKeys:
    return ApiKeys(vault, clock=clock)


@pytest.fixture
def make_tokens(clock: FakeClock) -> Callable[..., TokenService]:
    def _make(vault: Vault, **options: object) -> TokenService:
        options.setdefault("issuer", ISSUER)
        return TokenService(vault, clock=clock, **options)  # type: ignore[arg-type]

    return _make


@pytest.fixture
def tokens(vault: Vault, make_tokens: Callable[..., TokenService]) -> TokenService:
    return make_tokens(vault)


@contextmanager
def count_statements(vault: Vault) -> Iterator[list[str]]:
    """Every SQL statement the vault's engine runs inside the block (the vault's own engine: a test may look)."""
    seen: list[str] = []

    def _note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = vault._store.engine
    sa.event.listen(engine, "before_cursor_execute", _note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", _note)


@pytest.fixture
def all_cells(store_url: str) -> Callable[[], list[str]]:
    """Every value of every row of every table of the test's store, as text (bytes as hex and latin-1)."""

    def _read() -> list[str]:
        engine = sa.create_engine(engines.normalise_url(store_url))
        try:
            meta = sa.MetaData()
            meta.reflect(engine)
            cells: list[str] = []
            with engine.connect() as conn:
                for table in meta.sorted_tables:
                    for row in conn.execute(sa.select(table)):
                        for value in row:
                            if isinstance(value, bytes | memoryview):
                                raw = bytes(value)
                                cells += [raw.hex(), raw.decode("latin-1")]
                            elif value is not None:
                                cells.append(str(value))
            return cells
        finally:
            engine.dispose()

    return _read
