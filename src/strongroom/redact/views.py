"""Decoded views of a text, each with a map back to the text's own offsets.

A credential echoed by an upstream may come back in any of an open-ended set of spellings: JSON with
``\\/`` or any character as ``\\uXXXX``, HTML entities (``&amp;``, ``&#x2F;``, ``&#47;``), percent-escapes of
either case for any character, base64 wrapped at any column with ``\\n`` or ``\\r\\n``, UTF-16 bytes, and
upper- or lower-case. Listing every combination as a form to search for would explode; instead the text is
normalised (NUL bytes dropped, JSON escapes, HTML entities and percent-escapes decoded, line breaks
dropped, lower-cased) into a view, the credential's forms are normalised the same way and searched for in
it, and each match is mapped back to the span of the original text it came from, widened to whole
escapes, so the mask replaces the whole encoded spelling.

Each stage runs only when the text holds its trigger character, so a plain text costs one ``lower()``.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Callable

# (text the stage produced from the match, start and end of what it replaces in the stage's input)
Piece = tuple[str, int, int]

_NUL = re.compile("\x00+")
# A surrogate pair first: `\ud83d\ude00` is one character (JSON's escape of a character beyond the BMP).
_JSON = re.compile(
    r"\\(?:u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|(.))", re.DOTALL
)
_JSON_SIMPLE = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_HTML = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
_PERCENT = re.compile(r"(?:%[0-9a-fA-F]{2})+")
_BREAKS = re.compile(r"[\r\n]+")


class View:
    """``text``, decoded from ``parent`` (or from the original when ``parent`` is None) piece by piece."""

    __slots__ = ("_pieces", "_starts", "parent", "text")

    def __init__(self, text: str, pieces: list[tuple[int, int, int, int, bool]], parent: View | None) -> None:
        self.text = text
        self._pieces = pieces  # (view start, view end, source start, source end, copied verbatim)
        self._starts = [piece[0] for piece in pieces]
        self.parent = parent

    def _piece(self, position: int) -> tuple[int, int, int, int, bool]:
        return self._pieces[bisect_right(self._starts, position) - 1]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that ``text[start:end]`` was decoded from, widened to whole escapes."""
        v_start, _, s_start, s_end, copied = self._piece(start)
        source_start = s_start + (start - v_start) if copied else s_start
        v_start, _, s_start, s_end, copied = self._piece(end - 1)
        source_end = s_start + (end - v_start) if copied else s_end
        if self.parent is not None:
            return self.parent.source_span(source_start, source_end)
        return source_start, source_end


def _stage(
    text: str, pattern: re.Pattern[str], decode: Callable[[re.Match[str]], list[Piece] | None], parent: View | None
) -> View | None:
    """``text`` with every match of ``pattern`` replaced by what ``decode`` makes of it; None if nothing changed."""
    out: list[str] = []
    pieces: list[tuple[int, int, int, int, bool]] = []
    position = at = 0
    for match in pattern.finditer(text):
        decoded = decode(match)
        if decoded is None:
            continue
        if match.start() > at:
            out.append(text[at : match.start()])
            pieces.append((position, position + match.start() - at, at, match.start(), True))
            position += match.start() - at
        for piece, start, end in decoded:
            out.append(piece)
            pieces.append((position, position + len(piece), start, end, False))
            position += len(piece)
        at = match.end()
    if not pieces:
        return None
    out.append(text[at:])
    pieces.append((position, position + len(text) - at, at, len(text), True))
    # A piece that decoded to nothing (a dropped NUL or line break) holds no position: leave it out, so a
    # position is looked up in the piece that holds it.
    pieces = [piece for piece in pieces if piece[1] > piece[0]] or [(0, 0, 0, len(text), False)]
    return View("".join(out), pieces, parent)


def _drop(match: re.Match[str]) -> list[Piece]:
    return [("", match.start(), match.end())]


def _json(match: re.Match[str]) -> list[Piece] | None:
    high, low, code, simple = match.groups()
    if high is not None:
        pair = chr(int(high, 16)) + chr(int(low, 16))
        return [(pair.encode("utf-16", "surrogatepass").decode("utf-16"), match.start(), match.end())]
    if code is not None:
        return [(chr(int(code, 16)), match.start(), match.end())]
    found = _JSON_SIMPLE.get(simple)
    return None if found is None else [(found, match.start(), match.end())]


def _html(match: re.Match[str]) -> list[Piece] | None:
    entity = match.group()
    if entity[1] == "#":  # the code point the encoder wrote, even one HTML would replace (a control character)
        number = int(entity[3:].rstrip(";"), 16) if entity[2] in "xX" else int(entity[2:].rstrip(";"))
        return [(chr(number), match.start(), match.end())] if number <= 0x10FFFF else None
    decoded = html.unescape(entity)
    return None if decoded == entity else [(decoded, match.start(), match.end())]


def _percent(match: re.Match[str]) -> list[Piece]:
    """Each character of a run of ``%xx``, with the escapes it came from (UTF-8; a stray byte stands alone)."""
    run = bytes.fromhex(match.group().replace("%", ""))
    pieces: list[Piece] = []
    start = match.start()
    index = 0
    while index < len(run):
        lead = run[index]
        size = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
        try:
            char = run[index : index + size].decode("utf-8")
        except UnicodeDecodeError:
            size, char = 1, run[index : index + 1].decode("utf-8", "surrogateescape")
        pieces.append((char, start + 3 * index, start + 3 * (index + size)))
        index += size
    return pieces


_STAGES: tuple[tuple[Callable[[str], bool], re.Pattern[str], Callable[[re.Match[str]], list[Piece] | None]], ...] = (
    (lambda text: "\x00" in text, _NUL, _drop),  # UTF-16 of ASCII text, read as UTF-8: a NUL by each character
    (lambda text: "\\" in text, _JSON, _json),
    (lambda text: "&" in text and (";" in text or "&#" in text), _HTML, _html),  # `&#115` parses without `;`
    (lambda text: "%" in text, _PERCENT, _percent),
    (lambda text: "\n" in text or "\r" in text, _BREAKS, _drop),  # base64 (PEM, MIME) wrapped at any column
)


def lower(text: str) -> str:
    """``text`` lower-cased, one character for one (a character whose lower case is longer stays as it is)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def triggered(text: str) -> bool:
    """Whether any stage could change ``text``: most log lines hold none of the trigger characters.

    A named HTML entity needs its ``;`` (a URL's query is full of ``&`` alone); a numeric one is decoded
    without it, as browsers do, so an upstream cannot slip a credential past the broker as ``&#115&#107``.
    """
    return (
        "%" in text
        or ("&" in text and (";" in text or "&#" in text))
        or "\\" in text
        or "\n" in text
        or "\r" in text
        or "\x00" in text
    )


def decode(text: str) -> tuple[str, View | None]:
    """``text`` decoded by every stage (case kept), and the view that maps it back (None: nothing decoded)."""
    view: View | None = None
    current = text
    for wanted, pattern, stage in _STAGES:
        if wanted(current):
            decoded = _stage(current, pattern, stage, view)
            if decoded is not None:
                view, current = decoded, decoded.text
    return current, view


def decoded_text(text: str) -> str:
    """``decode(text)[0]``, without the map back: cheaper, for a first look (the map is made on a hit)."""
    current = text
    for wanted, pattern, stage in _STAGES:
        if wanted(current):
            current = pattern.sub(lambda match, stage=stage: _joined(match, stage), current)  # type: ignore[misc]
    return current


def _joined(match: re.Match[str], stage: Callable[[re.Match[str]], list[Piece] | None]) -> str:
    pieces = stage(match)
    return match.group() if pieces is None else "".join(piece for piece, _, _ in pieces)


def normalise(text: str) -> tuple[str, View | None]:
    """``text`` decoded by every stage and lower-cased, and the view that maps it back (None: same offsets)."""
    decoded, view = decode(text)
    return lower(decoded), view
