"""``strongroom scan`` (in-process through its real ``main()``, see ``invoke_cli``) on what it reads: vault values
(--known), git history and the index, standard input, very large and very long-lined files, symlinks, binary and
broken text, and each prefilter.

Every credential-shaped value is assembled at test time from a seeded generator (or, for vault values, from
``secrets``), so nothing in this file looks like a credential to the project's own scanner.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import secrets
import string
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto import LocalKeyProvider
from strongroom.testing import assert_not_leaked
from strongroom.vault import Vault

from ..conftest import invoke_cli  # noqa: TID252 -- pytest's importlib mode resolves the package
from .conftest import aws_key_id, gcp_api_key, github_pat, stripe_live_key  # noqa: TID252 -- pytest's importlib mode resolves the package

ALNUM = string.ascii_letters + string.digits
AUTHOR = "Alice Example <alice@example.com>"
DATE_1 = "2024-01-02T03:04:05+02:00"
DATE_2 = "2024-02-03T04:05:06+00:00"
STREAM_BLOCK = 8 * 1024 * 1024  # strongroom.scan.runner.STREAM_BLOCK: stdin and big files are read in these


# -- generated credentials -------------------------------------------------------------------------------


def random_word(seed: int, length: int = 24) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return "".join(rng.choice(ALNUM) for _ in range(length))


def vault_value() -> str:
    """A fresh 32-character value, unknown to everything but the vault it is stored in."""
    return "".join(secrets.choice(ALNUM) for _ in range(32))


# -- running things --------------------------------------------------------------------------------------


def _env(cwd: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean copy of the environment: no strongroom or git settings of the machine, no colour, no pager."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STRONGROOM_", "GIT_"))}
    env.pop("FORCE_COLOR", None)
    env.update(
        NO_COLOR="1",
        COLUMNS="250",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CEILING_DIRECTORIES=str(cwd.parent),
    )
    env.update(extra or {})
    return env


def strongroom(
    cwd: Path, *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = invoke_cli(args, env=_env(cwd, env), cwd=cwd, stdin=stdin or b"")
    assert "Traceback" not in result.stderr, result.stderr
    assert "internal error" not in result.stderr, result.stderr
    return result


def scan(
    cwd: Path, *args: str, stdin: bytes | str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return strongroom(cwd, "scan", *args, stdin=stdin, env=env)


def scan_many(
    *jobs: tuple[Path, Sequence[str]], env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    """Several independent ``strongroom scan`` runs, one after the other."""
    return [scan(cwd, *args, env=env) for cwd, args in jobs]


def findings(done: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(done.stdout)["findings"]
    return found


def places(done: subprocess.CompletedProcess[str]) -> set[tuple[str, str, int, int]]:
    return {(f["rule_id"], f["path"], f["line"], f["column"]) for f in findings(done)}


def git(repo: Path, *args: str, date: str = DATE_1) -> str:
    env = _env(repo, {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date})
    done = subprocess.run(
        [
            "git",
            "-C",
            str(repo),
            "-c",
            "user.name=Alice Example",
            "-c",
            "user.email=alice@example.com",
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


# -- --known: values stored in the vault ---------------------------------------------------------------------
#
# The values are stored through the library (the conftest's vault fixtures, key file at <home>/keys/dev.json),
# which is exactly what `strongroom secret put` does, minus a second of interpreter start-up per call; the CLI
# then opens the same home and store through STRONGROOM_HOME and STRONGROOM_URL.


def _cli_env(home: Path, url: str) -> dict[str, str]:
    return {"STRONGROOM_HOME": str(home), "STRONGROOM_URL": url, "STRONGROOM_ACTOR": "test:scan"}


def _log_with(lines: dict[int, str], total: int = 1500) -> str:
    """An application log of ``total`` lines with the given lines (1-based) put in."""
    out = []
    for i in range(1, total + 1):
        out.append(
            lines.get(
                i, f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z INFO worker-{i % 7} handled job {i} in {i % 250} ms"
            )
        )
    return "\n".join(out) + "\n"


def test_known_finds_a_stored_value_leaked_into_a_log(vault: Vault, store_url: str, tmp_path: Path) -> None:
    """--known finds a stored value in a log (password=, URL, JSON) naming tenant/name/version; it is never output."""
    old, value = vault_value(), vault_value()
    vault.create_tenant("acme")
    vault.put("acme", "db-password", old)
    vault.put("acme", "db-password", value)
    planted = {
        400: f"2024-05-01T10:06:40Z DEBUG connecting with password={value} to primary",
        800: f"2024-05-01T10:13:20Z ERROR cannot reach postgresql://u:{value}@h/db: timed out",
        1200: json.dumps({"level": "info", "event": "config loaded", "value": value, "user": "u"}),
        1300: f"2024-05-01T10:21:40Z WARN still seeing the old one {old} in requests",
    }
    (tmp_path / "app.log").write_text(_log_with(planted), encoding="utf-8")
    sarif_file = tmp_path / "out.sarif"

    as_json, as_text, without = scan_many(
        (tmp_path, ["--known", "--json", "--sarif", str(sarif_file), "app.log"]),
        (tmp_path, ["--known", "app.log"]),
        (tmp_path, ["--json", "app.log"]),
        env=_cli_env(tmp_path, store_url),
    )

    assert as_json.returncode == 1, as_json.stderr
    known = sorted(
        (f["line"], f["column"], f["description"], f["length"], f["severity"])
        for f in findings(as_json)
        if f["rule_id"] == "known-secret"
    )
    assert known == [
        (400, planted[400].index(value) + 1, "stored secret acme/db-password v2", 32, "critical"),
        (800, planted[800].index(value) + 1, "stored secret acme/db-password v2", 32, "critical"),
        (1200, planted[1200].index(value) + 1, "stored secret acme/db-password v2", 32, "critical"),
        (1300, planted[1300].index(old) + 1, "stored secret acme/db-password v1", 32, "critical"),
    ]
    sarif_text = sarif_file.read_text(encoding="utf-8")
    assert "stored secret acme/db-password v" in sarif_text

    assert as_text.returncode == 1
    for line in (400, 800, 1200):
        assert (
            f"app.log:{line}:{planted[line].index(value) + 1}: known-secret (critical) "
            f"stored secret acme/db-password v2: [REDACTED:known-secret 32 chars]" in as_text.stdout
        )

    assert without.returncode == 1  # the password= and URL lines are found by rules, as such
    assert not [f for f in findings(without) if f["rule_id"] == "known-secret" or "acme" in f["description"]]
    assert 1200 not in {f["line"] for f in findings(without)}  # only the vault knows the value in the JSON line

    assert_not_leaked(
        [value, old],
        as_json.stdout,
        as_json.stderr,
        sarif_text,
        as_text.stdout,
        as_text.stderr,
        without.stdout,
        without.stderr,
    )


def test_known_with_an_empty_vault_notes_it_and_passes_clean_text(
    tmp_path: Path, key_provider: LocalKeyProvider
) -> None:
    """--known on a vault with a tenant but no stored values prints a note and exits 0 on clean text."""
    url = f"sqlite:///{tmp_path / 'strongroom.db'}"
    with contextlib.closing(Vault.open(url, key_provider=key_provider, environment="dev", actor="test")) as opened:
        opened.create_tenant("acme")
    (tmp_path / "notes.txt").write_text("nothing to see here\n")
    done = scan(tmp_path, "--known", "notes.txt", env=_cli_env(tmp_path, url))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "holds no values to look for" in done.stderr
    assert "no secrets found" in done.stdout


@pytest.fixture(scope="module")
def known_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """A SQLite home whose tenant ``acme`` stores one value as ``api-token`` v1: (directory, CLI env, value)."""
    tmp = tmp_path_factory.mktemp("known")
    url = f"sqlite:///{tmp / 'strongroom.db'}"
    value = vault_value()
    provider = LocalKeyProvider.create_file(tmp / "keys" / "dev.json", "dev")
    with contextlib.closing(Vault.open(url, key_provider=provider, environment="dev", actor="test")) as opened:
        opened.create_tenant("acme")
        opened.put("acme", "api-token", value)
    return tmp, _cli_env(tmp, url), value


def test_known_text_output_names_the_stored_secret(known_home: tuple[Path, dict[str, str], str]) -> None:
    """The default (text) output of --known names the tenant, secret name and version of a leaked value."""
    tmp, env, value = known_home
    (tmp / "leak.log").write_text(f"request failed after 3 retries, value {value}\n")
    done = scan(tmp, "--known", "leak.log", env=env)
    assert done.returncode == 1
    assert value not in done.stdout + done.stderr
    assert "leak.log:1:" in done.stdout
    assert "acme/api-token v1" in done.stdout + done.stderr


def test_known_finds_a_value_at_the_end_of_a_long_query_string(known_home: tuple[Path, dict[str, str], str]) -> None:
    """A stored value in ``?...&key=<v>`` of an access-log line with many query parameters is found."""
    tmp, env, value = known_home
    query = "&".join(f"p{i}={i}" for i in range(14))
    (tmp / "access.log").write_text(f'10.0.0.1 - - "GET /api/v1/users/42/orders?{query}&key={value} HTTP/1.1" 200\n')
    done = scan(tmp, "--known", "--json", "access.log", env=env)
    assert done.returncode == 1
    assert value not in done.stdout + done.stderr
    assert [f["rule_id"] for f in findings(done)] == ["known-secret"]


# -- git history and the index ---------------------------------------------------------------------------------


def _repo(path: Path) -> Path:
    """A repository with one clean commit (app.py)."""
    path.mkdir()
    git(path, "init", "-q")
    (path / "app.py").write_text("print('hello')\n")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "start")
    return path


def test_git_history_finds_a_secret_removed_later_with_its_commit(tmp_path: Path) -> None:
    """--git reports a secret added in commit 1 and deleted in commit 2 with commit 1's sha, author and date."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    key = aws_key_id(31)
    (repo / "config.env").write_text(f"REGION=eu-west-1\nAWS_ACCESS_KEY_ID={key}\nDEBUG=0\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "add config")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "config.env").write_text("REGION=eu-west-1\nDEBUG=0\n")
    git(repo, "commit", "-q", "-am", "remove the key", date=DATE_2)

    history, as_text, tree = scan_many((repo, ["--git", "--json"]), (repo, ["--git"]), (repo, []))
    assert history.returncode == 1, history.stderr
    [found] = findings(history)
    assert (found["rule_id"], found["path"], found["line"], found["column"]) == (
        "aws-access-key-id",
        "config.env",
        2,
        19,
    )
    assert (found["commit"], found["author"], found["date"]) == (first, AUTHOR, DATE_1)
    assert f"config.env:2:19: aws-access-key-id (critical) in {first[:12]} by {AUTHOR} " in as_text.stdout
    summary = json.loads(history.stdout)
    assert (summary["commits"], summary["files"]) == (2, 1)  # the second commit only removes a line
    assert "2 commit(s), 1 change(s), " in as_text.stderr

    assert tree.returncode == 0, tree.stdout + tree.stderr
    assert "no secrets found" in tree.stdout
    assert_not_leaked([key], history.stdout, history.stderr, as_text.stdout, as_text.stderr)


def test_an_authors_terminal_escapes_are_printed_escaped(tmp_path: Path) -> None:
    """A commit's author (and a path) is anyone's text: its control characters are printed as ``\\x1b``,
    never sent to the terminal, where they could erase or rewrite the finding's line."""
    repo = _repo(tmp_path / "repo")
    (repo / "config.env").write_text(f"AWS_ACCESS_KEY_ID={aws_key_id(32)}\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=ev\x1b[2Kil\rX", "commit", "-q", "-m", "add config")
    as_text = scan(repo, "--git")
    assert as_text.returncode == 1, as_text.stderr
    assert "\x1b" not in as_text.stdout
    assert "\r" not in as_text.stdout
    assert "by ev\\x1b[2Kil\\x0dX <alice@example.com>" in as_text.stdout


def test_staged_sees_the_index_only(tmp_path: Path) -> None:
    """--staged finds a staged-only secret (exit 1), nothing after git reset, and ignores unstaged edits."""
    key = stripe_live_key(41)
    staged_repo = _repo(tmp_path / "staged")
    (staged_repo / "billing.py").write_text(f"import stripe\n\nstripe.api_key = '{key}'\n")
    git(staged_repo, "add", "billing.py")

    reset_repo = _repo(tmp_path / "reset")
    (reset_repo / "billing.py").write_text(f"import stripe\n\nstripe.api_key = '{key}'\n")
    git(reset_repo, "add", "billing.py")
    git(reset_repo, "reset", "-q")

    # A clean change staged, then a secret written over it in the working tree only.
    unstaged_repo = _repo(tmp_path / "unstaged")
    (unstaged_repo / "app.py").write_text("print('hello')\nprint('bye')\n")
    git(unstaged_repo, "add", "app.py")
    (unstaged_repo / "app.py").write_text(f"print('hello')\nprint('bye')\nKEY = '{stripe_live_key(42)}'\n")

    staged, after_reset, unstaged = scan_many(
        (staged_repo, ["--staged", "--json"]), (reset_repo, ["--staged"]), (unstaged_repo, ["--staged"])
    )
    assert staged.returncode == 1, staged.stderr
    [found] = findings(staged)
    assert (found["rule_id"], found["path"], found["line"], found["commit"]) == (
        "stripe-live-secret-key",
        "billing.py",
        3,
        None,
    )
    assert after_reset.returncode == 0, after_reset.stdout + after_reset.stderr
    assert unstaged.returncode == 0, unstaged.stdout + unstaged.stderr
    assert "no secrets found" in unstaged.stdout


def test_git_outside_a_repository_names_the_path(tmp_path: Path) -> None:
    """--git on a directory that is no git repository exits 2 with a message naming it."""
    (tmp_path / "plain-dir").mkdir()
    done = scan(tmp_path, "--git", "plain-dir")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "plain-dir is not a git repository" in done.stderr


# -- big input: stdin, streamed files, long lines -----------------------------------------------------------

LINE_BYTES = 100
BIG_LINES = 96_000  # 9.6 MB, more than one STREAM_BLOCK
BOUNDARY_LINE = STREAM_BLOCK // LINE_BYTES + 1  # the line that holds byte STREAM_BLOCK
LATE_LINE = 95_000  # after 9 MiB


@pytest.fixture(scope="module")
def big_log() -> tuple[bytes, set[tuple[str, int, int]]]:
    """About 9.6 MB of 100-byte log lines: one key straddles the 8 MiB block edge, one sits after 9 MiB."""
    edge_key, late_key = aws_key_id(61), aws_key_id(62)
    lines = [
        f"{i:08d} info served route=/index status=200 in {i % 97} ms ".ljust(LINE_BYTES - 1, "-")
        for i in range(1, BIG_LINES + 1)
    ]
    lines[BOUNDARY_LINE - 1] = f"{edge_key} seen at startup ".ljust(LINE_BYTES - 1, "-")
    lines[LATE_LINE - 1] = f"{LATE_LINE:08d} warn credential in use {late_key} ".ljust(LINE_BYTES - 1, "-")
    data = ("\n".join(lines) + "\n").encode()
    assert (BOUNDARY_LINE - 1) * LINE_BYTES < STREAM_BLOCK < (BOUNDARY_LINE - 1) * LINE_BYTES + 20
    assert data.index(late_key.encode()) > 9 * 1024 * 1024
    expected = {
        ("aws-access-key-id", BOUNDARY_LINE, 1),
        ("aws-access-key-id", LATE_LINE, lines[LATE_LINE - 1].index(late_key) + 1),
    }
    return data, expected


def test_stdin_keeps_line_numbers_across_stream_blocks(
    tmp_path: Path, big_log: tuple[bytes, set[tuple[str, int, int]]]
) -> None:
    """--stdin on more than 8 MiB finds a key cut by the block edge and one after 9 MiB, at their true lines."""
    data, expected = big_log
    done = scan(tmp_path, "--stdin", "--json", stdin=data)
    assert done.returncode == 1, done.stderr
    assert {(f["rule_id"], f["line"], f["column"]) for f in findings(done)} == expected
    assert {f["path"] for f in findings(done)} == {"<stdin>"}


def test_file_over_max_bytes_is_skipped_in_a_directory_but_scanned_when_named(
    tmp_path: Path, big_log: tuple[bytes, set[tuple[str, int, int]]]
) -> None:
    """A file over --max-file-bytes under a directory is skipped (said on stderr, exit 0); named, it is streamed."""
    data, expected = big_log
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "big.txt").write_bytes(data)
    (tree / "small.txt").write_text("fine\n")

    in_dir, named = scan_many(
        (tree, ["--max-file-bytes", "1000000", "."]), (tree, ["--max-file-bytes", "1000000", "--json", "big.txt"])
    )
    assert in_dir.returncode == 0, in_dir.stdout + in_dir.stderr
    assert "skipped big.txt: larger than 1000000 bytes" in in_dir.stderr
    assert "no secrets found (1 file(s)" in in_dir.stdout

    assert named.returncode == 1, named.stderr
    assert {(f["rule_id"], f["line"], f["column"]) for f in findings(named)} == expected
    assert json.loads(named.stdout)["skipped"] == []


def test_secret_near_the_end_of_a_3mb_single_line_is_found_at_its_column(tmp_path: Path) -> None:
    """A minified 3 MB one-line file with a key near its end: found (exit 1) at line 1 and the right column."""
    key = stripe_live_key(71)
    filler = "function f(a){return a+1};" * (3_000_000 // 26)
    head = filler + 'var k="'
    (tmp_path / "bundle.min.js").write_text(head + key + '";' + "var z=0;" * 20 + "\n")
    done = scan(tmp_path, "--json", ".")
    assert done.returncode == 1, done.stderr
    assert places(done) == {("stripe-live-secret-key", "bundle.min.js", 1, len(head) + 1)}


# -- symlinks, binary files, broken text --------------------------------------------------------------------


def test_symlink_loop_and_broken_symlink_named_are_not_scanned(tmp_path: Path) -> None:
    """A symlink loop and a broken symlink named on the command line are reported as not scanned: exit 2."""
    (tmp_path / "loop").symlink_to("loop")
    (tmp_path / "broken").symlink_to("no-such-target")
    (tmp_path / "leak.env").write_text(f"KEY={aws_key_id(81)}\n")
    done, with_finding = scan_many((tmp_path, ["loop", "broken"]), (tmp_path, ["--json", "loop", "leak.env"]))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "not scanned loop: " in done.stderr
    assert "not scanned broken: " in done.stderr
    assert "the scan was incomplete" in done.stdout

    assert with_finding.returncode == 1
    report = json.loads(with_finding.stdout)
    assert report["complete"] is False
    assert [e["path"] for e in report["errors"]] == ["loop"]


def _tree_with_symlink_loops(tree: Path) -> Path:
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "app.py").write_text("print('clean')\n")
    (tree / "a").symlink_to("b")
    (tree / "b").symlink_to("a")
    (tree / "self").symlink_to("self")
    (tree / "sub" / "up").symlink_to("..")
    (tree / "dangling").symlink_to("missing")
    return tree


def test_symlink_loops_inside_a_scanned_directory_do_not_hang(tmp_path: Path) -> None:
    """Symlink loops (file and directory) under a scanned directory, git repository or not, neither hang nor crash."""
    _tree_with_symlink_loops(tmp_path / "plain")
    repo = _tree_with_symlink_loops(tmp_path / "repo")
    git(repo, "init", "-q")
    done = scan(tmp_path, "plain", "repo")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no secrets found (2 file(s)" in done.stdout


def test_binary_file_is_skipped_and_invalid_utf8_does_not_hide_a_secret(tmp_path: Path) -> None:
    """A file with a NUL byte is skipped (exit 0); invalid UTF-8 around a key in a text file does not hide it."""
    key = aws_key_id(91)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "blob.dat").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" + f"KEY={key}\n".encode())
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "notes.txt").write_bytes(
        b"caf\xe9 latin-1 line\nab\xffc " + key.encode() + b" \xc3\x28\x80 tail\n"
    )
    binary, text = scan_many((tmp_path / "bin", ["--json", "."]), (tmp_path / "text", ["--json", "."]))
    assert binary.returncode == 0, binary.stdout + binary.stderr
    assert json.loads(binary.stdout)["skipped"] == []  # binary files are left out quietly

    assert text.returncode == 1, text.stderr
    assert places(text) == {("aws-access-key-id", "notes.txt", 2, 6)}
    assert_not_leaked([key], text.stdout, text.stderr)


# -- prefilters ---------------------------------------------------------------------------------------------------

PREFILTERS = ("hyperscan", "ahocorasick", "regex")


def _prefilter_places(
    cwd: Path, *args: str, names: Sequence[str] = PREFILTERS
) -> Iterator[tuple[str, set[tuple[str, str, int, int]]]]:
    runs = scan_many(*((cwd, ["--json", "--prefilter", name, *args]) for name in names))
    for name, done in zip(names, runs, strict=True):
        assert done.returncode in (0, 1), done.stderr
        assert json.loads(done.stdout)["prefilter"] == name
        yield name, places(done)


def test_every_prefilter_gives_the_same_findings(tmp_path: Path) -> None:
    """hyperscan, ahocorasick and regex prefilters report the same rule/path/line/column on the same tree."""
    (tmp_path / "src").mkdir()
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "prod.env").write_text(
        f"A=1\nAWS_ACCESS_KEY_ID={aws_key_id(101)}\nDATABASE_URL=postgresql://app:{random_word(102)}@db/app\n"
    )
    (tmp_path / "src" / "billing.py").write_text(f"import stripe\nstripe.api_key = '{stripe_live_key(103)}'\n")
    (tmp_path / "src" / "settings.py").write_text(
        f"DEBUG = False\nDB_PASSWORD = \"{random_word(104, 20)}\"\nMAPS = '{gcp_api_key(105)}'  # maps\n"
    )
    (tmp_path / "release.yml").write_text(f"steps:\n  - run: publish\n    env:\n      TOKEN: {github_pat(106)}\n")
    (tmp_path / "README.md").write_text("# app\n\nUse a password manager; set a token in the env.\n")
    results = dict(_prefilter_places(tmp_path, "."))
    assert {rule for rule, *_ in results["hyperscan"]} >= {
        "aws-access-key-id",
        "postgres-url-password",
        "stripe-live-secret-key",
        "generic-secret-assignment",
        "gcp-api-key",
        "github-classic-pat",
    }
    assert results["ahocorasick"] == results["hyperscan"]
    assert results["regex"] == results["hyperscan"]


def test_regex_prefilter_does_not_lose_keywords_inside_longer_keywords(tmp_path: Path) -> None:
    """The regex prefilter finds a generic assignment whose label also contains a provider rule's keyword."""
    (tmp_path / "cfg.py").write_text(f'secret_access_key = "{random_word(111)}"\n')
    (tmp_path / "client.js").write_text(f'const creds = {{ sessionToken: "{random_word(112)}" }};\n')
    results = dict(_prefilter_places(tmp_path, ".", names=("ahocorasick", "regex")))
    assert len(results["ahocorasick"]) == 2  # hyperscan agrees (it runs the rules' own regexes)
    assert results["regex"] == results["ahocorasick"]
