"""The rotation worker inside ``strongroom serve``: ``Rotations.run_due()`` every interval, in a thread.

Every instance of the service may run one: each secret is rotated by the instance that holds its database
lock, and the others skip it (``engine``), so running several is safe and one dying mid-rotation leaves a
rotation the next run of any instance resumes. The interval is jittered (between half and all of it) so a
fleet started together does not query the store in step. ``STRONGROOM_ROTATION_INTERVAL`` sets it (seconds,
default 60; 0 turns the worker off).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable

from strongroom.errors import StrongroomError
from strongroom.rotation.engine import RotationResult, Rotations

__all__ = ["RotationWorker"]

log = logging.getLogger("strongroom.rotation")


class RotationWorker:
    """Runs due rotations in a background thread until ``stop()``."""

    def __init__(
        self,
        rotations: Rotations,
        *,
        interval_seconds: float = 60.0,
        on_run: Callable[[list[RotationResult]], object] | None = None,
    ) -> None:
        self._rotations = rotations
        self._interval = interval_seconds
        self._on_run = on_run
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> list[RotationResult]:
        """One pass: every due rotation. A store that is down is logged and tried again next interval."""
        try:
            results = self._rotations.run_due()
        except StrongroomError as exc:
            log.error("rotation worker: %s", exc)
            results = []
        if self._on_run is not None:
            self._on_run(results)
        return results

    def start(self) -> None:
        if self._thread is not None or self._interval <= 0:
            return
        self._thread = threading.Thread(target=self._loop, name="strongroom-rotation", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop after the rotation in progress (a rotation is never cut off by shutdown, only by a kill)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            wait = self._interval * random.uniform(0.5, 1.0)  # noqa: S311 -- spreading load, not a secret
            self._stop.wait(wait)
