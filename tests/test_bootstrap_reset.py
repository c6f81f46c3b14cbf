"""``bootstrap.reset_process_state()``: strongroom's process-wide state back as a fresh import has it."""

from __future__ import annotations

import logging
import secrets
import sys
import threading

import strongroom.redact
from strongroom import Secret, bootstrap
from strongroom.live_values import LIVE
from strongroom.redact import RedactingFilter


def test_reset_undoes_redaction_and_forgets_every_noted_value() -> None:
    """After a reset no handler carries the filter, logging and the excepthooks are the originals, the
    default redactor is a new one, and a pinned value is no longer known to the process."""
    before = (logging.Logger.addHandler, sys.excepthook, threading.excepthook)
    handler = logging.NullHandler()
    logger = logging.getLogger("strongroom.test.reset")
    logger.addHandler(handler)
    canary = "canary-" + secrets.token_hex(16)
    try:
        installed = strongroom.redact.install()
        assert strongroom.redact.register(canary, "canary")
        assert strongroom.redact.redact(canary) != canary
        assert any(isinstance(f, RedactingFilter) for f in handler.filters)

        bootstrap.reset_process_state()

        assert (logging.Logger.addHandler, sys.excepthook, threading.excepthook) == before
        assert not any(isinstance(f, RedactingFilter) for f in handler.filters)
        assert strongroom.redact.default() is not installed.redactor
        assert canary not in {value for value, *_ in LIVE.snapshot()[1]}
        assert strongroom.redact.redact(canary) == canary
        bootstrap.reset_process_state()  # idempotent
    finally:
        logger.removeHandler(handler)
        strongroom.redact.uninstall()


def test_reset_keeps_masking_values_that_live_secrets_still_carry() -> None:
    """A reset must not open a leak: a value a live Secret carries (a config handle notes its value once)
    is still masked by a redactor made after the reset; a pinned value is not."""
    carried = "carried-" + secrets.token_hex(16)
    pinned = "pinned-" + secrets.token_hex(16)
    alive = Secret("db_password", carried)
    assert strongroom.redact.register(pinned, "pinned")
    try:
        bootstrap.reset_process_state()
        line = f"connecting with {carried} and {pinned}"
        masked = strongroom.redact.redact(line)
        assert carried not in masked
        assert pinned in masked
        assert alive.name == "db_password"  # alive until here
    finally:
        strongroom.redact.uninstall()
