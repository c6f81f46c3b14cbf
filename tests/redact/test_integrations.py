"""Where redaction plugs in: stdlib logging (``install()``), tracebacks and excepthooks, uvicorn's logging config,
structlog, Sentry's ``before_send`` and ``RedactingWriter``."""

from __future__ import annotations

import base64
import gc
import io
import json
import logging
import os
import random
import string
import subprocess
import sys
import textwrap
import threading
import traceback
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import strongroom.redact
from strongroom import Secret
from strongroom.live_values import LiveValues
from strongroom.redact import MASK, RedactingFilter, Redactor, format_exception
from strongroom.testing import assert_not_leaked


def _redactor(*values: tuple[str, str]) -> Redactor:
    redactor = Redactor(follow_live=False, live=LiveValues())
    for value, name in values:
        assert redactor.register(value, name)
    return redactor


def _random(seed: int, length: int = 24) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def _run(script: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


# -- install() in this process: every change it makes is undone after the test ---------------------------


class Installed:
    """Loggers and handlers a test adds; they are taken off again when it ends."""

    def __init__(self) -> None:
        self.added: list[tuple[logging.Logger, logging.Handler]] = []
        self.levels: dict[logging.Logger, int] = {}

    def handler(self, logger: logging.Logger, *, fmt: str = "%(name)s %(message)s") -> io.StringIO:
        buffer = io.StringIO()
        handler = logging.StreamHandler(buffer)
        handler.setFormatter(logging.Formatter(fmt))
        self.add(logger, handler)
        return buffer

    def add(self, logger: logging.Logger, handler: logging.Handler) -> None:
        self.levels.setdefault(logger, logger.level)
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        self.added.append((logger, handler))


@pytest.fixture
def installed() -> Iterator[Installed]:
    """install() undone after the test by its public inverse, uninstall(), which the test checks."""
    before = _process_state()
    state = Installed()
    try:
        yield state
    finally:
        strongroom.redact.uninstall()
        assert _process_state() == before
        for logger, handler in state.added:
            assert _filters(handler) == 0, logger.name
            logger.removeHandler(handler)
        for logger, level in state.levels.items():
            logger.setLevel(level)


def _process_state() -> tuple[object, ...]:
    """Everything install() changes in the process."""
    return (
        logging.Logger.addHandler,
        logging.Handler.handle,
        sys.excepthook,
        threading.excepthook,
        sys.unraisablehook,
        warnings.showwarning,
        sys.stdout,
        sys.stderr,
        subprocess.Popen._execute_child,  # type: ignore[attr-defined]
        os.environ.get("STRONGROOM_REDACT"),
        os.environ.get("STRONGROOM_REDACT_VALUES"),
    )


def test_install_changes_each_path_and_uninstall_undoes_each(installed: Installed) -> None:
    """install() replaces every hook and stream it covers (each option turns its part off), and uninstall()
    restores them all (the fixture checks), removing the values file children would read."""
    before = _process_state()
    strongroom.redact.install(streams=False, warnings=False, excepthook=False, children=False)
    after = _process_state()
    assert after[2:] == before[2:]  # only logging's own two methods
    strongroom.redact.uninstall()
    strongroom.redact.install()
    after = _process_state()
    assert [new is not old for new, old in zip(after, before, strict=True)] == [True] * len(before)
    values_file = Path(os.environ["STRONGROOM_REDACT_VALUES"])
    assert not values_file.exists()  # written only when a child starts
    code = "import sys; print(type(sys.stdout).__name__)"
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert child.stdout == "_StdWriter\n", child.stderr  # the child installed redaction at start-up
    assert values_file.stat().st_mode & 0o777 == 0o600
    assert values_file.parent.stat().st_mode & 0o777 == 0o700
    assert isinstance(sys.stdout, io.TextIOBase)
    strongroom.redact.uninstall()
    assert not values_file.exists()


def test_a_handler_assigned_to_logger_handlers_gets_redacted_records(
    installed: Installed, make_canary: Callable[[str], str]
) -> None:
    """``logger.handlers = [...]`` bypasses addHandler (no filter); the record is redacted anyway, once, and
    ``exc_info`` is a stand-in with the type's name and a redacted message, chained like the original."""
    canary = make_canary("assigned")
    strongroom.redact.register(canary, "assigned_key")
    strongroom.redact.install(streams=False, children=False)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("redact.assigned")
    installed.levels.setdefault(logger, logger.level)
    logger.handlers = [Keep(), Keep()]
    try:
        try:
            try:
                raise KeyError(canary)
            except KeyError as cause:
                raise ValueError(f"refused {canary}") from cause
        except ValueError:
            logger.error("calling with %s", canary, exc_info=True)
    finally:
        logger.handlers = []
    first, second = records
    assert first is second
    assert first.getMessage() == "calling with [REDACTED:assigned_key]"
    kind, value, tb = first.exc_info or (None, None, None)
    assert kind is not None
    assert (kind.__name__, kind.__module__) == ("ValueError", "builtins")
    assert str(value) == "refused [REDACTED:assigned_key]"
    assert value is not None
    assert str(value.__cause__) == "'[REDACTED:assigned_key]'"
    assert tb is not None
    rendered = "".join(traceback.format_exception(kind, value, tb))
    assert "The above exception was the direct cause" in rendered
    assert_not_leaked([canary], rendered, first.exc_text or "")


def test_uninstall_drops_the_process_wide_redactor(installed: Installed) -> None:
    """After uninstall(), default() is a new redactor: a reset leaves nothing of the old one in use."""
    first = strongroom.redact.install().redactor
    strongroom.redact.uninstall()
    assert strongroom.redact.default() is not first
    strongroom.redact.uninstall()  # idempotent


def _filters(handler: logging.Handler) -> int:
    return sum(isinstance(f, RedactingFilter) for f in handler.filters)


class OwnHandle(logging.Handler):
    """A handler class that overrides ``handle``: the wrapped ``Handler.handle`` never runs for it."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def handle(self, record: logging.LogRecord) -> bool:
        if self.filter(record):
            self.seen.append(record.getMessage())
        return True

    def emit(self, record: logging.LogRecord) -> None:
        raise AssertionError("not called")


def test_install_is_idempotent(installed: Installed) -> None:
    """Two install() calls wrap Handler.handle and Logger.addHandler once; a handler class that overrides
    handle() gets one redacting filter (before or after install), an ordinary handler none (it needs none)."""
    installed.handler(logging.getLogger("redact.idem.before"))
    own_before = OwnHandle()
    installed.add(logging.getLogger("redact.idem.before"), own_before)
    first = strongroom.redact.install()
    wrapped = (logging.Logger.addHandler, logging.Handler.handle)
    second = strongroom.redact.install()
    assert first is second
    assert (logging.Logger.addHandler, logging.Handler.handle) == wrapped
    installed.handler(logging.getLogger("redact.idem.after"))
    own_after = OwnHandle()
    installed.add(logging.getLogger("redact.idem.after"), own_after)
    for logger, handler in installed.added:
        assert _filters(handler) == (1 if isinstance(handler, OwnHandle) else 0), logger.name


def test_a_handler_that_overrides_handle_gets_redacted_records(
    installed: Installed, make_canary: Callable[[str], str]
) -> None:
    """The filter covers a handler class with its own handle(), added after install()."""
    canary = make_canary("own")
    strongroom.redact.register(canary, "own_key")
    strongroom.redact.install(streams=False, children=False)
    handler = OwnHandle()
    logger = logging.getLogger("redact.own")
    installed.add(logger, handler)
    logger.info("with %s", canary)
    assert handler.seen == ["with [REDACTED:own_key]"]


def test_install_covers_handlers_added_before_and_after(
    installed: Installed, make_canary: Callable[[str], str]
) -> None:
    """Handlers of the root and of named loggers, added before or after install(), all see masked records."""
    canary = make_canary("route")
    strongroom.redact.register(canary, "route_key")
    early = installed.handler(logging.getLogger("redact.route.early"))
    strongroom.redact.install()
    late = installed.handler(logging.getLogger("redact.route.late"))
    root = installed.handler(logging.getLogger())
    for name in ("redact.route.early", "redact.route.late"):
        logging.getLogger(name).info("calling with %s", canary)
    for buffer in (early, late, root):
        text = buffer.getvalue()
        assert canary not in text
        assert "calling with [REDACTED:route_key]" in text


def test_extra_fields_are_masked_and_stay_structured(installed: Installed, make_canary: Callable[[str], str]) -> None:
    """``extra={...}`` values are masked on the record itself: secret-named keys whole, nested dicts walked, and
    dicts stay dicts."""
    canary = make_canary("extra")
    strongroom.redact.register(canary, "extra_key")
    strongroom.redact.install()
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("redact.extra")
    installed.add(logger, Keep())
    # A message of random letters: a value another test of this process left alive (a vault's "one")
    # would mask part of a fixed word such as "done".
    message = "request " + _random(3)
    logger.info(
        message,
        extra={
            "password": "pw-" + _random(1),
            "nested": {"api_key": _random(2), "n": 1},
            "note": f"used {canary}",
            "status": 200,
        },
    )
    (record,) = records
    assert record.password == MASK.format("password")
    assert record.nested == {"api_key": "[REDACTED:api_key]", "n": 1}
    assert record.note == "used [REDACTED:extra_key]"
    assert record.status == 200
    assert record.getMessage() == message


def test_logger_exception_output_holds_no_secret(installed: Installed, make_canary: Callable[[str], str]) -> None:
    """An exception whose message holds a secret, logged with logger.exception, is formatted without it."""
    held = Secret("payment_key", make_canary("exc"))
    strongroom.redact.install()
    logger = logging.getLogger("redact.exception")
    buffer = installed.handler(logger)
    try:
        raise ValueError(f"charge refused for key {held.reveal()}")
    except ValueError:
        logger.exception("charge failed")
    text = buffer.getvalue()
    assert "Traceback (most recent call last)" in text
    assert "ValueError: charge refused for key [REDACTED:payment_key]" in text
    assert_not_leaked([held.reveal()], text)


def test_format_exception_with_locals_hides_a_secret_local(make_canary: Callable[[str], str]) -> None:
    """format_exception(..., with_locals=True) shows a frame's locals, a secret local's value masked."""
    canary = make_canary("local")
    redactor = _redactor((canary, "local_key"))

    def charge(amount: int) -> None:
        token_value = canary
        password = "pw-" + _random(3)
        raise RuntimeError(f"declined {amount} {len(token_value)} {len(password)}")

    with pytest.raises(RuntimeError) as info:
        charge(100)
    text = format_exception(info.value, redactor, with_locals=True)
    assert "token_value = '[REDACTED:local_key]'" in text
    assert "amount = 100" in text
    assert "password = '[REDACTED:" in text
    assert_not_leaked([canary, "pw-" + _random(3)], text)


# -- excepthooks and the lastResort handler, in a subprocess -------------------------------------------

EXCEPTHOOKS = """
    import sys, threading
    import strongroom.redact
    from strongroom import Secret

    held = Secret("api_key", sys.argv[1])
    strongroom.redact.install()

    def worker():
        token = held.reveal()
        raise RuntimeError(f"thread failed with {token}")

    thread = threading.Thread(target=worker, name="worker-1")
    thread.start()
    thread.join()
    value = held.reveal()
    raise ValueError(f"main failed with {value}")
"""


def test_excepthooks_write_redacted_tracebacks(make_canary: Callable[[str], str]) -> None:
    """After install(), an uncaught exception in the main thread and in another thread prints a traceback with the
    secret masked."""
    canary = make_canary("hook")
    result = _run(EXCEPTHOOKS, canary)
    assert result.returncode == 1
    assert "Exception in thread worker-1" in result.stderr
    assert "RuntimeError: thread failed with [REDACTED:api_key]" in result.stderr
    assert "ValueError: main failed with [REDACTED:api_key]" in result.stderr
    assert result.stderr.count("Traceback (most recent call last)") == 2
    assert_not_leaked([canary], result.stdout, result.stderr)


def test_a_record_with_no_handler_is_redacted(make_canary: Callable[[str], str]) -> None:
    """With logging not configured, a warning (printed by logging's last-resort handler) is still masked."""
    canary = make_canary("last")
    script = """
        import logging, sys, strongroom.redact
        strongroom.redact.register(sys.argv[1], "tok")
        strongroom.redact.install()
        logging.getLogger("lib").warning("calling upstream with %s", sys.argv[1])
    """
    result = _run(script, canary)
    assert "calling upstream with" in result.stderr
    assert_not_leaked([canary], result.stderr)


# -- uvicorn's logging config, applied after install() ---------------------------------------------------

UVICORN = """
    import logging, logging.config, sys
    import strongroom.redact
    from uvicorn.config import LOGGING_CONFIG

    strongroom.redact.register(sys.argv[1], "cb_token")
    strongroom.redact.install()
    logging.config.dictConfig(LOGGING_CONFIG)
    # What uvicorn's protocol classes log for each request, and a line of its error logger.
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:50000", "GET",
                                             "/callback?token=" + sys.argv[1] + "&state=ok", "1.1", 200)
    logging.getLogger("uvicorn.error").info("Started with %s", sys.argv[1])
"""


@pytest.fixture(scope="module")
def uvicorn_run() -> tuple[str, subprocess.CompletedProcess[str]]:
    canary = "uvicorn-" + _random(random.SystemRandom().randrange(1 << 30), 40)
    return canary, _run(UVICORN, canary)


def test_uvicorn_logging_configured_after_install_leaks_nothing(
    uvicorn_run: tuple[str, subprocess.CompletedProcess[str]],
) -> None:
    """uvicorn's LOGGING_CONFIG applied by dictConfig after install(): its handlers get the filter, and neither the
    access nor the error log prints the token."""
    canary, result = uvicorn_run
    assert result.returncode == 0, result.stderr
    assert "INFO:     Started with [REDACTED:cb_token]" in result.stderr
    assert_not_leaked([canary], result.stdout, result.stderr)


def test_uvicorn_access_line_is_printed_masked(uvicorn_run: tuple[str, subprocess.CompletedProcess[str]]) -> None:
    """The uvicorn.access record is printed as its access line, with the token in the query string masked."""
    _, result = uvicorn_run
    assert "--- Logging error ---" not in result.stderr
    assert '127.0.0.1:50000 - "GET /callback?token=[REDACTED:' in result.stdout


# -- structlog -------------------------------------------------------------------------------------------


@pytest.fixture
def structlog_buffer() -> Iterator[io.StringIO]:
    structlog = pytest.importorskip("structlog")
    buffer = io.StringIO()
    structlog.configure(
        processors=[strongroom.redact.structlog_processor, structlog.processors.JSONRenderer()],
        logger_factory=structlog.PrintLoggerFactory(file=buffer),
        cache_logger_on_first_use=False,
    )
    try:
        yield buffer
    finally:
        structlog.reset_defaults()


def test_structlog_event_values_are_masked_and_json_stays_valid(
    structlog_buffer: io.StringIO, make_canary: Callable[[str], str]
) -> None:
    """The structlog processor masks event values and nested dicts; the JSON line parses with the same keys."""
    import structlog

    canary = make_canary("slog")
    strongroom.redact.register(canary, "slog_key")
    structlog.get_logger().info(
        f"charging {canary}",
        password="pw-" + _random(4),
        amount=100,
        nested={"api_key": _random(5), "items": [canary, 2], "ok": True},
    )
    line = structlog_buffer.getvalue()
    assert_not_leaked([canary, "pw-" + _random(4), _random(5)], line)
    event = json.loads(line)
    assert set(event) == {"event", "password", "amount", "nested"}
    assert event["event"] == "charging [REDACTED:slog_key]"
    assert event["password"] == MASK.format("password")
    assert event["amount"] == 100
    assert event["nested"] == {"api_key": "[REDACTED:api_key]", "items": ["[REDACTED:slog_key]", 2], "ok": True}


def test_structlog_an_exception_object_in_the_event_is_masked(
    structlog_buffer: io.StringIO, make_canary: Callable[[str], str]
) -> None:
    """An exception passed as an event value (``log.error("failed", error=exc)``) is rendered without the secret."""
    import structlog

    canary = make_canary("slogexc")
    strongroom.redact.register(canary, "slog_key")
    structlog.get_logger().error("failed", error=ValueError(f"bad key {canary}"))
    assert_not_leaked([canary], structlog_buffer.getvalue())


# -- Sentry ----------------------------------------------------------------------------------------------


def _sentry_event(v: dict[str, str]) -> dict[str, Any]:
    """An event shaped like the ones sentry_sdk builds for a failed request."""
    return {
        "event_id": "a" * 32,
        "level": "error",
        "platform": "python",
        "timestamp": "2024-05-01T12:00:00Z",
        "logentry": {"message": "charge failed for %s", "params": [v["key"]]},
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": f"card declined for key {v['key']}",
                    "module": None,
                    "mechanism": {"type": "logging", "handled": True},
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "app/payments.py",
                                "function": "charge",
                                "lineno": 42,
                                "in_app": True,
                                "context_line": "    raise ValueError(f'card declined for key {key}')",
                                "vars": {
                                    "key": repr(v["key"]),
                                    "amount": "100",
                                    "password": repr(v["password"]),
                                    "headers": repr({"Authorization": f"Bearer {v['bearer']}"}),
                                },
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "url": "https://api.test/charge",
            "method": "POST",
            "query_string": f"token={v['query']}&page=1",
            "headers": {
                "Authorization": f"Bearer {v['bearer']}",
                "Cookie": f"sid={v['cookie']}",
                "User-Agent": "curl/8.5",
            },
            "data": {"card": "4242", "api_key": v["data"]},
            "env": {"REMOTE_ADDR": "127.0.0.1"},
        },
        "breadcrumbs": {
            "values": [
                {
                    "type": "http",
                    "category": "httplib",
                    "level": "info",
                    "data": {
                        "url": f"https://upstream.test/v1?api_key={v['crumb']}",
                        "method": "GET",
                        "status_code": 200,
                    },
                },
                {"type": "default", "category": "log", "level": "info", "message": f"retrying with {v['key']}"},
            ]
        },
        "extra": {"sys.argv": ["app.py"]},
    }


@pytest.mark.slow
def test_sentry_before_send_leaves_no_canary(make_canary: Callable[[str], str]) -> None:
    """A Sentry event (exception values, frame vars, request headers and cookies, breadcrumbs) comes back with
    every secret masked and its structure intact."""
    # The default redactor masks every value a live Secret carries in this process: values of vaults an
    # earlier test on this worker left for the garbage collector ("for", "curl/8.5") would mask this event's
    # ordinary words, depending on when the collector last ran. Collect them first.
    gc.collect()
    values = {name: make_canary(name) for name in ("key", "password", "bearer", "cookie", "query", "data", "crumb")}
    strongroom.redact.register(values["key"], "payment_key")  # only this one is known; the rest are shapes
    event = _sentry_event(values)
    out = strongroom.redact.sentry_before_send(event, {})
    assert_not_leaked(values.values(), json.dumps(out), repr(out))
    assert out["exception"]["values"][0]["value"] == "card declined for key [REDACTED:payment_key]"
    assert out["request"]["headers"]["Authorization"] == "[REDACTED:Authorization]"
    assert out["request"]["headers"]["User-Agent"] == "curl/8.5"
    assert out["breadcrumbs"]["values"][0]["data"]["status_code"] == 200
    assert out["exception"]["values"][0]["stacktrace"]["frames"][0]["lineno"] == 42
    assert values["key"] in json.dumps(event), "the input event must not be modified"


def test_sentry_request_cookies_are_masked() -> None:
    """Cookies in Sentry's ``request.cookies`` are masked like the Cookie header they come from."""
    session = _random(6, 32)
    event = {"request": {"headers": {"Cookie": f"sid={session}"}, "cookies": {"sid": session}}}
    assert_not_leaked([session], repr(strongroom.redact.sentry_before_send(event, {})))


# -- RedactingWriter ------------------------------------------------------------------------------------------


def test_writer_masks_a_value_split_across_writes(make_canary: Callable[[str], str]) -> None:
    """A secret written in two write() calls, split mid-value, is still masked."""
    canary = make_canary("split")
    target = io.StringIO()
    writer = strongroom.redact.RedactingWriter(target, _redactor((canary, "split_key")))
    half = len(canary) // 2
    writer.write(f"token {canary[:half]}")
    assert target.getvalue() == ""
    writer.write(f"{canary[half:]} done\nnext")
    assert target.getvalue() == "token [REDACTED:split_key] done\n"
    writer.close()
    assert target.getvalue() == "token [REDACTED:split_key] done\nnext"


def test_writer_lets_a_partial_line_out_on_flush_and_close(make_canary: Callable[[str], str]) -> None:
    """A line with no newline waits for it, goes out (redacted) on flush() (a prompt must show) and on close()."""
    canary = make_canary("tail")
    target = io.StringIO()
    writer = strongroom.redact.RedactingWriter(target, _redactor((canary, "tail_key")))
    writer.write(f"prompt {canary}")
    assert target.getvalue() == ""
    writer.flush()
    assert target.getvalue() == "prompt [REDACTED:tail_key]"
    writer.write(f"last words {canary}")
    writer.close()
    assert target.getvalue() == "prompt [REDACTED:tail_key]last words [REDACTED:tail_key]"
    assert writer.closed


def test_writer_is_thread_safe(make_canary: Callable[[str], str]) -> None:
    """Lines written from many threads at once all arrive whole, each masked."""
    canary = make_canary("threads")
    target = io.StringIO()
    writer = strongroom.redact.RedactingWriter(target, _redactor((canary, "t")))
    threads_n, lines_n = 8, 200

    def work(number: int) -> None:
        for index in range(lines_n):
            writer.write(f"thread {number} line {index} {canary}\n")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    lines = target.getvalue().splitlines()
    assert sorted(lines) == sorted(
        f"thread {n} line {i} [REDACTED:t]" for n in range(threads_n) for i in range(lines_n)
    )


def _pem(seed: int) -> str:
    """A PEM-shaped key of random bytes (the marker split so the repository's scanner sees no key)."""
    body = base64.b64encode(random.Random(seed).randbytes(200)).decode()  # noqa: S311 -- test data
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN " + "PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END " + "PRIVATE KEY-----\n"


class Writes(io.StringIO):
    """A target that remembers each write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


def _pem_lines(pem: str) -> list[str]:
    return [pem, *(line for line in pem.splitlines() if len(line) >= 8)]


def test_writer_holds_a_multi_line_value_until_it_is_whole() -> None:
    """A registered PEM key written a line at a time, flushed after each, comes out as one mask; the line
    before it is not held back, and the line after goes out with it."""
    pem = _pem(1)
    target = Writes()
    writer = strongroom.redact.RedactingWriter(target, _redactor((pem, "pem_key")))
    writer.write("starting\n")
    assert target.getvalue() == "starting\n"
    for line in pem.splitlines(keepends=True):
        writer.write(line)
        writer.flush()
    writer.write("done\n")
    assert target.getvalue() == "starting\n[REDACTED:pem_key]done\n"
    assert_not_leaked(_pem_lines(pem), target.getvalue())


@pytest.mark.parametrize("seed", range(5))
def test_writer_masks_a_multi_line_value_cut_anywhere(seed: int) -> None:
    """The PEM key inside other output, written in pieces cut at random places, never shows."""
    pem = _pem(seed)
    text = f"key follows: {pem}and more\nlast line\n"
    rng = random.Random(seed)  # noqa: S311 -- test data
    cuts = sorted(rng.sample(range(1, len(text)), 12))
    target = io.StringIO()
    writer = strongroom.redact.RedactingWriter(target, _redactor((pem, "pem_key")))
    for start, end in zip([0, *cuts], [*cuts, len(text)], strict=True):
        writer.write(text[start:end])
    writer.close()
    assert target.getvalue() == "key follows: [REDACTED:pem_key]and more\nlast line\n"


def test_writer_lets_out_a_look_alike_once_it_diverges() -> None:
    """Lines that begin like a registered multi-line value but then differ are let out as soon as they differ."""
    value = "\n".join(_random(seed, 30) for seed in (11, 12, 13))
    first, second, _ = value.splitlines(keepends=True)
    target = io.StringIO()
    writer = strongroom.redact.RedactingWriter(target, _redactor((value, "multi_key")))
    writer.write(first + second)
    writer.flush()
    assert target.getvalue() == ""
    writer.write("not the rest of it\n")
    assert target.getvalue() == first + second + "not the rest of it\n"


def test_writer_holds_an_unregistered_pem_block_until_its_end_line() -> None:
    """A private key nobody registered is let out in one piece, BEGIN to END, so the rules see it whole."""
    pem = _pem(9)
    target = Writes()
    writer = strongroom.redact.RedactingWriter(target, _redactor())
    for line in pem.splitlines(keepends=True):
        writer.write(line)
    assert len(target.writes) == 1
    assert target.writes[0].startswith("[REDACTED:") or "-----BEGIN" in target.writes[0]
    assert "-----END" in target.writes[0] or target.writes[0].endswith("]\n")


def test_writer_lets_a_certificate_out_line_by_line() -> None:
    """A PEM block that is no private key (a certificate) is not held: each line goes out as it comes."""
    target = Writes()
    writer = strongroom.redact.RedactingWriter(target, _redactor())
    writer.write("-----BEGIN " + "CERTIFICATE-----\n")
    writer.write(_random(21, 64) + "\n")
    assert target.writes == ["-----BEGIN " + "CERTIFICATE-----\n", _random(21, 64) + "\n"]
