"""The dotenv parser and ``DotEnvSource``: syntax, errors that name file:line but never a value, round trips."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom import Secret
from strongroom.config import ConfigError, Settings, SourceKey
from strongroom.config.sources.dotenv import DotEnvSource, parse

WHERE = "/app/.env"


def test_comments_and_blank_lines_are_ignored() -> None:
    """Full-line comments (also indented) and blank or whitespace-only lines yield nothing."""
    text = "# a comment\n\n   \n    # indented comment\nKEY=v\n\t\n"
    assert parse(text, WHERE) == {"KEY": "v"}


def test_export_prefix_is_accepted() -> None:
    """``export KEY=v`` is read as KEY=v."""
    assert parse("export KEY=v\nexport   OTHER=w\n", WHERE) == {"KEY": "v", "OTHER": "w"}


def test_whitespace_around_key_and_equals_is_ignored() -> None:
    """Spaces around the key, the ``=`` and an unquoted value are trimmed."""
    assert parse("  KEY  =   value with spaces   \n", WHERE) == {"KEY": "value with spaces"}


def test_single_quotes_are_literal() -> None:
    """Inside single quotes nothing is an escape or a comment and whitespace is kept."""
    assert parse(r"KEY='  a\nb # not a comment \" '", WHERE) == {"KEY": r"  a\nb # not a comment \" "}


def test_double_quotes_keep_whitespace_and_hash() -> None:
    """Inside double quotes spaces and `` #`` are part of the value."""
    assert parse('KEY="  a # b  "', WHERE) == {"KEY": "  a # b  "}


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (r'"a\nb"', "a\nb"),
        (r'"a\tb"', "a\tb"),
        (r'"a\rb"', "a\rb"),
        (r'"say \"hi\""', 'say "hi"'),
        (r'"back\\slash"', "back\\slash"),
        (r'"ends with backslash\\"', "ends with backslash\\"),
        (r'"unknown \q escape"', r"unknown \q escape"),
    ],
)
def test_escapes_in_double_quotes(raw: str, value: str) -> None:
    """\\n, \\t, \\r, \\" and \\\\ are unescaped inside double quotes; unknown escapes are kept as written."""
    assert parse(f"KEY={raw}", WHERE) == {"KEY": value}


@pytest.mark.parametrize(
    ("line", "value"),
    [
        ("KEY=value # a comment", "value"),
        ("KEY=value\t# tab then comment", "value"),
        ("KEY=a#b", "a#b"),
        ("KEY=https://h/x#frag", "https://h/x#frag"),
        ('KEY="quoted" # trailing comment', "quoted"),
        ("KEY='quoted'   #c", "quoted"),
    ],
)
def test_inline_comments(line: str, value: str) -> None:
    """Whitespace then # starts a comment after an unquoted or quoted value; a # inside a word does not."""
    assert parse(line, WHERE) == {"KEY": value}


def test_equals_signs_inside_values_are_kept() -> None:
    """Only the first = separates key and value."""
    password = "p=" + uuid.uuid4().hex[:6]  # an '=' inside the value, generated at run time
    url = f"postgresql://app:{password}@db:5432/app?sslmode=require&x=y"
    assert parse(f"DATABASE_URL={url}\nB64=YWJjZA==\n", WHERE) == {"DATABASE_URL": url, "B64": "YWJjZA=="}


@pytest.mark.parametrize("line", ["KEY=", "KEY=   ", 'KEY=""', "KEY=''"])
def test_empty_values(line: str) -> None:
    """An empty value (bare, quoted, or only a comment) parses to the empty string."""
    assert parse(line, WHERE) == {"KEY": ""}


def test_keys_may_hold_digits_underscores_and_dots() -> None:
    """Keys start with a letter or underscore and may contain digits, underscores and dots."""
    assert parse("_K1=a\nsvc.token=b\nlower=c\n", WHERE) == {"_K1": "a", "svc.token": "b", "lower": "c"}


def test_later_line_overrides_earlier() -> None:
    """When a key repeats, the last line wins."""
    assert parse("KEY=first\nKEY=second\n", WHERE) == {"KEY": "second"}


def test_crlf_line_endings() -> None:
    """Windows line endings parse like Unix ones."""
    assert parse("A=1\r\nB='two'\r\n", WHERE) == {"A": "1", "B": "two"}


@pytest.mark.parametrize(
    "bad",
    [
        "just some words {c}",
        "{c}",
        "1KEY={c}",
        "KEY {c}",
        "KEY-NAME={c}",
        "=={c}",
    ],
)
def test_unparseable_line_names_file_and_line_not_text(bad: str, make_canary: Callable[[str], str]) -> None:
    """A line that is not KEY=value raises ConfigError with "file:line" and without the line's text."""
    canary = make_canary("dotenv")
    text = f"# header\nGOOD=1\n{bad.format(c=canary)}\nLATER=2\n"
    with pytest.raises(ConfigError) as info:
        parse(text, WHERE)
    message = str(info.value)
    assert f"{WHERE}:3" in message
    assert canary not in message
    assert canary not in repr(info.value)
    assert all(canary not in p for p in info.value.problems)


@pytest.mark.parametrize("template", ['KEY="{c}', "KEY='{c}", 'KEY="{c}\\"', 'KEY="{c}\nNEXT=1"'])
def test_unterminated_quote_is_an_error_without_the_value(template: str, make_canary: Callable[[str], str]) -> None:
    """An opening quote without its closing quote on the same line raises ConfigError naming file:line."""
    canary = make_canary("quote")
    with pytest.raises(ConfigError) as info:
        parse("A=1\n" + template.format(c=canary), WHERE)
    assert f"{WHERE}:2" in str(info.value)
    assert "unterminated" in str(info.value)
    assert canary not in str(info.value)


@pytest.mark.parametrize("template", ['KEY="{c}" trailing', "KEY='{c}'x"])
def test_text_after_closing_quote_is_an_error(template: str, make_canary: Callable[[str], str]) -> None:
    """Non-comment text after a closing quote raises ConfigError naming file:line and not the value."""
    canary = make_canary("after")
    with pytest.raises(ConfigError) as info:
        parse(template.format(c=canary), WHERE)
    assert f"{WHERE}:1" in str(info.value)
    assert canary not in str(info.value)


_KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,30}", fullmatch=True)
_PRINTABLE = st.text(
    st.characters(exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"), include_characters=" "),
    max_size=80,
)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _PRINTABLE, min_size=1, max_size=8))
def test_double_quoted_escaped_values_round_trip(values: dict[str, str]) -> None:
    """For any keys and printable one-line values, KEY="escaped value" lines parse back to the same mapping."""
    text = "\n".join(f"{key}={_quote(value)}" for key, value in values.items()) + "\n"
    assert parse(text, WHERE) == values


@settings(max_examples=100, deadline=None)
@given(_KEYS, _PRINTABLE)
def test_export_and_comment_do_not_change_round_trip(key: str, value: str) -> None:
    """An ``export`` prefix and a trailing `` # comment`` do not change a double-quoted value."""
    assert parse(f"export {key}={_quote(value)}  # note\n", WHERE) == {key: value}


# -- DotEnvSource --------------------------------------------------------------------------------------


def test_source_reads_by_env_name(tmp_path: Path) -> None:
    """DotEnvSource answers by the field's env name and is named after its file."""
    path = tmp_path / ".env.local"
    path.write_text("API_TOKEN=tok-real-5521\n", encoding="utf-8")
    source = DotEnvSource(path)
    found = source.get(SourceKey("api_token", "API_TOKEN", "dev"))
    assert found is not None
    assert found.value == "tok-real-5521"
    assert found.source == ".env.local"
    assert source.name == ".env.local"
    assert source.dynamic is False
    assert source.get(SourceKey("api_token", "api_token", "dev")) is None


def test_missing_file_has_no_values(tmp_path: Path) -> None:
    """A dotenv file that does not exist is not an error: it simply has nothing."""
    assert DotEnvSource(tmp_path / "absent.env").get(SourceKey("a", "A", "dev")) is None


def test_non_utf8_file_is_a_config_error_naming_the_path(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """A dotenv file that is not UTF-8 raises ConfigError naming the file and not its content."""
    canary = make_canary("latin")
    path = tmp_path / ".env"
    path.write_bytes(f"KEY={canary}\xff\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        DotEnvSource(path).get(SourceKey("key", "KEY", "dev"))
    assert str(path) in str(info.value)
    assert canary not in str(info.value)


def test_broken_dotenv_is_reported_by_load_with_file_and_line(
    tmp_path: Path, make_canary: Callable[[str], str]
) -> None:
    """When a required field is missing, load()'s error names the broken dotenv file:line, never the value."""
    canary = make_canary("broken")
    path = tmp_path / ".env"
    path.write_text(f"OK=1\nAPI_TOKEN {canary}\n", encoding="utf-8")

    class S(Settings):
        api_token: Secret[str]

    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[DotEnvSource(path)])
    assert f"{path}:2" in str(info.value)
    assert canary not in str(info.value)


def test_broken_dotenv_local_is_not_skipped_silently(tmp_path: Path) -> None:
    """A .env.local with a line that does not parse fails load() even when .env below it has the value."""
    (tmp_path / ".env.local").write_text("API_TOKEN = 'dev-override\n", encoding="utf-8")
    (tmp_path / ".env").write_text("API_TOKEN=shared-default-91f2\n", encoding="utf-8")

    class S(Settings):
        api_token: Secret[str]

    with pytest.raises(ConfigError, match=r"\.env\.local:1"):
        S.load("dev", sources=[DotEnvSource(tmp_path / ".env.local"), DotEnvSource(tmp_path / ".env")])
