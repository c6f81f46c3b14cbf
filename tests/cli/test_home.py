"""A new user's first mistakes with ``$STRONGROOM_HOME``, its key file and its database, through the real CLI.

Each refusal names what was wrong and the fix, prints no traceback, and leaves nothing behind that the
advice did not ask for: no second home, no new key for an existing database, no empty database file.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

Invoke = Callable[..., subprocess.CompletedProcess[str]]


def _env(**extra: str) -> dict[str, str]:
    """This process's environment without any STRONGROOM_ setting (the default home applies), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env.pop("FORCE_COLOR", None)
    env.update(STRONGROOM_ACTOR="test:home", NO_COLOR="1", COLUMNS="80", **extra)
    return env


def _run(invoke: Invoke, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return invoke(list(args), env=_env(**extra), cwd=cwd)


def _ok(invoke: Invoke, cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    done = _run(invoke, cwd, *args, **extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _assert_refused(done: subprocess.CompletedProcess[str], *phrases: str) -> None:
    """A refusal: non-zero, every phrase in stderr, no traceback, no internal error, lines within 80 columns
    (but for a line that carries a path of the test's temporary directory)."""
    assert done.returncode != 0, done.stdout
    for phrase in phrases:
        assert phrase in done.stderr, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert "internal error" not in done.stderr
    for line in done.stderr.splitlines():
        assert len(line) <= 80 or "/" in line, line


def _git_init(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(path)], check=True, capture_output=True)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project directory that is not inside a git work tree."""
    where = tmp_path / "project"
    where.mkdir()
    return where


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


# -- .gitignore ------------------------------------------------------------------------------------------


@needs_git
def test_init_in_a_git_work_tree_ignores_the_home_once(project: Path, cli_invoke: Invoke) -> None:
    """In a git work tree, init adds `.strongroom/` to .gitignore (keeping what is there), and never twice."""
    _git_init(project)
    (project / ".gitignore").write_text("__pycache__/")  # no newline at the end
    said = _ok(cli_invoke, project, "init")
    assert (project / ".gitignore").read_text() == "__pycache__/\n.strongroom/\n"
    assert f"added .strongroom/ to {project / '.gitignore'}" in " ".join(said.stdout.split())
    status = subprocess.run(
        ["git", "-C", str(project), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert ".strongroom" not in status.stdout  # git sees no key file and no database

    second = project.parent / "again"
    _git_init(second)
    _ok(cli_invoke, second, "init")
    again = _ok(cli_invoke, second, "init", "--json", STRONGROOM_ENV="prod")  # the line is there already
    assert json.loads(again.stdout)["gitignore"] is None
    assert (second / ".gitignore").read_text() == ".strongroom/\n"


@needs_git
def test_init_leaves_a_gitignore_that_already_covers_the_home(project: Path, cli_invoke: Invoke) -> None:
    """A rule of the user's own that ignores the home (`.*`) is respected: nothing is added."""
    _git_init(project)
    (project / ".gitignore").write_text(".*\n!.gitignore\n")
    _ok(cli_invoke, project, "init")
    assert (project / ".gitignore").read_text() == ".*\n!.gitignore\n"


def test_init_outside_git_writes_no_gitignore(project: Path, cli_invoke: Invoke) -> None:
    if any((parent / ".git").exists() for parent in project.parents):
        pytest.skip("the temporary directory is inside a git work tree")
    _ok(cli_invoke, project, "init")
    assert not (project / ".gitignore").exists()


# -- the home, found from a subdirectory -----------------------------------------------------------------


def test_a_subdirectory_uses_the_projects_home(project: Path, cli_invoke: Invoke) -> None:
    """With STRONGROOM_HOME unset, a command run in a subdirectory finds `.strongroom` in a parent, as git finds
    `.git`: no second, empty home appears, and what it writes is in the project's vault."""
    _ok(cli_invoke, project, "init")
    deep = project / "src" / "app"
    deep.mkdir(parents=True)
    _ok(cli_invoke, deep, "tenant", "create", "acme")
    assert not (deep / ".strongroom").exists()
    assert not (project / "src" / ".strongroom").exists()
    listed = json.loads(_ok(cli_invoke, project, "tenant", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["acme"]


@pytest.mark.parametrize("planted", ["writable by others", "another user's"])
def test_a_parent_home_another_user_could_have_planted_is_not_used(
    project: Path, cli_invoke: Invoke, planted: str
) -> None:
    """A `.strongroom` on the way up that another user owns or may write to (a shared `/tmp`, `/srv`) is passed
    over, as git passes over such a `.git`: whoever planted it would get our admin key and database."""
    _ok(cli_invoke, project, "init")
    _ok(cli_invoke, project, "tenant", "create", "acme")
    home = project / ".strongroom"
    if planted == "writable by others":
        home.chmod(0o777)
    elif os.geteuid() == 0:
        os.chown(home, 65534, 65534)  # nobody
    else:
        pytest.skip("making a directory another user's needs root")
    sub = project / "sub"
    sub.mkdir()
    done = _run(cli_invoke, sub, "tenant", "list", "--json")
    assert "acme" not in done.stdout + done.stderr
    _ok(cli_invoke, sub, "init")  # a home of its own, beside the one passed over
    assert (sub / ".strongroom" / "keys" / "dev.json").exists()
    assert json.loads(_ok(cli_invoke, sub, "tenant", "list", "--json").stdout) == []


@pytest.mark.parametrize("how", ["found here", "named by STRONGROOM_HOME"])
def test_a_home_others_may_write_to_is_refused_however_it_is_named(
    project: Path, cli_invoke: Invoke, make_canary: Callable[[str], str], how: str
) -> None:
    """A home whose key file anyone may swap is refused by every command, init and serve's path included,
    naming the fix; nothing is read or written through it. Made private again, it works as before."""
    extra = {"STRONGROOM_HOME": str(project / ".strongroom")} if how != "found here" else {}
    _ok(cli_invoke, project, "init", **extra)
    _ok(cli_invoke, project, "tenant", "create", "acme", **extra)
    home = project / ".strongroom"
    home.chmod(0o777)
    for args in (("tenant", "list"), ("init",), ("secret", "put", "acme", "db")):
        done = invoke_with_stdin(cli_invoke, project, args, make_canary("home"), **extra)
        shown = home if extra else ".strongroom"  # as the home was named: found here, it is relative
        _assert_refused(done, "is writable by others (mode 777)", f"chmod 700 {shown}")
    home.chmod(0o700)
    assert json.loads(_ok(cli_invoke, project, "tenant", "list", "--json", **extra).stdout)[0]["name"] == "acme"
    assert json.loads(_ok(cli_invoke, project, "secret", "list", "acme", "--json", **extra).stdout) == []


def invoke_with_stdin(
    invoke: Invoke, cwd: Path, args: tuple[str, ...], stdin: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    return invoke(list(args), env=_env(**extra), cwd=cwd, stdin=stdin)


def test_init_in_a_subdirectory_names_the_home_it_found(project: Path, cli_invoke: Invoke) -> None:
    """init below an initialised project refuses (a key is never overwritten), says the home was found in a
    parent directory and how to make a separate one, which then works."""
    _ok(cli_invoke, project, "init")
    sub = project / "service"
    sub.mkdir()
    done = _run(cli_invoke, sub, "init")
    _assert_refused(done, f"{project}/.strongroom/keys/dev.json already exists", "STRONGROOM_HOME=.strongroom")
    assert not (sub / ".strongroom").exists()
    _ok(cli_invoke, sub, "init", STRONGROOM_HOME=".strongroom")
    assert (sub / ".strongroom" / "keys" / "dev.json").exists()


def test_no_home_anywhere_says_where_it_looked_and_to_run_init(project: Path, cli_invoke: Invoke) -> None:
    deep = project / "sub"
    deep.mkdir()
    done = _run(cli_invoke, deep, "tenant", "list")
    _assert_refused(done, "no strongroom home found", f"in {deep}", "and its parents", "strongroom init")
    assert not (deep / ".strongroom").exists()


def test_a_relative_home_that_is_not_there_names_the_variable(project: Path, cli_invoke: Invoke) -> None:
    _ok(cli_invoke, project, "init")
    sub = project / "sub"
    sub.mkdir()
    done = _run(cli_invoke, sub, "tenant", "list", STRONGROOM_HOME=".strongroom")
    _assert_refused(done, "STRONGROOM_HOME=.strongroom", "strongroom init")
    assert not (sub / ".strongroom").exists()


# -- a missing key file for an existing database ---------------------------------------------------------


def test_a_lost_key_file_is_restored_not_reinitialised(project: Path, cli_invoke: Invoke) -> None:
    """The database exists but its key file is gone: the advice is to restore it (naming the database and the
    key file expected), never `strongroom init`, which refuses too, and makes no new key."""
    _ok(cli_invoke, project, "init")
    _ok(cli_invoke, project, "tenant", "create", "acme")
    key_file = project / ".strongroom" / "keys" / "dev.json"
    backup = project.parent / "backup-dev.json"
    key_file.rename(backup)

    for command in (["secret", "list", "acme"], ["tenant", "create", "beta"], ["init"]):
        done = _run(cli_invoke, project, *command)
        _assert_refused(
            done,
            "key file is missing",
            "strongroom.db",
            ".strongroom/keys/dev.json",
            "restore that key file from your backup",
            "STRONGROOM_MASTER_KEY",
            "Do not run `strongroom init`",
        )
        assert "run `strongroom init` or" not in done.stderr
        assert not key_file.exists(), command  # no new, mismatched key

    backup.rename(key_file)  # following the advice works
    listed = json.loads(_ok(cli_invoke, project, "tenant", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["acme"]


@pytest.mark.postgres
def test_a_lost_key_file_for_a_postgresql_database(project: Path, cli_invoke: Invoke, postgres_url: str) -> None:
    """On PostgreSQL (no file to look at) the database is asked: empty, `init` is the fix; with strongroom's
    schema in it, restoring the key file is. The URL's password is never shown."""
    from sqlalchemy.engine import make_url

    password = secrets.token_hex(12)  # the test server trusts loopback: any password connects
    url = make_url(postgres_url).set(password=password).render_as_string(hide_password=False)
    env = {"STRONGROOM_URL": url, "STRONGROOM_HOME": str(project / "home")}
    done = _run(cli_invoke, project, "tenant", "list", **env)
    _assert_refused(done, "no strongroom home found", "strongroom init")
    _ok(cli_invoke, project, "init", **env)
    (project / "home" / "keys" / "dev.json").unlink()
    done = _run(cli_invoke, project, "tenant", "list", **env)
    _assert_refused(done, "key file is missing", "database: postgresql", "restore that key file", "Do not run")
    assert password not in done.stdout + done.stderr


def test_a_key_changed_under_the_same_id_writes_nothing(project: Path, cli_invoke: Invoke) -> None:
    """Other key bytes under the same key id: `tenant create` is refused before anything is written (the key
    check value), and with the right key restored the vault is as it was."""
    _ok(cli_invoke, project, "init")
    _ok(cli_invoke, project, "tenant", "create", "acme")
    key_file = project / ".strongroom" / "keys" / "dev.json"
    original = key_file.read_bytes()
    document = json.loads(original)
    document["keys"] = {version: base64.b64encode(os.urandom(32)).decode() for version in document["keys"]}
    key_file.write_text(json.dumps(document))  # same key id, same mode, other material
    database = project / ".strongroom" / "strongroom.db"

    done = _run(cli_invoke, project, "tenant", "create", "beta")
    _assert_refused(done, "wrong key for this database", "other key material", "Nothing was written", "Fix:")

    key_file.write_bytes(original)
    listed = json.loads(_ok(cli_invoke, project, "tenant", "list", "--json").stdout)
    assert [t["name"] for t in listed] == ["acme"]
    _ok(cli_invoke, project, "tenant", "create", "beta")  # the right key works as before
    assert database.exists()


# -- the database URL ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["secret", "list", "acme"], ["audit", "tail"], ["key", "status"], ["tenant", "create", "acme"]]
)
def test_a_mistyped_sqlite_path_creates_no_database(project: Path, cli_invoke: Invoke, command: list[str]) -> None:
    _ok(cli_invoke, project, "init")
    done = _run(cli_invoke, project, *command, STRONGROOM_URL="sqlite:///strongrom.db")
    _assert_refused(done, "no database at strongrom.db", "STRONGROOM_URL", "strongroom init")
    assert not (project / "strongrom.db").exists()


@pytest.mark.parametrize("url", ["sqlite://x.db", "sqlite://localhost/x.db"])
def test_a_two_slash_sqlite_url_names_the_right_forms(project: Path, cli_invoke: Invoke, url: str) -> None:
    _ok(cli_invoke, project, "init")
    for command in (["tenant", "list"], ["db", "upgrade"]):
        done = _run(cli_invoke, project, *command, STRONGROOM_URL=url)
        _assert_refused(done, "is not a SQLite file URL", "sqlite:///relative.db", "sqlite:////abs/path.db")
    assert not (project / "x.db").exists()


# -- doctor ----------------------------------------------------------------------------------------------


@needs_git
def test_doctor_passes_on_a_project_initialised_by_init(project: Path, cli_invoke: Invoke) -> None:
    """init's home is ignored, and a file that only names the key-file format is no key file."""
    _git_init(project)
    _ok(cli_invoke, project, "init")
    (project / "formats.py").write_text('KEY_FILE_FIELD = "strongroom_keyfile"\n')
    (project / "example.json").write_text(json.dumps({"doc": {"strongroom_keyfile": 1, "key_id": "local:x"}}))
    example = {"strongroom_keyfile": 1, "environment": "dev", "key_id": "local:<16 hex>", "primary": 1}
    (project / "keyfile-format.json").write_text(json.dumps({**example, "keys": {"1": "<base64 32 bytes>"}}))
    done = _ok(cli_invoke, project, "doctor")
    assert "no findings" in done.stdout


# -- admin keys, on the host -----------------------------------------------------------------------------


def test_a_lost_admin_key_is_replaced_on_the_host(project: Path, cli_invoke: Invoke) -> None:
    """`admin-key create` prints the key alone on stdout (a script captures it; `-q` drops the notes on
    stderr); with another live key it says how to revoke the lost one, and revoking it works."""
    _ok(cli_invoke, project, "init")
    first = _ok(cli_invoke, project, "admin-key", "create", "-q")
    assert first.stderr == ""
    lost = first.stdout.strip()
    assert lost.startswith("srk_")
    assert first.stdout == lost + "\n"

    second = _ok(cli_invoke, project, "admin-key", "create", "--name", "replacement")
    key = second.stdout.strip()
    assert second.stdout == key + "\n"
    assert key != lost
    assert "shown once" in second.stderr
    assert "strongroom admin-key revoke" in second.stderr
    assert key not in second.stderr
    assert lost not in second.stderr

    lost_id = lost.split("_")[1]
    _ok(cli_invoke, project, "admin-key", "revoke", lost_id)
    keys = json.loads(_ok(cli_invoke, project, "admin-key", "list", "--json").stdout)
    live = [k for k in keys if k["revoked_at"] is None]
    assert [k["name"] for k in live] == ["replacement"]
