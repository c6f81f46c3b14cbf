"""``SecretsDirSource``: one file per secret, as Docker and Kubernetes mount them."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from strongroom import Secret
from strongroom.config import ConfigError, Settings, SourceKey
from strongroom.config.sources import files
from strongroom.config.sources.env import EnvSource
from strongroom.config.sources.files import MAX_FILE_BYTES, SecretsDirSource

KEY = SourceKey("api_token", "API_TOKEN", "dev")


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir()
    return directory


def test_file_named_after_env_var(secrets_dir: Path) -> None:
    """A file named like the environment variable supplies the value, with the file's mtime."""
    (secrets_dir / "API_TOKEN").write_text("tok-real-a1b2", encoding="utf-8")
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert found.value == "tok-real-a1b2"
    assert found.source == f"secrets-dir:{secrets_dir}"
    assert found.updated_at == pytest.approx((secrets_dir / "API_TOKEN").stat().st_mtime)


def test_file_named_after_field(secrets_dir: Path) -> None:
    """A file named like the schema field (lower case) supplies the value too."""
    (secrets_dir / "api_token").write_text("tok-real-c3d4", encoding="utf-8")
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert found.value == "tok-real-c3d4"


def test_env_named_file_wins_over_field_named_file(secrets_dir: Path) -> None:
    """When both API_TOKEN and api_token exist, the env-var-named file is used."""
    (secrets_dir / "API_TOKEN").write_text("from-env-name", encoding="utf-8")
    (secrets_dir / "api_token").write_text("from-field-name", encoding="utf-8")
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert found.value == "from-env-name"


def test_other_files_are_ignored(secrets_dir: Path) -> None:
    """Files for other secrets, and a sub-directory named like the key, do not answer for this key."""
    (secrets_dir / "OTHER").write_text("x-other", encoding="utf-8")
    (secrets_dir / "API_TOKEN").mkdir()
    assert SecretsDirSource(secrets_dir).get(KEY) is None


def test_symlinked_file_is_followed(secrets_dir: Path, tmp_path: Path) -> None:
    """Kubernetes mounts secrets as symlinks into a ..data directory; those are read."""
    data = secrets_dir / "..data"
    data.mkdir()
    (data / "API_TOKEN").write_text("tok-k8s-77", encoding="utf-8")
    (secrets_dir / "API_TOKEN").symlink_to(data / "API_TOKEN")
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert found.value == "tok-k8s-77"


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (b"v\n", "v"),
        (b"v\r\n", "v"),
        (b"v\n\n\n", "v"),
        (b"v", "v"),
        (b"  spaced v  \n", "  spaced v  "),
        (b"line one\nline two\n", "line one\nline two"),
        (b"-----BEGIN KEY-----\nabc\n-----END KEY-----\n", "-----BEGIN KEY-----\nabc\n-----END KEY-----"),
    ],
)
def test_trailing_newlines_are_stripped_and_nothing_else(secrets_dir: Path, content: bytes, value: str) -> None:
    """Trailing CR/LF is removed (as `echo > file` adds it); inner newlines and spaces are kept."""
    (secrets_dir / "API_TOKEN").write_bytes(content)
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert found.value == value


def test_missing_directory_has_no_values(tmp_path: Path) -> None:
    """A secrets directory that does not exist is not an error: the source simply has nothing."""
    assert SecretsDirSource(tmp_path / "does-not-exist").get(KEY) is None


def test_directory_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    """A secrets "directory" that is a regular file raises ConfigError naming the path."""
    not_a_dir = tmp_path / "secrets"
    not_a_dir.write_text("API_TOKEN=oops\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        SecretsDirSource(not_a_dir).get(KEY)
    assert str(not_a_dir) in str(info.value)
    assert "oops" not in str(info.value)


@pytest.fixture
def locked_dir(secrets_dir: Path) -> Iterator[Path]:
    (secrets_dir / "API_TOKEN").write_text("tok-locked", encoding="utf-8")
    secrets_dir.chmod(0)
    try:
        yield secrets_dir
    finally:
        secrets_dir.chmod(0o700)


def test_unreadable_directory_is_a_config_error(locked_dir: Path) -> None:
    """A secrets directory mode 000 raises ConfigError naming it (skipped where chmod cannot lock us out)."""
    if os.access(locked_dir, os.R_OK | os.X_OK):
        pytest.skip("running with privileges that ignore file modes (root): chmod 000 does not lock us out")
    with pytest.raises(ConfigError, match="not a readable directory") as info:
        SecretsDirSource(locked_dir).get(KEY)
    assert str(locked_dir) in str(info.value)


def test_directory_reported_unreadable_by_access_is_a_config_error(
    secrets_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When os.access says the directory cannot be read (as for a non-root user on mode 000), get() refuses."""
    (secrets_dir / "API_TOKEN").write_text("tok-real", encoding="utf-8")
    real_access = os.access
    monkeypatch.setattr(
        files.os,
        "access",
        lambda path, mode, **kw: False if Path(path) == secrets_dir else real_access(path, mode, **kw),
    )
    with pytest.raises(ConfigError, match="not a readable directory"):
        SecretsDirSource(secrets_dir).get(KEY)


def test_unreadable_file_is_a_config_error(secrets_dir: Path) -> None:
    """A secret file that cannot be opened raises ConfigError naming the file (skipped as root)."""
    path = secrets_dir / "API_TOKEN"
    path.write_text("tok-unreadable", encoding="utf-8")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running with privileges that ignore file modes (root)")
        with pytest.raises(ConfigError) as info:
            SecretsDirSource(secrets_dir).get(KEY)
        assert str(path) in str(info.value)
    finally:
        path.chmod(0o600)


def test_oversize_file_is_a_config_error(secrets_dir: Path, make_canary: Callable[[str], str]) -> None:
    """A file over MAX_FILE_BYTES raises ConfigError naming the file and the limit, not the content."""
    canary = make_canary("big")
    content = (canary * (MAX_FILE_BYTES // len(canary) + 2)).encode()
    assert len(content) > MAX_FILE_BYTES
    (secrets_dir / "API_TOKEN").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        SecretsDirSource(secrets_dir).get(KEY)
    assert str(secrets_dir / "API_TOKEN") in str(info.value)
    assert str(MAX_FILE_BYTES) in str(info.value)
    assert canary not in str(info.value)


def test_file_of_exactly_the_limit_is_accepted(secrets_dir: Path) -> None:
    """A file of exactly MAX_FILE_BYTES is still read whole."""
    (secrets_dir / "API_TOKEN").write_bytes(b"a" * MAX_FILE_BYTES)
    found = SecretsDirSource(secrets_dir).get(KEY)
    assert found is not None
    assert len(found.value) == MAX_FILE_BYTES


def test_non_utf8_file_is_a_config_error(secrets_dir: Path, make_canary: Callable[[str], str]) -> None:
    """A file that is not UTF-8 text raises ConfigError naming the file, never its content."""
    canary = make_canary("binary")
    (secrets_dir / "API_TOKEN").write_bytes(canary.encode() + b"\xff\xfe\x80")
    with pytest.raises(ConfigError, match="not UTF-8") as info:
        SecretsDirSource(secrets_dir).get(KEY)
    assert str(secrets_dir / "API_TOKEN") in str(info.value)
    assert canary not in str(info.value)


def test_source_is_dynamic() -> None:
    """The secrets directory is a dynamic source: loaded values are re-fetched."""
    assert SecretsDirSource("/nonexistent").dynamic is True


class _Schema(Settings):
    api_token: Secret[str]


def test_loaded_value_is_re_read_after_the_file_changes(secrets_dir: Path) -> None:
    """A value loaded from the directory stays cached until refresh(), which reads the rotated file."""
    now = [1_000_000.0]
    path = secrets_dir / "API_TOKEN"
    path.write_text("tok-before-rotation\n", encoding="utf-8")
    settings = _Schema.load("dev", sources=[SecretsDirSource(secrets_dir)], ttl_seconds=60, clock=lambda: now[0])
    assert settings.api_token.reveal() == "tok-before-rotation"
    assert settings.api_token.source == f"secrets-dir:{secrets_dir}"

    path.write_text("tok-after-rotation\n", encoding="utf-8")
    assert settings.api_token.reveal() == "tok-before-rotation"  # within the TTL: cached
    settings.api_token.refresh()
    assert settings.api_token.reveal() == "tok-after-rotation"


def test_refresh_after_the_file_is_removed_is_a_config_error(secrets_dir: Path) -> None:
    """refresh() when the file has gone raises ConfigError naming the field, and the old value is not served on."""
    path = secrets_dir / "API_TOKEN"
    path.write_text("tok-going-away", encoding="utf-8")
    settings = _Schema.load("dev", sources=[SecretsDirSource(secrets_dir)], clock=lambda: 1_000_000.0)
    path.unlink()
    with pytest.raises(ConfigError) as info:
        settings.api_token.refresh()
    assert "api_token" in str(info.value)
    assert "tok-going-away" not in str(info.value)
    with pytest.raises(ConfigError, match="no longer present"):
        settings.api_token.reveal()


def test_load_from_a_broken_directory_is_a_problem_naming_it(tmp_path: Path) -> None:
    """A secrets "directory" that is a file fails load() naming it, even when a later source has the value."""
    not_a_dir = tmp_path / "secrets"
    not_a_dir.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        _Schema.load("dev", sources=[SecretsDirSource(not_a_dir), EnvSource(environ={"API_TOKEN": "tok-later"})])
    assert info.value.problems == [f"API_TOKEN: secrets directory {not_a_dir} is not a readable directory"]


def test_load_with_a_non_utf8_secret_file_is_a_problem(secrets_dir: Path, make_canary: Callable[[str], str]) -> None:
    """A secret file that is not UTF-8 fails load() naming the file, never its bytes, and does not fall through."""
    canary = make_canary("bytes")
    (secrets_dir / "api_token").write_bytes(canary.encode() + b"\xc3\x28")
    with pytest.raises(ConfigError) as info:
        _Schema.load("dev", sources=[SecretsDirSource(secrets_dir), EnvSource(environ={"API_TOKEN": "tok-later"})])
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("API_TOKEN: ")
    assert str(secrets_dir / "api_token") in info.value.problems[0]
    assert canary not in str(info.value)
