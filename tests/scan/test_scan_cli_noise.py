"""``strongroom scan`` (in-process through its real ``main()``, see ``invoke_cli``) on what keeps its output useful:
baselines, inline allows, the ``[tool.strongroom.scan]`` settings, SARIF and JSON reports, and lock files.

Every credential-shaped value is assembled at test time from a seeded generator, so nothing in this file looks
like a credential to the project's own scanner.
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import string
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from sarif import loader  # type: ignore[import-untyped]  # sarif-tools ships no type information

from strongroom.testing import assert_not_leaked

from ..conftest import invoke_cli  # noqa: TID252 -- pytest's importlib mode resolves the package
from .conftest import aws_key_id, gcp_api_key, github_pat, stripe_live_key  # noqa: TID252 -- pytest's importlib mode resolves the package

ALNUM = string.ascii_letters + string.digits
BASELINE = ".strongroom-baseline.json"


# -- generated credentials -------------------------------------------------------------------------------


def random_word(seed: int, length: int = 20) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return "".join(rng.choice(ALNUM) for _ in range(length))


# -- running the CLI -----------------------------------------------------------------------------------------


def _env(cwd: Path) -> dict[str, str]:
    """A clean copy of the environment: no strongroom or git settings of the machine, no colour."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "GIT_"))}
    env.pop("FORCE_COLOR", None)
    env.update(
        NO_COLOR="1",
        COLUMNS="250",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CEILING_DIRECTORIES=str(cwd.parent),
    )
    return env


def scan_many(*jobs: tuple[Path, Sequence[str]]) -> list[subprocess.CompletedProcess[str]]:
    """Independent ``strongroom scan`` runs, one after the other, in-process through its real ``main()``."""
    results = []
    for cwd, args in jobs:
        result = invoke_cli(["scan", *args], env=_env(cwd), cwd=cwd)
        assert "Traceback" not in result.stderr, result.stderr
        assert "internal error" not in result.stderr, result.stderr
        results.append(result)
    return results


def scan(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    [result] = scan_many((cwd, args))
    return result


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def places(done: subprocess.CompletedProcess[str]) -> set[tuple[str, str, int]]:
    return {(f["rule_id"], f["path"], f["line"]) for f in report(done)["findings"]}


def text_findings(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The one-per-line findings of the plain-text output (``path:line:col: rule (severity) ...``)."""
    return [line for line in done.stdout.splitlines() if "[REDACTED:" in line]


def write(root: Path, files: dict[str, str]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return root


# -- baselines -------------------------------------------------------------------------------------------------


def test_baseline_hides_accepted_findings_and_reports_new_ones(tmp_path: Path) -> None:
    """--update-baseline records findings (exit 0); then only new secrets are reported, moved old ones stay hidden."""
    old_key, new_key = aws_key_id(1), stripe_live_key(2)
    tree = write(
        tmp_path / "tree",
        {"deploy/a.env": f"REGION=eu-west-1\nAWS_ACCESS_KEY_ID={old_key}\n", "app.py": "print('hello')\n"},
    )
    update = scan(tree, "--baseline", BASELINE, "--update-baseline", ".")
    assert update.returncode == 0, update.stdout + update.stderr
    assert f"baseline {BASELINE}: 1 finding(s) recorded" in update.stderr
    written = json.loads((tree / BASELINE).read_text())
    assert [(e["rule_id"], e["path"], e["line"]) for e in written["findings"]] == [
        ("aws-access-key-id", "deploy/a.env", 2)
    ]

    unchanged = tree
    added = shutil.copytree(tree, tmp_path / "added", symlinks=True)
    write(added, {"billing.py": f"import stripe\nstripe.api_key = '{new_key}'\n"})
    moved = shutil.copytree(added, tmp_path / "moved", symlinks=True)
    write(moved, {"deploy/a.env": "# moved down\n" * 5 + f"REGION=eu-west-1\nAWS_ACCESS_KEY_ID={old_key}\n"})

    same, with_new, after_move = scan_many(
        (unchanged, ["--baseline", BASELINE, "."]),
        (added, ["--baseline", BASELINE, "--json", "."]),
        (moved, ["--baseline", BASELINE, "--json", "."]),
    )
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no secrets found" in same.stdout
    assert "1 finding(s) in the baseline" in same.stdout

    assert with_new.returncode == 1, with_new.stderr
    assert places(with_new) == {("stripe-live-secret-key", "billing.py", 2)}
    assert report(with_new)["baselined"] == 1

    assert after_move.returncode == 1, after_move.stderr
    assert places(after_move) == {("stripe-live-secret-key", "billing.py", 2)}
    assert report(after_move)["baselined"] == 1
    assert_not_leaked(
        [old_key, new_key],
        update.stdout,
        update.stderr,
        (tree / BASELINE).read_text(),
        same.stdout,
        with_new.stdout,
        after_move.stdout,
    )


def test_corrupt_baseline_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    """A baseline that is not JSON, or of another version, exits 2 naming it."""
    (tmp_path / "app.py").write_text("print('hello')\n")
    (tmp_path / "garbled.json").write_text("{not json at all\n")
    future = {"version": 99, "generator": "strongroom", "key": base64.b64encode(bytes(32)).decode(), "findings": []}
    (tmp_path / "future.json").write_text(json.dumps(future))
    garbled, wrong_version = scan_many(
        (tmp_path, ["--baseline", "garbled.json", "app.py"]),
        (tmp_path, ["--baseline", "future.json", "app.py"]),
    )
    assert (garbled.returncode, wrong_version.returncode) == (2, 2)
    assert "garbled.json" in garbled.stderr
    assert "not JSON" in garbled.stderr
    assert "future.json" in wrong_version.stderr
    assert "unsupported version 99" in wrong_version.stderr


def test_missing_baseline_on_first_use_reports_every_finding(tmp_path: Path) -> None:
    """The README's first run, `scan --sarif out.sarif --baseline FILE .` before FILE exists: an empty baseline
    (every finding reported, in the SARIF too), a note naming the file and --update-baseline; nothing written."""
    key = aws_key_id(7)
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "app.py").write_text("print('hello')\n")
    (tmp_path / "config.env").write_text(f"AWS_ACCESS_KEY_ID={key}\n")
    clean, found = scan_many(
        (tmp_path / "clean", ["--sarif", "out.sarif", "--baseline", BASELINE, "."]),
        (tmp_path, ["--sarif", "out.sarif", "--baseline", BASELINE, "--json", "config.env"]),
    )
    assert clean.returncode == 0, clean.stderr
    assert "no secrets found" in clean.stdout
    for result in (clean, found):
        assert f"note: no baseline {BASELINE} yet: every finding is new" in result.stderr
        assert "--update-baseline" in result.stderr
        assert "Traceback" not in result.stderr
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert [f["rule_id"] for f in report["findings"]] == ["aws-access-key-id"]
    assert report["baselined"] == 0
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"]] == ["aws-access-key-id"]
    assert not (tmp_path / BASELINE).exists()
    assert not (tmp_path / "clean" / BASELINE).exists()
    assert_not_leaked([key], found.stdout, found.stderr, (tmp_path / "out.sarif").read_text())


# -- inline allow ------------------------------------------------------------------------------------------------


def test_allow_marker_suppresses_only_its_own_line(tmp_path: Path) -> None:
    """`strongroom:allow` on a line hides that line's finding through the CLI; the same key elsewhere is reported."""
    key = aws_key_id(11)
    (tmp_path / "docs.py").write_text(f'EXAMPLE = "{key}"  # strongroom:allow -- documented sample\nREAL = "{key}"\n')
    done = scan(tmp_path, "--json", ".")
    assert done.returncode == 1, done.stderr
    assert places(done) == {("aws-access-key-id", "docs.py", 2)}


# -- [tool.strongroom.scan] --------------------------------------------------------------------------------------

SETTINGS = """\
[project]
name = "demo"

[tool.strongroom.scan]
exclude_paths = ["fixtures/**", "*.txt"]
exclude_rules = ["stripe-live-secret-key"]
fail_on = "critical"
"""


def test_pyproject_settings_exclude_paths_rules_and_set_fail_on(tmp_path: Path) -> None:
    """pyproject settings hide excluded paths and rules; fail_on=critical passes a high finding; flags override."""
    maps_key = gcp_api_key(21)
    project = write(
        tmp_path / "project",
        {
            "pyproject.toml": SETTINGS,
            "fixtures/deep/creds.env": f"KEY={aws_key_id(22)}\n",
            "notes.txt": f"key {aws_key_id(23)}\n",
            "docs/notes.txt": f"key {aws_key_id(24)}\n",
            "src/pay.py": f"KEY = '{stripe_live_key(25)}'\n",
            "src/maps.py": f"MAPS_KEY = '{maps_key}'\n",
        },
    )
    unknown = write(tmp_path / "unknown", {"pyproject.toml": '[tool.strongroom.scan]\nexclude_path = ["x/**"]\n'})
    bad_level = write(tmp_path / "bad-level", {"pyproject.toml": '[tool.strongroom.scan]\nfail_on = "severe"\n'})
    # A rule set without the excluded rule would cost a fresh Hyperscan compile (seconds) on a cold cache.
    fast = ["--prefilter", "ahocorasick"]
    configured, overridden, unknown_key, bad_fail_on = scan_many(
        (project, [*fast, "."]), (project, [*fast, "--fail-on", "low", "."]), (unknown, ["."]), (bad_level, ["."])
    )

    expected = [f"src/maps.py:1:13: gcp-api-key (high) [REDACTED:gcp-api-key {len(maps_key)} chars]"]
    assert configured.returncode == 0, configured.stdout + configured.stderr
    assert text_findings(configured) == expected
    assert "skipped fixtures/deep/creds.env: excluded by settings" in configured.stderr
    assert "skipped docs/notes.txt: excluded by settings" in configured.stderr
    assert overridden.returncode == 1, overridden.stdout + overridden.stderr
    assert text_findings(overridden) == expected

    assert unknown_key.returncode == 2
    assert "exclude_path" in unknown_key.stderr
    assert "pyproject.toml" in unknown_key.stderr
    assert bad_fail_on.returncode == 2
    assert "fail_on" in bad_fail_on.stderr
    assert "severe" in bad_fail_on.stderr


def test_exclude_paths_are_relative_to_the_project_whatever_is_scanned(tmp_path: Path) -> None:
    """An exclude glob written from the project root also applies when only a subdirectory is scanned."""
    project = write(
        tmp_path / "project",
        {
            "pyproject.toml": '[tool.strongroom.scan]\nexclude_paths = ["tests/fixtures/**"]\n',
            "tests/fixtures/creds.env": f"KEY={aws_key_id(31)}\n",
            "tests/test_app.py": "def test_app():\n    assert True\n",
        },
    )
    whole, subdirectory = scan_many((project, ["."]), (project, ["tests"]))
    assert whole.returncode == 0, whole.stdout + whole.stderr
    assert subdirectory.returncode == 0, subdirectory.stdout  # reports tests/fixtures/creds.env


# -- reports: SARIF and JSON ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `scan --json --sarif` run on a tree with 3 planted keys, a file over the size limit and a broken link."""
    root = tmp_path_factory.mktemp("reports")
    keys = {
        "aws-access-key-id": aws_key_id(41),
        "stripe-live-secret-key": stripe_live_key(42),
        "github-classic-pat": github_pat(43),
    }
    tree = write(
        root / "tree",
        {
            "deploy/prod.env": f"# production\nREGION=eu-west-1\nAWS_ACCESS_KEY_ID={keys['aws-access-key-id']}\n",
            "src/billing.py": "import stripe\n\n\ndef charge():\n"
            f"    stripe.api_key = '{keys['stripe-live-secret-key']}'\n",
            "ci/release.yml": f"env:\n  GH_TOKEN: {keys['github-classic-pat']}\n",
            "big.txt": "nothing secret in here\n" * 300,
        },
    )
    (tree / "stale.env").symlink_to("gone.env")
    sarif_path = root / "out.sarif"
    done = scan(tree, "--json", "--sarif", str(sarif_path), "--max-file-bytes", "5000", ".", "stale.env")
    return {
        "done": done,
        "sarif": sarif_path,
        "keys": keys,
        "expected": {
            ("aws-access-key-id", "deploy/prod.env", 3),
            ("stripe-live-secret-key", "src/billing.py", 5),
            ("github-classic-pat", "ci/release.yml", 2),
        },
    }


def test_sarif_file_reads_back_with_each_rule_file_and_line(reported: dict[str, Any]) -> None:
    """--sarif writes a log sarif-tools reads, with each finding's rule id, file and line, and no key in it."""
    sarif_data = loader.load_sarif_file(str(reported["sarif"]))
    assert sarif_data.get_distinct_tool_names() == ["strongroom"]
    records = sarif_data.get_records()
    assert {(r["Code"], unquote(r["Location"]), r["Line"]) for r in records} == reported["expected"]
    assert len(records) == 3
    assert {r["ruleId"] for r in sarif_data.get_results()} == set(reported["keys"])
    assert_not_leaked(reported["keys"].values(), reported["sarif"].read_text(encoding="utf-8"))


def test_json_report_has_findings_skipped_errors_and_complete(reported: dict[str, Any]) -> None:
    """--json prints valid JSON with findings, skipped, errors and complete, and no key value anywhere."""
    done = reported["done"]
    assert done.returncode == 1, done.stderr  # findings decide the exit code even when the scan is incomplete
    document = report(done)
    assert {"findings", "skipped", "errors", "complete"} <= set(document)
    assert places(done) == reported["expected"]
    for finding in document["findings"]:
        assert finding["length"] == len(reported["keys"][finding["rule_id"]])
        assert len(finding["fingerprint"]) == 32
    assert document["skipped"] == [{"path": "big.txt", "reason": "larger than 5000 bytes"}]
    assert [e["path"] for e in document["errors"]] == ["stale.env"]
    assert document["complete"] is False
    assert_not_leaked(reported["keys"].values(), done.stdout, done.stderr)


# -- lock files ---------------------------------------------------------------------------------------------------


def test_generic_assignment_is_not_reported_in_lock_files(tmp_path: Path) -> None:
    """generic-secret-assignment is not applied to poetry.lock / package-lock.json, but is to settings.py."""
    password = random_word(51)
    digest = random.Random(52).randbytes(64)  # noqa: S311 -- test data
    integrity = "sha512-" + base64.b64encode(digest).decode()
    write(
        tmp_path,
        {
            "poetry.lock": f'[[package]]\nname = "requests"\nversion = "2.31.0"\npassword = "{password}"\n',
            "package-lock.json": json.dumps(
                {
                    "name": "app",
                    "lockfileVersion": 3,
                    "packages": {
                        "node_modules/left-pad": {"version": "1.3.0", "integrity": integrity, "password": password}
                    },
                },
                indent=2,
            )
            + "\n",
            "settings.py": f'DEBUG = False\npassword = "{password}"\n',
        },
    )
    done = scan(tmp_path, "--json", ".")
    assert done.returncode == 1, done.stderr
    assert places(done) == {("generic-secret-assignment", "settings.py", 2)}
