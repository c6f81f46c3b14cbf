"""Redaction: every known secret value and secret-shaped field masked in logs, tracebacks and outputs.

    import strongroom.redact
    strongroom.redact.install()          # logging, stdout/stderr, warnings, uncaught exceptions, children

Values need no registration: every ``Secret`` loaded in this process (from the vault or the config layer)
is masked while it lives. ``register()`` adds values that never were a ``Secret``.

    structlog.configure(processors=[..., strongroom.redact.structlog_processor, renderer])
    sentry_sdk.init(dsn, before_send=strongroom.redact.sentry_before_send)
    sys.stdout = strongroom.redact.RedactingWriter(sys.stdout)
"""

from __future__ import annotations

import typing as _typing

from strongroom.redact import integrations
from strongroom.redact.integrations import RedactingFilter, format_exception
from strongroom.redact.redactor import MASK, Redactor, encodings

if _typing.TYPE_CHECKING:
    from collections.abc import MutableMapping
    from typing import Any, TextIO, TypeVar

    from strongroom.live_values import Value
    from strongroom.secret import Secret

    _K = TypeVar("_K")
    _V = TypeVar("_V")

_default: Redactor | None = None


def default() -> Redactor:
    """The process-wide redactor (follows every live ``Secret``); made on first use."""
    global _default  # noqa: PLW0603 -- one per process, created lazily to keep `import strongroom` cheap
    if _default is None:
        _default = Redactor()
    return _default


def install(
    *, excepthook: bool = True, streams: bool = True, warnings: bool = True, children: bool = True
) -> RedactingFilter:
    """Redact everything this process writes, from now on.

    Every log record on every handler (however attached); with ``excepthook``, uncaught exceptions
    (``sys``, ``threading``, unraisable); with ``streams``, ``sys.stdout`` and ``sys.stderr`` (``print``,
    tracebacks, their ``.buffer``); with ``warnings``, warnings; with ``children``, child Python
    processes (``strongroom.redact.startup``). Idempotent: calling it again changes nothing.
    """
    redactor = default()
    installed = integrations.install(redactor, excepthook=excepthook, streams=streams, warnings=warnings)
    if children:
        from strongroom.redact import startup

        startup.share(redactor)
    return installed


def uninstall() -> None:
    """Undo ``install()`` and drop the process-wide redactor (values pinned by ``register`` stay pinned):
    for tests, and for applications that reconfigure logging. Idempotent."""
    global _default  # noqa: PLW0603 -- the one process-wide redactor, reset
    from strongroom.redact import startup

    startup.unshare()
    integrations.uninstall()
    _default = None


def register(value: Value | Secret[str] | Secret[bytes], name: str | None = None) -> bool:
    """Mask ``value`` (and its encodings) everywhere from now on; False, with a warning, if too short."""
    return default().register(value, name)


def redact(text: str) -> str:
    """``text`` with every known value, secret-shaped field and provider credential masked."""
    return default().redact(text)


@_typing.overload
def redact_data(data: str) -> str: ...
@_typing.overload
def redact_data(data: bytes | bytearray) -> bytes: ...
@_typing.overload
def redact_data(data: Secret[str] | Secret[bytes]) -> str: ...
@_typing.overload
def redact_data(data: dict[_K, _V]) -> dict[_K, Any]: ...
@_typing.overload
def redact_data(data: list[_V]) -> list[Any]: ...
@_typing.overload
def redact_data(data: object) -> object: ...
def redact_data(data: object) -> object:
    """A redacted copy of ``data``: strings redacted, secret-named keys' values masked, structure kept.

    Typed by kind: a ``str`` stays ``str``, bytes become ``bytes``, a ``Secret`` becomes its mask, a dict
    keeps its keys' type (a value under a secret-named key becomes a mask, so values are ``Any``).
    """
    redacted: object = default().redact_data(data)
    return redacted


def structlog_processor(logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """A structlog processor with the process-wide redactor: the event dict, redacted as data."""
    redacted: dict[str, Any] = default().redact_data(dict(event_dict))
    return redacted


def sentry_before_send(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's ``before_send`` with the process-wide redactor: the whole event, redacted as data."""
    redacted: dict[str, Any] = default().redact_data(event)
    return redacted


def RedactingWriter(target: TextIO, redactor: Redactor | None = None) -> integrations.RedactingWriter:  # noqa: N802
    """A text stream that writes to ``target`` redacted, a line at a time; a known multi-line value (a PEM key)
    written in pieces is held until it is whole (``strongroom run --redact`` uses the same logic)."""
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
    "uninstall",
]
