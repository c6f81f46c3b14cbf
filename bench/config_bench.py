#!/usr/bin/env python
"""Benchmark of the config layer: a 50-secret schema loaded from env + .env, against pydantic-settings.

Everything is generated at run time in a temporary directory: the same 50 secret fields declared twice, as a
``strongroom.config.Settings`` schema (``Secret[str]`` fields declared with ``secret(...)``) and as a
pydantic-settings ``BaseSettings`` with ``SecretStr`` fields; 50 random values, 25 in the process environment
and 25 in a ``.env`` file. Both sides read the same environment and the same file, and every figure is
measured in this one run:

(a) cold start: wall time of a fresh ``python -c`` that imports the library, declares the schema and loads it
    (strongroom with ``sources=[EnvSource(), DotEnvSource(path)]``, pydantic-settings with ``env_file=path``),
    next to the import alone of each library and a bare ``python -c pass``; the runs are interleaved;
(b) in process: ``Settings.load()`` per second against ``BaseSettings()`` per second;
(c) cached get: ``settings.field.reveal()`` on a loaded schema against a plain dict lookup.

It then prints the non-stdlib top-level packages that ``python -X importtime -c "import strongroom.config"``
lists (for reading, nothing is asserted).

    .venv/bin/python bench/config_bench.py            # full run (about 20 s on 2 cores)
    .venv/bin/python bench/config_bench.py --quick    # a few seconds, for a smoke test
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import importlib.util
import os
import platform
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

N_FIELDS = 50
FIELD = "platform_secret_{:02d}"
PROBE = FIELD.format(16)  # the field read by the cached-get loops
HEAVY = (
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "sqlalchemy",
    "alembic",
    "boto3",
    "botocore",
    "google",
    "azure",
    "hvac",
    "typer",
    "rich",
    "cryptography",
)


@dataclass(frozen=True)
class Sizes:
    processes: int  # cold-start runs of each kind
    load_calls: int
    load_rounds: int
    get_calls: int
    get_rounds: int


FULL = Sizes(processes=15, load_calls=1_000, load_rounds=5, get_calls=1_000_000, get_rounds=5)
QUICK = Sizes(processes=5, load_calls=100, load_rounds=3, get_calls=100_000, get_rounds=3)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


# -- the generated schema -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixture:
    """The temporary directory, the generated values and the two schemas as Python source."""

    tmp: Path
    dotenv: Path
    in_env: dict[str, str]  # variable -> value, put in the (child) process environment
    in_dotenv: dict[str, str]  # variable -> value, written to the .env file
    strongroom_source: str
    pydantic_source: str

    @property
    def digest(self) -> str:
        """What a correct load of all 50 fields reveals, hashed in field order."""
        values = {**self.in_env, **self.in_dotenv}
        joined = "\n".join(values[FIELD.format(i).upper()] for i in range(N_FIELDS))
        return hashlib.sha256(joined.encode()).hexdigest()


def make_fixture(tmp: Path) -> Fixture:
    names = [FIELD.format(i) for i in range(N_FIELDS)]
    values = {name.upper(): secrets.token_urlsafe(32) for name in names}
    in_env = {k: v for i, (k, v) in enumerate(values.items()) if i % 2 == 0}
    in_dotenv = {k: v for i, (k, v) in enumerate(values.items()) if i % 2 == 1}
    dotenv = tmp / ".env"
    dotenv.write_text("".join(f'{k}="{v}"\n' for k, v in in_dotenv.items()), encoding="utf-8")
    rotations = ("30d", "90d", "7d", "1w2d", "12h")
    sensitivities = ("low", "medium", "high", "critical")
    strongroom = "\n".join(
        [
            "from strongroom import Secret",
            "from strongroom.config import Settings, secret",
            "from strongroom.config.sources.dotenv import DotEnvSource",
            "from strongroom.config.sources.env import EnvSource",
            "",
            "class BenchSettings(Settings):",
            *(
                f"    {name}: Secret[str] = secret(sensitivity={sensitivities[i % 4]!r}, rotate={rotations[i % 5]!r})"
                for i, name in enumerate(names)
            ),
            "",
            f"settings = BenchSettings.load(sources=[EnvSource(), DotEnvSource({str(dotenv)!r})])",
        ]
    )
    pydantic = "\n".join(
        [
            "from pydantic import SecretStr",
            "from pydantic_settings import BaseSettings, SettingsConfigDict",
            "",
            "class BenchSettings(BaseSettings):",
            f"    model_config = SettingsConfigDict(env_file={str(dotenv)!r})",
            *(f"    {name}: SecretStr" for name in names),
            "",
            "settings = BenchSettings()",
        ]
    )
    return Fixture(tmp, dotenv, in_env, in_dotenv, strongroom, pydantic)


def digest_code(reveal: str) -> str:
    """Python that prints the sha256 of every loaded value in field order (``reveal`` reads one)."""
    return (
        "\nimport hashlib\n"
        f"print(hashlib.sha256('\\n'.join(getattr(settings, {FIELD!r}.format(i)).{reveal}() "
        f"for i in range({N_FIELDS})).encode()).hexdigest())"
    )


def child_env(fixture: Fixture) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.update(fixture.in_env)
    return env


# -- (a) cold start -------------------------------------------------------------------------------


@dataclass
class Cold:
    label: str
    code: str
    times_ns: list[int]

    @property
    def best_ms(self) -> float:
        return min(self.times_ns) / 1e6

    @property
    def median_ms(self) -> float:
        return median([float(t) for t in self.times_ns]) / 1e6


def python_c(code: str, env: dict[str, str], cwd: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- our own code
        [sys.executable, *flags, "-c", code],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def timed_process(code: str, env: dict[str, str], cwd: Path) -> int:
    t0 = time.perf_counter_ns()
    proc = subprocess.run(  # noqa: S603 -- our own code
        [sys.executable, "-c", code],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    took = time.perf_counter_ns() - t0
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return took


def verify(fixture: Fixture, env: dict[str, str]) -> None:
    """Both generated programs load all 50 values correctly (checked by digest, never printed)."""
    for label, code in (
        ("strongroom", fixture.strongroom_source + digest_code("reveal")),
        ("pydantic-settings", fixture.pydantic_source + digest_code("get_secret_value")),
    ):
        proc = python_c(code, env, fixture.tmp)
        if proc.returncode != 0 or proc.stdout.strip() != fixture.digest:
            raise SystemExit(
                f"{label}: the generated schema did not load the generated values "
                f"(exit {proc.returncode}): {proc.stderr[-2000:]}"
            )


def bench_cold(fixture: Fixture, runs: int) -> list[Cold]:
    env = child_env(fixture)
    verify(fixture, env)
    kinds = [
        Cold("bare `python -c pass` (baseline)", "pass", []),
        Cold("import strongroom.config", "import strongroom.config", []),
        Cold("import pydantic_settings", "import pydantic_settings", []),
        Cold(
            "strongroom: import + declare + load 50 secrets",
            "import strongroom.config\n" + fixture.strongroom_source,
            [],
        ),
        Cold(
            "pydantic-settings: import + declare + load 50", "import pydantic_settings\n" + fixture.pydantic_source, []
        ),
    ]
    for kind in kinds:  # warm the page cache and write the .pyc files before timing
        timed_process(kind.code, env, fixture.tmp)
    for i in range(runs):
        shift = i % len(kinds)  # interleaved, starting at a different kind each round
        for kind in kinds[shift:] + kinds[:shift]:
            kind.times_ns.append(timed_process(kind.code, env, fixture.tmp))
    return kinds


# -- (b) in-process load --------------------------------------------------------------------------


def module_from_source(name: str, source: str) -> types.ModuleType:
    """Execute generated source as a real (temporary) module, as if imported from a file."""
    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(source, f"<generated {name}>", "exec"), module.__dict__)  # noqa: S102 -- our own generated code
    return module


@dataclass(frozen=True)
class Rate:
    label: str
    ns_per_op: float
    median_ns: float
    n: int
    rounds: int


def rate(label: str, fn: Callable[[], object], n: int, rounds: int) -> Rate:
    times: list[float] = []
    for _ in range(rounds):
        gc.collect()
        rng = range(n)
        t0 = time.perf_counter_ns()
        for _ in rng:
            fn()
        times.append(float(time.perf_counter_ns() - t0))
    return Rate(label, min(times) / n, median(times) / n, n, rounds)


def bench_load(fixture: Fixture, sz: Sizes, sr: types.ModuleType, ps: types.ModuleType) -> list[Rate]:
    from strongroom.config.sources.dotenv import DotEnvSource
    from strongroom.config.sources.env import EnvSource

    schema, settings_cls, dotenv = sr.BenchSettings, ps.BenchSettings, fixture.dotenv
    shared = [EnvSource(), DotEnvSource(dotenv)]

    def strongroom_load() -> object:  # fresh sources: the .env file is read and parsed every time
        return schema.load(sources=[EnvSource(), DotEnvSource(dotenv)])

    def strongroom_load_shared() -> object:
        return schema.load(sources=shared)

    def pydantic_load() -> object:  # pydantic-settings reads the .env file on every instantiation
        return settings_cls()

    n, rounds = sz.load_calls, sz.load_rounds
    return [
        rate("strongroom `BenchSettings.load(sources=[EnvSource(), DotEnvSource(p)])`", strongroom_load, n, rounds),
        rate("pydantic-settings `BenchSettings()` (env_file=p)", pydantic_load, n, rounds),
        rate("strongroom load(), sources reused (.env parsed once; diag.)", strongroom_load_shared, n, rounds),
    ]


# -- (c) cached get -------------------------------------------------------------------------------


def loop(label: str, body: Callable[[int], None], n: int, rounds: int) -> Rate:
    """``body(n)`` runs its own loop of n reads (no function call per read, so only the read is timed)."""
    times: list[float] = []
    for _ in range(rounds):
        gc.collect()
        t0 = time.perf_counter_ns()
        body(n)
        times.append(float(time.perf_counter_ns() - t0))
    return Rate(label, min(times) / n, median(times) / n, n, rounds)


def bench_get(fixture: Fixture, sz: Sizes, sr: types.ModuleType, ps: types.ModuleType) -> list[Rate]:
    from strongroom.config.sources.dotenv import DotEnvSource
    from strongroom.config.sources.env import EnvSource

    settings = sr.BenchSettings.load(sources=[EnvSource(), DotEnvSource(fixture.dotenv)])
    pyd = ps.BenchSettings()
    plain = {name.lower(): value for name, value in {**fixture.in_env, **fixture.in_dotenv}.items()}
    expected = plain[PROBE]
    if settings.platform_secret_16.reveal() != expected or pyd.platform_secret_16.get_secret_value() != expected:
        raise SystemExit("cached get: the loaded schemas do not hold the generated value")
    probe_env = PROBE.upper()
    if probe_env not in os.environ:
        raise SystemExit(f"{probe_env} should be one of the values in the process environment")

    def dict_lookup(n: int) -> None:
        d = plain
        for _ in range(n):
            d["platform_secret_16"]

    def strongroom_reveal(n: int) -> None:
        s = settings
        for _ in range(n):
            s.platform_secret_16.reveal()

    def pydantic_get(n: int) -> None:
        s = pyd
        for _ in range(n):
            s.platform_secret_16.get_secret_value()

    def environ_lookup(n: int) -> None:
        environ = os.environ
        for _ in range(n):
            environ["PLATFORM_SECRET_16"]

    n, rounds = sz.get_calls, sz.get_rounds
    return [
        loop('baseline: plain dict lookup `d["platform_secret_16"]`', dict_lookup, n, rounds),
        loop("strongroom `settings.platform_secret_16.reveal()`", strongroom_reveal, n, rounds),
        loop("pydantic-settings `.platform_secret_16.get_secret_value()`", pydantic_get, n, rounds),
        loop('`os.environ["PLATFORM_SECRET_16"]` (what the code did before)', environ_lookup, n, rounds),
    ]


# -- import list ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    name: str
    depth: int
    self_us: int
    cumulative_us: int


def importtime(code: str, env: dict[str, str], cwd: Path) -> list[Imported]:
    """The entries of ``python -X importtime -c code``, in the order it prints them (children first)."""
    proc = python_c(code, env, cwd, "-X", "importtime")
    if proc.returncode != 0:
        raise SystemExit(f"importtime run failed: {proc.stderr[-2000:]}")
    entries = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, indented = line[len("import time:") :].split("|", 2)
        name = indented[1:]
        depth = (len(name) - len(name.lstrip(" "))) // 2
        entries.append(Imported(name.strip(), depth, int(self_us), int(cumulative_us)))
    return entries


def non_stdlib(entries: list[Imported]) -> list[tuple[str, int, int]]:
    """(top-level package, modules, self µs) of the entries that are not in the standard library."""
    packages: dict[str, list[int]] = {}
    for entry in entries:
        top = entry.name.split(".")[0]
        if top in sys.stdlib_module_names:
            continue
        counts = packages.setdefault(top, [0, 0])
        counts[0] += 1
        counts[1] += entry.self_us
    return [(name, count, us) for name, (count, us) in packages.items()]


def format_import_list(module: str, env: dict[str, str], cwd: Path) -> str:
    code = f"import {module}"
    entries = importtime(code, env, cwd)
    # Printed children first: the import's own tree is the run of entries that ends at its depth-0 line.
    end = max(i for i, e in enumerate(entries) if e.depth == 0 and e.name == module)
    begin = max([i + 1 for i, e in enumerate(entries[:end]) if e.depth == 0], default=0)
    tree, startup = entries[begin : end + 1], entries[:begin]
    lines = [
        f'`python -X importtime -c "{code}"`: {entries[end].cumulative_us / 1000:.1f} ms cumulative for '
        f"{module}, {len(tree)} modules in its tree; non-stdlib top-level packages (modules, self time):"
    ]
    for title, group in ((f"imported by `{code}`", tree), ("imported by interpreter start-up (site)", startup)):
        lines.append(f"  {title}:")
        for name, count, us in non_stdlib(group):
            found = importlib.util.find_spec(name) is not None
            note = "" if found else "  <- attempted and not found (an optional import)"
            lines.append(f"    {name:<20} {count:3d} module(s) {us / 1000:7.2f} ms{note}")
    heavy = sorted({name for name, _, _ in non_stdlib(tree)} & set(HEAVY))
    lines.append(f"  of {', '.join(HEAVY)} in the tree: {', '.join(heavy) if heavy else 'none'}")
    return "\n".join(lines)


# -- report ---------------------------------------------------------------------------------------


def table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = [head, *rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = []
    for i, line in enumerate(lines):
        cells = [c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(line, widths, strict=True))]
        out.append("| " + " | ".join(cells) + " |")
        if i == 0:
            out.append(
                "|" + "|".join("-" * (w + 2) if j == 0 else "-" * (w + 1) + ":" for j, w in enumerate(widths)) + "|"
            )
    return "\n".join(out)


def cold_table(kinds: list[Cold]) -> str:
    bare = kinds[0]
    rows = [
        (
            k.label,
            f"{k.best_ms:.1f}",
            f"{k.median_ms:.1f}",
            f"{k.best_ms - bare.best_ms:.1f}",
            f"{k.best_ms / bare.best_ms:.2f}",
            str(len(k.times_ns)),
        )
        for k in kinds
    ]
    return table(
        ("cold start (fresh process)", "ms (best)", "ms (median)", "ms over bare (best)", "x bare", "runs"), rows
    )


def rate_table(title: str, rates: list[Rate], baseline: Rate, baseline_name: str, unit: str) -> str:
    rows = [
        (
            r.label,
            f"{r.ns_per_op / 1000:,.3f}",
            f"{1e9 / r.ns_per_op:,.0f} {unit}/s",
            f"{r.median_ns / 1000:,.3f}",
            f"{r.ns_per_op / baseline.ns_per_op:,.2f}",
            f"{r.n:,} x {r.rounds}",
        )
        for r in rates
    ]
    return table((title, "µs/op (best)", "ops/s (best)", "µs/op (median)", f"x {baseline_name}", "N x rounds"), rows)


def versions() -> str:
    import pydantic
    import pydantic_settings

    import strongroom

    return (
        f"strongroom {strongroom.__version__}, pydantic {pydantic.VERSION}, "
        f"pydantic-settings {pydantic_settings.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="short run (smoke test), figures are noisier")
    parser.add_argument("--processes", type=int, help="cold-start runs of each kind (default 15, quick 5)")
    args = parser.parse_args(argv)
    sz = QUICK if args.quick else FULL
    if args.processes:
        sz = Sizes(**{**sz.__dict__, "processes": args.processes})

    started = time.perf_counter()
    print(
        f"strongroom config benchmark ({'quick' if args.quick else 'full'} run), "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}"
    )
    print(
        f"{platform.platform()}, nproc {len(os.sched_getaffinity(0))} (cpu_count {os.cpu_count()}), "
        f"Python {platform.python_version()} ({sys.executable})"
    )
    print(versions())
    print("load average at start: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    tmp = Path(tempfile.mkdtemp(prefix="strongroom-config-bench-"))
    added: list[str] = []
    try:
        fixture = make_fixture(tmp)
        print(
            f"schema: {N_FIELDS} secret fields; {len(fixture.in_env)} values in the environment, "
            f"{len(fixture.in_dotenv)} in {fixture.dotenv}"
        )
        kinds = bench_cold(fixture, sz.processes)

        for name, value in fixture.in_env.items():  # the in-process loads read this process's environment
            if name not in os.environ:
                added.append(name)
            os.environ[name] = value
        sr = module_from_source("strongroom_config_bench_schema", fixture.strongroom_source)
        ps = module_from_source("pydantic_settings_bench_schema", fixture.pydantic_source)
        loads = bench_load(fixture, sz, sr, ps)
        gets = bench_get(fixture, sz, sr, ps)
        imports = format_import_list("strongroom.config", child_env(fixture), tmp)
    finally:
        for name in added:
            os.environ.pop(name, None)
        for name in ("strongroom_config_bench_schema", "pydantic_settings_bench_schema"):
            sys.modules.pop(name, None)
        shutil.rmtree(tmp, ignore_errors=True)

    bare, sr_import, ps_import, sr_cold, ps_cold = kinds
    print()
    print(cold_table(kinds))
    print()
    ratio = sr_cold.best_ms / ps_cold.best_ms
    print(
        f"cold load, strongroom / pydantic-settings = {ratio:.2f} best/best, "
        f"{sr_cold.median_ms / ps_cold.median_ms:.2f} median/median; over bare python: "
        f"{(sr_cold.best_ms - bare.best_ms) / (ps_cold.best_ms - bare.best_ms):.2f} "
        f"(goal < 1, faster than pydantic-settings: {'met' if ratio < 1 else 'NOT met'})"
    )
    print(
        f"import alone, strongroom.config / pydantic_settings = {sr_import.best_ms / ps_import.best_ms:.2f} "
        f"best/best; over bare python: "
        f"{(sr_import.best_ms - bare.best_ms) / (ps_import.best_ms - bare.best_ms):.2f}"
    )
    print()
    print(rate_table("in-process load of the 50-secret schema", loads, loads[1], "pydantic-settings", "loads"))
    print(
        f"load() / BaseSettings(): {loads[0].ns_per_op / loads[1].ns_per_op:.2f} best/best, "
        f"{loads[0].median_ns / loads[1].median_ns:.2f} median/median "
        f"(strongroom {loads[1].ns_per_op / loads[0].ns_per_op:.1f}x as many loads per second)"
    )
    print()
    print(rate_table("cached get of one loaded secret", gets, gets[0], "dict lookup", "gets"))
    print(
        f"reveal() / dict lookup: {gets[1].ns_per_op / gets[0].ns_per_op:.1f} best/best, "
        f"{gets[1].median_ns / gets[0].median_ns:.1f} median/median"
    )
    print()
    print(imports)
    print()
    print("load average at end: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
