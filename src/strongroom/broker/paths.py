"""Path templates (``/v3/contacts/{contact_id}``) and the agent-supplied paths matched against them.

The template fixes every segment but its placeholders, and each placeholder takes exactly one segment of
the request path. A value is percent-decoded once, checked, and percent-encoded again as one segment when
the upstream URL is built, so nothing an agent sends can add a segment, climb out of the base path
(``..``, ``%2e%2e``, an encoded ``/`` or ``\\``) or smuggle a control character to the upstream. Values a
server might decode a second time (``%252e``) are refused too.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote, unquote

from strongroom.errors import InvalidInput

MAX_TEMPLATE_CHARS = 1024
MAX_PATH_CHARS = 2048
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PLACEHOLDER_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# What a template may hold outside placeholders: RFC 3986 path characters (pchar and '/').
TEMPLATE_LITERAL = re.compile(r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*")
DOUBLE_ENCODED = ("%2e", "%2f", "%5c")


class Template:
    """A compiled template: its placeholders' names and the regex that matches a raw request path."""

    __slots__ = ("literal_chars", "names", "regex", "shape", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.names = tuple(m.group(1) for m in PLACEHOLDER.finditer(text))
        pattern, position = [], 0
        for m in PLACEHOLDER.finditer(text):
            pattern += [re.escape(text[position : m.start()]), f"(?P<{m.group(1)}>[^/]+?)"]
            position = m.end()
        pattern.append(re.escape(text[position:]))
        self.regex = re.compile("".join(pattern))
        self.literal_chars = len(PLACEHOLDER.sub("", text))  # more literal text: a more specific template
        self.shape = PLACEHOLDER.sub("{}", text)  # templates of one shape match the same paths

    def match(self, path: str) -> dict[str, str] | None:
        """The placeholders' raw (still percent-encoded) values if ``path`` matches, else None."""
        found = self.regex.fullmatch(path)
        return None if found is None else found.groupdict()

    def fill(self, values: dict[str, str]) -> str:
        """The path with each placeholder replaced by its value, percent-encoded as one segment."""
        return PLACEHOLDER.sub(lambda m: quote(values[m.group(1)], safe=""), self.text)


@lru_cache(maxsize=4096)
def template(text: str) -> Template:
    """A compiled template (validate it with ``template_problems`` first)."""
    return Template(text)


def template_problems(text: object) -> list[str]:
    """What is wrong with a path template, or nothing."""
    if not isinstance(text, str):
        return ["must be a string"]
    if not text.startswith("/") or len(text) > MAX_TEMPLATE_CHARS:
        return [f"must start with '/' and be at most {MAX_TEMPLATE_CHARS} characters"]
    problems: list[str] = []
    names = [m.group(1) for m in PLACEHOLDER.finditer(text)]
    problems += [
        f"placeholder {{{n[:40]}}} must be named [a-z_][a-z0-9_]*"
        for n in names
        if PLACEHOLDER_NAME.fullmatch(n) is None
    ]
    if len(set(names)) != len(names):
        problems.append("a placeholder appears twice")
    if TEMPLATE_LITERAL.fullmatch(PLACEHOLDER.sub("", text)) is None:
        problems.append("holds characters a URL path cannot carry as is ('?', '#', '{', '}', spaces, ...)")
    segments = text.split("/")[1:]
    if text != "/" and "" in segments:
        problems.append("has an empty segment ('//' or a trailing '/')")
    if any(unquote(s) in (".", "..") for s in segments):
        problems.append("has a '.' or '..' segment")
    if "}{" in text:
        problems.append("has two placeholders with nothing between them")
    return problems


def _decode(raw: str) -> str | None:
    try:
        return unquote(raw, errors="strict")
    except UnicodeDecodeError:
        return None


def _segment_problem(segment: str) -> str | None:
    """Why a raw path segment cannot be passed on, or None."""
    decoded = _decode(segment)
    checks = (
        (segment == "", "an empty path segment"),
        (decoded is None, "a path segment that is not UTF-8 once percent-decoded"),
        (decoded in (".", ".."), "a '.' or '..' path segment"),
        ("/" in (decoded or ""), "an encoded '/' in a path segment"),
        ("\\" in (decoded or ""), "a '\\' in a path segment"),
        (not (decoded or "").isprintable(), "a control character in a path segment"),
        (any(m in (decoded or "").lower() for m in DOUBLE_ENCODED), "a double-encoded '.', '/' or '\\'"),
    )
    return next((problem for failed, problem in checks if failed), None)


def checked_path(path: object) -> str:
    """``path`` (raw, percent-encoded, no query) with one trailing '/' dropped, or ``InvalidInput`` saying why.

    The message names the problem, never the path: it is the agent's input and may be anything.
    """
    if not isinstance(path, str) or not path.startswith("/") or len(path) > MAX_PATH_CHARS:
        raise InvalidInput(f"the path must start with '/' and be at most {MAX_PATH_CHARS} characters")
    if not path.isprintable():
        raise InvalidInput("the path holds a control character")
    if "\\" in path:
        raise InvalidInput("the path holds a '\\'")
    if "?" in path or "#" in path:
        raise InvalidInput("the path holds '?' or '#': pass query parameters separately")
    trimmed = path[:-1] if path.endswith("/") and path != "/" else path
    if trimmed != "/":
        for segment in trimmed.split("/")[1:]:
            problem = _segment_problem(segment)
            if problem is not None:
                raise InvalidInput(f"the path holds {problem}")
    return trimmed


def decoded_values(raw: dict[str, str]) -> dict[str, str]:
    """Placeholder values percent-decoded once (``InvalidInput`` if one is not UTF-8)."""
    values = {name: _decode(value) for name, value in raw.items()}
    if any(v is None for v in values.values()):
        raise InvalidInput("a path parameter is not UTF-8 once percent-decoded")
    return {name: value for name, value in values.items() if value is not None}
