"""``[tool.strongroom.scan]`` settings: where they are read from, globs, refusals by name, lock files, fail_on."""

from __future__ import annotations

import random
import string
from pathlib import Path

import pytest

from strongroom.errors import InvalidInput
from strongroom.rules.base import SEVERITIES, Rule
from strongroom.scan import Scanner
from strongroom.scan.runner import FileScanner
from strongroom.scan.settings import (
    DEFAULT_MAX_FILE_BYTES,
    GENERIC_RULE,
    ScanSettings,
    find_pyproject,
    load_settings,
)


def write_pyproject(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pyproject.toml"
    path.write_text('[project]\nname = "demo"\n\n' + body, encoding="utf-8")
    return path


def test_defaults_without_any_pyproject(tmp_path: Path) -> None:
    """With no pyproject.toml at or above the start, the settings are the defaults and name no source."""
    if find_pyproject(tmp_path) is not None:
        pytest.skip("a pyproject.toml above the temporary directory")
    settings = load_settings(tmp_path)
    assert settings == ScanSettings()
    assert (
        settings.exclude_paths,
        settings.exclude_rules,
        settings.max_file_bytes,
        settings.fail_on,
        settings.source,
    ) == ((), frozenset(), DEFAULT_MAX_FILE_BYTES, "low", None)


def test_pyproject_without_the_table_gives_defaults_from_that_file(tmp_path: Path) -> None:
    """A pyproject.toml without [tool.strongroom.scan] gives the defaults, its path recorded as the source."""
    source = write_pyproject(tmp_path, "[tool.other]\nx = 1\n")
    settings = load_settings(tmp_path)
    assert settings == ScanSettings(source=source)
    assert settings.source == source


def test_nearest_pyproject_above_a_nested_directory_is_read(tmp_path: Path) -> None:
    """From a nested directory (or a file in it) the closest pyproject.toml above is the one read."""
    outer = write_pyproject(
        tmp_path / "repo",
        '[tool.strongroom.scan]\nexclude_paths = ["vendor/**"]\n'
        'exclude_rules = ["jwt"]\nmax_file_bytes = 2048\nfail_on = "high"\n',
    )
    nested = tmp_path / "repo" / "a" / "b" / "c"
    nested.mkdir(parents=True)
    (nested / "file.py").write_text("x = 1\n")
    for start in (nested, nested / "file.py", tmp_path / "repo"):
        settings = load_settings(start)
        assert settings.source == outer
        assert (settings.exclude_paths, settings.exclude_rules, settings.max_file_bytes, settings.fail_on) == (
            ("vendor/**",),
            frozenset({"jwt"}),
            2048,
            "high",
        )
    inner = write_pyproject(tmp_path / "repo" / "a", "")
    assert load_settings(nested) == ScanSettings(source=inner)  # the nearest wins, even without the table


@pytest.mark.parametrize(
    ("glob", "excluded", "kept"),
    [
        ("*.txt", ["a.txt", "x/a.txt", "x/y/z/notes.txt"], ["a.txt.bak", "a.txtx", "txt", "x/a.md"]),
        ("fixtures/**", ["fixtures/a", "fixtures/a/b/c.py"], ["src/fixtures/a", "fixtures", "myfixtures/a"]),
        ("docs/*.md", ["docs/a.md", "docs/index.md"], ["docs/x/a.md", "src/docs/a.md", "docs/a.mdx"]),
        (
            "**/secrets/*",
            ["secrets/a", "x/secrets/a", "x/y/secrets/a.env", "secrets/a/b"],
            ["mysecrets/a", "x/mysecrets/a", "secrets"],
        ),
        (
            "tests/**/data/*.json",
            ["tests/data/a.json", "tests/x/y/data/a.json"],
            ["tests/data/x/a.json", "data/a.json"],
        ),
        ("file?.py", ["file1.py", "sub/fileA.py"], ["file10.py", "file/.py"]),
        ("*.min.js", ["app.min.js", "static/js/app.min.js"], ["app.js", "min.js"]),
        ("node_modules", ["node_modules", "node_modules/a/b.js", "web/node_modules/a.js"], ["node_modules2/a.js"]),
    ],
)
def test_glob_semantics(glob: str, excluded: list[str], kept: list[str]) -> None:
    """`*` stays in a directory, `**` crosses them, `?` is one character; no slash means at any depth."""
    settings = ScanSettings(exclude_paths=(glob,))
    assert [p for p in excluded if not settings.excludes(p)] == []
    assert [p for p in kept if settings.excludes(p)] == []


def test_glob_special_characters_are_literal() -> None:
    """Regex metacharacters in a glob (`.`, `+`, `(`, `[`) are matched literally."""
    settings = ScanSettings(exclude_paths=("c++(old)/*.h", "a.b"))
    assert settings.excludes("c++(old)/x.h")
    assert not settings.excludes("cc(old)/x.h")
    assert settings.excludes("a.b")
    assert not settings.excludes("axb")


def test_glob_with_trailing_slash_excludes_the_directory() -> None:
    """`build/` excludes what is under any directory named build, as in a .gitignore."""
    settings = ScanSettings(exclude_paths=("build/",))
    assert settings.excludes("build/app.js")
    assert settings.excludes("web/build/app.js")
    assert not settings.excludes("builder/app.js")


def test_glob_with_leading_slash_is_anchored_at_the_root() -> None:
    """`/dist` excludes dist/ at the top of the scanned directory and nothing deeper, as in a .gitignore."""
    settings = ScanSettings(exclude_paths=("/dist",))
    assert settings.excludes("dist/app.js")
    assert not settings.excludes("web/dist/app.js")


# --- refusals ----------------------------------------------------------------------------------------------


def test_unknown_key_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    """A typo in a key is InvalidInput naming the file, the key and the known keys."""
    source = write_pyproject(tmp_path, '[tool.strongroom.scan]\nexclude_path = ["x"]\nfail_om = "low"\n')
    with pytest.raises(InvalidInput) as caught:
        load_settings(tmp_path)
    message = str(caught.value)
    for word in (str(source), "exclude_path", "fail_om", "exclude_paths", "max_file_bytes"):
        assert word in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("exclude_paths", '"tests/**"'),
        ("exclude_paths", "[1, 2]"),
        ("exclude_paths", '["ok", 3]'),
        ("exclude_paths", '{ a = "b" }'),
        ("exclude_rules", '"jwt"'),
        ("exclude_rules", "[true]"),
        ("exclude_rules", '[["jwt"]]'),
        ("max_file_bytes", '"10MB"'),
        ("max_file_bytes", "1.5"),
        ("max_file_bytes", "true"),
        ("max_file_bytes", "0"),
        ("max_file_bytes", "-1"),
        ("max_file_bytes", "[1]"),
        ("fail_on", '"urgent"'),
        ("fail_on", '"HIGH"'),
        ("fail_on", "3"),
        ("fail_on", '["high"]'),
    ],
)
def test_ill_typed_value_is_refused_naming_file_and_key(tmp_path: Path, key: str, value: str) -> None:
    """Each ill-typed value is InvalidInput whose message names the file and the key."""
    source = write_pyproject(tmp_path, f"[tool.strongroom.scan]\n{key} = {value}\n")
    with pytest.raises(InvalidInput) as caught:
        load_settings(tmp_path)
    assert str(source) in str(caught.value)
    assert key in str(caught.value)


def test_scan_entry_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    """`tool.strongroom.scan = ...` that is not a table is InvalidInput naming the file."""
    source = write_pyproject(tmp_path, "[tool.strongroom]\nscan = [1]\n")
    with pytest.raises(InvalidInput, match=r"\[tool\.strongroom\.scan\] must be a table") as caught:
        load_settings(tmp_path)
    assert str(source) in str(caught.value)


@pytest.mark.parametrize("body", ["[tool]\nstrongroom = 1\n", '[tool]\nstrongroom = "scan"\n'], ids=["int", "str"])
def test_strongroom_entry_that_is_not_a_table_is_refused(tmp_path: Path, body: str) -> None:
    """`tool.strongroom` that is not a table is InvalidInput naming the file, not a crash."""
    source = write_pyproject(tmp_path, body)
    with pytest.raises(InvalidInput) as caught:
        load_settings(tmp_path)
    assert str(source) in str(caught.value)


@pytest.mark.parametrize(
    "content",
    [
        b"[tool.strongroom.scan\nfail_on = 'low'\n",
        b"fail_on = \n",
        b"[tool]\nx = 1\n[tool]\nx = 2\n",
        b"\xff\xfe not utf-8 = 1\n",
    ],
    ids=["unclosed-table", "missing-value", "duplicate-table", "not-utf8"],
)
def test_unreadable_toml_is_refused_naming_the_file(tmp_path: Path, content: bytes) -> None:
    """A pyproject.toml that is not valid UTF-8 TOML is InvalidInput naming the file."""
    source = tmp_path / "pyproject.toml"
    source.write_bytes(content)
    with pytest.raises(InvalidInput, match="cannot read it as TOML") as caught:
        load_settings(tmp_path)
    assert str(source) in str(caught.value)


# --- lock files and the generic rule ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "poetry.lock",
        "uv.lock",
        "Cargo.lock",
        "yarn.lock",
        "Gemfile.lock",
        "sub/dir/composer.lock",
        "package-lock.json",
        "web/package-lock.json",
        "npm-shrinkwrap.json",
        "pnpm-lock.yaml",
        "go.sum",
        "deno.lock.json",
    ],
)
def test_lock_files_skip_the_generic_rule(path: str) -> None:
    """In lock files (at any depth) the generic assignment rule is skipped, on top of excluded rules."""
    assert ScanSettings().rules_skipped_for(path) == {GENERIC_RULE}
    settings = ScanSettings(exclude_rules=frozenset({"jwt"}))
    assert settings.rules_skipped_for(path) == {GENERIC_RULE, "jwt"}


@pytest.mark.parametrize(
    "path",
    [
        "package.json",
        "locks.py",
        "lock",
        "block.txt",
        "go.mod",
        "yarn.lock.bak",
        "poetry.lock/readme.md",
        "pnpm-lock.yml.txt",
    ],
)
def test_other_files_run_every_rule_but_excluded_ones(path: str) -> None:
    """Files that are not lock files only skip the excluded rules."""
    assert ScanSettings().rules_skipped_for(path) == frozenset()
    assert ScanSettings(exclude_rules=frozenset({"jwt"})).rules_skipped_for(path) == {"jwt"}


def test_file_scanner_applies_the_lock_file_skip(tmp_path: Path) -> None:
    """Through FileScanner, a lock file gives no generic-rule finding; the same text elsewhere does."""
    generic = Rule(
        id=GENERIC_RULE,
        description="a stand-in generic rule",
        keywords=("password",),
        pattern=r"password\s*=\s*(?P<secret>[A-Za-z0-9]{24})",
    )
    rng = random.Random(1)  # noqa: S311 -- test data
    text = "password = " + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(24)) + "\n"
    files = FileScanner(Scanner([generic], prefilter="regex"), ScanSettings())
    for name, expected in (("poetry.lock", []), ("settings.py", [GENERIC_RULE])):
        path = tmp_path / name
        path.write_text(text)
        assert [f.rule_id for f in files.scan(path, name, explicit=False).findings] == expected


# --- fail_on -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fail_on", SEVERITIES)
def test_fails_for_the_threshold_severity_and_above(fail_on: str) -> None:
    """fails(severity) is true exactly for fail_on and the severities above it."""
    settings = ScanSettings(fail_on=fail_on)
    threshold = SEVERITIES.index(fail_on)
    assert {s: settings.fails(s) for s in SEVERITIES} == {s: i >= threshold for i, s in enumerate(SEVERITIES)}


def test_default_fail_on_fails_on_everything() -> None:
    """By default every severity fails the scan."""
    assert SEVERITIES == ("low", "medium", "high", "critical")
    assert all(ScanSettings().fails(s) for s in SEVERITIES)


@pytest.mark.parametrize("fail_on", SEVERITIES)
def test_each_severity_is_accepted_from_pyproject(tmp_path: Path, fail_on: str) -> None:
    """Every severity name is a valid fail_on in pyproject.toml."""
    write_pyproject(tmp_path, f'[tool.strongroom.scan]\nfail_on = "{fail_on}"\n')
    assert load_settings(tmp_path).fail_on == fail_on
