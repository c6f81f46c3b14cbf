#!/usr/bin/env python
"""Benchmark of the secret scanner against detect-secrets, Kingfisher and Betterleaks, on one tree, in one run.

The tree is built at run time in a temporary directory (nothing of it is committed): real source text
(``.py``, ``.json``, ``.md``, ... files of this interpreter's standard library and site-packages) copied until
it holds at least ``--mb`` megabytes, then one planted credential per rule and seed
(``strongroom.testing.samples.sample``) written as a realistic line (a Python/YAML/JSON/env assignment or
header) at a random place in a random file. The planted set is the ground truth.

Every tool scans the whole tree as a command a user would run, wall time measured around the process, with
its default rules, offline (``pip install -e '.[bench]'`` installs the peers):

- ``strongroom scan --json .`` (with each prefilter: Hyperscan, Aho-Corasick, stdlib regex),
- ``detect-secrets scan -n --all-files .`` (1.5.0),
- ``kingfisher scan . --no-validate --no-update-check --no-dedup -q --format json`` (2.14.0; ``--no-dedup``
  so that a secret found in several places is reported at each, as the others do), and
- ``betterleaks fs . --no-banner --no-color --log-level warn -o -`` (2.0.0, JSON; it validates only when
  asked). Neither opens a network connection so run (checked with ``strace -e trace=connect``).

Each cached compiled rule set (strongroom's Hyperscan database, Kingfisher's Vectorscan database) is
warmed on a one-line file first, so every timed run is a user's second run.

Printed per tool: wall and CPU seconds (user + system, children included: steadier than wall time on a
shared machine), MB/s (tree size / wall time), the ratio to detect-secrets and to Kingfisher, the
MB the tool says it read, and on the planted set the recall (a planted line reported), the recall on the
planted samples of provider families every tool covers (``FAIR_FAMILIES``: the planted formats are
strongroom's own, which favours it), and the findings outside the planted set (third-party test keys and
false positives) with their top rules.

    .venv/bin/python bench/scan_bench.py               # 50 MB tree (detect-secrets takes minutes)
    .venv/bin/python bench/scan_bench.py --mb 10       # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from strongroom.rules import RULES
from strongroom.testing.samples import sample

TEXT_SUFFIXES = {".py", ".json", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".js", ".html"}
MAX_SOURCE_FILE = 1 << 20
# Provider families all four tools have rules for; a family is its rule ids' prefix (or one rule id).
FAIR_FAMILIES = {
    "AWS": "aws-",
    "GitHub": "github-",
    "GitLab": "gitlab-",
    "Slack": "slack-",
    "Stripe": "stripe-",
    "OpenAI": "openai-",
    "Anthropic": "anthropic-",
    "Google API key": "gcp-api-key",
    "npm": "npm-access-token",
    "PEM private key": "pem-private-key",
    "JWT": "jwt",
}
# No validation, no update check, no telemetry switch left on by the caller's environment.
PEER_ENV_DROPPED = ("BETTERLEAKS_VALIDATE", "BETTERLEAKS_ANALYZE", "BETTERLEAKS_CONFIG", "BETTERLEAKS_CONFIG_TOML")


@dataclass(frozen=True)
class Planted:
    path: str
    line: int
    rule_id: str


@dataclass(frozen=True)
class Found:
    """One reported finding: its lines (first to last; one line for most) and the tool's rule."""

    path: str
    first: int
    last: int
    rule: str


@dataclass(frozen=True)
class Tool:
    name: str  # row label
    short: str  # column label in the per-family table
    argv: list[str]
    parse: Callable[[str], tuple[list[Found], int | None]]  # stdout -> findings, bytes the tool read
    exit_codes: tuple[int, ...]  # "no findings" and "findings"


@dataclass(frozen=True)
class Row:
    tool: Tool
    seconds: float  # wall time, start to exit
    cpu: float  # user + system CPU seconds of the process and its children: steadier on a loaded machine
    found: list[Found]
    read: int | None


def family(rule_id: str) -> str | None:
    return next((name for name, prefix in FAIR_FAMILIES.items() if rule_id.startswith(prefix)), None)


def copy_sources(target: Path, megabytes: float) -> int:
    """Copy real text files into ``target`` until it holds ``megabytes``; returns the byte count."""
    wanted = int(megabytes * 1e6)
    total = 0
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    for root in roots:
        for directory, subdirs, files in os.walk(root):
            subdirs[:] = sorted(d for d in subdirs if d not in ("__pycache__", "site-packages") or root != roots[0])
            for name in sorted(files):
                source = Path(directory) / name
                if source.suffix not in TEXT_SUFFIXES or source.is_symlink():
                    continue
                size = source.stat().st_size
                if not 0 < size <= MAX_SOURCE_FILE:
                    continue
                destination = target / root.name / source.relative_to(root)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
                total += size
                if total >= wanted:
                    return total
    return total


def plant(target: Path, seeds: int, rng: random.Random) -> list[Planted]:
    """One credential per (rule, seed), each in a random file at a random line."""
    files = sorted(p for p in target.rglob("*") if p.is_file() and p.suffix == ".py")
    planted: list[Planted] = []
    for rule in RULES:
        for seed in range(seeds):
            example = sample(rule, seed)
            context = rng.choice(example.contexts)
            path = rng.choice(files)
            lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
            at = rng.randrange(len(lines) + 1)
            added = context.rstrip("\n").split("\n")
            secret_line = next(i for i, text in enumerate(added) if example.secret in text)
            path.write_text("\n".join(lines[:at] + added + lines[at:]), encoding="utf-8")
            # Earlier plants in the same file below this one move down.
            planted = [
                Planted(p.path, p.line + len(added) if p.path == str(path) and p.line > at else p.line, p.rule_id)
                for p in planted
            ]
            planted.append(Planted(str(path), at + secret_line + 1, rule.id))
    return [Planted(str(Path(p.path).relative_to(target)), p.line, p.rule_id) for p in planted]


def run(tool: Tool, cwd: Path) -> Row:
    env = {k: v for k, v in os.environ.items() if k not in PEER_ENV_DROPPED}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(tool.argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)  # noqa: S603
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if done.returncode not in tool.exit_codes:
        raise SystemExit(f"{tool.argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    found, read = tool.parse(done.stdout)
    return Row(tool, elapsed, cpu, found, read)


# All four report 1-based lines; paths are relative to the scanned "." (Kingfisher and Betterleaks: "./a/b.py").


def parse_strongroom(output: str) -> tuple[list[Found], int | None]:
    report = json.loads(output)
    return [Found(f["path"], f["line"], f["line"], f["rule_id"]) for f in report["findings"]], report["bytes"]


def parse_detect_secrets(output: str) -> tuple[list[Found], int | None]:
    results = json.loads(output)["results"]
    found = [
        Found(os.path.normpath(path), f["line_number"], f["line_number"], f["type"])
        for path, items in results.items()
        for f in items
    ]
    return found, None


def parse_kingfisher(output: str) -> tuple[list[Found], int | None]:
    report = json.loads(output)
    found = [
        Found(os.path.normpath(f["finding"]["path"]), f["finding"]["line"], f["finding"]["line"], f["rule"]["id"])
        for f in report["findings"]
    ]
    return found, report["metadata"]["summary"]["bytes_scanned"]


def parse_betterleaks(output: str) -> tuple[list[Found], int | None]:
    report = json.loads(output)
    found = [
        Found(os.path.normpath(where["path"]), where["start_line"], where["end_line"], f["rule_id"])
        for f in report["findings"] or []
        for where in [f["location"]]
    ]
    return found, report["scan"].get("bytes_scanned")


def which(name: str, bin_dir: Path) -> str | None:
    return shutil.which(name, path=str(bin_dir)) or shutil.which(name)


def peers(args: argparse.Namespace, bin_dir: Path) -> list[Tool]:
    """The peer tools found on this machine; a missing one is reported and left out."""
    wanted = [
        ("detect-secrets", args.skip_detect_secrets),
        ("kingfisher", args.skip_kingfisher),
        ("betterleaks", args.skip_betterleaks),
    ]
    tools: list[Tool] = []
    for name, skipped in wanted:
        binary = None if skipped else which(name, bin_dir)
        if binary is None:
            why = "skipped" if skipped else "not found (install it with: pip install -e '.[bench]')"
            print(f"{name} {why}")
        elif name == "detect-secrets":
            argv = [binary, "scan", "-n", "--all-files", "."]
            tools.append(Tool("detect-secrets", "d-s", argv, parse_detect_secrets, (0, 1)))
        elif name == "kingfisher":
            argv = [binary, "scan", ".", "--no-validate", "--no-update-check", "--no-dedup", "-q", "--format", "json"]
            tools.append(Tool("kingfisher", "kf", argv, parse_kingfisher, (0, 200)))
        else:
            argv = [binary, "fs", ".", "--no-banner", "--no-color", "--log-level", "warn", "-o", "-"]
            tools.append(Tool("betterleaks", "bl", argv, parse_betterleaks, (0, 1)))
    return tools


def covers(finding: Found, planted: Planted) -> bool:
    return finding.path == planted.path and finding.first <= planted.line <= finding.last


def recalled(row: Row, planted: list[Planted]) -> set[Planted]:
    by_path: dict[str, list[Found]] = {}
    for f in row.found:
        by_path.setdefault(f.path, []).append(f)
    return {p for p in planted if any(covers(f, p) for f in by_path.get(p.path, []))}


def outside(row: Row, planted: list[Planted]) -> tuple[int, Counter[str]]:
    """Lines reported that hold no planted credential, and the rules that fired on them."""
    wanted: dict[str, list[Planted]] = {}
    for p in planted:
        wanted.setdefault(p.path, []).append(p)
    distinct = {(f.path, f.first, f.rule): f for f in row.found}.values()
    others = [f for f in distinct if not any(covers(f, p) for p in wanted.get(f.path, []))]
    return len({(f.path, f.first) for f in others}), Counter(f.rule for f in others)


def speed(size: int, seconds: float) -> float:
    return size / 1e6 / seconds


def ratio(times: float) -> str:
    return f"{times:.0f}" if times >= 10 else f"{times:.1f}"


def report(rows: list[Row], planted: list[Planted], size: int) -> None:
    fair = [p for p in planted if family(p.rule_id)]
    baselines = {short: next((r for r in rows if r.tool.short == short), None) for short in ("d-s", "kf")}
    print(
        f"\n{'tool':24} {'wall s':>7} {'CPU s':>7} {'MB/s':>6} {'x d-s':>5} {'x kf':>5} {'MB read':>7} "
        f"{'recall':>12} {'fair recall':>11} {'outside':>7}"
    )
    for row in rows:
        ratios = [ratio(base.seconds / row.seconds) if base else "-" for base in baselines.values()]
        hits = recalled(row, planted)
        fair_hits = len(hits & set(fair))
        read = f"{row.read / 1e6:.1f}" if row.read is not None else "-"
        print(
            f"{row.tool.name:24} {row.seconds:7.1f} {row.cpu:7.1f} {speed(size, row.seconds):6.1f} "
            f"{ratios[0]:>5} {ratios[1]:>5} "
            f"{read:>7} {len(hits):3}/{len(planted)} {len(hits) / len(planted):4.0%} "
            f"{fair_hits:3}/{len(fair)} {fair_hits / len(fair):4.0%} {outside(row, planted)[0]:7}"
        )
    print(f"\nfair-set recall by family (planted samples per family in brackets), {len(fair)} in all:")
    print(f"{'family':22}" + "".join(f"{row.tool.short:>8}" for row in rows))
    for name in FAIR_FAMILIES:
        members = [p for p in fair if family(p.rule_id) == name]
        cells = "".join(f"{len(recalled(row, members)):>8}" for row in rows)
        print(f"{f'{name} [{len(members)}]':22}{cells}")
    print("\nfindings outside the planted set ('outside': lines), top rules (one per line and rule):")
    for row in rows:
        top = ", ".join(f"{rule} {n}" for rule, n in outside(row, planted)[1].most_common(6))
        print(textwrap.fill(f"{row.tool.short}: {top or 'none'}", 100, initial_indent="  ", subsequent_indent="    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the tree in MB (default 50)")
    parser.add_argument("--seeds", type=int, default=2, help="planted credentials per rule (default 2)")
    parser.add_argument("--skip-detect-secrets", action="store_true")
    parser.add_argument("--skip-kingfisher", action="store_true")
    parser.add_argument("--skip-betterleaks", action="store_true")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    strongroom = str(bin_dir / "strongroom")
    tools = [
        Tool(
            f"strongroom ({prefilter})",
            short,
            [strongroom, "scan", "--json", "--prefilter", prefilter, "."],
            parse_strongroom,
            (0, 1),
        )
        for prefilter, short in (("hyperscan", "sr-hs"), ("ahocorasick", "sr-ac"), ("regex", "sr-re"))
    ]
    tools += peers(args, bin_dir)

    with tempfile.TemporaryDirectory(prefix="strongroom-scan-bench-") as temp:
        root = Path(temp)
        tree = root / "tree"
        tree.mkdir()
        copy_sources(tree, args.mb)
        planted = plant(tree, args.seeds, random.Random(7))  # noqa: S311 -- placement, not keys
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        files = sum(1 for p in tree.rglob("*") if p.is_file())
        print(
            f"tree: {size / 1e6:.1f} MB in {files} files; {len(planted)} planted credentials "
            f"({len(RULES)} rules x {args.seeds}); {os.cpu_count()} CPUs; Python {platform.python_version()}"
        )
        # Warm-up outside the tree: compiles and caches the rule databases that are cached between runs.
        warm = root / "warm"
        warm.mkdir()
        (warm / "warm.txt").write_text("warms the cached rule databases\n")
        for tool in tools:
            if tool.short in ("sr-hs", "kf"):
                run(tool, warm)
        rows = [run(tool, tree) for tool in tools]

    report(rows, planted, size)


if __name__ == "__main__":
    main()
