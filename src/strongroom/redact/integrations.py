"""Where redaction plugs in: stdlib logging, structlog, tracebacks, Sentry, uvicorn and text streams.

Each is one line to install. ``install()`` does the ones that need no third-party package: a filter on
every logging handler (those that exist and those added later), and ``sys.excepthook`` /
``threading.excepthook`` for uncaught exceptions.
"""

from __future__ import annotations

import io
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import Any, TextIO

from strongroom.redact.redactor import Redactor

# LogRecord attributes that logging itself sets; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_DONE = "_strongroom_redacted"
# Loggers whose formatters read `record.args` themselves (uvicorn's access formatter unpacks a 5-tuple):
# their arguments are redacted one by one and kept, instead of being merged into the message.
KEEP_ARGS_LOGGERS = frozenset({"uvicorn.access"})


class RedactingFilter(logging.Filter):
    """Masks a record's message, arguments, ``extra`` fields, exception text and stack before any handler
    formats it. Runs once per record, however many handlers carry it."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__("strongroom.redact")
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DONE, False):
            return True
        redact = self.redactor
        if record.name in KEEP_ARGS_LOGGERS and isinstance(record.args, tuple):
            record.args = tuple(redact.redact(arg) if isinstance(arg, str) else arg for arg in record.args)
            if isinstance(record.msg, str):
                record.msg = redact.redact(record.msg)
        else:
            try:
                message = record.getMessage()
            except Exception:  # a broken %-format is logging's to report; mask what we have
                message = f"{record.msg!s} {record.args!r}"
            record.msg, record.args = redact.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact.redact(_format_exception(*record.exc_info))
        elif record.exc_text:
            record.exc_text = redact.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact.redact(record.stack_info)
        for key in record.__dict__.keys() - _RECORD_ATTRIBUTES:  # the `extra=` fields, found in C
            if not key.startswith("_"):
                record.__dict__[key] = redact.redact_data({key: record.__dict__[key]})[key]
        setattr(record, _DONE, True)
        return True


def _format_exception(kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> str:
    return "".join(traceback.format_exception(kind, value, tb)).rstrip("\n")


def format_exception(exc: BaseException, redactor: Redactor, *, with_locals: bool = False) -> str:
    """A traceback as text, redacted; ``with_locals`` adds each frame's local variables (their reprs
    redacted too, and a ``Secret`` shows only its mask)."""
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=with_locals)
    return redactor.redact("".join(rendered.format()))


class _State:
    filter: RedactingFilter | None = None
    original_add_handler: Callable[..., None] | None = None
    original_excepthooks: tuple[Any, Any] | None = None


def _attach(handler: logging.Handler, filter_: RedactingFilter) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(filter_)


def _every_logger() -> list[logging.Logger]:
    loggers = [logging.getLogger()]
    loggers += [item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    return loggers


def install(redactor: Redactor, *, excepthook: bool = True) -> RedactingFilter:
    """Put the redacting filter on every handler of every logger, now and for handlers added later.

    Idempotent. Handlers added later are covered by wrapping ``logging.Logger.addHandler`` once, which is
    how uvicorn's access and error handlers (configured by ``dictConfig`` at start-up) are reached too.
    """
    if _State.filter is None:
        _State.filter = RedactingFilter(redactor)
    filter_ = _State.filter
    filter_.redactor = redactor
    for logger in _every_logger():
        for handler in logger.handlers:
            _attach(handler, filter_)
    if logging.lastResort is not None:  # what logging uses when no handler is configured at all
        _attach(logging.lastResort, filter_)
    if _State.original_add_handler is None:
        original = logging.Logger.addHandler
        _State.original_add_handler = original

        def add_handler(self: logging.Logger, handler: logging.Handler) -> None:
            original(self, handler)
            if _State.filter is not None:
                _attach(handler, _State.filter)

        logging.Logger.addHandler = add_handler  # type: ignore[method-assign,assignment]
    if excepthook:
        _install_excepthooks(redactor)
    return filter_


def uninstall() -> None:
    """Undo ``install()``: the filter comes off every handler; ``Logger.addHandler`` and the excepthooks are
    what they were before. For tests, and for applications that reconfigure logging; idempotent."""
    if _State.original_add_handler is not None:
        logging.Logger.addHandler = _State.original_add_handler  # type: ignore[method-assign]
    if _State.original_excepthooks is not None:
        sys.excepthook, threading.excepthook = _State.original_excepthooks
    handlers = [handler for logger in _every_logger() for handler in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        for filter_ in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(filter_)
    _State.filter = _State.original_add_handler = _State.original_excepthooks = None


def _install_excepthooks(redactor: Redactor) -> None:
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        sys.stderr.write(redactor.redact(_format_exception(kind, value, tb)) + "\n")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        if args.exc_type is SystemExit:
            return
        text = _format_exception(args.exc_type, args.exc_value, args.exc_traceback)
        sys.stderr.write(f"Exception in thread {name}:\n" + redactor.redact(text) + "\n")

    if _State.original_excepthooks is None:
        _State.original_excepthooks = (sys.excepthook, threading.excepthook)
    sys.excepthook = hook
    threading.excepthook = thread_hook


def structlog_processor(redactor: Redactor) -> Callable[[Any, str, MutableMapping[str, Any]], Mapping[str, Any]]:
    """A structlog processor: put it last but one (before the renderer) in ``processors``."""

    def process(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Mapping[str, Any]:
        redacted: Mapping[str, Any] = redactor.redact_data(dict(event_dict))
        return redacted

    return process


def sentry_before_send(redactor: Redactor) -> Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]:
    """``sentry_sdk.init(before_send=...)``: the whole event (message, exception values, frames' local
    variables, request headers and data, breadcrumbs) redacted as structured data."""

    def before_send(event: dict[str, Any], _hint: dict[str, Any]) -> dict[str, Any]:
        redacted: dict[str, Any] = redactor.redact_data(event)
        return redacted

    return before_send


class RedactingWriter(io.TextIOBase):
    """A text stream that writes whole lines, redacted, to ``target``.

    A partial line waits for its newline (or ``close()``), so a secret written in two pieces is still seen
    whole; a line is forced out once it exceeds ``max_pending`` characters.
    """

    def __init__(self, target: TextIO, redactor: Redactor, *, max_pending: int = 1 << 20) -> None:
        super().__init__()
        self._target = target
        self._redactor = redactor
        self._pending = ""
        self._max_pending = max_pending
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            self._pending += text
            cut = self._pending.rfind("\n") + 1
            if cut == 0 and len(self._pending) > self._max_pending:
                cut = len(self._pending)
            if cut:
                ready, self._pending = self._pending[:cut], self._pending[cut:]
                self._target.write(self._redactor.redact(ready))
                self._target.flush()
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def close(self) -> None:
        with self._lock:
            if self._pending:
                self._target.write(self._redactor.redact(self._pending))
                self._pending = ""
            self._target.flush()
        super().close()
