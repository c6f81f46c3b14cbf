"""Where redaction plugs in: stdlib logging, structlog, tracebacks, Sentry, uvicorn and text streams.

``install()`` does the ones that need no third-party package, for every output path of the process:

- every log record, on any handler however it was attached (``addHandler``, assignment to
  ``logger.handlers``, a ``QueueListener``'s handlers, logging's last resort): ``logging.Handler.handle``
  redacts the record once before the first handler formats it; ``exc_info`` becomes a redacted stand-in;
- ``sys.stdout`` and ``sys.stderr`` (``print``, ``traceback.print_exc``, structlog's default
  ``PrintLogger``, writes to their ``.buffer``): wrapped by a writer that redacts across lines, so a
  multi-line value (a PEM key) printed in pieces is seen whole;
- warnings, and uncaught exceptions: ``sys``, ``threading`` and unraisable (``__del__``) hooks;
- child Python processes: ``strongroom.redact.startup``.
"""

from __future__ import annotations

import bisect
import codecs
import contextlib
import io
import logging
import os
import sys
import threading
import traceback
import warnings as _warnings
import weakref
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import IO, Any, TextIO

from strongroom.redact.redactor import Redactor, encodings

# LogRecord attributes that logging itself sets; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_DONE = "_strongroom_redacted"
# Loggers whose formatters read `record.args` themselves (uvicorn's access formatter unpacks a 5-tuple):
# their arguments are redacted one by one and kept, instead of being merged into the message.
KEEP_ARGS_LOGGERS = frozenset({"uvicorn.access"})


class _Handling(threading.local):
    """Set while a handler handles a redacted record: what it writes to a wrapped stream is redacted already."""

    on = False


_HANDLING = _Handling()


class RedactingFilter(logging.Filter):
    """Masks a record's message, arguments, ``extra`` fields, exception and stack before any handler
    formats it. Runs once per record, however many handlers carry it.

    ``exc_info`` is replaced by a stand-in of the same type name whose message is redacted (and whose
    frames are the original's), so a formatter that renders ``exc_info`` itself (a JSON formatter) shows
    no secret either; ``exc_text`` holds the redacted traceback.
    """

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
            _redact_message(redact, record)
        if record.exc_info or record.exc_text:
            _redact_exception(redact, record)
        if record.stack_info:
            record.stack_info = redact.redact(record.stack_info)
        for key in record.__dict__.keys() - _RECORD_ATTRIBUTES:  # the `extra=` fields, found in C
            if not key.startswith("_"):
                record.__dict__[key] = redact.redact_data({key: record.__dict__[key]})[key]
        setattr(record, _DONE, True)
        return True

    def refresh(self, record: logging.LogRecord, before: dict[str, Any]) -> None:
        """Redact again what a handler's own filters changed or added on an already redacted record (a filter
        that adds context to the record runs after the record was redacted, just before the handler formats)."""
        fields = record.__dict__
        changed = [key for key, value in fields.items() if before.get(key, _MISSING) is not value]
        if not changed:
            return
        redact = self.redactor
        if "msg" in changed or "args" in changed:
            _redact_message(redact, record)
        if "exc_info" in changed or "exc_text" in changed:
            _redact_exception(redact, record)
        if "stack_info" in changed and record.stack_info:
            record.stack_info = redact.redact(record.stack_info)
        for key in changed:
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                fields[key] = redact.redact_data({key: fields[key]})[key]


_MISSING = object()


def _redact_message(redact: Redactor, record: logging.LogRecord) -> None:
    """The record's message, formatted with its arguments and redacted; the arguments are then spent."""
    try:
        message = record.getMessage()
    except Exception:  # a broken %-format is logging's to report; mask what we have
        message = f"{record.msg!s} {record.args!r}"
    record.msg, record.args = redact.redact(message), None


def _redact_exception(redact: Redactor, record: logging.LogRecord) -> None:
    if record.exc_info:
        if not record.exc_text:
            record.exc_text = _traceback_text(redact, *record.exc_info)
        else:
            record.exc_text = redact.redact(record.exc_text)
        if record.exc_info[1] is not None:
            record.exc_info = _stand_in_info(redact, record.exc_info[1])
    elif record.exc_text:
        record.exc_text = redact.redact(record.exc_text)


def _traceback_text(
    redactor: Redactor, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
) -> str:
    """The traceback as ``logging.Formatter.formatException`` gives it (no final newline), redacted.

    Redacted before the final newline is cut: a value that ends in a newline (a PEM key) is then whole. An
    exception group indents its members' lines (``  | ``), which would cut a multi-line value into lines no
    longer found whole: with a group in the chain, each message is redacted first (the stand-ins), then all.
    """
    if value is not None and _has_group(value, set()):
        value = _stand_in(redactor, value, {})
        kind = type(value)
    return redactor.redact("".join(traceback.format_exception(kind, value, tb))).removesuffix("\n")


def _has_group(exc: BaseException, seen: set[int]) -> bool:
    if id(exc) in seen:
        return False
    seen.add(id(exc))
    if isinstance(exc, BaseExceptionGroup):
        return True
    return any(linked is not None and _has_group(linked, seen) for linked in (exc.__cause__, exc.__context__))


class RedactedException(Exception):
    """The stand-in for an exception on a log record: its message redacted; its type name, module, frames,
    cause, context and notes those of the original (redacted too)."""


class RedactedExceptionGroup(ExceptionGroup[Exception], RedactedException):
    """The stand-in for an exception group: its message redacted, its members stand-ins too."""


_STAND_IN_TYPES: weakref.WeakKeyDictionary[type[BaseException], type[RedactedException]] = weakref.WeakKeyDictionary()


def _stand_in_type(kind: type[BaseException]) -> type[RedactedException]:
    made = _STAND_IN_TYPES.get(kind)
    if made is None:
        attributes = {"__module__": kind.__module__, "__qualname__": kind.__qualname__}
        base = RedactedExceptionGroup if issubclass(kind, BaseExceptionGroup) else RedactedException
        made = _STAND_IN_TYPES[kind] = type(kind.__name__, (base,), attributes)
    return made


def _stand_in(redactor: Redactor, exc: BaseException, made: dict[int, RedactedException]) -> RedactedException:
    if id(exc) in made:  # a cycle in the chain of causes
        return made[id(exc)]
    try:
        text = str(exc)
    except Exception:
        text = "<exception str() failed>"
    kind = _stand_in_type(type(exc))
    if isinstance(exc, BaseExceptionGroup):
        members = [_stand_in(redactor, member, made) for member in exc.exceptions]
        copy = made[id(exc)] = kind(redactor.redact(exc.message), members)
    else:
        copy = made[id(exc)] = kind(redactor.redact(text)) if text else kind()
    copy.__traceback__ = exc.__traceback__
    copy.__suppress_context__ = exc.__suppress_context__
    notes = getattr(exc, "__notes__", None)
    if isinstance(notes, list):
        copy.__notes__ = [redactor.redact(str(note)) for note in notes]
    if exc.__cause__ is not None:
        copy.__cause__ = _stand_in(redactor, exc.__cause__, made)
    if exc.__context__ is not None:
        copy.__context__ = _stand_in(redactor, exc.__context__, made)
    return copy


def _stand_in_info(redactor: Redactor, exc: BaseException) -> tuple[type[BaseException], BaseException, Any]:
    copy = _stand_in(redactor, exc, {})
    return type(copy), copy, exc.__traceback__


def format_exception(exc: BaseException, redactor: Redactor, *, with_locals: bool = False) -> str:
    """A traceback as text, redacted; ``with_locals`` adds each frame's local variables (their reprs
    redacted too, and a ``Secret`` shows only its mask)."""
    rendered = traceback.TracebackException.from_exception(exc, capture_locals=with_locals)
    return redactor.redact("".join(rendered.format()))


class _State:
    filter: RedactingFilter | None = None
    original_add_handler: Callable[..., None] | None = None
    original_handle: Callable[..., Any] | None = None
    original_call_handlers: Callable[..., Any] | None = None
    wrapped_handle: Callable[..., Any] | None = None
    original_excepthooks: tuple[Any, Any, Any] | None = None
    original_showwarning: Callable[..., None] | None = None
    showwarning: Callable[..., None] | None = None
    streams: dict[str, tuple[Any, _StdWriter]] = {}  # noqa: RUF012 -- process-wide state, on purpose


def _attach(handler: logging.Handler, filter_: RedactingFilter) -> None:
    """The filter, on a handler whose class overrides ``handle`` (so the wrapped one never runs for it).
    Every other handler is covered by the wrapped ``Handler.handle`` alone: one call less per record."""
    if type(handler).handle is _State.wrapped_handle:
        return
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(filter_)


def _every_logger() -> list[logging.Logger]:
    loggers = [logging.getLogger()]
    loggers += [item for item in logging.Logger.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    return loggers


def install(
    redactor: Redactor,
    *,
    excepthook: bool = True,
    streams: bool = True,
    warnings: bool = True,
) -> RedactingFilter:
    """Redact every log record, and (each on by default) ``sys.stdout``/``sys.stderr``, warnings and
    uncaught exceptions.

    Idempotent. Records: ``logging.Handler.handle`` is wrapped once, so a handler attached in any way is
    covered (assigned to ``logger.handlers``, held by a ``QueueListener``); a handler whose class overrides
    ``handle`` gets the filter too, now and when added later (``Logger.addHandler`` is wrapped), and since
    such a ``handle`` may never call the filters, ``Logger.callHandlers`` redacts every record a logger
    dispatches before any handler sees it.
    """
    if _State.filter is None:
        _State.filter = RedactingFilter(redactor)
    filter_ = _State.filter
    filter_.redactor = redactor
    if _State.original_handle is None:
        _State.original_handle = _wrap_handle()
    if _State.original_call_handlers is None:
        _State.original_call_handlers = _wrap_call_handlers()
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
    if warnings:
        _install_showwarning(redactor)
    if streams:
        _wrap_streams(redactor)
    return filter_


def _wrap_handle() -> Callable[..., Any]:
    """Wrap ``logging.Handler.handle``: the record is redacted (once) before any handler's filters,
    formatter or ``emit`` see it; logging has called it only for records at the handler's level."""
    original = logging.Handler.handle

    def handle(self: logging.Handler, record: logging.LogRecord) -> Any:
        filter_ = _State.filter
        if filter_ is not None and not getattr(record, _DONE, False):
            filter_.filter(record)
        run = original if filter_ is None or not _own_filters(self) else _filtered
        if not _State.streams:
            return run(self, record)
        outer = _HANDLING.on
        _HANDLING.on = True
        try:
            return run(self, record)
        finally:
            _HANDLING.on = outer

    def _filtered(self: logging.Handler, record: logging.LogRecord) -> Any:
        """``Handler.handle`` for a handler with filters of its own: what they add to the (redacted) record
        is redacted too, before the handler formats it."""
        before = dict(record.__dict__)
        result = self.filter(record)
        if isinstance(result, logging.LogRecord):  # Python 3.12: a filter may return a replacement record
            record = result
        if result:
            if _State.filter is not None:
                _State.filter.refresh(record, before)
            self.acquire()
            try:
                self.emit(record)
            finally:
                self.release()
        return result

    logging.Handler.handle = handle  # type: ignore[method-assign]
    _State.wrapped_handle = handle
    return original


def _own_filters(handler: logging.Handler) -> bool:
    """Whether the handler has filters besides ours (which may add to a record after it was redacted)."""
    filters = handler.filters
    return bool(filters) and not (len(filters) == 1 and isinstance(filters[0], RedactingFilter))


def _wrap_call_handlers() -> Callable[..., Any]:
    """Wrap ``logging.Logger.callHandlers``: a record is redacted before any handler of any logger gets it,
    even one whose class overrides ``handle`` and never calls its filters."""
    original = logging.Logger.callHandlers

    def call_handlers(self: logging.Logger, record: logging.LogRecord) -> None:
        filter_ = _State.filter
        if filter_ is not None and not getattr(record, _DONE, False):
            filter_.filter(record)
        original(self, record)

    logging.Logger.callHandlers = call_handlers  # type: ignore[method-assign]
    return original


def uninstall() -> None:
    """Undo ``install()``: the filter comes off every handler; ``Logger.addHandler``, ``Handler.handle``,
    the hooks, ``warnings.showwarning``, ``sys.stdout`` and ``sys.stderr`` are what they were before (a
    stream replaced since by someone else is left alone). For tests, and for applications that reconfigure
    logging; idempotent."""
    if _State.original_add_handler is not None:
        logging.Logger.addHandler = _State.original_add_handler  # type: ignore[method-assign]
    if _State.original_handle is not None:
        logging.Handler.handle = _State.original_handle  # type: ignore[method-assign]
    if _State.original_call_handlers is not None:
        logging.Logger.callHandlers = _State.original_call_handlers  # type: ignore[method-assign]
    if _State.original_excepthooks is not None:
        sys.excepthook, threading.excepthook, sys.unraisablehook = _State.original_excepthooks
    if _State.showwarning is not None and _warnings.showwarning is _State.showwarning:
        _warnings.showwarning = _State.original_showwarning  # type: ignore[assignment]
    for name, (original_stream, wrapper) in _State.streams.items():
        wrapper.finish()
        for attribute in (name, f"__{name}__"):
            if getattr(sys, attribute, None) is wrapper:
                setattr(sys, attribute, original_stream)
    handlers = [handler for logger in _every_logger() for handler in logger.handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        for filter_ in [f for f in handler.filters if isinstance(f, RedactingFilter)]:
            handler.removeFilter(filter_)
    _State.filter = _State.original_add_handler = _State.original_handle = _State.wrapped_handle = None
    _State.original_call_handlers = None
    _State.original_excepthooks = _State.original_showwarning = _State.showwarning = None
    _State.streams = {}


def _write_stderr(text: str) -> None:
    stream = sys.stderr
    if stream is None:  # pythonw, or a daemon that closed it: nowhere to write, as the default hooks do
        return
    try:
        stream.write(text)
        stream.flush()
    except (OSError, ValueError):
        pass


def _install_excepthooks(redactor: Redactor) -> None:
    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        _write_stderr(_traceback_text(redactor, kind, value, tb) + "\n")

    def thread_hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        if args.exc_type is SystemExit:
            return
        text = _traceback_text(redactor, args.exc_type, args.exc_value, args.exc_traceback)
        _write_stderr(f"Exception in thread {name}:\n{text}\n")

    def unraisable_hook(unraisable: Any) -> None:  # sys.UnraisableHookArgs, which typeshed does not export
        head = unraisable.err_msg or "Exception ignored in"
        if unraisable.object is not None:
            try:
                head = f"{head}: {unraisable.object!r}"
            except Exception:
                head = f"{head}: <object repr() failed>"
        text = head + "\n"
        if unraisable.exc_type is not None:
            text += "".join(
                traceback.format_exception(unraisable.exc_type, unraisable.exc_value, unraisable.exc_traceback)
            )
        _write_stderr(redactor.redact(text))

    if _State.original_excepthooks is None:
        _State.original_excepthooks = (sys.excepthook, threading.excepthook, sys.unraisablehook)
    sys.excepthook = hook
    threading.excepthook = thread_hook
    sys.unraisablehook = unraisable_hook


def _install_showwarning(redactor: Redactor) -> None:
    """Wrap ``warnings.showwarning``: whatever shows a warning (the default, ``logging.captureWarnings``,
    an application's own) gets its message and source line redacted."""
    if _State.showwarning is not None:
        return
    previous = _warnings.showwarning

    def showwarning(  # noqa: PLR0917 -- warnings.showwarning's own signature
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if line is None:
            import linecache

            line = linecache.getline(filename, lineno)
        previous(redactor.redact(str(message)), category, filename, lineno, file, redactor.redact(line))

    _State.original_showwarning, _State.showwarning = previous, showwarning
    _warnings.showwarning = showwarning


def _wrap_streams(redactor: Redactor) -> None:
    for name in ("stdout", "stderr"):
        current = getattr(sys, name)
        if current is None or isinstance(current, RedactingWriter) or name in _State.streams:
            continue
        wrapper = _StdWriter(current, redactor)
        _State.streams[name] = (current, wrapper)
        setattr(sys, name, wrapper)
        dunder = f"__{name}__"
        if getattr(sys, dunder, None) is current:  # code that writes to `sys.__stdout__` is covered too
            setattr(sys, dunder, wrapper)


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


# A PEM private key block: held from its BEGIN line until its END line (up to _HOLD_LIMIT characters: an
# RSA-4096 key is 3.3 kB), so the provider rules see an unregistered key whole even written line by line.
_PEM_BEGIN, _PEM_END = "-----BEGIN ", "-----END "
_HOLD_LIMIT = 1 << 14


class _Stream:
    """Redaction of a stream of text that arrives in pieces: the text is let out a line at a time, except
    what could still be the first part of a known value that spans lines (a registered PEM key, any
    multi-line value), which is held until it is complete or can no longer be one. One implementation
    for ``RedactingWriter``, the wrapped ``sys.stdout``/``sys.stderr`` and ``strongroom run --redact``.
    """

    def __init__(self, redactor: Redactor, *, max_pending: int = 1 << 20) -> None:
        self.redactor = redactor
        self.pending = ""
        self.max_pending = max_pending
        self._generation = -1
        self._forms: list[tuple[str, str]] = []  # (multi-line form, its text up to its first newline)
        self._sorted: list[str] = []
        self._longest = 0
        self._sorted_generation = -1

    def feed(self, text: str, *, partial: bool = False, final: bool = False) -> str:
        """Take ``text``; return what may go out now, redacted. ``partial``: also a last line with no
        newline yet (a prompt, a progress bar), unless it may begin a multi-line value; ``final``: all."""
        pending = self.pending + text if self.pending else text
        if final:
            cut = len(pending)
        else:
            cut = len(pending) if partial else pending.rfind("\n") + 1
            if cut:
                cut = min(cut, self._hold(pending, cut, partial))
            if len(pending) - cut > self.max_pending:  # too long to be anything whole: let it go
                cut = len(pending)
        if not cut:
            self.pending = pending
            return ""
        ready, self.pending = pending[:cut], pending[cut:]
        return self.redactor.redact(ready)  # masks made upstream stay as they are: no rule matches a mask

    def _hold(self, pending: str, cut: int, partial: bool) -> int:
        """Where the text that must wait starts (the start of its line), or ``cut``."""
        hold = cut
        end = len(pending)
        for form, head in self._multiline_forms():
            at = pending.find(head, max(0, end - len(form) + 1))
            while at != -1 and at < hold:
                if form.startswith(pending[at:]):  # the value's first lines, its end yet to come
                    hold = at
                    break
                at = pending.find(head, at + 1)
            if partial:  # a last line that may be the start of the value's first line
                at = pending.find(head[0], max(0, end - len(head) + 1))
                while at != -1 and at < hold:
                    if head.startswith(pending[at:]):
                        hold = at
                        break
                    at = pending.find(head[0], at + 1)
        begin = pending.rfind(_PEM_BEGIN, max(0, end - _HOLD_LIMIT), hold)
        if begin != -1 and "PRIVATE" in pending[begin : begin + 64]:  # a certificate may go line by line
            closing = pending.find(_PEM_END, begin)
            if closing == -1 or closing >= hold or pending.find("-----", closing + len(_PEM_END)) == -1:
                hold = begin
        if hold != cut:
            return pending.rfind("\n", 0, hold) + 1
        if partial:  # a flushed partial line: its end may be the first part of a value written in pieces
            start = self._value_start(pending, pending.rfind("\n") + 1)
            if start != -1:
                return start  # the text before it may go now: the value begins there
        return cut

    def _value_start(self, pending: str, line: int) -> int:
        """The first offset of the last line (from ``line``) where the rest of ``pending`` is the beginning of
        a known value's form (and not all of it), or -1. A sorted list of the forms: one bisection each.

        An offset inside a value already whole (its last characters may begin another value) is no place to
        cut: the text before it, redacted alone, must be what it is in the whole text redacted."""
        forms = self._sorted_forms()
        if not forms or line >= len(pending):
            return -1
        whole: str | None = None
        for at in range(max(line, len(pending) - self._longest), len(pending)):
            piece = pending[at:]
            index = bisect.bisect_left(forms, piece)
            while index < len(forms) and forms[index].startswith(piece):
                if len(forms[index]) > len(piece):
                    if whole is None:
                        whole = self.redactor.redact(pending)
                    if whole.startswith(self.redactor.redact(pending[:at])):
                        return at
                    break
                index += 1
        return -1

    def _sorted_forms(self) -> list[str]:
        """Every known value's single-line forms, sorted; made on the first flush of a partial line after the
        values changed (a process that never flushes one never makes it)."""
        live = getattr(self.redactor, "_live", None)
        if live is None:
            return []
        if live.generation != self._sorted_generation:
            generation, values = live.snapshot()
            forms = {form for value, _, _ in values for form in encodings(value) if "\n" not in form}
            self._sorted = sorted(forms)
            self._longest = max(map(len, forms), default=0)
            self._sorted_generation = generation
        return self._sorted

    def _multiline_forms(self) -> list[tuple[str, str]]:
        live = getattr(self.redactor, "_live", None)  # the registry the redactor follows
        if live is None:
            return self._forms
        if live.generation != self._generation:
            generation, values = live.snapshot()
            forms: list[tuple[str, str]] = []
            for value, _, _ in values:
                if ("\n" if isinstance(value, str) else b"\n") in value:
                    forms += [(form, form[: form.index("\n") + 1]) for form in encodings(value) if "\n" in form]
            self._forms, self._generation = forms, generation
        return self._forms


_WRITERS: weakref.WeakSet[RedactingWriter] = weakref.WeakSet()


def _after_fork() -> None:
    for writer in list(_WRITERS):  # a lock held by another thread at fork() is never released in the child
        writer._lock = threading.RLock()
        binary = getattr(writer, "_binary", None)
        if binary is not None:
            binary._lock = writer._lock


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


class RedactingWriter(io.TextIOBase):
    """A text stream that writes to ``target`` redacted, a line at a time.

    A partial line waits for its newline, so a secret written in two pieces is still seen whole; lines
    that may be the start of a known multi-line value (a PEM key) wait until the value is complete.
    ``flush()`` lets out a waiting partial line too (a prompt), but never the start of a multi-line
    value, nor a last part of the line that may be the beginning of a known value (written in pieces);
    ``close()`` lets out everything. A line is forced out once it exceeds ``max_pending`` characters.
    ``flush_lines``: flush ``target`` after each write that let text out.
    """

    def __init__(
        self, target: TextIO, redactor: Redactor, *, max_pending: int = 1 << 20, flush_lines: bool = True
    ) -> None:
        super().__init__()
        self._target = target
        self._stream = _Stream(redactor, max_pending=max_pending)
        self._flush_lines = flush_lines
        self._lock = threading.RLock()
        _WRITERS.add(self)

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:
            stream = self._stream
            if "\n" not in text and len(stream.pending) + len(text) <= stream.max_pending:
                stream.pending += text  # the rest of a line (print() writes each argument apart): wait
                return len(text)
            ready = stream.feed(text)
            if ready:
                self._target.write(ready)
                if self._flush_lines:
                    self._target.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            ready = self._stream.feed("", partial=True)
            if ready:
                self._target.write(ready)
            self._target.flush()

    def finish(self) -> None:
        """Let out everything still waiting (redacted), without closing."""
        with self._lock:
            ready = self._stream.feed("", final=True)
            if ready:
                self._target.write(ready)
            self._target.flush()

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.finish()
        finally:
            super().close()


class _StdWriter(RedactingWriter):
    """``sys.stdout`` or ``sys.stderr`` after ``install()``: redacted, with the original's ``fileno``,
    ``isatty``, ``encoding`` and the rest; ``.buffer`` takes bytes, redacted the same way."""

    def __init__(self, target: TextIO, redactor: Redactor) -> None:
        super().__init__(target, redactor, flush_lines=False)
        raw = getattr(target, "buffer", None)
        self._binary = RedactingBinaryWriter(raw, redactor, self) if raw is not None else None

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        with self._lock:  # RedactingWriter.write, inlined: print() calls this once per argument
            binary = self._binary
            if binary is not None and binary._stream.pending:  # bytes written before this text go first
                binary.drain()
            stream = self._stream
            if _HANDLING.on:
                # A handler writing a record it has just redacted: redacting it again would only cost time.
                if stream.pending:
                    ready = stream.feed("", partial=True)
                    if ready:
                        self._target.write(ready)
                self._target.write(text)
            elif "\n" not in text and len(stream.pending) + len(text) <= stream.max_pending:
                stream.pending += text
            else:
                ready = stream.feed(text)
                if ready:
                    self._target.write(ready)
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self._binary is not None:
                self._binary.flush()
            super().flush()

    def _finish(self) -> None:
        with self._lock:
            if self._binary is not None:
                self._binary.finish()
            super().finish()

    def finish(self) -> None:
        with contextlib.suppress(OSError, ValueError):  # at interpreter exit the real stream may be closed
            self._finish()

    @property
    def buffer(self) -> RedactingBinaryWriter:
        if self._binary is None:
            raise AttributeError("buffer")
        return self._binary

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._target.encoding

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return self._target.errors

    @property
    def newlines(self) -> Any:  # type: ignore[override]
        return self._target.newlines

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:  # name, mode, line_buffering, reconfigure, ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._target, name)


class RedactingBinaryWriter(io.RawIOBase):
    """Bytes to ``target``, redacted like ``RedactingWriter``'s text (decoded with ``encoding``, undecodable
    bytes kept as they are); ``strongroom run --redact`` copies a child's output through one. With
    ``text``, it is the ``.buffer`` of that wrapped stream: each lets out the other's waiting text first, so
    output keeps its order."""

    def __init__(
        self, target: IO[bytes], redactor: Redactor, text: _StdWriter | None = None, *, encoding: str = "utf-8"
    ) -> None:
        super().__init__()
        self._target = target
        self._text = text
        self._encoding = (getattr(text._target, "encoding", None) if text is not None else None) or encoding
        self._decoder = codecs.getincrementaldecoder(self._encoding)("surrogateescape")
        self._stream = _Stream(redactor)
        self._lock = text._lock if text is not None else threading.RLock()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        with self._lock:
            if self._text is not None:
                ready_text = self._text._stream.feed("", partial=True)
                if ready_text:
                    self._text._target.write(ready_text)
                self._text._target.flush()  # what the text layer buffered goes first
            self._emit(self._stream.feed(self._decoder.decode(bytes(data))))
        return size

    def _emit(self, ready: str, *, flush: bool = False) -> None:
        if ready:
            self._target.write(ready.encode(self._encoding, "surrogateescape"))
        if flush or (ready and self._text is None):
            self._target.flush()

    def drain(self) -> None:
        """Let out a waiting partial line (before text is written after it)."""
        with self._lock:
            ready = self._stream.feed("", partial=True)
            if ready:
                self._target.write(ready.encode(self._encoding, "surrogateescape"))
                self._target.flush()

    def flush(self) -> None:
        with self._lock:
            self._emit(self._stream.feed("", partial=True), flush=True)

    def finish(self) -> None:
        with self._lock:
            self._emit(self._stream.feed(self._decoder.decode(b"", final=True), final=True), flush=True)

    def close(self) -> None:
        if self.closed:
            return
        try:
            self.finish()
        finally:
            super().close()

    def fileno(self) -> int:
        return self._target.fileno()

    def isatty(self) -> bool:
        return self._target.isatty()

    def __getattr__(self, name: str) -> Any:  # raw, mode, name, ...
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._target, name)
