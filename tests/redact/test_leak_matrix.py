"""The leak matrix (issue 14): every output path of a process x five value shapes x the three ways a value becomes
known (``register()``, a live ``Secret``, the config layer), each cell in a fresh process, its output searched for the
value in raw form and every common decoding. Every cell is masked or listed in the limits table of
``docs/redaction.md``, which this test reads; a listed cell that no longer leaks fails too, and so do the doc's
figures if they are not the matrix's (``cd tests/redact && python -m leak_matrix.run --update-doc``).

The paths are ``leak_matrix/cells.py``; the fork server that runs them ``leak_matrix/server.py``; the detector,
written apart from ``strongroom.redact``, ``leak_matrix/detect.py``."""

from __future__ import annotations

import base64
import binascii
import html
import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from urllib.parse import quote, quote_plus

import pytest

# The matrix builds every output path once per module (about 30 s): acceptance-scale, in the slow tier.
pytestmark = pytest.mark.slow


def _package() -> ModuleType:
    """``leak_matrix``, imported from beside this file (tests are not a package under ``--import-mode=importlib``)."""
    if "leak_matrix" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "leak_matrix",
            Path(__file__).with_name("leak_matrix") / "__init__.py",
            submodule_search_locations=[str(Path(__file__).with_name("leak_matrix"))],
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["leak_matrix"] = module
        spec.loader.exec_module(module)
    return sys.modules["leak_matrix"]


_package()
from leak_matrix import cells, detect, run, shapes  # noqa: E402 -- after the package is found


@pytest.fixture(scope="module")
def collected() -> tuple[list[run.Cell], list[run.Cell]]:
    matrix, _, controls = run.collect()
    return matrix, controls


@pytest.fixture(scope="module")
def matrix(collected: tuple[list[run.Cell], list[run.Cell]]) -> list[run.Cell]:
    return collected[0]


def test_every_cell_is_masked_or_a_documented_limit(matrix: list[run.Cell]) -> None:
    """No cell leaks unless the limits table lists it; no listed cell has stopped leaking; every cell's output
    arrived (its marker is there)."""
    wrong = [cell for cell in matrix if cell.status not in ("masked", "limited")]
    assert not wrong, run.report([cell for cell in matrix if cell.path in {w.path for w in wrong}])
    assert len(matrix) == sum(len(shapes.SHAPES) * len(p.ways) for p in cells.PATHS)


def test_without_install_every_path_shows_the_value(collected: tuple[list[run.Cell], list[run.Cell]]) -> None:
    """Control: each path that calls install(), run with install() doing nothing, shows the value, so what the
    matrix finds masked was masked by redaction, not by a path that never wrote the value."""
    controls = collected[1]
    assert len(controls) > 80
    assert [cell.path for cell in controls if cell.status != "control"] == []


def test_the_limits_table_names_paths_of_the_matrix_with_a_reason() -> None:
    """Each row of the limits table is a path of the matrix, its shapes and ways real ones, its reason given."""
    limits = run.read_limits()
    assert limits, "no limits table found in docs/redaction.md"
    names = cells.by_name()
    for limit in limits:
        assert limit.path in names, limit.path
        assert limit.shapes <= set(shapes.SHAPES), limit
        assert limit.ways <= set(names[limit.path].ways), limit
        assert len(limit.reason) > 20, limit


def test_the_docs_figures_are_the_matrix(matrix: list[run.Cell]) -> None:
    """docs/redaction.md carries this run's figures (paths, cells, masked, limited) and per-path counts."""
    assert run.doc_figures() == run.doc_block(matrix), "run `python -m leak_matrix.run --update-doc` in tests/redact"


def _encoded(value: str) -> dict[str, str]:
    """The value the ways a log may carry it, each inside longer text, made with the standard library alone."""
    raw = value.encode()
    blob = b"session:" + raw + b":end"  # base64 of the value inside a longer blob, at three byte alignments
    mime = base64.encodebytes(b"x" * 50 + raw).decode()  # wrapped at 76 characters
    return {
        "raw": f"a {value} b",
        "hex lower": f"h={raw.hex()};",
        "hex upper": f"h={raw.hex().upper()};",
        "percent upper": f"/cb?t={quote(value, safe='')}&x=1",
        "percent lower": "/cb?t=" + re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe="")),
        "percent plus": f"t={quote_plus(value)}",
        "json": json.dumps({"v": value}),
        "json slash": json.dumps({"v": value}).replace("/", "\\/"),
        "json unicode": json.dumps({"v": value}, ensure_ascii=True).replace("a", "\\u0061"),
        "json twice": json.dumps(json.dumps({"v": value})),
        "html": f"<p>{html.escape(value)}</p>",
        "base64 in a blob +0": base64.b64encode(blob).decode(),
        "base64 in a blob +1": base64.b64encode(b"x" + blob).decode(),
        "base64 in a blob +2": base64.b64encode(b"xy" + blob).decode(),
        "base64url": base64.urlsafe_b64encode(b"xy" + blob).decode().rstrip("="),
        "base64 mime": mime,
        "bytes repr": repr(raw),
        "ascii": ascii(value),
        "utf-16": value.encode("utf-16-le").decode("latin-1"),
        "hex with binascii": binascii.hexlify(raw, ":").decode().replace(":", ""),
    }


@pytest.mark.parametrize("shape", shapes.SHAPES)
def test_the_detector_finds_the_value_in_every_encoding(shape: str) -> None:
    """The detector is only as good as its decodings: each one the issue lists is found, for every shape, and a
    masked text, or one with another value, is clean (no false alarm)."""
    value, other = shapes.make_values()[shape], shapes.make_values()[shape]
    for name, text in _encoded(value).items():
        data = text.encode("utf-8", "surrogateescape") if name != "utf-16" else text.encode("latin-1")
        assert detect.find(value, {"out": data}), name
        assert not detect.find(other, {"out": data}), name
    if "\n" in value:  # a multi-line value: any one of its lines is a leak
        line = value.splitlines()[2]
        assert detect.find(value, {"out": f"x {line} y".encode()})
    masked = textwrap.dedent(f"""\
        Traceback (most recent call last):
          File "app.py", line 3, in <module>
        ValueError: bad key [REDACTED:leak_value] {base64.b64encode(b"[REDACTED:leak_value]").decode()}
        """)
    assert detect.find(value, {"out": masked.encode()}) == []
