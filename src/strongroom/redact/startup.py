"""Redaction inherited by child Python processes (``subprocess``, ``multiprocessing`` with spawn).

The parent's ``install()`` sets ``STRONGROOM_REDACT=1`` in ``os.environ``, so every child inherits it.
A child Python reads it at start-up through ``strongroom_redact.pth`` in site-packages (the way coverage.py
measures subprocesses): the ``.pth`` line costs one environment lookup, and only when the variable is set
imports this module and calls ``start()``, which runs ``install()`` in the child before its own code.

The child must also know the values the parent knows (registered, or carried by a live ``Secret``). They
never go into the environment: the parent writes them to a file only its user can read (0600, in a 0700
directory it makes under ``/dev/shm`` where there is one, so never on disk), written just before a child
starts (``subprocess.Popen``, ``multiprocessing``'s spawn) if they changed, removed when the parent exits
or uninstalls; a process that starts no child writes none. The environment carries only the file's path
(``STRONGROOM_REDACT_VALUES``). A child started by other means (``os.exec*``, ``os.posix_spawn``,
``os.system``) reads the values as of the last write, or only its own if none was made. A parent killed
by SIGKILL leaves the file behind (in memory, 0600) until the next reboot.

Where the ``.pth`` file is not installed (``python -S``, another interpreter), run the program through
``python -m strongroom.redact.startup script.py ARGS`` or ``-m module ARGS``, or ``strongroom run --redact``.
"""

from __future__ import annotations

import atexit
import base64
import json
import os
import secrets
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from strongroom.redact.redactor import Redactor

ENABLE = "STRONGROOM_REDACT"
VALUES = "STRONGROOM_REDACT_VALUES"


class _Shared:
    redactor: Redactor | None = None
    directory: str | None = None
    path: str | None = None
    pid = 0
    generation = -1
    made = False  # the directory exists, made by us
    environment: dict[str, str | None] = {}  # noqa: RUF012 -- what the variables were before share()
    patched: list[tuple[Any, str, Any]] = []  # noqa: RUF012 -- (owner, attribute, original)
    exit_hook = False


def share(redactor: Redactor) -> None:
    """Make child processes redact too (``install(children=True)``); idempotent.

    The file's path is chosen now (the environment must carry it before any copy of it is made), but the
    directory and file are made only when a child starts: a process that starts none writes nothing.
    """
    _Shared.redactor = redactor
    if _Shared.path is None or _Shared.pid != os.getpid():  # a forked child writes its own file
        shm = "/dev/shm"  # noqa: S108 -- memory-backed and private to us by mode: values never touch disk
        base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else tempfile.gettempdir()
        _Shared.directory = os.path.join(base, f"strongroom-redact-{secrets.token_hex(12)}")
        _Shared.path = os.path.join(_Shared.directory, "values.json")
        _Shared.pid, _Shared.generation, _Shared.made = os.getpid(), -1, False
        if not _Shared.exit_hook:
            atexit.register(_remove)
            _Shared.exit_hook = True
    if not _Shared.environment:
        _Shared.environment = {name: os.environ.get(name) for name in (ENABLE, VALUES)}
    os.environ[ENABLE] = "1"
    os.environ[VALUES] = _Shared.path
    if not _Shared.patched:
        _patch_spawners()


def unshare() -> None:
    """Undo ``share()``: the variables as they were, the spawners unwrapped, the file removed."""
    for owner, attribute, original in _Shared.patched:
        setattr(owner, attribute, original)
    _Shared.patched = []
    for name, value in _Shared.environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _Shared.environment = {}
    _remove()
    _Shared.redactor = None


def refresh() -> None:
    """Rewrite the values file if the known values changed since the last write (before a child starts)."""
    redactor, path = _Shared.redactor, _Shared.path
    live = getattr(redactor, "_live", None)
    if live is None or path is None or _Shared.pid != os.getpid() or live.generation == _Shared.generation:
        return
    if not _Shared.made:
        try:
            os.mkdir(_Shared.directory or "", 0o700)  # never one that exists: someone else's could be read
        except OSError:
            _Shared.path = None  # children learn the rules and their own secrets only
            return
        _Shared.made = True
    generation, values = live.snapshot()
    entries = [
        [name, "s", value] if isinstance(value, str) else [name, "b", base64.b64encode(value).decode()]
        for value, name, _ in values
    ]
    try:
        handle, temporary = tempfile.mkstemp(dir=_Shared.directory)  # 0600
        with os.fdopen(handle, "w", encoding="utf-8", errors="surrogatepass") as file:
            json.dump(entries, file)
        os.replace(temporary, path)
    except OSError:  # the directory was removed under us (a tmp cleaner): children learn rules only
        return
    _Shared.generation = generation


def _remove() -> None:
    directory = _Shared.directory
    if directory is None or _Shared.pid != os.getpid() or not _Shared.made:  # never the parent's, nor another's
        _Shared.directory = _Shared.path = None
        return
    shutil.rmtree(directory, ignore_errors=True)
    _Shared.directory = _Shared.path = None


def _before(function: Callable[..., Any]) -> Callable[..., Any]:
    def spawn(*args: Any, **kwargs: Any) -> Any:
        refresh()
        return function(*args, **kwargs)

    spawn.__wrapped__ = function  # type: ignore[attr-defined]
    return spawn


def _patch_spawners() -> None:
    import subprocess

    targets: list[tuple[Any, str]] = [(subprocess.Popen, "_execute_child")]
    try:
        import multiprocessing.util  # spawn and forkserver start their interpreter with spawnv_passfds
    except ImportError:  # a Python built without multiprocessing
        pass
    else:
        targets.append((multiprocessing.util, "spawnv_passfds"))
    for owner, attribute in targets:
        original = getattr(owner, attribute, None)
        if original is not None:
            _Shared.patched.append((owner, attribute, original))
            setattr(owner, attribute, _before(original))


def load(path: str) -> list[tuple[str, str | bytes]]:
    """The (name, value) pairs a parent shared; none if the file is gone or unreadable."""
    try:
        with open(path, encoding="utf-8", errors="surrogatepass") as file:
            entries = json.load(file)
    except (OSError, ValueError):
        return []
    pairs: list[tuple[str, str | bytes]] = []
    for name, kind, value in entries:
        pairs.append((name, base64.b64decode(value) if kind == "b" else value))
    return pairs


def start() -> None:
    """In a child whose parent ran ``install()``: the parent's values registered, then ``install()``."""
    if os.environ.get(ENABLE) != "1":
        return
    import strongroom.redact

    path = os.environ.get(VALUES)
    for name, value in load(path) if path else ():
        strongroom.redact.register(value, name)
    strongroom.redact.install()


def main(argv: list[str]) -> None:
    """``python -m strongroom.redact.startup (script.py | -m module) ARGS``: run it with redaction on."""
    import runpy

    os.environ[ENABLE] = "1"
    start()
    if not argv:
        sys.exit("usage: python -m strongroom.redact.startup (script.py | -m module) [args]")
    if argv[0] == "-m" and len(argv) > 1:
        sys.argv = argv[1:]
        runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = argv
        runpy.run_path(argv[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
