"""Redaction: every known secret value and secret-shaped field masked in logs, tracebacks and outputs.

    import strongroom.redact
    strongroom.redact.install()          # every logging handler, now and later; uncaught exceptions

Values need no registration: every ``Secret`` loaded in this process (from the vault or the config layer)
is masked while it lives. ``register()`` adds values that never were a ``Secret``.

    structlog.configure(processors=[..., strongroom.redact.structlog_processor, renderer])
    sentry_sdk.init(dsn, before_send=strongroom.redact.sentry_before_send)
    sys.stdout = strongroom.redact.RedactingWriter(sys.stdout)
"""

from __future__ import annotations

from typing import Any, TextIO

from strongroom.live_values import Value
from strongroom.redact import integrations
from strongroom.redact.integrations import RedactingFilter, format_exception
from strongroom.redact.redactor import MASK, Redactor, encodings
from strongroom.secret import Secret

_default: Redactor | None = None


def default() -> Redactor:
    """The process-wide redactor (follows every live ``Secret``); made on first use."""
    global _default  # noqa: PLW0603 -- one per process, created lazily to keep `import strongroom` cheap
    if _default is None:
        _default = Redactor()
    return _default


def install(*, excepthook: bool = True) -> RedactingFilter:
    """Redact every log record on every handler (including handlers added later) and uncaught exceptions.

    Idempotent: calling it again changes nothing.
    """
    return integrations.install(default(), excepthook=excepthook)


def register(value: Value | Secret[Any], name: str | None = None) -> bool:
    """Mask ``value`` (and its encodings) everywhere from now on; False, with a warning, if too short."""
    return default().register(value, name)


def redact(text: str) -> str:
    return default().redact(text)


def redact_data(data: Any) -> Any:
    return default().redact_data(data)


def structlog_processor(logger: Any, method_name: str, event_dict: Any) -> Any:
    """A structlog processor with the process-wide redactor: the event dict, redacted as data."""
    return default().redact_data(dict(event_dict))


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's ``before_send`` with the process-wide redactor: the whole event, redacted as data."""
    redacted: dict[str, Any] = default().redact_data(event)
    return redacted


def RedactingWriter(target: TextIO, redactor: Redactor | None = None) -> integrations.RedactingWriter:  # noqa: N802
    """A text stream that writes ``target`` whole lines at a time, redacted (``strongroom run --redact``)."""
    return integrations.RedactingWriter(target, redactor or default())


__all__ = [
    "MASK",
    "RedactingFilter",
    "RedactingWriter",
    "Redactor",
    "default",
    "encodings",
    "format_exception",
    "install",
    "redact",
    "redact_data",
    "register",
    "sentry_before_send",
    "structlog_processor",
]
