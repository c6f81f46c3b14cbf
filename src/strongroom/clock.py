"""Time as an injected dependency: every component takes a ``clock`` so tests never patch time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""A zero-argument callable returning seconds since the epoch (``time.time`` by default)."""


def system_clock() -> float:
    return time.time()


def iso(seconds: float | None) -> str | None:
    """Seconds since the epoch as an ISO-8601 UTC string (``None`` stays ``None``)."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def from_iso(text: str) -> float:
    """ISO-8601 text as seconds since the epoch, UTC unless it names a zone; ``ValueError`` if not ISO-8601."""
    when = datetime.fromisoformat(text.strip())
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
