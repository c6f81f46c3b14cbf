"""A fork server: imports what the cells use once, then runs each cell in a forked child, two at a time.

``python -c "...; from leak_matrix.server import main; main(PLAN)"``. PLAN is a JSON file (0600, outside the
output directory): ``{"root": dir, "jobs": 2, "values": {shape: value}, "cells": [[id, path, shape, way], ...]}``.
Each child writes its fd 1 and 2 to ``root/out/<id>/stdout`` and ``stderr`` (its log files go beside them) and
works in ``root/work/<id>``; it makes the value known the cell's way, runs the path's snippet, and exits as a
program does (an uncaught exception to ``sys.excepthook``, threads joined, atexit functions, stream flushes:
``_exit``). The server has imported strongroom but never installed anything, holds no value, and runs no thread,
so each child starts as a fresh process would after its imports. Exit codes and CPU seconds go to ``root/codes.json``.
"""

from __future__ import annotations

import json
import os
import signal
import sys

CELL_SECONDS = 60  # a hung cell is killed (SIGALRM) and reported as such: never a hang of the test


def _prepare() -> None:
    """What every cell imports, imported once before the first fork (a fork then copies it for free)."""
    import asyncio  # noqa: F401
    import logging.config
    import logging.handlers
    import multiprocessing
    import multiprocessing.pool
    import queue  # noqa: F401
    import subprocess  # noqa: F401
    import traceback  # noqa: F401
    import warnings  # noqa: F401

    import structlog  # noqa: F401
    import typer  # noqa: F401
    import uvicorn.config  # noqa: F401

    import strongroom.cli.config
    import strongroom.config
    import strongroom.redact
    import strongroom.redact.startup
    from leak_matrix import cells, schema  # noqa: F401

    del logging, multiprocessing  # only their import was wanted
    # The process-wide redactor compiles its rules when first made (10 ms): made here, once, as the first call in
    # each child would make it. It knows no value (none exists yet) and nothing is installed.
    strongroom.redact.default().redact("warm up: password=x")


def _known(way: str, value: str) -> tuple[str, object]:
    """The value made known ``way``; returns it as the application holds it, and what must stay alive."""
    import strongroom
    import strongroom.redact
    from leak_matrix.schema import LeakSettings

    if way in ("register", "control"):
        strongroom.redact.register(value, "leak_value")
        return value, None
    if way == "secret":
        held = strongroom.Secret("leak_value", value)
        return held.reveal(), held

    os.environ["LEAK_VALUE"] = value
    settings = LeakSettings.load()
    del os.environ["LEAK_VALUE"]
    return settings.leak_value.reveal(), settings


def _child(cell: list[str], plan: dict[str, object], root: str) -> None:
    from leak_matrix import cells

    cell_id, path_name, shape, way = cell
    out = os.path.join(root, "out", cell_id)
    work = os.path.join(root, "work", cell_id)
    os.makedirs(out)
    os.makedirs(work)
    for fd, name in ((1, "stdout"), (2, "stderr")):
        target = os.open(os.path.join(out, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.chdir(work)
    signal.alarm(CELL_SECONDS)
    values = plan["values"]
    assert isinstance(values, dict)
    value, held = _known(way, values[shape])
    import json as json_module
    import logging
    import threading
    import traceback
    import warnings

    import strongroom
    import strongroom.redact

    namespace = {
        "__name__": "__main__",
        "V": value,
        "MARK": cells.MARK,
        "OUT": out,
        "WORK": work,
        "HELD": held,
        "install": strongroom.redact.install if way != "control" else _no_install,
        "cells": cells,
        "sys": sys,
        "os": os,
        "logging": logging,
        "json": json_module,
        "threading": threading,
        "traceback": traceback,
        "warnings": warnings,
        "strongroom": strongroom,
    }
    source = os.path.join(work, f"{path_name}.py")
    code = cells.by_name()[path_name].code
    with open(source, "w", encoding="utf-8") as file:  # so tracebacks show source lines, as for a real program
        file.write(code)
    try:
        exec(compile(code, source, "exec"), namespace)  # noqa: S102 -- the cell is this package's own snippet
    except SystemExit as exc:
        _exit(exc.code if isinstance(exc.code, int) else 1)
    except BaseException:  # what the interpreter does with an uncaught exception: sys.excepthook, exit 1
        sys.excepthook(*sys.exc_info())
        _exit(1)
    _exit(0)


def _no_install(**_options: object) -> None:
    """``install`` in a control cell: redaction left off, so the path must show the value."""


def _exit(code: int) -> None:
    """The interpreter's exit, but for tearing down the modules: non-daemon threads joined, atexit functions
    run, ``sys.stdout`` and ``sys.stderr`` flushed, then ``os._exit``. Tearing down the modules the server
    imported would touch every page of the heap a fork shares (0.5 s a cell) and shows the cell nothing."""
    import atexit
    import threading

    shutdown = getattr(threading, "_shutdown", None)
    if shutdown is not None:
        shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def main(plan_path: str) -> None:
    with open(plan_path, encoding="utf-8") as file:
        plan = json.load(file)
    root, jobs = plan["root"], int(plan.get("jobs", 2))
    for name in [name for name in os.environ if name.startswith("STRONGROOM_REDACT")]:
        del os.environ[name]
    _prepare()
    import gc

    gc.freeze()  # what the server holds is never collected in a child: its pages stay shared
    sys.stdout.flush()
    sys.stderr.flush()
    running: dict[int, str] = {}
    codes: dict[str, int] = {}
    cpu: dict[str, float] = {}
    queue = list(reversed(plan["cells"]))
    while queue or running:
        while queue and len(running) < jobs:
            cell = queue.pop()
            pid = os.fork()
            if pid == 0:
                _child(cell, plan, root)  # never returns
            running[pid] = cell[0]
        pid, status, usage = os.wait4(-1, 0)  # the usage includes the cell's own children
        cell_id = running.pop(pid)
        codes[cell_id] = os.waitstatus_to_exitcode(status)
        cpu[cell_id] = usage.ru_utime + usage.ru_stime
    with open(os.path.join(root, "codes.json"), "w", encoding="utf-8") as file:
        json.dump({"codes": codes, "cpu": cpu}, file)


if __name__ == "__main__":
    main(sys.argv[1])
