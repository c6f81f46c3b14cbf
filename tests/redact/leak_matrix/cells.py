"""The output paths: each is a snippet run in a fresh process after the value became known, with ``V`` (the value),
``MARK`` (printed beside it, so the path's output is known to have arrived), ``OUT`` (a directory for log files,
searched too), ``WORK`` (the working directory, not searched) and ``install`` (``strongroom.redact.install``) in
its globals.

Kept light at import: ``multiprocessing`` spawn children import this module again.
"""

from __future__ import annotations

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


GROUPS = {
    "logging": "logging",
    "structlog": "structlog",
    "stdout": "stdout/stderr",
    "hooks": "tracebacks/hooks/warnings",
    "children": "child processes",
    "writers": "writers/run",
}

# `strongroom run --redact` in the cell's process: the CLI's own `run` command (the child it starts is real), in an
# app of its own (the whole CLI would double the server's size, and each fork's cost). Only a value from the config
# layer reaches it, so its paths have the "config" way only.
RUN_SETUP = r"""
import typer
import strongroom.cli.config
sys.path.insert(0, WORK)
with open(os.path.join(WORK, "leakschema.py"), "w") as f:
    f.write("from strongroom import Secret\nfrom strongroom.config import Settings, secret\n"
            "class LeakSettings(Settings):\n    leak_value: Secret[str] = secret()\n")
os.environ.update(LEAK_VALUE=V, STRONGROOM_HOME=os.path.join(WORK, "home"), STRONGROOM_SECRETS_DIR=WORK)
cli = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
cli.callback()(lambda: None)
cli.command("run", context_settings={"allow_interspersed_args": False})(strongroom.cli.config.run)
def run(*command):
    try:
        cli(args=["run", "--redact", "--schema", "leakschema:LeakSettings", "--", *command])
    except SystemExit:
        pass
"""

# One path per "## name group [ways=a,b] [marks=n]" header; "#include run_setup" stands for RUN_SETUP.
SNIPPETS = r'''
## log_percent_arg logging
install(); logging.basicConfig(format="%(levelname)s %(message)s")
logging.getLogger("app").warning("%s connecting with %s", MARK, V)

## log_fstring logging
install(); logging.basicConfig(format="%(levelname)s %(message)s")
logging.getLogger("app").error(f"{MARK} connecting with {V}")

## log_dict_arg_repr logging
install(); logging.basicConfig()
logging.getLogger("app").error("%s config %r", MARK, {"password": V, "tuple": (V,)})

## log_mapping_args logging
install(); logging.basicConfig()
logging.getLogger("app").error("%(mark)s %(value)s", {"mark": MARK, "value": V})

## log_exception logging
install(); logging.basicConfig()
try:
    raise ValueError("bad key " + V)
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)

## log_exc_info_true logging
install(); logging.basicConfig()
try:
    raise RuntimeError(V)
except RuntimeError:
    logging.getLogger("app").error("%s failed", MARK, exc_info=True)

## log_exc_info_instance logging
install(); logging.basicConfig()
error = KeyError(V)
logging.getLogger("app").error("%s failed", MARK, exc_info=error)

## log_exception_chained logging
install(); logging.basicConfig()
try:
    try:
        raise KeyError(V)
    except KeyError as cause:
        raise ValueError("wrapped " + V) from cause
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)

## log_exception_notes logging
install(); logging.basicConfig()
try:
    error = ValueError("plain")
    error.add_note("note: " + V)
    raise error
except ValueError:
    logging.getLogger("app").exception("%s failed", MARK)

## log_exception_group logging
install(); logging.basicConfig()
try:
    raise ExceptionGroup("group", [ValueError(V), KeyError(V)])
except ExceptionGroup:
    logging.getLogger("app").exception("%s failed", MARK)

## log_stack_info logging
install(); logging.basicConfig()
logging.getLogger("app").error("%s at %s", MARK, V, stack_info=True)

## log_extra_formatter_field logging
install(); logging.basicConfig(format="%(message)s token=%(token)s")
logging.getLogger("app").error("%s extra", MARK, extra={"token": V})

## log_extra_nested logging
install(); logging.basicConfig(format="%(message)s ctx=%(ctx)s")
logging.getLogger("app").error("%s extra", MARK, extra={"ctx": {"db": {"url_part": V}}})

## log_logger_adapter logging
install(); logging.basicConfig(format="%(message)s user=%(user)s")
adapter = logging.LoggerAdapter(logging.getLogger("app"), {"user": V})
adapter.error("%s adapted", MARK)

## log_file_handler logging
install()
handler = logging.FileHandler(os.path.join(OUT, "app.log"))
logging.getLogger().addHandler(handler)
logging.getLogger("app").error("%s to file %s", MARK, V)

## log_basicconfig_filename logging
install(); logging.basicConfig(filename=os.path.join(OUT, "basic.log"))
logging.getLogger("app").error("%s to file %s", MARK, V)

## log_rotating_file logging
import logging.handlers
install()
handler = logging.handlers.RotatingFileHandler(os.path.join(OUT, "rot.log"), maxBytes=1 << 20)
logging.getLogger().addHandler(handler)
try:
    raise ValueError(V)
except ValueError:
    logging.getLogger("app").exception("%s rotated", MARK)

## log_handler_before_install logging
logging.basicConfig(stream=sys.stderr)
install()
logging.getLogger("app").error("%s configured first %s", MARK, V)

## log_handlers_assigned logging
install()
logger = logging.getLogger("assigned")
logger.handlers = [logging.StreamHandler(sys.__stderr__)]
logger.propagate = False
logger.error("%s assigned %s", MARK, V)

## log_dictconfig logging
import logging.config
install()
logging.config.dictConfig({"version": 1, "handlers": {"h": {"class": "logging.StreamHandler", "stream": "ext://sys.stdout"}},
                           "root": {"handlers": ["h"], "level": "INFO"}})
logging.getLogger("app").info("%s dictconfig %s", MARK, V)

## log_last_resort logging
install()
logging.getLogger("nohandlers").error("%s last resort %s", MARK, V)

## log_handle_override logging
install()
class Handler(logging.StreamHandler):
    def handle(self, record):
        self.emit(record)
        return True
logger = logging.getLogger("custom")
logger.addHandler(Handler(sys.__stderr__))
logger.propagate = False
logger.error("%s custom handle %s", MARK, V)

## log_custom_emit_raw_args logging
install()
class Handler(logging.Handler):
    def emit(self, record):
        sys.__stderr__.write(f"{record.msg} {record.args}\n")
logger = logging.getLogger("custom")
logger.addHandler(Handler())
logger.propagate = False
logger.error("%s raw %s", MARK, V)

## log_handler_filter_injects logging
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

## log_queue_listener logging
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

## log_queue_handler_before_install logging
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

## log_memory_handler logging
import logging.handlers
install()
target = logging.StreamHandler(sys.__stderr__)
memory = logging.handlers.MemoryHandler(100, target=target)
logger = logging.getLogger("mem")
logger.addHandler(memory)
logger.propagate = False
logger.error("%s buffered %s", MARK, V)
memory.close()

## log_basicconfig_force_after_install logging
install()
logging.basicConfig(force=True, format="%(levelname)s %(message)s")
logging.getLogger("app").error("%s forced %s", MARK, V)

## log_json_formatter_exc_info logging
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

## log_json_formatter_record_dict logging
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

## log_json_ensure_ascii_false logging
class Json(logging.Formatter):
    def format(self, record):
        return json.dumps({"msg": record.getMessage()}, ensure_ascii=False)
install()
handler = logging.StreamHandler(sys.__stdout__)
handler.setFormatter(Json())
logging.getLogger("json").addHandler(handler)
logging.getLogger("json").error("%s json %s", MARK, V)

## log_capture_warnings logging
install(); logging.basicConfig(); logging.captureWarnings(True)
warnings.warn(f"{MARK} deprecated {V}", stacklevel=1)

## log_to_stdout_handler logging
install()
logging.basicConfig(stream=sys.stdout)
logging.getLogger("app").error("%s to stdout %s", MARK, V)

## log_asyncio_exception_handler logging
import asyncio
install()
async def main():
    asyncio.get_running_loop().call_exception_handler({"message": f"{MARK} asyncio {V}", "exception": ValueError(V)})
asyncio.run(main())

## log_asyncio_task_never_retrieved logging
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

## log_uvicorn_error logging
import logging.config
from uvicorn.config import LOGGING_CONFIG
install()
logging.config.dictConfig(LOGGING_CONFIG)
try:
    raise ValueError("bad key " + V)
except ValueError:
    logging.getLogger("uvicorn.error").exception("%s uvicorn", MARK)

## log_uvicorn_access_percent logging marks=2
import logging.config
from urllib.parse import quote
from uvicorn.config import LOGGING_CONFIG
install()
logging.config.dictConfig(LOGGING_CONFIG)
access = logging.getLogger("uvicorn.access")
client = "127.0.0.1:5000 " + MARK
access.info('%s - "%s %s HTTP/%s" %d', client, "GET", "/cb?token=" + quote(V, safe=""), "1.1", 200)
access.info('%s - "%s %s HTTP/%s" %d', client, "GET", "/cb?token=" + quote(V, safe="").lower(), "1.1", 200)

## structlog_default structlog
import structlog
install()
structlog.get_logger().info(f"{MARK} event", key=V)

## structlog_default_exception structlog
import structlog
install()
try:
    raise ValueError(V)
except ValueError:
    structlog.get_logger().exception(f"{MARK} failed")

## structlog_json_renderer structlog
import structlog
install()
structlog.configure(processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()])
structlog.get_logger().error(f"{MARK} event", value=V)

## structlog_stdlib structlog
import structlog
install()
logging.basicConfig(format="%(message)s")
structlog.configure(processors=[structlog.stdlib.add_log_level, structlog.processors.KeyValueRenderer()],
                    logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger)
structlog.get_logger("app").error(f"{MARK} event", value=V)

## structlog_stdlib_processor_formatter structlog
import structlog
install()
handler = logging.StreamHandler(sys.__stderr__)
handler.setFormatter(structlog.stdlib.ProcessorFormatter(processor=structlog.processors.JSONRenderer()))
logging.getLogger().addHandler(handler)
structlog.configure(processors=[structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                    logger_factory=structlog.stdlib.LoggerFactory())
structlog.get_logger("app").error(f"{MARK} event", value=V)

## structlog_with_processor structlog
import structlog, strongroom.redact
structlog.configure(processors=[strongroom.redact.structlog_processor, structlog.processors.JSONRenderer()],
                    logger_factory=structlog.PrintLoggerFactory(sys.__stdout__))
structlog.get_logger().error(f"{MARK} event", value=V, nested={"v": V})

## print_stdout stdout
install()
print(MARK, V)

## print_stderr stdout
install()
print(MARK, V, file=sys.stderr)

## print_flush_each_line stdout
install()
print(MARK)
for line in V.splitlines(keepends=True):
    sys.stdout.write(line)
    sys.stdout.flush()
print()

## stdout_write_in_pieces stdout
install()
sys.stdout.write(MARK + " " + V[:3])
sys.stdout.flush()
sys.stdout.write(V[3:7])
sys.stdout.write(V[7:] + "\n")

## stdout_write_char_by_char stdout
install()
print(MARK, end=" ")
for ch in V:
    sys.stdout.write(ch)
    sys.stdout.flush()
print()

## stderr_write_in_pieces stdout
install()
half = len(V) // 2
sys.stderr.write(MARK + " " + V[:half])
sys.stderr.flush()
sys.stderr.write(V[half:] + "\n")

## stdout_writelines stdout
install()
sys.stdout.writelines([MARK, " ", V, "\n"])

## print_no_newline_at_exit stdout
install()
print(MARK, V, end="")

## print_bytes_repr stdout
install()
print(MARK, V.encode())

## print_repr_and_ascii stdout
install()
print(MARK, repr(V), ascii(V), [V])

## print_json_dumps stdout
install()
print(MARK, json.dumps({"v": V}), json.dumps({"v": V}, ensure_ascii=False))

## print_pprint stdout
import pprint
install()
print(MARK)
pprint.pprint({"config": {"value": V}})

## stdout_buffer_write stdout
install()
sys.stdout.buffer.write((MARK + " " + V + "\n").encode())

## stdout_buffer_in_pieces stdout
install()
data = (MARK + " " + V + "\n").encode()
for i in range(0, len(data), 5):
    sys.stdout.buffer.write(data[i:i + 5])
    sys.stdout.buffer.flush()

## stdout_buffer_utf16 stdout
install()
print(MARK, flush=True)
sys.stdout.buffer.write(V.encode("utf-16-le") + b"\n")

## sys_dunder_stdout stdout
install()
sys.__stdout__.write(MARK + " " + V + "\n")

## sys_dunder_stderr stdout
install()
sys.__stderr__.write(MARK + " " + V + "\n")

## os_write_fd1 stdout
install()
os.write(1, (MARK + " " + V + "\n").encode())

## open_fd1_directly stdout
install()
with open(1, "w", closefd=False) as out:
    out.write(MARK + " " + V + "\n")

## print_before_install_flushed_after stdout
sys.stdout.write(MARK + " " + V)
install()
print()

## app_file_write stdout
install()
with open(os.path.join(OUT, "app.txt"), "w") as f:
    f.write(MARK + " " + V + "\n")

## os_fork_child_print stdout
install()
pid = os.fork()
if pid == 0:
    print(MARK, "forked", V)
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)

## atexit_print stdout
import atexit
atexit.register(lambda: print(MARK, "at exit", V))
install()

## click_echo stdout
import click
install()
click.echo(MARK + " " + V)
click.echo(MARK + " " + V, err=True)

## rich_console_print stdout marks=2
import rich.console
install()
rich.console.Console().print(MARK, V)
rich.console.Console(stderr=True).log(MARK, V)

## contextlib_redirect_then_print stdout
import contextlib, io
install()
buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    print(MARK, V)
print(buffer.getvalue(), end="")

## input_prompt stdout
install()
sys.stdin = open(os.devnull)
try:
    input(MARK + " " + V + "> ")
except EOFError:
    pass

## traceback_print_exc hooks
install()
try:
    raise ValueError(MARK + " bad " + V)
except ValueError:
    traceback.print_exc()

## traceback_print_exception hooks
install()
traceback.print_exception(ValueError(MARK + " bad " + V))

## traceback_print_exception_group hooks
install()
traceback.print_exception(ExceptionGroup(MARK, [ValueError(V)]))

## traceback_format_exc_printed hooks
install()
try:
    raise KeyError(V)
except KeyError:
    text = traceback.format_exc()
print(MARK, text)

## uncaught_exception hooks
install()
raise ValueError(MARK + " uncaught " + V)

## uncaught_exception_hook_only hooks
install(streams=False)
raise ValueError(MARK + " uncaught " + V)

## uncaught_chained hooks
install()
try:
    raise KeyError(V)
except KeyError as cause:
    raise RuntimeError(MARK + " wrapped") from cause

## uncaught_with_notes hooks
install()
error = ValueError(MARK)
error.add_note(V)
raise error

## uncaught_exception_group hooks
install()
raise ExceptionGroup(MARK, [ValueError(V), TypeError(V)])

## uncaught_in_thread hooks
install()
def work():
    raise ValueError(MARK + " thread " + V)
thread = threading.Thread(target=work, name="worker")
thread.start()
thread.join()

## uncaught_in_thread_hook_only hooks
install(streams=False)
def work():
    raise ValueError(MARK + " thread " + V)
thread = threading.Thread(target=work)
thread.start()
thread.join()

## unraisable_del hooks
install()
class Holder:
    def __del__(self):
        raise ValueError(MARK + " in del " + V)
Holder()

## unraisable_del_hook_only hooks
install(streams=False)
class Holder:
    def __del__(self):
        raise ValueError(MARK + " in del " + V)
Holder()

## asyncio_run_uncaught hooks
import asyncio
install()
async def main():
    raise ValueError(MARK + " async " + V)
asyncio.run(main())

## app_excepthook_after_install hooks
install()
def hook(kind, value, tb):
    sys.stderr.write("app hook: " + "".join(traceback.format_exception(kind, value, tb)))
sys.excepthook = hook
raise ValueError(MARK + " own hook " + V)

## warnings_warn hooks
install()
warnings.warn(MARK + " warned " + V, stacklevel=1)

## warnings_warn_explicit hooks
install()
warnings.warn_explicit(MARK + " explicit " + V, UserWarning, "config.py", 7)

## warnings_hook_only hooks
install(streams=False)
warnings.warn(MARK + " warned " + V, stacklevel=1)

## mp_fork_print children
import multiprocessing
install()
p = multiprocessing.get_context("fork").Process(target=cells.child_print, args=(V,)); p.start(); p.join()

## mp_fork_log children
import multiprocessing
install(); logging.basicConfig()
p = multiprocessing.get_context("fork").Process(target=cells.child_log, args=(V,)); p.start(); p.join()

## mp_fork_uncaught children
import multiprocessing
install()
p = multiprocessing.get_context("fork").Process(target=cells.child_raise, args=(V,)); p.start(); p.join()

## mp_fork_pool_error_logged children
import multiprocessing
install(); logging.basicConfig()
with multiprocessing.get_context("fork").Pool(1) as pool:
    try:
        pool.apply(cells.child_pool_task, (V,))
    except ValueError:
        logging.getLogger("app").exception("pool task failed")

## mp_fork_queue_logging children
import logging.handlers, multiprocessing
install()
context = multiprocessing.get_context("fork")
q = context.Queue()
listener = logging.handlers.QueueListener(q, logging.StreamHandler(sys.stderr))
listener.start()
def work(value):
    logger = logging.getLogger("worker")
    logger.addHandler(logging.handlers.QueueHandler(q))
    logger.propagate = False
    logger.error("%s from a worker %s", MARK, value)
p = context.Process(target=work, args=(V,)); p.start(); p.join()
listener.stop()

## mp_spawn_print_log_raise children marks=3
import multiprocessing
install(); logging.basicConfig()
p = multiprocessing.get_context("spawn").Process(target=cells.child_print_log_raise, args=(V,)); p.start(); p.join()

## subprocess_python_print_log_raise children marks=3
import subprocess
install()
code = """import logging, sys
v = sys.stdin.read()
print("LEAKMARK child printed", v, flush=True)
logging.basicConfig()
logging.error("LEAKMARK child logged %s", v)
raise ValueError("LEAKMARK child failed " + v)
"""
subprocess.run([sys.executable, "-c", code], input=V, text=True, check=False)

## subprocess_captured_then_printed children
import subprocess
install()
code = "import sys; sys.stdout.write(sys.stdin.read())"
result = subprocess.run([sys.executable, "-S", "-c", code], input=V, capture_output=True, text=True, check=False)
print(MARK, result.stdout)

## subprocess_shell_child children
import subprocess
install()
subprocess.run(["sh", "-c", 'printf "LEAKMARK %s\\n" "$(cat)"'], input=V, text=True, check=False)

## os_system_shell children
install()
with open(os.path.join(WORK, "value.in"), "w") as f:
    f.write(V)
os.system("printf 'LEAKMARK '; cat " + os.path.join(WORK, "value.in"))

## subprocess_python_no_site children
import subprocess
install()
code = "import sys; print('LEAKMARK child', sys.stdin.read())"
subprocess.run([sys.executable, "-S", "-c", code], input=V, text=True, check=False)

## redacting_writer_whole writers
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + " " + V + "\n")
    writer.close()

## redacting_writer_in_pieces writers
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + " ")
    for i in range(0, len(V), 3):
        writer.write(V[i:i + 3])
        writer.flush()
    writer.close()

## redacting_writer_lines_flushed writers
import strongroom.redact
with open(os.path.join(OUT, "writer.log"), "w") as target:
    writer = strongroom.redact.RedactingWriter(target)
    writer.write(MARK + "\n")
    for line in V.splitlines(keepends=True):
        writer.write(line)
        writer.flush()
    writer.close()

## run_redact_shell_printf writers ways=config marks=2
#include run_setup

run("sh", "-c", 'printf "LEAKMARK %s\\n" "$LEAK_VALUE"; printf "LEAKMARK %s\\n" "$LEAK_VALUE" >&2')

## run_redact_python_lines writers ways=config
#include run_setup

run(sys.executable, "-S", "-c", "import os, sys\nprint('LEAKMARK', flush=True)\n"
    "for line in os.environ['LEAK_VALUE'].splitlines(True):\n    sys.stdout.write(line); sys.stdout.flush()\nprint()")

## run_redact_python_pieces writers ways=config
#include run_setup

run(sys.executable, "-S", "-c", "import os, sys\nv = os.environ['LEAK_VALUE']\nsys.stdout.write('LEAKMARK ')\n"
    "for i in range(0, len(v), 4):\n    sys.stdout.write(v[i:i + 4]); sys.stdout.flush()\nprint()")

## run_redact_python_traceback writers ways=config
#include run_setup

run(sys.executable, "-S", "-c", "import os\nraise ValueError('LEAKMARK ' + os.environ['LEAK_VALUE'])")
'''


def _parse(text: str) -> list[Path]:
    paths = []
    for block in text.split("\n## ")[1:]:
        header, _, code = block.partition("\n")
        name, group, *options = header.split()
        settings = dict(option.split("=", 1) for option in options)
        ways = tuple(settings["ways"].split(",")) if "ways" in settings else WAYS
        code = code.replace("#include run_setup\n", RUN_SETUP.lstrip("\n"))
        paths.append(Path(name, GROUPS[group], code, ways, int(settings.get("marks", "1"))))
    return paths


PATHS: list[Path] = _parse("\n" + SNIPPETS)


def by_name() -> dict[str, Path]:
    return {p.name: p for p in PATHS}
