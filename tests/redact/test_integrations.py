"""Where redaction plugs in: stdlib logging (``install()``), tracebacks and excepthooks, uvicorn's logging config,
structlog, Sentry's ``before_send`` and ``RedactingWriter``."""

from __future__ import annotations

import gc
import io
import json
import logging
import random
import string
import subprocess
import sys
import textwrap
import threading
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
    before = (logging.Logger.addHandler, sys.excepthook, threading.excepthook)
    state = Installed()
    try:
        yield state
    finally:
        strongroom.redact.uninstall()
        assert (logging.Logger.addHandler, sys.excepthook, threading.excepthook) == before
        for logger, handler in state.added:
            assert _filters(handler) == 0, logger.name
            logger.removeHandler(handler)
        for logger, level in state.levels.items():
            logger.setLevel(level)


def test_uninstall_drops_the_process_wide_redactor(installed: Installed) -> None:
    """After uninstall(), default() is a new redactor: a reset leaves nothing of the old one in use."""
    first = strongroom.redact.install().redactor
    strongroom.redact.uninstall()
    assert strongroom.redact.default() is not first
    strongroom.redact.uninstall()  # idempotent


def _filters(handler: logging.Handler) -> int:
    return sum(isinstance(f, RedactingFilter) for f in handler.filters)


def test_install_is_idempotent(installed: Installed) -> None:
    """Two install() calls leave one redacting filter per handler and wrap Logger.addHandler only once."""
    installed.handler(logging.getLogger("redact.idem.before"))
    first = strongroom.redact.install()
    wrapped = logging.Logger.addHandler
    second = strongroom.redact.install()
    assert first is second
    assert logging.Logger.addHandler is wrapped
    installed.handler(logging.getLogger("redact.idem.after"))
    for logger, handler in installed.added:
        assert _filters(handler) == 1, logger.name


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
    logger.info(
        "request done",
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
    assert record.getMessage() == "request done"


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
