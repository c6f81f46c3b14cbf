"""Baselines: round trip, what counts as known, every way a file can be corrupt, atomic and stable writes."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import random
import stat
import string
from pathlib import Path
from typing import Any

import pytest

from strongroom.errors import InvalidInput
from strongroom.rules.base import Rule
from strongroom.scan import Finding, Scanner
from strongroom.scan.baseline import Baseline
from strongroom.testing import assert_not_leaked


def _finding(rule_id: str = "demo-token", path: str = "src/app.py", line: int = 3, seed: str = "a") -> Finding:
    # A fingerprint is any hex string to the baseline; hashing the seed keeps token-like literals out of the file.
    return Finding(
        rule_id, "a demo token", "high", path, line, 5, 16, fingerprint=hashlib.sha256(seed.encode()).hexdigest()
    )


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "version": 1,
        "generator": "strongroom",
        "key": base64.b64encode(bytes(32)).decode(),
        "findings": [{"rule_id": "demo-token", "path": "a.py", "fingerprint": "ab12", "line": 1}],
    }
    document.update(changes)
    return document


def test_round_trip_keeps_key_and_entries(tmp_path: Path) -> None:
    """A written baseline loads back with the same key and knows exactly the written findings."""
    baseline = Baseline.new()
    findings = [_finding(), _finding("other-key", "conf/app.ini", 9, "b")]
    target = tmp_path / ".strongroom-baseline.json"
    baseline.write(target, findings)
    loaded = Baseline.load(target)
    assert loaded.key == baseline.key
    assert len(loaded.key) == 32
    assert all(loaded.knows(f) for f in findings)
    assert loaded.entries == baseline.entries
    assert len(loaded) == 2


def test_file_format_is_documented_shape(tmp_path: Path) -> None:
    """The file holds version 1, generator, base64 key and sorted entries, 0644, ending in a newline."""
    baseline = Baseline.new()
    target = tmp_path / "b.json"
    baseline.write(target, [_finding(path="z.py"), _finding(path="a.py", line=7)])
    raw = target.read_bytes()
    assert raw.endswith(b"}\n")
    document = json.loads(raw)
    assert list(document) == ["version", "generator", "key", "findings"]
    assert (document["version"], document["generator"]) == (1, "strongroom")
    assert base64.b64decode(document["key"]) == baseline.key
    assert [(e["path"], e["line"]) for e in document["findings"]] == [("a.py", 7), ("z.py", 3)]
    assert list(document["findings"][0]) == ["rule_id", "path", "fingerprint", "line"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_new_baselines_get_distinct_random_keys() -> None:
    """Each new baseline has its own random 32-byte key and no entries."""
    first, second = Baseline.new(), Baseline.new()
    assert first.key != second.key
    assert len(first) == 0


def test_knows_ignores_line_moves() -> None:
    """A baselined finding is still known when its line number changes."""
    baseline = Baseline(bytes(32), [("demo-token", "src/app.py", _finding().fingerprint)])
    assert baseline.knows(dataclasses.replace(_finding(), line=300, column=1))


@pytest.mark.parametrize(
    "change",
    [
        {"rule_id": "other-rule"},
        {"path": "src/other.py"},
        {"fingerprint": hashlib.sha256(b"different secret").hexdigest()},
        {"fingerprint": ""},
    ],
    ids=["rule", "path", "fingerprint", "no-fingerprint"],
)
def test_knows_requires_same_rule_path_and_fingerprint(change: dict[str, Any]) -> None:
    """A change of rule id, path or fingerprint (or no fingerprint at all) makes a finding new."""
    baseline = Baseline(bytes(32), [("demo-token", "src/app.py", _finding().fingerprint)])
    assert not baseline.knows(dataclasses.replace(_finding(), **change))


def test_paths_compare_in_posix_form() -> None:
    """./src/app.py and src/app.py are the same path to the baseline."""
    baseline = Baseline(bytes(32), [("demo-token", "./src/app.py", _finding().fingerprint)])
    assert baseline.knows(_finding(path="src/app.py"))


def test_scanner_with_the_baseline_key_matches_after_an_edit_above(tmp_path: Path) -> None:
    """Scanned under the baseline's key, a baselined secret stays known after lines are added above it."""
    demo = Rule(
        id="demo-token", description="a demo token", pattern=r"\bdemo_(?P<secret>[a-z0-9]{16})\b", keywords=("demo_",)
    )
    rng = random.Random(5)  # noqa: S311 -- test data, not keys
    old, new = (
        "demo_" + "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(16)) for _ in range(2)
    )
    baseline = Baseline.new()
    target = tmp_path / "b.json"
    baseline.write(target, Scanner([demo], fingerprint_key=baseline.key).scan_text(f"k = '{old}'\n", "app.py"))
    loaded = Baseline.load(target)
    later = Scanner([demo], fingerprint_key=loaded.key).scan_text(f"# moved\n\nk = '{old}'\nj = '{new}'\n", "app.py")
    assert [f.line for f in loaded.new_findings(later)] == [4]
    assert_not_leaked([old, new], target.read_text())


def test_new_findings_filters_known_ones_in_order() -> None:
    """new_findings returns the unknown findings in their original order."""
    known = _finding(seed="known")
    fresh = [_finding(seed="x", line=1), _finding(seed="y", line=2)]
    baseline = Baseline(bytes(32), [(known.rule_id, known.path, known.fingerprint)])
    assert baseline.new_findings([fresh[0], known, fresh[1]]) == fresh


def test_write_refuses_findings_without_fingerprint(tmp_path: Path) -> None:
    """A finding without a fingerprint cannot be baselined, and the error says how to get one."""
    with pytest.raises(InvalidInput, match="no fingerprint"):
        Baseline.new().write(tmp_path / "b.json", [dataclasses.replace(_finding(), fingerprint="")])
    assert not (tmp_path / "b.json").exists()


def test_key_must_be_32_bytes() -> None:
    """A Baseline cannot be made with a key of the wrong length."""
    with pytest.raises(InvalidInput, match="32 bytes"):
        Baseline(bytes(16))


CORRUPT: list[tuple[str, str, str]] = [
    ("not-json", "this is not json", "not JSON"),
    ("truncated", json.dumps(_document())[:40], "not JSON"),
    ("not-utf8", "\udcff", "not UTF-8"),
    ("array", "[]", "expected a JSON object"),
    ("wrong-version", json.dumps(_document(version=2)), "unsupported version 2"),
    ("no-version", json.dumps({k: v for k, v in _document().items() if k != "version"}), "missing 'version'"),
    ("bad-base64-key", json.dumps(_document(key="not base64!")), "'key' is not valid base64"),
    ("short-key", json.dumps(_document(key=base64.b64encode(bytes(16)).decode())), "32 bytes, got 16"),
    ("key-not-string", json.dumps(_document(key=5)), "'key' must be a base64 string"),
    ("findings-not-list", json.dumps(_document(findings={"a": 1})), "'findings' must be a list"),
    ("entry-not-object", json.dumps(_document(findings=["x"])), r"findings\[0\] must be an object"),
    (
        "entry-missing-field",
        json.dumps(_document(findings=[{"rule_id": "r", "path": "p", "line": 1}])),
        r"findings\[0\] is missing 'fingerprint'",
    ),
    (
        "entry-ill-typed",
        json.dumps(
            _document(
                findings=[
                    {"rule_id": "r", "path": "p", "fingerprint": "f", "line": 1},
                    {"rule_id": "r", "path": "p", "fingerprint": "f", "line": "2"},
                ]
            )
        ),
        r"findings\[1\]\.line must be an integer, got a string",
    ),
    (
        "entry-line-bool",
        json.dumps(_document(findings=[{"rule_id": "r", "path": "p", "fingerprint": "f", "line": True}])),
        r"findings\[0\]\.line must be an integer",
    ),
    (
        "entry-empty-fingerprint",
        json.dumps(_document(findings=[{"rule_id": "r", "path": "p", "fingerprint": "", "line": 1}])),
        r"findings\[0\]\.fingerprint",
    ),
]


@pytest.mark.parametrize(("content", "problem"), [(c, p) for _, c, p in CORRUPT], ids=[i for i, _, _ in CORRUPT])
def test_corrupt_file_raises_invalid_input_naming_file_and_problem(tmp_path: Path, content: str, problem: str) -> None:
    """Each kind of corrupt baseline is an InvalidInput whose message names the file and what is wrong."""
    target = tmp_path / "corrupt-baseline.json"
    target.write_bytes(content.encode("utf-8", "surrogateescape"))
    with pytest.raises(InvalidInput, match=problem) as caught:
        Baseline.load(target)
    assert str(target) in str(caught.value)


def test_missing_file_raises_invalid_input(tmp_path: Path) -> None:
    """Loading a baseline that does not exist names the file."""
    target = tmp_path / "absent.json"
    with pytest.raises(InvalidInput, match="not found") as caught:
        Baseline.load(target)
    assert str(target) in str(caught.value)


def test_failed_write_leaves_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the final rename fails, the old baseline is untouched and no temporary file is left behind."""
    target = tmp_path / "b.json"
    baseline = Baseline.new()
    baseline.write(target, [_finding()])
    before = target.read_bytes()

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(InvalidInput, match="cannot write"):
        baseline.write(target, [_finding(seed="new"), _finding(seed="newer")])
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]
    assert baseline.knows(_finding())  # the in-memory baseline still matches the file on disk
    assert not baseline.knows(_finding(seed="new"))


def test_same_findings_in_any_order_write_the_same_bytes(tmp_path: Path) -> None:
    """The file depends on the set of findings, not their order (duplicates collapse), so diffs stay small."""
    findings = [_finding("r-" + str(i % 3), f"dir/f{i % 4}.py", i + 1, str(i)) for i in range(12)]
    shuffled = findings + findings[:3]
    random.Random(1).shuffle(shuffled)  # noqa: S311 -- test data order, not keys
    baseline = Baseline.new()
    baseline.write(tmp_path / "one.json", findings)
    baseline.write(tmp_path / "two.json", shuffled)
    assert (tmp_path / "one.json").read_bytes() == (tmp_path / "two.json").read_bytes()
