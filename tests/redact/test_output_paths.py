"""Every output path of a process after ``strongroom.redact.install()``, each in a fresh process whose real stdout and
stderr are captured: a registered PEM-shaped key (a multi-line value) and a registered 40-character key never show,
in whole or by any of the key's lines, and each path's output did arrive (its marker is there).

Logging paths write to ``sys.__stderr__``/``sys.__stdout__`` (the unwrapped streams) so that they test the record's
redaction, not the stream wrapper; the hooks are run with ``streams=False`` too, for the same reason."""

from __future__ import annotations

import base64
import json
import os
import secrets
import site
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

PRELUDE = """
import json, logging, os, sys, threading, traceback, warnings
import strongroom.redact

VALUES = json.loads(os.environ.pop("TEST_VALUES_FILE_CONTENT", '{"pem": "", "key": "", "late": ""}'))  # spawned: none
PEM, KEY = VALUES["pem"], VALUES["key"]


def install(**options):
    strongroom.redact.register(PEM, "pem_key")
    strongroom.redact.register(KEY, "api_key")
    strongroom.redact.install(**options)


def child_target(pem):
    print("MARK child printed", pem, flush=True)
    raise ValueError("MARK child failed " + pem)
"""

CASES: dict[str, tuple[str, tuple[str, ...]]] = {
    "print_stdout": (
        """
        install()
        print("MARK whole", PEM)
        for line in PEM.splitlines():
            print(line, flush=True)
        sys.stdout.write("MARK split " + KEY[:9])
        sys.stdout.write(KEY[9:] + " end\\n")
        """,
        ("MARK whole [REDACTED:pem_key]", "MARK split [REDACTED:api_key] end"),
    ),
    "print_stderr": (
        """
        install()
        print("MARK whole", PEM, file=sys.stderr)
        for line in PEM.splitlines(keepends=True):
            sys.stderr.write(line)
            sys.stderr.flush()
        print("MARK key", KEY, file=sys.stderr)
        """,
        ("MARK whole [REDACTED:pem_key]", "MARK key [REDACTED:api_key]"),
    ),
    "stdout_buffer": (
        """
        install()
        for line in ("MARK bytes " + PEM).encode().splitlines(keepends=True):
            sys.stdout.buffer.write(line)
        sys.stdout.buffer.write(KEY.encode() + b"\\n")
        print("MARK text after bytes")
        assert sys.stdout.isatty() is False and sys.stdout.fileno() == 1 and sys.stdout.encoding
        """,
        ("MARK bytes [REDACTED:pem_key]", "[REDACTED:api_key]\nMARK text after bytes"),
    ),
    "traceback_print_exc": (
        """
        install()
        try:
            raise ValueError("MARK bad key " + PEM)
        except ValueError:
            traceback.print_exc()
        """,
        ("ValueError: MARK bad key [REDACTED:pem_key]",),
    ),
    "logger_exception": (
        """
        install()
        logging.basicConfig(stream=sys.__stderr__, format="%(levelname)s %(message)s")
        try:
            raise ValueError("bad key " + PEM)
        except ValueError:
            logging.getLogger("app").exception("MARK failed with %s", KEY)
        """,
        ("ERROR MARK failed with [REDACTED:api_key]", "ValueError: bad key [REDACTED:pem_key]"),
    ),
    "handler_by_assignment": (
        """
        install()
        logger = logging.getLogger("assigned")
        logger.handlers = [logging.StreamHandler(sys.__stderr__)]
        logger.propagate = False
        logger.error("MARK assigned %s %s", PEM, KEY)
        """,
        ("MARK assigned [REDACTED:pem_key]",),
    ),
    "json_formatter_exc_info": (
        """
        class Json(logging.Formatter):
            def format(self, record):
                kind, value, tb = record.exc_info
                return json.dumps({"msg": record.getMessage(), "type": kind.__name__,
                                   "exc": "".join(traceback.format_exception(kind, value, tb))})

        install()
        handler = logging.StreamHandler(sys.__stdout__)
        handler.setFormatter(Json())
        logging.getLogger("json").addHandler(handler)
        try:
            try:
                raise KeyError(KEY)
            except KeyError as cause:
                raise ValueError("bad key " + PEM) from cause
        except ValueError:
            logging.getLogger("json").exception("MARK json")
        """,
        ('"msg": "MARK json", "type": "ValueError"', "ValueError: bad key [REDACTED:pem_key]", "KeyError"),
    ),
    "queue_listener": (
        """
        import logging.handlers, queue
        install()
        q = queue.Queue()
        listener = logging.handlers.QueueListener(q, logging.StreamHandler(sys.__stderr__))
        listener.start()
        logger = logging.getLogger("queued")
        logger.addHandler(logging.handlers.QueueHandler(q))
        logger.propagate = False
        try:
            raise ValueError("bad key " + PEM)
        except ValueError:
            logger.exception("MARK queued %s", KEY)
        listener.stop()
        """,
        ("MARK queued [REDACTED:api_key]", "ValueError: bad key [REDACTED:pem_key]"),
    ),
    "uvicorn_error_log": (
        """
        import logging.config
        from uvicorn.config import LOGGING_CONFIG
        install()
        logging.config.dictConfig(LOGGING_CONFIG)
        try:
            raise ValueError("bad key " + PEM)
        except ValueError:
            logging.getLogger("uvicorn.error").exception("MARK uvicorn")
        """,
        ("MARK uvicorn", "ValueError: bad key [REDACTED:pem_key]"),
    ),
    "excepthook": (
        """
        install(streams=False)
        raise ValueError("MARK uncaught " + PEM)
        """,
        ("ValueError: MARK uncaught [REDACTED:pem_key]",),
    ),
    "thread_excepthook": (
        """
        install(streams=False)
        def work():
            raise ValueError("MARK thread " + PEM)
        thread = threading.Thread(target=work, name="worker")
        thread.start()
        thread.join()
        """,
        ("Exception in thread worker", "ValueError: MARK thread [REDACTED:pem_key]"),
    ),
    "unraisablehook": (
        """
        install(streams=False)
        class Holder:
            def __del__(self):
                raise ValueError("MARK in del " + PEM)
        Holder()
        """,
        ("Exception ignored in", "ValueError: MARK in del [REDACTED:pem_key]"),
    ),
    "warnings_warn": (
        """
        install(streams=False)
        warnings.warn("MARK warned " + PEM, stacklevel=1)
        """,
        ("UserWarning: MARK warned [REDACTED:pem_key]",),
    ),
    "asyncio_handler": (
        """
        import asyncio
        install(streams=False)

        async def main():  # the loop is made after install()
            loop = asyncio.get_running_loop()
            loop.call_exception_handler({"message": "MARK asyncio " + KEY, "exception": ValueError(PEM)})

        asyncio.run(main())
        """,
        ("MARK asyncio [REDACTED:api_key]", "ValueError: [REDACTED:pem_key]"),
    ),
    "structlog_default": (
        """
        import structlog
        install()
        structlog.get_logger().info("MARK structlog", key=PEM, token=KEY)
        """,
        ("MARK structlog",),
    ),
    "multiprocessing_fork": (
        """
        import multiprocessing
        if __name__ == "__main__":
            install()
            process = multiprocessing.get_context("fork").Process(target=child_target, args=(PEM,))
            process.start()
            process.join()
        """,
        ("MARK child printed [REDACTED:pem_key]", "ValueError: MARK child failed [REDACTED:pem_key]"),
    ),
    "multiprocessing_spawn": (
        """
        import multiprocessing
        if __name__ == "__main__":
            install()
            process = multiprocessing.get_context("spawn").Process(target=child_target, args=(PEM,))
            process.start()
            process.join()
        """,
        ("MARK child printed [REDACTED:pem_key]", "ValueError: MARK child failed [REDACTED:pem_key]"),
    ),
    "subprocess_python": (
        """
        import subprocess
        install()
        code = (
            "import os, stat, sys; v = sys.stdin.read(); "
            "print('MARK env clean', all(v not in x and sys.argv[1] not in x for x in os.environ.values())); "
            "print('MARK file mode', oct(stat.S_IMODE(os.stat(sys.argv[2]).st_mode))); "
            "print('MARK late', sys.argv[1]); "
            "print('MARK child printed', v); raise ValueError('MARK child failed ' + v)"
        )
        strongroom.redact.register(VALUES["late"], "late_key")  # known after install(): the file is rewritten
        shared = os.environ["STRONGROOM_REDACT_VALUES"]  # the child's own install() points it at its own
        subprocess.run([sys.executable, "-c", code, VALUES["late"], shared], input=PEM, text=True, check=False)
        """,
        (
            "MARK env clean True",
            "MARK late [REDACTED:late_key]",
            "MARK file mode 0o600",
            "MARK child printed [REDACTED:pem_key]",
            "ValueError: MARK child failed [REDACTED:pem_key]",
        ),
    ),
}


CHILD_PYTHONS = frozenset({"multiprocessing_spawn", "subprocess_python"})  # need the .pth installed


def pem_canary() -> str:
    """A PEM-shaped private key made of random bytes (split so the repository's scanner sees no key)."""
    body = base64.b64encode(secrets.token_bytes(48 * 6)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN " + "PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END " + "PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def values() -> dict[str, str]:
    return {"pem": pem_canary(), "key": "k" + secrets.token_urlsafe(30)[:39], "late": "l" + secrets.token_hex(16)}


@pytest.fixture(scope="module")
def results(
    values: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case, run at once (two at a time: the machine's cores)."""
    root = tmp_path_factory.mktemp("paths")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_REDACT")}
    env["TEST_VALUES_FILE_CONTENT"] = json.dumps(values)  # the test's canaries, handed to the script only

    def run(name: str) -> subprocess.CompletedProcess[str]:
        script = root / f"{name}.py"
        script.write_text(textwrap.dedent(PRELUDE) + textwrap.dedent(CASES[name][0]), encoding="utf-8")
        return subprocess.run(
            [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False, env=env, cwd=root
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CASES, pool.map(run, CASES), strict=True))


def _leaks(values: dict[str, str], text: str) -> list[str]:
    pieces = [values["pem"], values["pem"].strip(), values["key"], values["late"]]
    pieces += [line for line in values["pem"].splitlines() if len(line) >= 8]
    return [piece[:20] + "..." for piece in pieces if piece in text]


@pytest.mark.parametrize("case", list(CASES))
def test_output_path_leaks_nothing(
    case: str, values: dict[str, str], results: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    """The path's output arrived (with its masks) and holds neither key, nor any line of the PEM key."""
    if case in CHILD_PYTHONS and not any((Path(p) / "strongroom_redact.pth").exists() for p in site.getsitepackages()):
        pytest.fail("strongroom_redact.pth is not in site-packages: reinstall (pip install -e .) to get it")
    result = results[case]
    output = result.stdout + result.stderr
    assert "Error processing line" not in result.stderr, result.stderr  # the .pth failed
    for expected in CASES[case][1]:
        assert expected in output, (expected, output[-3000:])
    assert _leaks(values, output) == [], output[-3000:]


def test_a_control_without_install_does_leak(values: dict[str, str], tmp_path: Path) -> None:
    """Control: the same printing without install() shows the key, so the cases above are redaction's doing."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_REDACT")}
    env["TEST_VALUES_FILE_CONTENT"] = json.dumps(values)
    script = tmp_path / "control.py"
    script.write_text(textwrap.dedent(PRELUDE) + "print(PEM)\nraise ValueError(PEM)\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=False, env=env)
    assert values["pem"] in result.stdout
    assert _leaks(values, result.stderr)


def test_the_startup_module_runs_a_script_with_redaction_on(tmp_path: Path) -> None:
    """``python -m strongroom.redact.startup script.py ARGS``, the fallback where the .pth is not installed, runs
    the script as ``__main__`` with its arguments, after install()."""
    script = tmp_path / "app.py"
    script.write_text("import sys\nprint(__name__, type(sys.stdout).__name__, sys.argv[1:])\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_REDACT")}
    result = subprocess.run(
        [sys.executable, "-m", "strongroom.redact.startup", str(script), "one", "two"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "__main__ _StdWriter ['one', 'two']\n"
