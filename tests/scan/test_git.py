"""``strongroom.scan.git`` against real git repositories built in tmp_path: added lines, attribution, streaming."""

from __future__ import annotations

import os
import random
import string
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom.errors import InvalidInput
from strongroom.scan.git import AddedText, history, is_repository, staged

ALICE = "Alice Example <alice@example.com>"
DATE = "2024-01-02T03:04:05+02:00"


@pytest.fixture(autouse=True)
def _isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the machine's git config out, and stop git from finding a repository above tmp_path."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))


def _marker(seed: int) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data, not keys
    return "MARK_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(20))


def _git(repo: Path, *args: str, date: str = DATE, stdin: bytes | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Alice Example",
        "GIT_AUTHOR_EMAIL": "alice@example.com",
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": "Carol",
        "GIT_COMMITTER_EMAIL": "carol@example.com",
        "GIT_COMMITTER_DATE": date,
    }
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", *args],
        env=env,
        input=stdin,
        capture_output=True,
        check=True,
        timeout=120,
    )
    return done.stdout.decode().strip()


def _init(repo: Path) -> Path:
    repo.mkdir(exist_ok=True)
    _git(repo, "-c", "init.defaultBranch=main", "init", "-q")
    return repo


def _commit(repo: Path, files: dict[str, str | bytes | None], *, date: str = DATE) -> str:
    """Write (or, for None, delete) files, stage everything and commit; the new commit's sha."""
    for name, content in files.items():
        path = repo / name
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "change", date=date)
    return _git(repo, "rev-parse", "HEAD")


def _by_commit(items: list[AddedText], sha: str) -> list[AddedText]:
    return [item for item in items if item.commit is not None and item.commit.id == sha]


def test_secret_added_then_removed_is_reported_once_with_its_commit(tmp_path: Path) -> None:
    """A line added in one commit and deleted in the next is reported once, with the adding commit's details."""
    repo = _init(tmp_path / "repo")
    marker = _marker(1)
    first = _commit(repo, {"config.env": f"A=1\nTOKEN={marker}\nB=2\n"})
    second = _commit(repo, {"config.env": "A=1\nB=2\n"}, date="2024-02-03T04:05:06+00:00")
    items = list(history(repo))
    found = [item for item in items if marker in item.text]
    assert len(found) == 1
    [item] = found
    assert item.commit is not None
    assert (item.commit.id, item.commit.author, item.commit.date) == (first, ALICE, DATE)
    assert item.path == "config.env"
    assert item.text == f"A=1\nTOKEN={marker}\nB=2\n"
    assert item.lines == (1, 2, 3)
    assert _by_commit(items, second) == []  # a pure deletion adds nothing


def test_history_is_oldest_commit_first(tmp_path: Path) -> None:
    """Commits come oldest first, so content is attributed to the commit that introduced it."""
    repo = _init(tmp_path / "repo")
    shas = [_commit(repo, {"f.txt": f"{n}\n"}, date=f"2024-01-0{n}T00:00:00+00:00") for n in range(1, 5)]
    assert [item.commit.id for item in history(repo) if item.commit is not None] == shas


def test_modified_lines_map_to_new_file_line_numbers(tmp_path: Path) -> None:
    """Several hunks in one modified file yield the added lines with their line numbers in the new file."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"app.py": "".join(f"line {n}\n" for n in range(1, 21))})
    lines = [f"line {n}\n" for n in range(1, 21)]
    lines[2] = "changed 3\n"  # replaced: new line 3
    lines[10:10] = ["inserted a\n", "inserted b\n"]  # after old line 10: new lines 11, 12
    del lines[15]  # old line 14 deleted: adds nothing
    lines.append("appended\n")  # new last line
    second = _commit(repo, {"app.py": "".join(lines)})
    [item] = _by_commit(list(history(repo)), second)
    assert item.text == "changed 3\ninserted a\ninserted b\nappended\n"
    assert item.lines == (3, 11, 12, len(lines))
    new_file = (repo / "app.py").read_text().splitlines()
    assert [new_file[n - 1] for n in item.lines] == item.text.splitlines()


def test_pure_rename_adds_nothing_and_an_edited_rename_adds_only_the_edit(tmp_path: Path) -> None:
    """A file renamed unchanged adds nothing; renamed with one edit, only that line under the new name."""
    repo = _init(tmp_path / "repo")
    body = "".join(f"setting_{n} = {n}\n" for n in range(10))
    _commit(repo, {"old.py": body})
    _git(repo, "mv", "old.py", "moved.py")
    renamed = _commit(repo, {})
    _git(repo, "mv", "moved.py", "final.py")
    edited = _commit(repo, {"final.py": body.replace("setting_4 = 4", "setting_4 = 44")})
    items = list(history(repo))
    assert _by_commit(items, renamed) == []
    [item] = _by_commit(items, edited)
    assert (item.path, item.text, item.lines) == ("final.py", "setting_4 = 44\n", (5,))


def test_same_blob_in_two_branches_is_emitted_once(tmp_path: Path) -> None:
    """Identical file content committed on two branches (or cherry-picked) is scanned once, oldest first."""
    repo = _init(tmp_path / "repo")
    marker = _marker(2)
    _commit(repo, {"README": "base\n"})
    _git(repo, "branch", "feature")
    on_main = _commit(repo, {"a.env": f"KEY={marker}\n"}, date="2024-01-03T00:00:00+00:00")
    _git(repo, "checkout", "-q", "feature")
    _commit(repo, {"copy/b.env": f"KEY={marker}\n"}, date="2024-01-04T00:00:00+00:00")
    found = [item for item in history(repo) if marker in item.text]
    assert [(item.path, item.commit.id if item.commit else None) for item in found] == [("a.env", on_main)]


def test_merge_commits_add_nothing_and_on_commit_counts_every_commit(tmp_path: Path) -> None:
    """on_commit is called once per reachable commit, merges included, and a merge reports no lines."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"a.txt": "a\n"})
    _git(repo, "checkout", "-q", "-b", "side")
    _commit(repo, {"b.txt": "b\n"})
    _git(repo, "checkout", "-q", "main")
    _commit(repo, {"c.txt": "c\n"})
    _git(repo, "merge", "-q", "--no-ff", "-m", "merge", "side")
    merge = _git(repo, "rev-parse", "HEAD")
    calls: list[None] = []
    items = list(history(repo, on_commit=lambda: calls.append(None)))
    assert len(calls) == int(_git(repo, "rev-list", "--all", "--count")) == 4
    assert _by_commit(items, merge) == []
    assert sorted(item.path for item in items) == ["a.txt", "b.txt", "c.txt"]


def test_binary_file_is_skipped(tmp_path: Path) -> None:
    """A binary file is not reported, while a text file of the same commit is."""
    repo = _init(tmp_path / "repo")
    marker = _marker(3)
    _commit(repo, {"blob.bin": b"\x00\x01" + marker.encode() + b"\n\x00", "notes.txt": f"{marker}\n"})
    assert [item.path for item in history(repo)] == ["notes.txt"]


def test_invalid_utf8_is_replaced_not_fatal(tmp_path: Path) -> None:
    """Bytes that are not UTF-8 are decoded with replacement characters and the rest of the line survives."""
    repo = _init(tmp_path / "repo")
    marker = _marker(4)
    _commit(repo, {"latin1.txt": b"caf\xe9 " + marker.encode() + b"\n"})
    [item] = history(repo)
    assert item.text == f"caf\ufffd {marker}\n"


def test_missing_final_newline_is_handled(tmp_path: Path) -> None:
    """A last line without a newline is reported with a newline added, and editing it maps to the right line."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"f.txt": "one\ntwo"})
    second = _commit(repo, {"f.txt": "one\nTWO"})
    items = list(history(repo))
    assert [(item.text, item.lines) for item in items] == [("one\ntwo\n", (1, 2)), ("TWO\n", (2,))]
    assert items[1].commit is not None
    assert items[1].commit.id == second


def test_added_lines_that_look_like_patch_headers_are_content(tmp_path: Path) -> None:
    """Added lines reading like "+++ b/x", "@@ ..." or "diff --git" are reported as text, not parsed as headers."""
    repo = _init(tmp_path / "repo")
    tricky = "++ b/other.txt\n@@ -1 +1 @@\ndiff --git a/x b/x\n\\ No newline\nindex 0..1\n"
    _commit(repo, {"tricky.txt": tricky})
    [item] = history(repo)
    assert (item.path, item.text, item.lines) == ("tricky.txt", tricky, (1, 2, 3, 4, 5))


def test_names_with_spaces_quotes_and_non_ascii_keep_their_real_names(tmp_path: Path) -> None:
    """Paths with spaces, a double quote and non-ASCII letters come back exactly as named."""
    repo = _init(tmp_path / "repo")
    names = ["my file.txt", "données/été.txt", 'say "hi".txt', "tab\there.txt"]
    _commit(repo, {name: f"content of {n}\n" for n, name in enumerate(names)})
    assert sorted(item.path for item in history(repo)) == sorted(names)
    _commit(repo, {name: f"changed {n}\n" for n, name in enumerate(names)})
    (repo / "new entry é.txt").write_text("staged\n")
    _git(repo, "add", "new entry é.txt")
    assert [item.path for item in staged(repo)] == ["new entry é.txt"]


def test_staged_change_appears_in_staged_only(tmp_path: Path) -> None:
    """A staged, uncommitted line is yielded by staged() with commit None, and not by history()."""
    repo = _init(tmp_path / "repo")
    marker = _marker(5)
    _commit(repo, {"app.cfg": "a = 1\nb = 2\n"})
    (repo / "app.cfg").write_text(f"a = 1\ntoken = {marker}\nb = 2\n")
    _git(repo, "add", "app.cfg")
    [item] = staged(repo)
    assert (item.path, item.text, item.lines, item.commit) == ("app.cfg", f"token = {marker}\n", (2,), None)
    assert all(marker not in item.text for item in history(repo))


def test_unstaged_and_untracked_changes_are_not_staged(tmp_path: Path) -> None:
    """Working-tree edits that were not added, and untracked files, do not appear in staged()."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"tracked.txt": "one\n", "other.txt": "x\n"})
    (repo / "tracked.txt").write_text("one\nunstaged line\n")
    (repo / "untracked.txt").write_text("untracked\n")
    assert list(staged(repo)) == []
    (repo / "other.txt").write_text("x\nstaged line\n")
    _git(repo, "add", "other.txt")
    assert [(item.path, item.text) for item in staged(repo)] == [("other.txt", "staged line\n")]


def test_staged_reports_every_file_even_with_equal_content(tmp_path: Path) -> None:
    """staged() does not de-duplicate: two staged files with the same content are both reported."""
    repo = _init(tmp_path / "repo")
    (repo / "a.env").write_text("same\n")
    (repo / "b.env").write_text("same\n")
    _git(repo, "add", "-A")
    assert sorted(item.path for item in staged(repo)) == ["a.env", "b.env"]


def test_empty_repository(tmp_path: Path) -> None:
    """A repository without commits has no history, and staged() still reports what is in the index."""
    repo = _init(tmp_path / "repo")
    assert is_repository(repo)
    assert list(history(repo)) == []
    (repo / "first.txt").write_text("hello\n")
    _git(repo, "add", "first.txt")
    [item] = staged(repo)
    assert (item.path, item.text, item.lines, item.commit) == ("first.txt", "hello\n", (1,), None)


@pytest.mark.parametrize("reader", [history, staged])
@pytest.mark.parametrize("name", ["plain dir", "missing"])
def test_not_a_repository_raises_invalid_input_naming_the_path(
    tmp_path: Path, reader: Callable[[Path], Iterator[AddedText]], name: str
) -> None:
    """A plain directory (or a missing one) is refused with InvalidInput naming it, before any iteration."""
    target = tmp_path / name
    if name == "plain dir":
        target.mkdir()
    assert not is_repository(target)
    with pytest.raises(InvalidInput, match="is not a git repository") as caught:
        reader(target)
    assert str(target) in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__context__ is None  # no chained CalledProcessError traceback


def test_missing_git_program_raises_invalid_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a git program on PATH the repository is refused with InvalidInput, not FileNotFoundError."""
    repo = _init(tmp_path / "repo")
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert not is_repository(repo)
    with pytest.raises(InvalidInput, match="git program was not found") as caught:
        history(repo)
    assert str(repo) in str(caught.value)


def test_git_failing_raises_invalid_input_with_its_message(tmp_path: Path) -> None:
    """A git command that fails (an unknown revision) raises InvalidInput carrying git's first stderr line."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"a.txt": "a\n"})
    with pytest.raises(InvalidInput, match="bad revision 'no-such-branch'"):
        list(history(repo, revisions=("no-such-branch",)))


def test_git_failing_half_way_raises_invalid_input_after_the_items_it_read(tmp_path: Path) -> None:
    """A missing object part-way through history yields what came before, then InvalidInput with git's reason."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"one.txt": "one\n"})
    _commit(repo, {"two.txt": "two\n"})
    blob = _git(repo, "rev-parse", "HEAD:two.txt")
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    read: list[str] = []
    with pytest.raises(InvalidInput, match=f"git log failed in .*unable to read {blob}"):
        read.extend(item.path for item in history(repo))
    assert read == ["one.txt"]


def test_revisions_select_commits_and_options_are_refused(tmp_path: Path) -> None:
    """Revisions limit the commits read; a revision that is a non-selector git option is refused."""
    repo = _init(tmp_path / "repo")
    _commit(repo, {"a.txt": "a\n"})
    last = _commit(repo, {"b.txt": "b\n"})
    assert [item.path for item in history(repo, revisions=("HEAD~1..HEAD",))] == ["b.txt"]
    assert [item.path for item in history(repo, revisions=(last, "--not", "HEAD~1"))] == ["b.txt"]
    assert len(list(history(repo, revisions=("--branches=ma*",)))) == 2
    with pytest.raises(InvalidInput, match="unsupported revision option"):
        history(repo, revisions=(f"--output={tmp_path / 'written'}",))
    assert not (tmp_path / "written").exists()


def _fast_import_stream(count: int) -> bytes:
    """``count`` linear commits, each rewriting one of 50 files with one new unique line."""
    chunks: list[bytes] = []
    for n in range(1, count + 1):
        message = f"commit {n}\n".encode()
        content = f"value {n}\n".encode()
        chunks += [
            b"commit refs/heads/main\n",
            b"mark :%d\n" % n,
            b"author Bulk <bulk@example.com> %d +0000\n" % (1_700_000_000 + n),
            b"committer Bulk <bulk@example.com> %d +0000\n" % (1_700_000_000 + n),
            b"data %d\n%s" % (len(message), message),
            b"from :%d\n" % (n - 1) if n > 1 else b"",
            b"M 100644 inline dir/f%02d.txt\n" % (n % 50),
            b"data %d\n%s\n" % (len(content), content),
        ]
    return b"".join(chunks)


@pytest.fixture
def big_repo(tmp_path: Path) -> Path:
    """A repository of 2,000 commits made in one git fast-import run."""
    repo = _init(tmp_path / "big")
    _git(repo, "fast-import", "--quiet", stdin=_fast_import_stream(2000))
    return repo


def _record_popen(monkeypatch: pytest.MonkeyPatch) -> list[subprocess.Popen[bytes]]:
    """Every process started from now on (git, here), recorded."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = subprocess.Popen

    class RecordingPopen(real_popen):  # type: ignore[valid-type, misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    monkeypatch.setattr(subprocess, "Popen", RecordingPopen)
    return started


def test_two_thousand_commits_stream_through_quickly(big_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 commits are read in a few seconds, one item per commit, in order and with the right lines."""
    calls: list[None] = []
    started = _record_popen(monkeypatch)
    items = list(history(big_repo, on_commit=lambda: calls.append(None)))
    assert len(calls) == len(items) == 2000
    assert [item.text for item in items[:3]] == ["value 1\n", "value 2\n", "value 3\n"]
    assert items[-1].text == "value 2000\n"
    assert all(item.lines == (1,) for item in items)
    # Quickly means streamed: one git process reads the whole history (not one per commit). Counted, not timed.
    assert len(started) <= 2, [p.args for p in started]
    assert len([p for p in started if isinstance(p.args, list) and "log" in p.args]) == 1


def test_stopping_early_reaps_git(big_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closing the iterator after one item kills and waits for git at once: no process or zombie is left."""
    started = _record_popen(monkeypatch)
    items: Iterator[AddedText] = history(big_repo)
    next(items)
    [process] = [p for p in started if isinstance(p.args, list) and "log" in p.args]
    assert process.returncode is None  # not reaped yet: git is mid-stream
    items.close()  # type: ignore[attr-defined]
    # At once: git was killed (a signal, not the end of a 2,000-commit log) and reaped, not waited for.
    assert process.returncode is not None
    assert process.returncode < 0, process.returncode
    with pytest.raises(ChildProcessError):
        os.waitpid(process.pid, os.WNOHANG)  # already reaped: not even a zombie remains
