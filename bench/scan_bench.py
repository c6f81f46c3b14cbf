#!/usr/bin/env python
"""Benchmark of the secret scanner against detect-secrets, on the same generated tree, in one run.

The tree is built at run time in a temporary directory (nothing of it is committed): real source text
(``.py``, ``.json``, ``.md``, ... files of this interpreter's standard library and site-packages) copied until
it holds at least ``--mb`` megabytes, then one planted credential per rule and seed
(``strongroom.testing.samples.sample``) written as a realistic line (a Python/YAML/JSON/env assignment or
header) at a random place in a random file. The planted set is the ground truth.

Both tools scan the whole tree as a command a user would run, wall time measured around the process:

- ``strongroom scan --json .`` (with each prefilter: Hyperscan, Aho-Corasick, stdlib regex), and
- ``detect-secrets scan -n --all-files .`` (1.5.0: ``pip install -e '.[bench]'``).

Printed: MB/s of each, strongroom's ratio to detect-secrets, and on the planted set the recall (a planted
line reported) and the findings outside it (other lines: third-party test keys and false positives).

    .venv/bin/python bench/scan_bench.py               # 50 MB tree (detect-secrets takes minutes)
    .venv/bin/python bench/scan_bench.py --mb 10       # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from strongroom.rules import RULES
from strongroom.testing.samples import sample

TEXT_SUFFIXES = {".py", ".json", ".md", ".rst", ".txt", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".js", ".html"}
MAX_SOURCE_FILE = 1 << 20


@dataclass(frozen=True)
class Planted:
    path: str
    line: int
    rule_id: str


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
                relative = Path(root.name) / source.relative_to(root)
                destination = target / relative
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


def run(argv: list[str], cwd: Path) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def strongroom_lines(output: str) -> set[tuple[str, int]]:
    return {(f["path"], f["line"]) for f in json.loads(output)["findings"]}


def other_rules(output: str, planted: list[Planted]) -> str:
    """Which rules fired outside the planted set (third-party test keys, examples, false positives)."""
    wanted = {(p.path, p.line) for p in planted}
    counts = Counter(f["rule_id"] for f in json.loads(output)["findings"] if (f["path"], f["line"]) not in wanted)
    return ", ".join(f"{rule} {n}" for rule, n in counts.most_common(8))


def detect_secrets_lines(output: str) -> set[tuple[str, int]]:
    results = json.loads(output)["results"]
    return {(os.path.normpath(path), f["line_number"]) for path, found in results.items() for f in found}


def score(found: set[tuple[str, int]], planted: list[Planted]) -> tuple[int, int]:
    wanted = {(p.path, p.line) for p in planted}
    return len(wanted & found), len(found - wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of the tree in MB (default 50)")
    parser.add_argument("--seeds", type=int, default=2, help="planted credentials per rule (default 2)")
    parser.add_argument("--skip-detect-secrets", action="store_true")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    strongroom = [str(bin_dir / "strongroom")]
    detect_secrets = shutil.which("detect-secrets", path=str(bin_dir)) or shutil.which("detect-secrets")

    with tempfile.TemporaryDirectory(prefix="strongroom-scan-bench-") as temp:
        tree = Path(temp)
        size = copy_sources(tree, args.mb)
        planted = plant(tree, args.seeds, random.Random(7))  # noqa: S311 -- placement, not keys
        size = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())
        files = sum(1 for p in tree.rglob("*") if p.is_file())
        print(
            f"tree: {size / 1e6:.1f} MB in {files} files; {len(planted)} planted credentials "
            f"({len(RULES)} rules x {args.seeds}); {os.cpu_count()} CPUs; Python {platform.python_version()}"
        )
        (tree / "warm.txt").write_text("compiles and caches the Hyperscan database\n")
        run([*strongroom, "scan", "--json", "--prefilter", "hyperscan", "warm.txt"], tree)

        rows: list[tuple[str, float, int, int]] = []
        others = ""
        for prefilter in ("hyperscan", "ahocorasick", "regex"):
            elapsed, output = run([*strongroom, "scan", "--json", "--prefilter", prefilter, "."], tree)
            recall, other = score(strongroom_lines(output), planted)
            rows.append((f"strongroom scan ({prefilter})", elapsed, recall, other))
            others = others or other_rules(output, planted)
        if detect_secrets and not args.skip_detect_secrets:
            elapsed, output = run([detect_secrets, "scan", "-n", "--all-files", "."], tree)
            recall, other = score(detect_secrets_lines(output), planted)
            rows.append(("detect-secrets scan -n", elapsed, recall, other))
        else:
            print("detect-secrets not run (install it with: pip install -e '.[bench]')")

    peer = next((r for r in rows if r[0].startswith("detect-secrets")), None)
    print(f"\n{'tool':34} {'seconds':>8} {'MB/s':>8} {'x peer':>8} {'recall':>14} {'other findings':>15}")
    for name, elapsed, recall, other in rows:
        speed = size / 1e6 / elapsed
        ratio = f"{speed / (size / 1e6 / peer[1]):.0f}x" if peer else "-"
        print(
            f"{name:34} {elapsed:8.1f} {speed:8.1f} {ratio:>8} "
            f"{recall:5}/{len(planted)} {recall / len(planted):5.0%} {other:15}"
        )
    print(f"\nstrongroom's findings outside the planted set, by rule: {others}")


if __name__ == "__main__":
    main()
