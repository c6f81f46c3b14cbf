"""What the scanner reads from git: the lines each commit added, and the lines staged for the next commit.

The real ``git`` binary runs in a subprocess (an argv list, never a shell) and its patch output is parsed
line by line as it streams, so a history of any length is read in constant memory apart from the set of
blob ids already scanned. Only *added* lines are reported: a secret that was committed once and deleted later
is found in the commit that added it, and content already scanned is not reported again when it is renamed
(rename detection), merged (merges show no diff), or recreated byte for byte elsewhere (same post-image blob).

``history`` yields oldest commit first (``--reverse --date-order``: no commit before its parents), so a
secret is attributed to the commit that first introduced it, not to a later cherry-pick or branch copy.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from strongroom.errors import InvalidInput

# Config overrides that make the patch text parseable whatever the user's git config says. ``-c`` is used
# rather than newer command-line switches because an older git ignores an unknown key but rejects an option.
_CONFIG = (
    "-c",
    "core.quotePath=false",  # non-ASCII names as raw UTF-8 bytes instead of octal escapes
    "-c",
    "diff.noprefix=false",  # keep the b/ prefix the +++ line is parsed with
    "-c",
    "diff.mnemonicPrefix=false",
    "-c",
    "diff.relative=false",  # whole-repository paths even when run from a subdirectory
    "-c",
    "log.showSignature=false",  # gpg output would be interleaved with the patch
)
# --full-index: whole blob ids, so "already scanned" is exact; --no-textconv: the stored bytes, not a filter's view.
_DIFF_OPTIONS = (
    "-p",
    "-U0",
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "-M",
    "--full-index",
    "--src-prefix=a/",
    "--dst-prefix=b/",
)
# A NUL-led header line: no patch line can start with NUL (patch lines start with "+", "-", " ", "@", a
# keyword or "\"), and sha, date and author cannot contain NUL, so a commit boundary is unambiguous.
_LOG_FORMAT = "--format=%x00%H%x00%aI%x00%an <%ae>"
# Revisions that start with "-" are git options; only these ref selectors are let through, so a revision
# such as "--output=FILE" cannot make git write files.
_REF_SELECTORS = ("--all", "--not", "--branches", "--tags", "--remotes")
_REF_SELECTOR_PREFIXES = ("--branches=", "--tags=", "--remotes=", "--glob=", "--exclude=")

_HUNK = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_SUBMODULE_MODE = b" 160000"
_READ_BUFFER = 1 << 16
_CHECK_TIMEOUT_SECONDS = 60
_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord('"'): ord('"'),
    ord("\\"): ord("\\"),
}


@dataclass(frozen=True, slots=True)
class Commit:
    id: str  # full sha
    author: str  # "Name <email>"
    date: str  # ISO 8601 author date (%aI)


@dataclass(frozen=True, slots=True)
class AddedText:
    path: str  # path in the repository (post-image path)
    text: str  # the added lines of this file in this commit, each ending in "\n"
    lines: tuple[int, ...]  # lines[i] = the line number in the new file of the i-th line of `text`
    commit: Commit | None  # None for staged changes


def is_repository(path: Path) -> bool:
    """Whether ``path`` is inside a git work tree or repository that git is willing to use."""
    try:
        done = _run_check(path)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def history(
    repo: Path, *, revisions: Sequence[str] = ("--all",), on_commit: Callable[[], None] | None = None
) -> Iterator[AddedText]:
    """The lines added by every commit reachable from ``revisions``, oldest commit first, one item per file.

    Checks the repository and the revisions now (raising :class:`InvalidInput`), then streams lazily;
    ``on_commit`` is called once per commit, merges and empty commits included.
    """
    _require_repository(repo)
    argv = [
        "log",
        "--reverse",
        "--date-order",
        "--root",
        "--encoding=UTF-8",
        _LOG_FORMAT,
        *_DIFF_OPTIONS,
        *_checked_revisions(revisions),
        "--",
    ]
    return _added_text(repo, argv, seen=set(), on_commit=on_commit)


def staged(repo: Path) -> Iterator[AddedText]:
    """The lines added by the changes staged in the index (``git diff --cached``), with ``commit=None``."""
    _require_repository(repo)
    # No blob de-duplication here: two staged files with equal content are both worth reporting.
    return _added_text(repo, ["diff", "--cached", *_DIFF_OPTIONS, "--"], seen=None, on_commit=None)


def _checked_revisions(revisions: Sequence[str]) -> list[str]:
    if isinstance(revisions, str):  # a lone string would otherwise be split into one-letter revisions
        raise InvalidInput("revisions must be a sequence of revision strings, not a single string")
    for revision in revisions:
        if revision.startswith("-") and not (revision in _REF_SELECTORS or revision.startswith(_REF_SELECTOR_PREFIXES)):
            raise InvalidInput(
                f"unsupported revision option {revision!r}: only ref selectors such as --all, "
                "--branches[=<pattern>], --tags, --remotes, --glob=, --exclude= and --not"
            )
    return list(revisions)


def _run_check(path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(  # noqa: S603
        ["git", "-C", str(path), "rev-parse", "--git-dir"],  # noqa: S607
        capture_output=True,
        timeout=_CHECK_TIMEOUT_SECONDS,
        check=False,
    )


def _require_repository(repo: Path) -> None:
    try:
        done = _run_check(repo)
    except FileNotFoundError:
        raise InvalidInput(f"{repo} is not a git repository (the git program was not found)") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InvalidInput(f"{repo} is not a git repository (git could not be run: {exc})") from None
    if done.returncode != 0:
        # git's own reason tells "no .git here" apart from e.g. "dubious ownership" or a missing directory.
        reason = _first_line(done.stderr)
        raise InvalidInput(f"{repo} is not a git repository" + (f" ({reason})" if reason else ""))


def _first_line(stderr: bytes) -> str:
    for line in stderr.decode("utf-8", "replace").splitlines():
        if line.strip():
            return line.strip().removeprefix("fatal: ").removeprefix("error: ")
    return ""


def _added_text(
    repo: Path, argv: list[str], *, seen: set[bytes] | None, on_commit: Callable[[], None] | None
) -> Iterator[AddedText]:
    """Run ``git <argv>`` and parse its patch output as it arrives; the process never outlives the iterator."""
    command = ["git", "-C", str(repo), *_CONFIG, *argv]
    # stderr goes to a file, not a pipe: a pipe nobody reads while stdout is drained could fill and hang git.
    with tempfile.TemporaryFile() as errors:
        try:
            process = subprocess.Popen(  # noqa: S603
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errors,
                bufsize=_READ_BUFFER,
            )
        except OSError as exc:
            raise InvalidInput(f"{repo} is not a git repository (git could not be run: {exc})") from None
        finished = False
        try:
            yield from _parse(_stdout(process), seen=seen, on_commit=on_commit)
            finished = True
        finally:
            # Reached also when the consumer stops early (generator close) or on_commit raises: never leave
            # git running or a zombie behind.
            if process.poll() is None:
                process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()
        if finished and process.returncode != 0:
            raise InvalidInput(f"git {argv[0]} failed in {repo}: {_first_line(_read_all(errors)) or 'no message'}")


def _stdout(process: subprocess.Popen[bytes]) -> IO[bytes]:
    if process.stdout is None:  # cannot happen with stdout=PIPE; narrows the type without an assert
        raise RuntimeError("git was started without a stdout pipe")
    return process.stdout


def _read_all(handle: IO[bytes]) -> bytes:
    handle.seek(0)
    return handle.read()


@dataclass(slots=True)
class _FileDiff:
    """One file's section of a patch while it is being read."""

    path: str | None = None  # from the "+++ b/..." line; None until seen or for a deletion
    skip: bool = False  # post-image already scanned, or a submodule pointer
    texts: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


@dataclass(slots=True)
class _Hunk:
    """How many old and new lines of the current hunk are still to come, and the next new line number."""

    old_left: int = 0
    new_left: int = 0
    new_line: int = 0

    def open(self) -> bool:
        return self.old_left > 0 or self.new_left > 0


def _parse(stream: IO[bytes], *, seen: set[bytes] | None, on_commit: Callable[[], None] | None) -> Iterator[AddedText]:
    """Patch text (``git log -p`` with :data:`_LOG_FORMAT`, or ``git diff``) to one AddedText per file."""
    commit: Commit | None = None
    current = _FileDiff()
    hunk = _Hunk()
    for raw in stream:
        line = raw.removesuffix(b"\n")
        # Inside a hunk the remaining line counts decide what is content, so an added line that reads
        # "++ b/x" (shown as "+++ b/x") or "@@ ..." is never mistaken for a header.
        if hunk.open() and _hunk_line(line, hunk, current):
            continue
        hunk = _Hunk()
        if line.startswith(b"\0"):
            yield from _finish(current, commit)
            current = _FileDiff()
            commit = _commit(line)
            if on_commit is not None:
                on_commit()
        elif line.startswith(b"diff --git "):
            yield from _finish(current, commit)
            current = _FileDiff()
        elif line.startswith(b"@@ "):
            hunk = _hunk_header(line)
        else:
            _file_header(line, current, seen)
    yield from _finish(current, commit)


def _hunk_line(line: bytes, hunk: _Hunk, current: _FileDiff) -> bool:
    """Account for one line of an open hunk; False if it is not hunk content (a malformed or cut-short hunk)."""
    marker = line[:1]
    if marker == b"+" and hunk.new_left > 0:
        if not current.skip:
            current.texts.append(line[1:].decode("utf-8", "replace"))
            current.lines.append(hunk.new_line)
        hunk.new_left -= 1
        hunk.new_line += 1
    elif marker == b"-" and hunk.old_left > 0:
        hunk.old_left -= 1
    elif marker == b" " and hunk.old_left > 0 and hunk.new_left > 0:  # context, only if -U0 is ever raised
        hunk.old_left -= 1
        hunk.new_left -= 1
        hunk.new_line += 1
    elif marker != b"\\":  # "\ No newline at end of file" annotates the line before it and counts for nothing
        return False
    return True


def _hunk_header(line: bytes) -> _Hunk:
    match = _HUNK.match(line)
    if match is None:
        return _Hunk()
    old_count, new_start, new_count = match.group(2), int(match.group(3)), match.group(4)
    # A missing count means 1 ("@@ -3 +3 @@").
    return _Hunk(
        old_left=1 if old_count is None else int(old_count),
        new_left=1 if new_count is None else int(new_count),
        new_line=new_start,
    )


def _file_header(line: bytes, current: _FileDiff, seen: set[bytes] | None) -> None:
    """Read what matters from a file's extended header lines; everything else (rename from/to, ...) is noise."""
    if line.startswith((b"index ", b"new file mode ", b"new mode ")) and line.endswith(_SUBMODULE_MODE):
        current.skip = True  # a submodule's "Subproject commit <sha>" line is a pointer, not content
    if line.startswith(b"index ") and seen is not None:
        blob = _new_blob(line)
        if blob is not None:
            if blob in seen:
                current.skip = True
            seen.add(blob)
    elif line.startswith(b"+++ "):
        current.path = _post_image_path(line[4:])


def _new_blob(line: bytes) -> bytes | None:
    """The post-image blob id of ``index <old>..<new>[ <mode>]``; None for a deletion (all zeros)."""
    ids = line[len(b"index ") :].split(b" ", 1)[0]
    _, _, new = ids.partition(b"..")
    if not new or not new.strip(b"0"):
        return None
    try:
        return bytes.fromhex(new.decode("ascii"))  # 20 bytes rather than a 40-character string per blob
    except ValueError:
        return None


def _post_image_path(name: bytes) -> str | None:
    """``b/<path>`` (maybe C-quoted, maybe tab-terminated when it holds a space) to the path; None for /dev/null."""
    # git appends a tab to an unquoted name that contains a space; a name with a raw tab in it is quoted.
    name = _c_unquote(name) if name.startswith(b'"') else name.removesuffix(b"\t")
    if not name.startswith(b"b/"):
        return None
    return name[2:].decode("utf-8", "replace")


def _c_unquote(quoted: bytes) -> bytes:
    """Undo git's C-style quoting of a name (``"b/a\\"b\\303\\251"``); stops at the closing quote."""
    out = bytearray()
    i = 1
    while i < len(quoted) and quoted[i] != ord('"'):
        byte = quoted[i]
        if byte != ord("\\") or i + 1 >= len(quoted):
            out.append(byte)
            i += 1
        elif quoted[i + 1 : i + 4].isdigit():  # \ooo: one octal byte, how quoted non-ASCII bytes arrive
            out.append(int(quoted[i + 1 : i + 4], 8) & 0xFF)
            i += 4
        else:
            out.append(_C_ESCAPES.get(quoted[i + 1], quoted[i + 1]))
            i += 2
    return bytes(out)


def _commit(header: bytes) -> Commit:
    sha, date, author = header[1:].decode("utf-8", "replace").split("\0", 2)
    return Commit(id=sha, author=author, date=date)


def _finish(current: _FileDiff, commit: Commit | None) -> Iterator[AddedText]:
    if current.path is not None and current.texts and not current.skip:
        yield AddedText(
            path=current.path, text="\n".join(current.texts) + "\n", lines=tuple(current.lines), commit=commit
        )
