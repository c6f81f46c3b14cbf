"""``Redactor``: masks known secret values, secret-shaped fields and provider token shapes in text.

Three sources of spans, merged before anything is replaced, so overlapping and nested matches (a value
that is a substring of another, a token inside a field) become one mask:

1. **known values**, in every encoding a log might carry them (raw, JSON-escaped, URL-encoded, base64,
   hex), matched by one Aho-Corasick automaton (pyahocorasick). Values come from every live ``Secret``
   (``strongroom.live_values``) and from ``register()``. The automaton is rebuilt only when values were
   added, never per line: up to ``PENDING_LIMIT`` new values are searched for directly until then;
2. **secret-shaped fields** (``strongroom.redact.fields``): ``password=...``, ``"api_key": "..."``,
   ``Authorization: ...``, ``scheme://user:password@host``;
3. **provider token shapes**: the scanner's rules (``strongroom.rules``), behind the same prefilter.

After masking, the output is checked once more for every known value; should one reappear (a value made
of mask characters and its neighbours), the whole text is replaced by a single mask. So the output never
contains a registered value, whatever the input.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote, quote_plus

from strongroom.live_values import LIVE, MIN_CHARS, LiveValues, Value
from strongroom.redact.fields import FIELD_RULES, SECRET_KEY, value_span
from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.rules.prefilter import make_prefilter
from strongroom.secret import Secret

PENDING_LIMIT = 64  # new values searched for one by one before the automaton is rebuilt
MASK = "[REDACTED:{}]"
# (start, rank, end, label): at one start, a known value's name (rank 0) labels the mask before a field
# (1) or a provider rule (2), so a mask says `[REDACTED:stripe_key]` rather than the rule that also matched.
Span = tuple[int, int, int, str]


def encodings(value: Value) -> set[str]:
    """The forms a value takes in logs, URLs, JSON and headers; each one is masked."""
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    # As `redact_bytes` sees bytes (surrogateescape), and as `%r`, a dict or a traceback's locals show it.
    forms: set[str] = {
        raw.decode("utf-8", "surrogateescape"),
        repr(value)[1:-1] if isinstance(value, str) else repr(value)[2:-1],
    }
    try:
        text = value if isinstance(value, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        forms |= {
            text,
            json.dumps(text)[1:-1],
            json.dumps(text, ensure_ascii=False)[1:-1],
            quote(text, safe="", errors="surrogatepass"),
            quote(text, errors="surrogatepass"),
            quote_plus(text, safe="", errors="surrogatepass"),
        }
    # Unpadded base64 only: the padded form starts with it, and the mask then covers all but the "=".
    forms |= {base64.b64encode(raw).rstrip(b"=").decode(), base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    forms.add(raw.hex())
    return {form for form in forms if len(form) >= MIN_CHARS}


def _label(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)[:64] or "secret"


PREFIX = 12  # characters of each form in the automaton; the rest is checked with startswith


class _Automaton:
    """An immutable Aho-Corasick automaton over the first ``PREFIX`` characters of every encoded value.

    Indexing prefixes, not whole forms, keeps the trie (build time and memory) proportional to the number
    of values rather than their length; a prefix hit is confirmed with one ``startswith``.
    """

    def __init__(self, values: Iterable[tuple[Value, str]]) -> None:
        import ahocorasick  # type: ignore[import-not-found]  # a dependency (no type stubs)

        by_prefix: dict[str, list[tuple[str, str]]] = {}
        for value, name in values:
            label = _label(name)
            for form in encodings(value):
                by_prefix.setdefault(form[:PREFIX], []).append((form, label))
        self.automaton: Any = ahocorasick.Automaton()
        for prefix, forms in by_prefix.items():
            self.automaton.add_word(prefix, (len(prefix), tuple(forms)))
        self.empty = not by_prefix
        if not self.empty:
            self.automaton.make_automaton()

    def spans(self, text: str) -> list[Span]:
        if self.empty:
            return []
        spans: list[Span] = []
        for end, (length, forms) in self.automaton.iter(text):
            start = end - length + 1
            spans += [(start, 0, start + len(form), label) for form, label in forms if text.startswith(form, start)]
        return spans


class Redactor:
    """Masks secrets in text and in structured data.

    ``follow_live=True`` (the default) also masks every value a live ``Secret`` carries in this process.
    ``rules`` defaults to the secret-shaped fields plus every provider rule.
    """

    def __init__(
        self,
        *,
        follow_live: bool = True,
        rules: Sequence[Rule] | None = None,
        prefilter: str = "auto",
        live: LiveValues = LIVE,
    ) -> None:
        self._live = live if follow_live else LiveValues()
        self._rules = tuple(rules) if rules is not None else (*FIELD_RULES, *RULES)
        self._prefilter = make_prefilter(self._rules, prefilter)
        self._lock = threading.Lock()
        self._automaton = _Automaton(())
        self._built_generation = -1
        self._built_values: set[Value] = set()
        self._pending: list[tuple[str, str]] = []  # (form, label) of values not yet in the automaton
        self._pending_generation = -1

    # -- registration ------------------------------------------------------------------------------

    def register(self, value: Value | Secret[Any], name: str | None = None) -> bool:
        """Mask ``value`` from now on (for the life of the process); False if it is too short to mask."""
        if isinstance(value, Secret):
            return self._live.pin(value.reveal(), name or value.name)
        return self._live.pin(value, name or "secret")

    def __len__(self) -> int:
        return len(self._live)

    def _refresh(self) -> None:
        """Bring the automaton and the pending list up to the registry's generation."""
        if self._live.generation == self._pending_generation:
            return
        with self._lock:
            generation, values = self._live.snapshot()
            if generation == self._pending_generation:
                return
            fresh = [(v, n) for v, n in values if v not in self._built_values]
            if len(fresh) > PENDING_LIMIT or self._built_generation < 0:
                self._automaton = _Automaton(values)
                self._built_values = {v for v, _ in values}
                self._built_generation = generation
                self._pending = []
            else:
                self._pending = [(form, _label(n)) for v, n in fresh for form in encodings(v)]
            self._pending_generation = generation

    # -- text --------------------------------------------------------------------------------------

    def _spans(self, text: str) -> list[Span]:
        spans = self._automaton.spans(text)
        for form, label in self._pending:
            start = text.find(form)
            while start != -1:
                spans.append((start, 0, start + len(form), label))
                start = text.find(form, start + 1)
        candidates = self._prefilter.candidates(text.encode("utf-8", "surrogatepass"))
        if candidates:
            spans += self._rule_spans(text, set().union(*candidates.values()))
        return spans

    def _rule_spans(self, text: str, indexes: set[int]) -> list[Span]:
        """Rule matches over the whole text (a log line, usually): the prefilter said which rules to try."""
        spans: list[Span] = []
        for index in sorted(indexes):
            rule = self._rules[index]
            rank = 1 if rule in FIELD_RULES else 2
            for match in rule.regex.finditer(text):
                start, end = value_span(rule, match)
                if end > start:
                    spans.append((start, rank, end, rule.id))
        return spans

    def redact(self, text: str) -> str:
        """``text`` with every known value, secret-shaped field and provider token masked."""
        if not text:
            return text
        self._refresh()
        spans = self._spans(text)
        if not spans:
            return text
        out = _apply(text, spans)
        if self._still_holds_a_value(out):
            out = MASK.format("text")
            # A registered value made of the mask's own letters: nothing of the text can be shown.
            return "" if self._still_holds_a_value(out) else out
        return out

    def _still_holds_a_value(self, text: str) -> bool:
        return bool(self._automaton.spans(text)) or any(form in text for form, _ in self._pending)

    def redact_bytes(self, data: bytes) -> bytes:
        """Bytes in, bytes out; invalid UTF-8 survives unchanged outside the masks (surrogateescape)."""
        return self.redact(data.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")

    # -- structured data ---------------------------------------------------------------------------

    def redact_data(self, data: Any, _under: str | None = None) -> Any:  # noqa: PLR0911 -- one per kind
        """A copy of dicts, lists and tuples with every string redacted and secret-named keys' values masked.

        Types are kept (a dict stays a dict, a number under a harmless key stays a number), so a structured
        log event stays structured. Under a secret-named key every leaf is masked, structure kept:
        ``{"cookies": {"session": "..."}}`` keeps the cookie's name, never its value.
        """
        if data is None or isinstance(data, bool):
            return data
        if isinstance(data, Secret):
            return MASK.format(_label(data.name))
        if _under is not None and isinstance(data, str | bytes | bytearray | int | float | complex):
            return MASK.format(_under)
        if isinstance(data, str):
            return self.redact(data)
        if isinstance(data, bytes | bytearray):
            return self.redact_bytes(bytes(data))
        if isinstance(data, dict):
            return {
                self.redact(key) if isinstance(key, str) else key: self.redact_data(
                    value, _label(key) if _secret_key(key) else _under
                )
                for key, value in data.items()
            }
        if isinstance(data, list):
            return [self.redact_data(item, _under) for item in data]
        if isinstance(data, tuple):
            items = [self.redact_data(item, _under) for item in data]
            return type(data)(*items) if hasattr(data, "_fields") else tuple(items)
        if isinstance(data, set | frozenset):
            return type(data)(self.redact_data(item, _under) for item in data)
        if isinstance(data, int | float | complex):
            return data
        if _under is not None:
            return MASK.format(_under)
        # Anything else (an exception, a custom object) is rendered by the logger with its repr anyway.
        return self.redact(repr(data))


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and SECRET_KEY.fullmatch(key) is not None


def _apply(text: str, spans: list[Span]) -> str:
    """Replace the union of ``spans`` by masks; overlapping or touching spans become one mask."""
    spans.sort()
    out: list[str] = []
    position = 0
    start, _, end, label = spans[0]
    for next_start, _, next_end, next_label in spans[1:]:
        if next_start <= end:
            end = max(end, next_end)
            continue
        out += [text[position:start], MASK.format(label)]
        position = end
        start, end, label = next_start, next_end, next_label
    out += [text[position:start], MASK.format(label), text[end:]]
    return "".join(out)
