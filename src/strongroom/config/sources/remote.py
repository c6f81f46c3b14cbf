"""What the network sources (AWS, Vault KV, GCP, Azure) share: optional SDK import, one-time setup, fail fast.

Each source keeps its own SDK calls, naming and error classification; this module holds only the
machinery that is the same in all of them. It imports no SDK, so ``import strongroom.config`` stays cheap.
"""

from __future__ import annotations

import importlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from strongroom.config.sources import SourceUnavailable
from strongroom.errors import ConfigError

DOWN_SECONDS = 10.0  # after a network failure, fail fast this long (a load of N fields waits once, not N times)


def import_optional(modules: Sequence[str], install_hint: str) -> list[Any]:
    """The ``modules``, imported in order; ``ConfigError(install_hint)`` when any of them is missing.

    importlib, not ``import``: the SDKs are optional extras and ship no (or partial) type hints.
    """
    imported: list[Any] = []
    missing = False
    try:
        for module in modules:
            imported.append(importlib.import_module(module))
    except ImportError:
        missing = True
    if missing:  # raised outside `except`, so the ImportError does not ride along as context
        raise ConfigError(install_hint)
    return imported


def failure(what: str, code: str, *, unavailable: bool) -> ConfigError:
    """The error to raise for ``what``: ``SourceUnavailable`` (lower sources are tried) or ``ConfigError``.

    Callers record ``code`` and ``unavailable`` inside ``except`` and raise this after leaving the block, so
    no SDK exception (which may hold a response body) is chained as the context.
    """
    return (SourceUnavailable if unavailable else ConfigError)(f"{what}: {code}")


def decode_utf8(data: bytes) -> str | None:
    """``data`` as UTF-8 text, or ``None``: the caller raises outside ``except``, as the error holds the bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class RemoteSource(ABC):
    """Base of the network sources: the client made once under a lock, and the "down" short circuit.

    A subclass implements ``_connect()`` and calls ``_check_down(what)`` before each request and
    ``_trip(code)`` when a request fails on the network.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self._errors: tuple[Any, ...] = ()  # the SDK's exception classes, in the order the subclass uses them
        self._down: tuple[float, str] | None = None  # (until, what failed), monotonic clock
        self._lock = threading.Lock()

    @abstractmethod
    def _connect(self) -> tuple[Any, tuple[Any, ...]]:
        """Import the SDK; return (the given client or a new one, the SDK's exception classes)."""

    def _setup(self) -> tuple[Any, tuple[Any, ...]]:
        with self._lock:
            if not self._errors or self._client is None:
                self._client, self._errors = self._connect()
            return self._client, self._errors

    def _check_down(self, what: str) -> None:
        """``SourceUnavailable`` without trying, while a network failure is less than ``DOWN_SECONDS`` old."""
        down = self._down
        if down is not None and time.monotonic() < down[0]:
            raise SourceUnavailable(f"{what}: not tried, {down[1]} less than {DOWN_SECONDS:.0f}s ago")

    def _trip(self, code: str) -> None:
        """Record a network failure: requests in the next ``DOWN_SECONDS`` fail fast, naming ``code``."""
        self._down = (time.monotonic() + DOWN_SECONDS, code)
