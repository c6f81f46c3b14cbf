"""ACCEPTANCE: an app that calls ``strongroom.redact.install()`` and uses a vault secret everywhere an app leaks
one (log arguments, f-strings, ``extra=``, structlog, exceptions and their locals, HTTP headers and query strings,
an uncaught exception) prints and writes no trace of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom.redact import encodings
from strongroom.testing import assert_not_leaked

APP = textwrap.dedent('''
    import base64, json, logging, os, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from pathlib import Path

    import httpx
    import structlog

    import strongroom.redact
    from strongroom.crypto import LocalKeyProvider
    from strongroom.vault import Vault

    strongroom.redact.install()
    work = Path(sys.argv[1])


    class WithExtras(logging.Formatter):
        """The message, then the record's `extra=` fields as JSON (what JSON log formatters do)."""

        STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

        def format(self, record):
            extras = {k: v for k, v in vars(record).items() if k not in self.STANDARD and not k.startswith("_")}
            text = super().format(record)
            return text + (" extras=" + json.dumps(extras, sort_keys=True, default=str) if extras else "")


    handlers = [logging.FileHandler(work / "app.log", encoding="utf-8"), logging.StreamHandler(sys.stderr)]
    for handler in handlers:
        handler.setFormatter(WithExtras("%(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=handlers)
    log = logging.getLogger("app")

    structlog.configure(processors=[structlog.processors.add_log_level, strongroom.redact.structlog_processor,
                                    structlog.processors.JSONRenderer()],
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout))
    slog = structlog.get_logger()

    keys = LocalKeyProvider.create_file(work / "keys" / "dev.json", environment="dev")
    vault = Vault.open(f"sqlite:///{work / 'vault.db'}", key_provider=keys, actor="e2e-app")
    vault.create_tenant("acme")
    vault.put("acme", "stripe_key", os.environ.pop("E2E_VALUE"))


    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            logging.getLogger("http.server").info("request headers %s", dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format, *args):  # the request line, through logging rather than raw stderr
            logging.getLogger("http.access").info(format, *args)


    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()


    def log_request(request):
        logging.getLogger("http.client").info("sending %s %s headers %s", request.method, request.url,
                                              dict(request.headers))


    secret = vault.use("acme", "stripe_key", purpose="e2e")
    with secret as s:
        value = s.reveal()
        log.info("charging with key %s", value)
        log.info(f"f-string key {value} end")
        log.info("with extras", extra={"upstream_token": value, "ctx": {"api_key": value, "note": f"k {value}"}})
        log.info("encoded b64=%s hex=%s json=%s", base64.b64encode(value.encode()).decode(),
                 value.encode().hex(), json.dumps({"k": value}))
        slog.info("structlog event", key=value, nested={"auth": f"Bearer {value}", "list": [value]})

        def charge(amount):
            card_token = value
            raise RuntimeError(f"charge of {amount} failed with key {card_token}")

        try:
            charge(100)
        except RuntimeError as exc:
            log.exception("charge failed")
            print("LOCALS", strongroom.redact.format_exception(exc, strongroom.redact.default(), with_locals=True),
                  file=sys.stderr)

        with httpx.Client(event_hooks={"request": [log_request]}) as client:
            response = client.get(f"http://127.0.0.1:{server.server_port}/charge",
                                  params={"api_key": value, "amount": "100"},
                                  headers={"Authorization": f"Bearer {value}"})
        log.info("upstream answered %s", response.status_code)
        server.shutdown()
        raise RuntimeError(f"fatal error with {value}")
''')


@pytest.fixture(scope="module")
def app_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, subprocess.CompletedProcess[str], str]:
    """Run the app once; (value, its random core, the process, the log file's text)."""
    import uuid

    work = tmp_path_factory.mktemp("e2e")
    core = f"e2e-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    value = core + '/+"!'  # so the JSON-escaped, URL-encoded and raw forms all differ
    (work / "app.py").write_text(APP, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(
        E2E_VALUE=value,
        STRONGROOM_HOME=str(work / "home"),
        PYTHONUNBUFFERED="1",
        NO_PROXY="*",
        PYTHONIOENCODING="utf-8",
    )
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(proxy, None)
    result = subprocess.run(
        [sys.executable, str(work / "app.py"), str(work)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=work,
        timeout=120,
        check=False,
    )
    log_file = work / "app.log"
    return value, core, result, log_file.read_text(encoding="utf-8") if log_file.exists() else ""


def _leak_forms(value: str, core: str) -> list[str]:
    return sorted({value, core, *encodings(value)})


@pytest.mark.slow
def test_app_leaks_no_trace_of_the_secret(app_run: tuple[str, str, subprocess.CompletedProcess[str], str]) -> None:
    """Neither stdout, stderr nor the log file holds the value, its random core, or any encoding of it."""
    value, core, result, log_text = app_run
    assert result.returncode == 1, result.stderr
    assert "RuntimeError: fatal error with [REDACTED:stripe_key]" in result.stderr, result.stderr
    assert log_text, "the app wrote no log file"
    assert_not_leaked(_leak_forms(value, core), result.stdout, result.stderr, log_text)


def test_masks_stand_where_the_value_was(app_run: tuple[str, str, subprocess.CompletedProcess[str], str]) -> None:
    """Every place the app put the value shows a mask instead, the text around it intact."""
    _, _, result, log_text = app_run
    for text in (
        "INFO app charging with key [REDACTED:stripe_key]",
        "INFO app f-string key [REDACTED:stripe_key] end",
        "INFO app encoded b64=[REDACTED:stripe_key]",
        'hex=[REDACTED:stripe_key] json={"k": "[REDACTED:stripe_key]"}',
        '"upstream_token": "[REDACTED:upstream_token]"',
        '"api_key": "[REDACTED:api_key]"',
        "ERROR app charge failed",
        "RuntimeError: charge of 100 failed with key [REDACTED:stripe_key]",
        "'authorization': '[REDACTED:",
        "'Authorization': '[REDACTED:",
        "GET /charge?api_key=[REDACTED:",
        "upstream answered 200",
    ):
        assert text in log_text, text
        assert text in result.stderr, text
    assert "card_token = '[REDACTED:stripe_key]'" in result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("{")]
    event = json.loads(line)
    assert event == {
        "event": "structlog event",
        "level": "info",
        "key": "[REDACTED:stripe_key]",
        "nested": {"auth": "[REDACTED:auth]", "list": ["[REDACTED:stripe_key]"]},  # `auth` names a secret
    }


@pytest.mark.slow
def test_the_app_really_sent_and_logged_the_value(
    app_run: tuple[str, str, subprocess.CompletedProcess[str], str], tmp_path: Path, make_canary: Callable[[str], str]
) -> None:
    """Control: the same app without install() prints the value, so the masks above are the redactor's doing."""
    _, _, result, _ = app_run
    assert "Traceback" in result.stderr
    app = APP.replace("strongroom.redact.install()\n", "", 1)
    assert app != APP
    (tmp_path / "app.py").write_text(app, encoding="utf-8")
    value = make_canary("control")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(E2E_VALUE=value, STRONGROOM_HOME=str(tmp_path / "home"), NO_PROXY="*")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(proxy, None)
    control = subprocess.run(
        [sys.executable, str(tmp_path / "app.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert control.returncode == 1, control.stderr
    assert f"charging with key {value}" in control.stderr
    assert f"'authorization': 'Bearer {value}'" in control.stderr
    assert f"RuntimeError: fatal error with {value}" in control.stderr
