"""The output paths: each is a snippet run in a fresh process after the value became known, with ``V`` (the value),
``MARK`` (printed beside it, so the path's output is known to have arrived), ``OUT`` (a directory for log files,
searched too), ``WORK`` (the working directory, not searched) and ``install`` (``strongroom.redact.install``) in its globals.

Kept light at import: ``multiprocessing`` spawn children import this module again.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

WAYS = ("register", "secret", "config")
MARK = "LEAKMARK"


@dataclass(frozen=True)
class Path:
    name: str
    group: str
    code: str
    ways: tuple[str, ...] = WAYS
    marks: int = 1  # how many times MARK must show: each emission of the path arrived


def child_print_log_raise(value: str) -> None:
    """A multiprocessing child: prints, logs and raises with the value (its logging as the parent left it)."""
    import logging

    print(MARK, "child printed", value, flush=True)
    logging.getLogger("child").error("%s child logged %s", MARK, value)
    raise ValueError(f"{MARK} child failed {value}")


def child_print(value: str) -> None:
    print(MARK, "child printed", value, flush=True)


def child_log(value: str) -> None:
    import logging

    logging.getLogger("child").error("%s child logged %s", MARK, value)


def child_raise(value: str) -> None:
    raise ValueError(f"{MARK} child failed {value}")


def child_pool_task(value: str) -> str:
    raise ValueError(f"{MARK} pool task failed {value}")


PATHS: list[Path] = []


def path(name: str, group: str, code: str, *, ways: tuple[str, ...] = WAYS, marks: int = 1) -> None:
    PATHS.append(Path(name, group, code, ways, marks))


# --- logging -------------------------------------------------------------------------------------------------------
L = "logging"
path("log_percent_arg", L, """
install(); logging.basicConfig(format="%(levelname)s %(message)s")
logging.getLogger("app").warning("%s connecting with %s", MARK, V)
""")
path("log_fstring", L, """
install(); logging.basicConfig(format="%(levelname)s %(message)s")
logging.getLogger("app").error(f"{MARK} connecting with {V}")
""")
path("log_dict_arg_repr", L, """
install(); logging.basicConfig()
logging.getLogger("app").error("%s config %r", MARK, {"password": V, "tuple": (V,)})
""")
path("log_mapping_args", L, """
install(); logging.basicConfig()
logging.getLogger("app").error("%(mark)s %(value)s", {"mark": MARK, "value": V})
""")
path("log_exception", L, """
install(); logging.basicConfig()
try:
    raise ValueError("bad key " + V)
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)
""")
path("log_exc_info_true", L, """
install(); logging.basicConfig()
try:
    raise RuntimeError(V)
except RuntimeError:
    logging.getLogger("app").error("%s failed", MARK, exc_info=True)
""")
path("log_exc_info_instance", L, """
install(); logging.basicConfig()
error = KeyError(V)
logging.getLogger("app").error("%s failed", MARK, exc_info=error)
""")
path("log_exception_chained", L, """
install(); logging.basicConfig()
try:
    try:
        raise KeyError(V)
    except KeyError as cause:
        raise ValueError("wrapped " + V) from cause
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)
""")
path("log_exception_notes", L, """
install(); logging.basicConfig()
try:
    error = ValueError("plain")
    error.add_note("note: " + V)
    raise error
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)
""")
path("log_exception_group", L, """
install(); logging.basicConfig()
try:
    raise ExceptionGroup("group", [ValueError(V), KeyError(V)])
except ExceptionGroup:
    logging.getLogger("app").exception("%s failed", MARK)
""")
path("log_stack_info", L, """
install(); logging.basicConfig()
logging.getLogger("app").error("%s at %s", MARK, V, stack_info=True)
""")
path("log_extra_formatter_field", L, """
install(); logging.basicConfig(format="%(message)s token=%(token)s")
logging.getLogger("app").error("%s extra", MARK, extra={"token": V})
""")
path("log_extra_nested", L, """
install(); logging.basicConfig(format="%(message)s ctx=%(ctx)s")
logging.getLogger("app").error("%s extra", MARK, extra={"ctx": {"db": {"url_part": V}}})
""")
path("log_logger_adapter", L, """
install(); logging.basicConfig(format="%(message)s user=%(user)s")
adapter = logging.LoggerAdapter(logging.getLogger("app"), {"user": V})
adapter.error("%s adapted", MARK)
""")
path("log_file_handler", L, """
install()
handler = logging.FileHandler(os.path.join(OUT, "app.log"))
logging.getLogger().addHandler(handler)
logging.getLogger("app").error("%s to file %s", MARK, V)
""")
path("log_basicconfig_filename", L, """
install(); logging.basicConfig(filename=os.path.join(OUT, "basic.log"))
logging.getLogger("app").error("%s to file %s", MARK, V)
""")
path("log_rotating_file", L, """
import logging.handlers
install()
handler = logging.handlers.RotatingFileHandler(os.path.join(OUT, "rot.log"), maxBytes=1 << 20)
logging.getLogger().addHandler(handler)
try:
    raise ValueError(V)
except ValueError:
    logging.getLogger("app").exception("%s rotated", MARK)
""")
path("log_handler_before_install", L, """
logging.basicConfig(stream=sys.stderr)
install()
logging.getLogger("app").error("%s configured first %s", MARK, V)
""")
path("log_handlers_assigned", L, """
install()
logger = logging.getLogger("assigned")
logger.handlers = [logging.StreamHandler(sys.__stderr__)]
logger.propagate = False
logger.error("%s assigned %s", MARK, V)
""")
path("log_dictconfig", L, """
import logging.config
install()
logging.config.dictConfig({"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
                           "root": {"handlers": ["h"], "level": "INFO"}})
logging.getLogger("app").info("%s dictconfig %s", MARK, V)
""")
path("log_last_resort", L, """
install()
logging.getLogger("nohandlers").error("%s last resort %s", MARK, V)
""")
path("log_handle_override", L, """
install()
class Handler(logging.StreamHandler):
    def handle(self, record):
        self.emit(record)
        return True
logger = logging.getLogger("custom")
logger.addHandler(Handler(sys.__stderr__))
logger.propagate = False
logger.error("%s custom handle %s", MARK, V)
""")
path("log_custom_emit_raw_args", L, """
install()
class Handler(logging.Handler):
    def emit(self, record):
        sys.__stderr__.write(f"{record.msg} {record.args}\\n")
logger = logging.getLogger("custom")
logger.addHandler(Handler())
logger.propagate = False
logger.error("%s raw %s", MARK, V)
""")
path("log_handler_filter_injects", L, """
install()
class Inject(logging.Filter):
    def filter(self, record):
        record.context = "ctx " + V
        return True
handler = logging.StreamHandler(sys.__stderr__)
handler.addFilter(Inject())
handler.setFormatter(logging.Formatter("%(message)s %(context)s"))
logging.getLogger().addHandler(handler)
logging.getLogger("app").error("%s injected", MARK)
""")
path("log_queue_listener", L, """
import logging.handlers, queue
install()
q = queue.Queue()
listener = logging.handlers.QueueListener(q, logging.StreamHandler(sys.__stderr__))
listener.start()
logger = logging.getLogger("queued")
logger.addHandler(logging.handlers.QueueHandler(q))
logger.propagate = False
try:
    raise ValueError("bad " + V)
except ValueError:
    logger.exception("%s queued %s", MARK, V)
listener.stop()
""")
path("log_queue_handler_before_install", L, """
import logging.handlers, queue
q = queue.Queue()
listener = logging.handlers.QueueListener(q, logging.StreamHandler(sys.__stderr__))
logger = logging.getLogger("queued")
logger.addHandler(logging.handlers.QueueHandler(q))
logger.propagate = False
install()
listener.start()
logger.error("%s queued %s", MARK, V)
listener.stop()
""")
path("log_memory_handler", L, """
import logging.handlers
install()
target = logging.StreamHandler(sys.__stderr__)
memory = logging.handlers.MemoryHandler(100, target=target)
logger = logging.getLogger("mem")
logger.addHandler(memory)
logger.propagate = False
logger.error("%s buffered %s", MARK, V)
memory.close()
""")
path("log_json_formatter_exc_info", L, """
class Json(logging.Formatter):
    def format(self, record):
        kind, value, tb = record.exc_info
        return json.dumps({"msg": record.getMessage(), "type": kind.__name__, "error": str(value),
                           "exc": "".join(traceback.format_exception(kind, value, tb))})
install()
handler = logging.StreamHandler(sys.__stdout__)
handler.setFormatter(Json())
logging.getLogger("json").addHandler(handler)
try:
    raise ValueError("bad key " + V)
except ValueError:
    logging.getLogger("json").exception("%s json", MARK)
""")
path("log_json_formatter_record_dict", L, """
class Json(logging.Formatter):
    def format(self, record):
        fields = {k: v for k, v in record.__dict__.items() if k not in ("exc_info", "args")}
        fields["message"] = record.getMessage()
        return json.dumps(fields, default=str)
install()
handler = logging.StreamHandler(sys.__stdout__)
handler.setFormatter(Json())
logging.getLogger("json").addHandler(handler)
logging.getLogger("json").error("%s json %s", MARK, V, extra={"secret_ref": V})
""")
path("log_json_ensure_ascii_false", L, """
class Json(logging.Formatter):
    def format(self, record):
        return json.dumps({"msg": record.getMessage()}, ensure_ascii=False)
install()
handler = logging.StreamHandler(sys.__stdout__)
handler.setFormatter(Json())
logging.getLogger("json").addHandler(handler)
logging.getLogger("json").error("%s json %s", MARK, V)
""")
path("log_capture_warnings", L, """
install(); logging.basicConfig(); logging.captureWarnings(True)
warnings.warn(f"{MARK} deprecated {V}", stacklevel=1)
""")
path("log_to_stdout_handler", L, """
install()
logging.basicConfig(stream=sys.stdout)
logging.getLogger("app").error("%s to stdout %s", MARK, V)
""")
path("log_asyncio_exception_handler", L, """
import asyncio
install()
async def main():
    asyncio.get_running_loop().call_exception_handler({"message": f"{MARK} asyncio {V}", "exception": ValueError(V)})
asyncio.run(main())
""")
path("log_asyncio_task_never_retrieved", L, """
import asyncio, gc
install()
async def fail():
    raise ValueError(f"{MARK} task {V}")
async def main():
    task = asyncio.get_running_loop().create_task(fail())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    del task
asyncio.run(main())
gc.collect()
""")
path("log_uvicorn_error", L, """
import logging.config
from uvicorn.config import LOGGING_CONFIG
install()
logging.config.dictConfig(LOGGING_CONFIG)
try:
    raise ValueError("bad key " + V)
except ValueError:
    logging.getLogger("uvicorn.error").exception("%s uvicorn", MARK)
""")
path("log_uvicorn_access_percent", L, """
import logging.config
from urllib.parse import quote
from uvicorn.config import LOGGING_CONFIG
install()
logging.config.dictConfig(LOGGING_CONFIG)
access = logging.getLogger("uvicorn.access")
access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000 " + MARK, "GET", "/cb?token=" + quote(V, safe=""), "1.1", 200)
access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000 " + MARK, "GET", "/cb?token=" + quote(V, safe="").lower(), "1.1", 200)
""", marks=2)

# --- structlog -----------------------------------------------------------------------------------------------------
S = "structlog"
path("structlog_default", S, """
import structlog
install()
structlog.get_logger().info(f"{MARK} event", key=V)
""")
path("structlog_default_exception", S, """
import structlog
install()
try:
    raise ValueError(V)
except ValueError:
    structlog.get_logger().exception(f"{MARK} failed")
""")
path("structlog_json_renderer", S, """
import structlog
install()
structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
structlog.get_logger().error(f"{MARK} event", value=V)
""")
path("structlog_stdlib", S, """
import structlog
install()
logging.basicConfig(format="%(message)s")
structlog.configure(processors=[structlog.stdlib.add_log_level, structlog.processors.KeyValueRenderer()],
                    logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger)
structlog.get_logger("app").error(f"{MARK} event", value=V)
""")
path("structlog_stdlib_processor_formatter", S, """
import structlog
install()
handler = logging.StreamHandler(sys.__stderr__)
handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.processors.JSONRenderer()))
logging.getLogger().addHandler(handler)
structlog.configure(processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                    logger_factory=structlog.stdlib.LoggerFactory())
structlog.get_logger("app").error(f"{MARK} event", value=V)
""")
path("structlog_with_processor", S, """
import structlog, strongroom.redact
structlog.configure(processors=[strongroom.redact.structlog_processor, structlog.processors.JSONRenderer()],
                    logger_factory=structlog.PrintLoggerFactory(sys.__stdout__))
structlog.get_logger().error(f"{MARK} event", value=V, nested={"v": V})
""")

# --- stdout and stderr ---------------------------------------------------------------------------------------------
O = "stdout/stderr"
path("print_stdout", O, """
install()
print(MARK, V)
""")
path("print_stderr", O, """
install()
print(MARK, V, file=sys.stderr)
""")
path("print_flush_each_line", O, """
install()
print(MARK)
for line in V.splitlines(keepends=True):
    sys.stdout.write(line)
    sys.stdout.flush()
print()
""")
path("stdout_write_in_pieces", O, """
install()
sys.stdout.write(MARK + " " + V[:3])
sys.stdout.flush()
sys.stdout.write(V[3:7])
sys.stdout.write(V[7:] + "\\n")
""")
path("stdout_write_char_by_char", O, """
install()
print(MARK, end=" ")
for ch in V:
    sys.stdout.write(ch)
    sys.stdout.flush()
print()
""")
path("stderr_write_in_pieces", O, """
install()
half = len(V) // 2
sys.stderr.write(MARK + " " + V[:half])
sys.stderr.flush()
sys.stderr.write(V[half:] + "\\n")
""")
path("stdout_writelines", O, """
install()
sys.stdout.writelines([MARK, " ", V, "\\n"])
""")
path("print_no_newline_at_exit", O, """
install()
print(MARK, V, end="")
""")
path("print_bytes_repr", O, """
install()
print(MARK, V.encode())
""")
path("print_repr_and_ascii", O, """
install()
print(MARK, repr(V), ascii(V), [V])
""")
path("print_json_dumps", O, """
install()
print(MARK, json.dumps({"v": V}), json.dumps({"v": V}, ensure_ascii=False))
""")
path("print_pprint", O, """
import pprint
install()
print(MARK)
pprint.pprint({"config": {"value": V}})
""")
path("stdout_buffer_write", O, """
install()
sys.stdout.buffer.write((MARK + " " + V + "\\n").encode())
""")
path("stdout_buffer_in_pieces", O, """
install()
data = (MARK + " " + V + "\\n").encode()
for i in range(0, len(data), 5):
    sys.stdout.buffer.write(data[i:i + 5])
    sys.stdout.buffer.flush()
""")
path("stdout_buffer_utf16", O, """
install()
print(MARK, flush=True)
sys.stdout.buffer.write(V.encode("utf-16-le") + b"\\n")
""")
path("sys_dunder_stdout", O, """
install()
sys.__stdout__.write(MARK + " " + V + "\\n")
""")
path("sys_dunder_stderr", O, """
install()
sys.__stderr__.write(MARK + " " + V + "\\n")
""")
path("os_write_fd1", O, """
install()
os.write(1, (MARK + " " + V + "\\n").encode())
""")
path("open_fd1_directly", O, """
install()
with open(1, "w", closefd=False) as out:
    out.write(MARK + " " + V + "\\n")
""")
path("print_before_install_flushed_after", O, """
sys.stdout.write(MARK + " " + V)
install()
print()
""")
path("contextlib_redirect_then_print", O, """
import contextlib, io
install()
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    print(MARK, V)
print(buffer.getvalue(), end="")
""")
path("input_prompt", O, """
install()
sys.stdin = open(os.devnull)
try:
    input(MARK + " " + V + "> ")
except EOFError:
    pass
""")

# --- tracebacks, hooks, warnings -----------------------------------------------------------------------------------
T = "tracebacks/hooks/warnings"
path("traceback_print_exc", T, """
install()
try:
    raise ValueError(MARK + " bad " + V)
except ValueError:
    traceback.print_exc()
""")
path("traceback_print_exception", T, """
install()
traceback.print_exception(ValueError(MARK + " bad " + V))
""")
path("traceback_format_exc_printed", T, """
install()
try:
    raise KeyError(V)
except KeyError:
    text = traceback.format_exc()
print(MARK, text)
""")
path("uncaught_exception", T, """
install()
raise ValueError(MARK + " uncaught " + V)
""")
path("uncaught_exception_hook_only", T, """
install(streams=False)
raise ValueError(MARK + " uncaught " + V)
""")
path("uncaught_chained", T, """
install()
try:
    raise KeyError(V)
except KeyError as cause:
    raise RuntimeError(MARK + " wrapped") from cause
""")
path("uncaught_with_notes", T, """
install()
error = ValueError(MARK)
error.add_note(V)
raise error
""")
path("uncaught_exception_group", T, """
install()
raise ExceptionGroup(MARK, [ValueError(V), TypeError(V)])
""")
path("uncaught_in_thread", T, """
install()
def work():
    raise ValueError(MARK + " thread " + V)
thread = threading.Thread(target=work, name="worker")
thread.start()
thread.join()
""")
path("uncaught_in_thread_hook_only", T, """
install(streams=False)
def work():
    raise ValueError(MARK + " thread " + V)
thread = threading.Thread(target=work)
thread.start()
thread.join()
""")
path("unraisable_del", T, """
install()
class Holder:
    def __del__(self):
        raise ValueError(MARK + " in del " + V)
Holder()
""")
path("unraisable_del_hook_only", T, """
install(streams=False)
class Holder:
    def __del__(self):
        raise ValueError(MARK + " in del " + V)
Holder()
""")
path("asyncio_run_uncaught", T, """
import asyncio
install()
async def main():
    raise ValueError(MARK + " async " + V)
asyncio.run(main())
""")
path("warnings_warn", T, """
install()
warnings.warn(MARK + " warned " + V, stacklevel=1)
""")
path("warnings_warn_explicit", T, """
install()
warnings.warn_explicit(MARK + " explicit " + V, UserWarning, "config.py", 7)
""")
path("warnings_hook_only", T, """
install(streams=False)
warnings.warn(MARK + " warned " + V, stacklevel=1)
""")

# --- child processes -----------------------------------------------------------------------------------------------
C = "child processes"
path("mp_fork_print", C, """
import multiprocessing
install()
p = multiprocessing.get_context("fork").Process(target=cells.child_print, args=(V,)); p.start(); p.join()
""")
path("mp_fork_log", C, """
import multiprocessing
install(); logging.basicConfig()
p = multiprocessing.get_context("fork").Process(target=cells.child_log, args=(V,)); p.start(); p.join()
""")
path("mp_fork_uncaught", C, """
import multiprocessing
install()
p = multiprocessing.get_context("fork").Process(target=cells.child_raise, args=(V,)); p.start(); p.join()
""")
path("mp_fork_pool_error_logged", C, """
import multiprocessing
install(); logging.basicConfig()
with multiprocessing.get_context("fork").Pool(1) as pool:
    try:
        pool.apply(cells.child_pool_task, (V,))
    except ValueError:
        logging.getLogger("app").exception("pool task failed")
""")
path("mp_spawn_print_log_raise", C, """
import multiprocessing
install(); logging.basicConfig()
p = multiprocessing.get_context("spawn").Process(target=cells.child_print_log_raise, args=(V,)); p.start(); p.join()
""", marks=2)  # printed and raised (a spawned child starts with logging unconfigured: its log goes to last resort)
path("mp_forkserver_print_raise", C, """
import multiprocessing
install()
p = multiprocessing.get_context("forkserver").Process(target=cells.child_print_log_raise, args=(V,)); p.start(); p.join()
""", marks=2)
path("subprocess_python_print_raise", C, """
import subprocess
install()
code = "import sys; v = sys.stdin.read(); print('LEAKMARK child', v, flush=True); raise ValueError('LEAKMARK ' + v)"
subprocess.run([sys.executable, "-c", code], input=V, text=True, check=False)
""", marks=2)
path("subprocess_python_logging", C, """
import subprocess
install()
code = "import logging, sys; logging.basicConfig(); logging.error('LEAKMARK child %s', sys.stdin.read())"
subprocess.run([sys.executable, "-c", code], input=V, text=True, check=False)
""")
path("subprocess_captured_then_printed", C, """
import subprocess
install()
code = "import sys; sys.stdout.write(sys.stdin.read())"
result = subprocess.run([sys.executable, "-S", "-c", code], input=V, capture_output=True, text=True, check=False)
print(MARK, result.stdout)
""")
path("subprocess_shell_child", C, """
import subprocess
install()
subprocess.run(["sh", "-c", 'printf "LEAKMARK %s\\\\n" "$(cat)"'], input=V, text=True, check=False)
""")
path("os_system_shell", C, """
install()
with open(os.path.join(WORK, "value.in"), "w") as f:
    f.write(V)
os.system("printf 'LEAKMARK '; cat " + os.path.join(WORK, "value.in"))
""")
path("subprocess_python_no_site", C, """
import subprocess
install()
code = "import sys; print('LEAKMARK child', sys.stdin.read())"
subprocess.run([sys.executable, "-S", "-c", code], input=V, text=True, check=False)
""")

# --- writers and `strongroom run --redact` -------------------------------------------------------------------------
W = "writers/run"
path("redacting_writer_whole", W, """
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + " " + V + "\\n")
    writer.close()
""")
path("redacting_writer_in_pieces", W, """
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + " ")
    for i in range(0, len(V), 3):
        writer.write(V[i:i + 3])
        writer.flush()
    writer.close()
""")
path("redacting_writer_lines_flushed", W, """
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + "\\n")
    for line in V.splitlines(keepends=True):
        writer.write(line)
        writer.flush()
    writer.close()
""")
RUN_SETUP = """
import strongroom.cli.main
sys.path.insert(0, WORK)
with open(os.path.join(WORK, "leakschema.py"), "w") as f:
    f.write("from strongroom import Secret\\nfrom strongroom.config import Settings, secret\\n"
            "class LeakSettings(Settings):\\n    leak_value: Secret[str] = secret()\\n")
os.environ.update(LEAK_VALUE=V, STRONGROOM_HOME=os.path.join(WORK, "home"), STRONGROOM_SECRETS_DIR=WORK)
def run(*command):
    try:
        strongroom.cli.main.main(["run", "--redact", "--schema", "leakschema:LeakSettings", "--", *command])
    except SystemExit:
        pass
"""
path("run_redact_shell_printf", W, RUN_SETUP + """
run("sh", "-c", 'printf "LEAKMARK %s\\\\n" "$LEAK_VALUE"; printf "LEAKMARK %s\\\\n" "$LEAK_VALUE" >&2')
""", ways=("config",), marks=2)
path("run_redact_python_lines", W, RUN_SETUP + """
run(sys.executable, "-S", "-c", "import os, sys\\nprint('LEAKMARK', flush=True)\\n"
    "for line in os.environ['LEAK_VALUE'].splitlines(True):\\n    sys.stdout.write(line); sys.stdout.flush()\\nprint()")
""", ways=("config",))
path("run_redact_python_pieces", W, RUN_SETUP + """
run(sys.executable, "-S", "-c", "import os, sys\\nv = os.environ['LEAK_VALUE']\\nsys.stdout.write('LEAKMARK ')\\n"
    "for i in range(0, len(v), 4):\\n    sys.stdout.write(v[i:i + 4]); sys.stdout.flush()\\nprint()")
""", ways=("config",))
path("run_redact_python_traceback", W, RUN_SETUP + """
run(sys.executable, "-S", "-c", "import os\\nraise ValueError('LEAKMARK ' + os.environ['LEAK_VALUE'])")
""", ways=("config",))


def by_name() -> dict[str, Path]:
    return {p.name: p for p in PATHS}


if __name__ == "__main__":  # pragma: no cover -- a listing for humans
    for p in PATHS:
        sys.stdout.write(f"{p.group:28} {p.name}\n")
