"""Run the leak matrix and print it; ``--update-doc`` rewrites its figures in ``docs/redaction.md``.

    cd tests/redact && ../../.venv/bin/python -m leak_matrix.run [--update-doc] [--paths a,b] [--jobs 2]

A cell is **masked** (its output arrived and shows no trace of the value), **limited** (it leaks, and the limits
table of ``docs/redaction.md`` lists it), a **leak** (it leaks and is listed nowhere), **stale** (listed, but no
longer leaks: the table must stay true), or **broken** (its output did not arrive: the cell proves nothing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from leak_matrix import cells, detect, shapes

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[2] / "docs" / "redaction.md"
BEGIN, END = "<!-- leak-matrix:begin -->", "<!-- leak-matrix:end -->"
_LIMIT_ROW = re.compile(r"^\|\s*`([\w.-]+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*$")


@dataclass(frozen=True)
class Limit:
    path: str
    shapes: frozenset[str]
    ways: frozenset[str]
    reason: str

    def covers(self, cell: Cell) -> bool:
        return cell.path == self.path and cell.shape in self.shapes and cell.way in self.ways


@dataclass
class Cell:
    path: str
    shape: str
    way: str
    code: int = 0
    cpu: float = 0.0
    marks: int = 0
    leaks: list[str] = field(default_factory=list)
    status: str = ""

    @property
    def id(self) -> str:
        return f"{self.path}.{self.shape}.{self.way}"


def read_limits(doc: Path = DOC) -> list[Limit]:
    """The limits table: the rows of the ``## Limits`` section shaped ``| `path` | shapes | ways | reason |``
    (``all`` or a comma-separated list)."""
    text = doc.read_text(encoding="utf-8")
    section = text.split("\n## Limits", 1)[1].split("\n## ", 1)[0]
    limits = []
    for line in section.splitlines():
        match = _LIMIT_ROW.match(line)
        if match:
            name, shape_list, way_list, reason = match.groups()
            limits.append(
                Limit(
                    name,
                    frozenset(shapes.SHAPES if shape_list == "all" else [s.strip() for s in shape_list.split(",")]),
                    frozenset(cells.WAYS if way_list == "all" else [w.strip() for w in way_list.split(",")]),
                    reason,
                )
            )
    return limits


JOBS = 4  # cells at once: many wait on a child (spawn, subprocess, run), so more than the 2 cores keeps them busy


def plan_cells(paths: list[cells.Path]) -> list[Cell]:
    return [Cell(p.name, shape, way) for p in paths for shape in shapes.SHAPES for way in p.ways]


def run_cells(matrix: list[Cell], values: dict[str, str], jobs: int = JOBS) -> None:
    """Run every cell in the fork server; fill in each one's exit code, marks and leaks."""
    with tempfile.TemporaryDirectory(prefix="leak-matrix-") as root:
        plan = os.path.join(root, "plan.json")
        fd = os.open(plan, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(
                {
                    "root": root,
                    "jobs": jobs,
                    "values": values,
                    "cells": [[c.id, c.path, c.shape, c.way] for c in matrix],
                },
                file,
            )
        env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "PYTEST_", "COV_"))}
        boot = "import sys; sys.path.insert(0, sys.argv[1]); from leak_matrix.server import main; main(sys.argv[2])"
        subprocess.run([sys.executable, "-c", boot, str(HERE.parent), plan], check=True, env=env, cwd=root)
        with open(os.path.join(root, "codes.json"), encoding="utf-8") as file:
            finished = json.load(file)
        for cell in matrix:
            out = Path(root, "out", cell.id)
            outputs = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
            cell.code = finished["codes"].get(cell.id, -1)
            cell.cpu = finished["cpu"].get(cell.id, 0.0)
            cell.marks = sum(data.count(cells.MARK.encode()) for data in outputs.values())
            cell.leaks = detect.find(values[cell.shape], outputs)


def classify(matrix: list[Cell], limits: list[Limit]) -> None:
    wanted = {p.name: p.marks for p in cells.PATHS}
    for cell in matrix:
        limited = any(limit.covers(cell) for limit in limits)
        if cell.marks < wanted[cell.path]:
            cell.status = "broken"
        elif cell.leaks:
            cell.status = "limited" if limited else "leak"
        else:
            cell.status = "stale" if limited else "masked"


def plan_controls(paths: list[cells.Path]) -> list[Cell]:
    """One control cell per path that calls ``install()``: the same snippet with ``install`` doing nothing (the
    value registered, a 40-character key). It must leak: the path carries the value, so its masking is
    redaction's doing, not a path that never wrote it."""
    return [Cell(p.name, "key40", "control") for p in paths if "install(" in p.code]


def collect(paths: list[cells.Path] | None = None, jobs: int = JOBS) -> tuple[list[Cell], list[Limit], list[Cell]]:
    """The matrix (classified), the limits table, and the control cells (run in the same server)."""
    chosen = paths if paths is not None else cells.PATHS
    matrix, controls = plan_cells(chosen), plan_controls(chosen)
    run_cells(matrix + controls, shapes.make_values(), jobs)
    limits = read_limits()
    classify(matrix, limits)
    for cell in controls:
        cell.status = "control" if cell.leaks and cell.marks >= 1 else "vacuous"
    return matrix, limits, controls


def figures(matrix: list[Cell]) -> dict[str, int]:
    counts = Counter(cell.status for cell in matrix)
    return {
        "paths": len({cell.path for cell in matrix}),
        "shapes": len({cell.shape for cell in matrix}),
        "ways": len({cell.way for cell in matrix}),
        "cells": len(matrix),
        "masked": counts["masked"],
        "limited": counts["limited"],
        "leaking": counts["leak"] + counts["stale"] + counts["broken"],
    }


def doc_block(matrix: list[Cell]) -> str:
    """The generated part of the doc's "Leak matrix" section: the figures, then one row per path."""
    f = figures(matrix)
    lines = [
        BEGIN,
        "| paths | value shapes | ways | cells | masked | limited | leaking |",
        "|---|---|---|---|---|---|---|",
        "| " + " | ".join(str(value) for value in f.values()) + " |",
        "",
        "| group | path | cells | masked | limited |",
        "|---|---|---|---|---|",
    ]
    for p in cells.PATHS:
        mine = [cell for cell in matrix if cell.path == p.name]
        if mine:
            counts = Counter(cell.status for cell in mine)
            row = [p.group, f"`{p.name}`", len(mine), counts["masked"], counts["limited"]]
            lines.append("| " + " | ".join(map(str, row)) + " |")
    lines.append(END)
    return "\n".join(lines)


def doc_figures(doc: Path = DOC) -> str:
    text = doc.read_text(encoding="utf-8")
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END if BEGIN in text else ""


def update_doc(matrix: list[Cell], doc: Path = DOC) -> None:
    text = doc.read_text(encoding="utf-8")
    doc.write_text(text.replace(doc_figures(doc), doc_block(matrix)), encoding="utf-8")


_SYMBOLS = {"masked": ".", "limited": "L", "leak": "X", "stale": "S", "broken": "?"}


def report(matrix: list[Cell]) -> str:
    lines = []
    for p in cells.PATHS:
        row = [cell for cell in matrix if cell.path == p.name]
        if not row:
            continue
        marks = "".join(_SYMBOLS[c.status] for c in row)
        lines.append(f"{p.name:40} {marks}")
        lines += [
            f"    {c.status:7} {c.shape:8} {c.way:8} code={c.code} {c.leaks[:3]}"
            for c in row
            if c.status in ("leak", "stale", "broken")
        ]
    lines.append(" ".join(f"{k}={v}" for k, v in figures(matrix).items()))
    by_path = Counter[str]()
    for cell in matrix:
        by_path[cell.path] += cell.cpu
    costly = ", ".join(f"{name} {seconds:.1f}" for name, seconds in by_path.most_common(8))
    lines.append(f"CPU seconds in cells: {sum(by_path.values()):.1f}; most: {costly}")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="leak_matrix.run")
    parser.add_argument("--update-doc", action="store_true")
    parser.add_argument("--paths", default="")
    parser.add_argument("--jobs", type=int, default=JOBS)
    args = parser.parse_args(argv)
    chosen = [p for p in cells.PATHS if not args.paths or p.name in args.paths.split(",")]
    matrix, _, controls = collect(chosen, args.jobs)
    print(report(matrix))
    vacuous = [cell.path for cell in controls if cell.status == "vacuous"]
    print(f"controls: {len(controls)} paths run without install(), {len(vacuous)} showed no value {vacuous}")
    if args.update_doc:
        if len(chosen) != len(cells.PATHS):
            parser.error("--update-doc needs the whole matrix (no --paths)")
        update_doc(matrix)
    ok = all(cell.status in ("masked", "limited") for cell in matrix) and not vacuous
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
