"""Finding a value in captured output, as an attacker would: the output is decoded in every common way and each
view is searched for the value (and for its parts). Written apart from ``strongroom.redact`` on purpose: it shares no
code, no list of encodings and no assumption with the product it checks.

Views: the raw bytes; percent-decoded (either case, ``+`` as space or not); JSON string escapes (``\\uXXXX`` with
surrogate pairs, ``\\/``); HTML entities; Python escapes (a bytes repr, ``ascii()``); hex runs (either case, both
nibble alignments); base64 and base64url runs at all four character offsets, with line breaks removed (MIME
wrapping); UTF-16 (both byte orders, both alignments). Escape decoders are applied twice (double-encoded JSON, a
percent-escaped JSON string).
"""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Callable, Iterator
from urllib.parse import unquote_to_bytes

_JSON_ESCAPE = re.compile(rb'\\u([0-9a-fA-F]{4})|\\([/"\\bfnrt])')
_JSON_SIMPLE = {b"/": "/", b'"': '"', b"\\": "\\", b"b": "\b", b"f": "\f", b"n": "\n", b"r": "\r", b"t": "\t"}
_PY_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})|\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})|\\([nrt'\"\\])")
_HEX_RUN = re.compile(rb"[0-9a-fA-F]{8,}")
_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{8,}")
_NEWLINES = re.compile(rb"\r?\n")


def _json(data: bytes) -> bytes:
    units: list[int] = []  # \uXXXX units, joined so a surrogate pair becomes one character

    def flush() -> str:
        text = b"".join(u.to_bytes(2, "big") for u in units).decode("utf-16-be", "replace") if units else ""
        units.clear()
        return text

    out: list[str] = []
    at = 0
    for match in _JSON_ESCAPE.finditer(data):
        if match.start() != at and units:
            out.append(flush())
        out.append(data[at : match.start()].decode("utf-8", "surrogateescape"))
        if match.group(1) is not None:
            units.append(int(match.group(1), 16))
        else:
            out.append(flush())
            out.append(_JSON_SIMPLE[match.group(2)])
        at = match.end()
    out.append(flush())
    out.append(data[at:].decode("utf-8", "surrogateescape"))
    return "".join(out).encode("utf-8", "surrogateescape")


def _python(data: bytes) -> bytes:
    """A bytes repr (``\\xNN`` are bytes) and a str's ``ascii()`` (``\\xNN``, ``\\uNNNN`` are characters): both."""
    simple = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"'": b"'", b'"': b'"', b"\\": b"\\"}

    def as_bytes(match: re.Match[bytes]) -> bytes:
        if match.group(1) is not None:
            return bytes([int(match.group(1), 16)])
        if match.group(4) is not None:
            return simple[match.group(4)]
        return chr(int(match.group(2) or match.group(3), 16)).encode("utf-8", "surrogatepass")

    def as_chars(match: re.Match[bytes]) -> bytes:
        if match.group(4) is not None:
            return simple[match.group(4)]
        code = int(match.group(1) or match.group(2) or match.group(3), 16)
        return chr(code).encode("utf-8", "surrogatepass")

    return _PY_ESCAPE.sub(as_bytes, data) + b"\n" + _PY_ESCAPE.sub(as_chars, data)


def _hex(data: bytes) -> bytes:
    found = []
    for run in _HEX_RUN.findall(data):
        for offset in (0, 1):
            part = run[offset:]
            found.append(binascii.unhexlify(part[: len(part) // 2 * 2]))
    return b"\n".join(found)


def _base64(data: bytes) -> bytes:
    found = []
    joined = _NEWLINES.sub(b"", data)  # MIME and PEM wrap base64 at 64 or 76 characters
    for found_run in _B64_RUN.findall(joined):
        run = found_run.replace(b"-", b"+").replace(b"_", b"/")
        for offset in range(4):
            part = run[offset:]
            rest = len(part) % 4  # the last group: its padding may be gone (base64url) or outside the run
            part = part[:-1] if rest == 1 else part + b"=" * (-len(part) % 4)
            found.append(binascii.a2b_base64(part))
    return b"\n".join(found)


def _utf16(data: bytes) -> bytes:
    found = []
    for codec in ("utf-16-le", "utf-16-be"):
        for offset in (0, 1):
            part = data[offset:]
            found.append(part[: len(part) // 2 * 2].decode(codec, "replace").encode("utf-8", "surrogatepass"))
    return b"\n".join(found)


def _percent(data: bytes) -> bytes:
    return unquote_to_bytes(data) + b"\n" + unquote_to_bytes(data.replace(b"+", b" "))


def _html(data: bytes) -> bytes:
    return html.unescape(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")


# (name, trigger byte or None, decoder): escape decoders run only when their escape character is there.
ESCAPES: tuple[tuple[str, bytes, Callable[[bytes], bytes]], ...] = (
    ("percent", b"%", _percent),
    ("json", b"\\", _json),
    ("python", b"\\", _python),
    ("html", b"&", _html),
)
BLOBS: tuple[tuple[str, Callable[[bytes], bytes]], ...] = (("hex", _hex), ("base64", _base64), ("utf16", _utf16))


def views(data: bytes) -> Iterator[tuple[str, bytes]]:
    """The output as it is and decoded every way above, each with the chain of decodings that made it."""
    yield "raw", data
    escaped: list[tuple[str, bytes]] = [("raw", data)]
    for _ in range(2):
        more = []
        for name, view in escaped:
            for escape, trigger, decode in ESCAPES:
                if trigger in view:
                    decoded = decode(view)
                    if decoded != view:
                        label = escape if name == "raw" else f"{name}+{escape}"
                        more.append((label, decoded))
                        yield label, decoded
        escaped = more
    for name, view in [("raw", data), *more]:
        for blob, decode in BLOBS:
            yield (blob if name == "raw" else f"{name}+{blob}"), decode(view)


def needles(value: str) -> list[tuple[str, bytes]]:
    """What must never show: the value, each line of a multi-line value (but PEM's BEGIN and END lines, which are
    no secret), and each half of a longer value (a mask that cut the value short)."""
    found = [("value", value.encode("utf-8"))]
    if "\n" in value.strip():
        lines = [line for line in value.splitlines() if len(line) >= 16 and not line.startswith("-----")]
        found += [(f"line {n}", line.encode("utf-8")) for n, line in enumerate(lines, 1)]
    elif len(value) >= 16:
        half = len(value) // 2 + 1
        found += [("first half", value[:half].encode("utf-8")), ("last half", value[-half:].encode("utf-8"))]
    return found


def find(value: str, outputs: dict[str, bytes]) -> list[str]:
    """Where ``value`` (or a part of it) shows in ``outputs`` (name -> bytes), as ``"stderr: base64: line 3"``."""
    wanted = needles(value)
    found = []
    for where, data in outputs.items():
        for view_name, view in views(data):
            for what, needle in wanted:
                if needle in view:
                    found.append(f"{where}: {view_name}: {what}")
    return found
