"""``.env`` files: ``KEY=value`` lines, ``export`` prefixes, quotes and comments.

A line that does not parse is an error naming the file and line (never its text: it may hold a value).
"""

from __future__ import annotations

import re
from pathlib import Path

from strongroom.config.sources import Found, SourceKey
from strongroom.errors import ConfigError

_LINE = re.compile(r"\s*(?:export\s+)?(?P<key>[A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(?P<value>.*?)\s*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse(text: str, where: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None:
            raise ConfigError(f"{where}:{number}: not a KEY=value line")
        values[match["key"]] = _unquote(match["value"], f"{where}:{number}")
    return values


def _unquote(raw: str, where: str) -> str:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1) if quote == "'" else _closing_double_quote(raw)
        if end == -1:
            raise ConfigError(f"{where}: unterminated {quote} quote")
        rest = raw[end + 1 :].strip()
        if rest and not rest.startswith("#"):
            raise ConfigError(f"{where}: text after the closing quote")
        inner = raw[1:end]
        if quote == '"':
            inner = re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], "\\" + m[1]), inner)
        return inner
    # Unquoted: a " #" starts a comment.
    return re.split(r"\s+#", raw, maxsplit=1)[0].strip()


def _closing_double_quote(raw: str) -> int:
    i = 1
    while i < len(raw):
        if raw[i] == "\\":
            i += 2
            continue
        if raw[i] == '"':
            return i
        i += 1
    return -1


class DotEnvSource:
    """One dotenv file; a missing file simply has no values."""

    dynamic = False
    environment_scoped = False

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._values: dict[str, str] | None = None

    @property
    def name(self) -> str:
        return self.path.name

    def _load(self) -> dict[str, str]:
        if self._values is None:
            failure: str | None = None
            try:
                text = self.path.read_text(encoding="utf-8-sig")  # -sig: files saved with a BOM parse too
            except FileNotFoundError:
                text = ""
            except (OSError, UnicodeDecodeError) as exc:
                # A decode error holds the whole file: raise outside the except block so it is not the context.
                failure, text = f"{self.path}: cannot be read ({type(exc).__name__})", ""
            if failure is not None:
                raise ConfigError(failure)
            self._values = parse(text, str(self.path))
        return self._values

    def get(self, key: SourceKey) -> Found | None:
        value = self._load().get(key.env)
        return None if value is None else Found(value, self.name)
