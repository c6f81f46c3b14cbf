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
import html
import json
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import quote, quote_plus

from strongroom.live_values import LIVE, MIN_CHARS, LiveValues, Owner, Value
from strongroom.redact.fields import FIELD_RULES, SECRET_KEY, value_span
from strongroom.redact.views import lower, normalise
from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.rules.prefilter import make_prefilter
from strongroom.secret import Secret

PENDING_LIMIT = 64  # new values searched for one by one before the automaton is rebuilt
MASK = "[REDACTED:{}]"
# (start, rank, end, label): at one start, a known value's name (rank 0) labels the mask before a field
# (1) or a provider rule (2), so a mask says `[REDACTED:stripe_key]` rather than the rule that also matched.
Span = tuple[int, int, int, str]


class _Every:
    """Whose values to mask: every owner's (logs, tracebacks: the process's own output)."""

    def __repr__(self) -> str:
        return "EVERY"


EVERY: Final = _Every()
"""``tenant=EVERY``: mask the values of every owner (the default). ``tenant=None``: the platform's only;
``tenant="acme"``: acme's and the platform's."""
Scope = str | None | _Every


def _visible(owner: Owner, tenant: Scope) -> bool:
    return owner is None or tenant is EVERY or owner == tenant


_PERCENT_ESCAPE = re.compile(r"%[0-9A-F]{2}")


def encodings(value: Value) -> set[str]:
    """The forms a value takes in logs, URLs, JSON, HTML and headers; each one is masked."""
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
        quoted = {
            quote(text, safe="", errors="surrogatepass"),
            quote(text, errors="surrogatepass"),
            quote_plus(text, safe="", errors="surrogatepass"),
        }
        escaped = json.dumps(text)[1:-1]
        forms |= {
            text,
            escaped,
            escaped.replace("/", "\\/"),  # JSON as PHP and some Java encoders write it
            json.dumps(text, ensure_ascii=False)[1:-1],
            html.escape(text),
            *quoted,
            *(_PERCENT_ESCAPE.sub(lambda m: m.group().lower(), form) for form in quoted),  # `%2f`
        }
    # Unpadded base64 only: the padded form starts with it, and the mask then covers all but the "=".
    forms |= {base64.b64encode(raw).rstrip(b"=").decode(), base64.urlsafe_b64encode(raw).rstrip(b"=").decode()}
    forms |= {raw.hex(), raw.hex().upper()}
    return {form for form in forms if len(form) >= MIN_CHARS}


def _utf16_forms(value: Value) -> set[str]:
    """A text value's UTF-16 bytes (both byte orders) as a UTF-8 reader sees them: NULs and stray bytes."""
    if not isinstance(value, str):
        return set()
    return {
        value.encode(codec, "surrogatepass").decode("utf-8", "surrogateescape") for codec in ("utf-16-le", "utf-16-be")
    }


def _search_forms(value: Value, normalised: bool) -> set[str]:
    """What to search for: the value's encodings, or in normalising mode their lower-cased, decoded forms."""
    forms = encodings(value)
    if not normalised:
        return forms
    forms |= _utf16_forms(value)
    keys = {lower(form) for form in forms} | {normalise(form)[0] for form in forms}
    return {key for key in keys if len(key) >= MIN_CHARS}


def _label(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)[:64] or "secret"


PREFIX = 12  # characters of each form in the automaton; the rest is checked with startswith
Entry = tuple[str, str, Owner]  # (form, mask label, owner)


class _Automaton:
    """An immutable Aho-Corasick automaton over the first ``PREFIX`` characters of every encoded value.

    Indexing prefixes, not whole forms, keeps the trie (build time and memory) proportional to the number
    of values rather than their length; a prefix hit is confirmed with one ``startswith``. Values shorter
    than ``short_below`` are not in the trie: they match only whole tokens (``short``).
    """

    def __init__(self, values: Iterable[tuple[Value, str, Owner]], *, normalised: bool, short_below: int) -> None:
        import ahocorasick  # type: ignore[import-not-found]  # a dependency (no type stubs)

        by_prefix: dict[str, list[Entry]] = {}
        self.short: list[Entry] = []
        for value, name, owner in values:
            label = _label(name)
            if len(value) < short_below:
                self.short += [(form, label, owner) for form in encodings(value)]
                continue
            for form in _search_forms(value, normalised):
                by_prefix.setdefault(form[:PREFIX], []).append((form, label, owner))
        self.automaton: Any = ahocorasick.Automaton()
        for prefix, forms in by_prefix.items():
            self.automaton.add_word(prefix, (len(prefix), tuple(forms)))
        self.empty = not by_prefix
        if not self.empty:
            self.automaton.make_automaton()

    def spans(self, text: str, tenant: Scope) -> list[Span]:
        if self.empty:
            return []
        spans: list[Span] = []
        for end, (length, forms) in self.automaton.iter(text):
            start = end - length + 1
            spans += [
                (start, 0, start + len(form), label)
                for form, label, owner in forms
                if text.startswith(form, start) and _visible(owner, tenant)
            ]
        return spans


_NO_VALUES = _Automaton((), normalised=False, short_below=0)
# In a JSON document: a string literal, or a run of anything else but structure and space (a number, a word).
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s\[\]{}:,"]+', re.DOTALL)
_JSON_START = frozenset('{["-0123456789tfnNI')


class Redactor:
    """Masks secrets in text and in structured data.

    ``follow_live=True`` (the default) also masks every value a live ``Secret`` carries in this process.
    ``rules`` defaults to the secret-shaped fields plus every provider rule.

    ``short_below``: a value shorter than this many characters masks only a whole token equal to it (a
    whitespace-delimited word, a whole JSON string or number), never a part of a longer text: masking a
    three-character value like ``","`` everywhere it occurs would mangle every text. 0 (the default):
    every value is masked wherever it occurs.

    ``normalise``: also find the values behind escapes and case changes (``strongroom.redact.views``):
    JSON ``\\uXXXX``, HTML entities, percent-escapes, wrapped base64, UTF-16, upper or lower case. Costs a
    pass per escape kind present; the broker's scrubbing uses it for the one credential it injected.

    Every method takes ``tenant``: whose values to mask (``EVERY``, the default: all of them; ``None``:
    the platform's only; a tenant's name: that tenant's and the platform's). A value of another tenant is
    left as it is, so a mask never tells one tenant that another's value is in use.
    """

    def __init__(
        self,
        *,
        follow_live: bool = True,
        rules: Sequence[Rule] | None = None,
        prefilter: str = "auto",
        live: LiveValues = LIVE,
        short_below: int = 0,
        normalise: bool = False,
    ) -> None:
        self._live = live if follow_live else LiveValues()
        self._rules = tuple(rules) if rules is not None else (*FIELD_RULES, *RULES)
        self._prefilter = make_prefilter(self._rules, prefilter)
        self._lock = threading.Lock()
        self._short_below = short_below
        self._normalised = normalise
        self._automaton = _NO_VALUES
        self._built_generation = -1
        self._built_values: set[tuple[Value, Owner]] = set()
        self._pending: list[Entry] = []  # forms of values not yet in the automaton
        self._pending_short: list[Entry] = []
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
            fresh = [(v, n, o) for v, n, o in values if (v, o) not in self._built_values]
            if len(fresh) > PENDING_LIMIT or self._built_generation < 0:
                self._automaton = _Automaton(values, normalised=self._normalised, short_below=self._short_below)
                self._built_values = {(v, o) for v, _, o in values}
                self._built_generation = generation
                self._pending, self._pending_short = [], []
            else:
                short = self._short_below
                self._pending = [
                    (form, _label(n), o)
                    for v, n, o in fresh
                    if len(v) >= short
                    for form in _search_forms(v, self._normalised)
                ]
                self._pending_short = [
                    (form, _label(n), o) for v, n, o in fresh if len(v) < short for form in encodings(v)
                ]
            self._pending_generation = generation

    # -- text --------------------------------------------------------------------------------------

    def _value_spans(self, text: str, tenant: Scope) -> list[Span]:
        """Where a known value (not a short one) is, in any form: in ``text`` and, normalising, in its view."""
        if not self._normalised:
            return self._find(text, tenant)
        lowered = lower(text)
        spans = self._find(lowered, tenant)
        decoded, view = normalise(text)
        if view is not None:
            for start, rank, end, label in self._find(decoded, tenant):
                source_start, source_end = view.source_span(start, end)
                spans.append((source_start, rank, source_end, label))
        return spans

    def _find(self, text: str, tenant: Scope) -> list[Span]:
        spans = self._automaton.spans(text, tenant)
        for form, label, owner in self._pending:
            if _visible(owner, tenant):
                start = text.find(form)
                while start != -1:
                    spans.append((start, 0, start + len(form), label))
                    start = text.find(form, start + 1)
        return spans

    def _short_forms(self, tenant: Scope) -> list[Entry]:
        found = self._automaton.short
        if self._pending_short:
            found = found + self._pending_short
        return [entry for entry in found if _visible(entry[2], tenant)] if found else found

    def _token_spans(self, text: str, tenant: Scope) -> list[Span]:
        """Short values, where one is a whole token: bounded by the text's ends or by white space."""
        spans: list[Span] = []
        for form, label, _ in self._short_forms(tenant):
            start = text.find(form)
            while start != -1:
                end = start + len(form)
                if (start == 0 or text[start - 1].isspace()) and (end == len(text) or text[end].isspace()):
                    spans.append((start, 0, end, label))
                start = text.find(form, start + 1)
        return spans

    def _spans(self, text: str, tenant: Scope = EVERY) -> list[Span]:
        spans = self._value_spans(text, tenant)
        if self._short_below:
            spans += self._token_spans(text, tenant)
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

    def redact(self, text: str, *, tenant: Scope = EVERY) -> str:
        """``text`` with every known value, secret-shaped field and provider token masked."""
        if not text:
            return text
        self._refresh()
        spans = self._spans(text, tenant)
        if not spans:
            return text
        return self._finish(_apply(text, spans), tenant, MASK.format("text"))

    def _finish(self, out: str, tenant: Scope, whole: str) -> str:
        """``out``, unless a value survived masking (made of the mask's letters and its neighbours): ``whole``."""
        if self._still_holds_a_value(out, tenant):
            # A registered value made of the mask's own letters: nothing of the text can be shown.
            return "" if self._still_holds_a_value(whole, tenant) else whole
        return out

    def _still_holds_a_value(self, text: str, tenant: Scope) -> bool:
        return bool(self._value_spans(text, tenant))

    def redact_bytes(self, data: bytes, *, tenant: Scope = EVERY) -> bytes:
        """Bytes in, bytes out; invalid UTF-8 survives unchanged outside the masks (surrogateescape)."""
        return self.redact(data.decode("utf-8", "surrogateescape"), tenant=tenant).encode("utf-8", "surrogateescape")

    # -- documents ---------------------------------------------------------------------------------

    def redact_document(self, text: str, *, tenant: Scope = EVERY) -> str:
        """``text`` redacted; a JSON document stays a JSON document with the same structure.

        In JSON, each string literal that holds something to mask is decoded, redacted and encoded again
        (and a number or word equal to a value becomes the mask, as a string), so a mask can never cut an
        escape or a quote; what holds nothing is left byte for byte. A text that is not JSON is redacted as
        text. Should a value survive (spelt across the document's structure), the whole document becomes
        one mask, as a JSON string.
        """
        if not text:
            return text
        self._refresh()
        spans = self._spans(text, tenant)
        marks = [(start, end) for start, _, end, _ in spans]
        if self._short_below:
            marks += _occurrences(text, self._short_forms(tenant))
        if not marks:
            return text
        if text.lstrip()[:1] in _JSON_START:
            try:
                json.loads(text)
            except (ValueError, RecursionError):  # not JSON, or nested deeper than Python parses: text
                pass
            else:
                return self._redact_json(text, tenant, sorted(marks))
        if not spans:
            return text
        return self._finish(_apply(text, spans), tenant, MASK.format("text"))

    def _redact_json(self, text: str, tenant: Scope, marks: list[tuple[int, int]]) -> str:
        """Each token of the document that a mark (a match found in the whole text) touches, redacted."""
        out: list[str] = []
        at = 0
        reach, consumed = -1, 0  # the furthest end of the marks starting before the current token's end
        for match in _JSON_TOKEN.finditer(text):
            while consumed < len(marks) and marks[consumed][0] < match.end():
                reach = max(reach, marks[consumed][1])
                consumed += 1
            if reach <= match.start():
                continue
            token = match.group()
            if token[0] == '"':
                inner = token[1:-1]
                decoded: str = json.loads(token) if "\\" in inner else inner
            else:
                decoded = token
            spans = self._spans(decoded, tenant)
            if not spans:
                continue
            masked = _apply(decoded, spans)
            out += [text[at : match.start()], _json_string(masked)]
            at = match.end()
        out.append(text[at:])
        return self._finish("".join(out), tenant, json.dumps(MASK.format("text")))

    def redact_body(self, data: bytes, *, tenant: Scope = EVERY) -> bytes:
        """``redact_document`` on bytes (UTF-8; invalid bytes survive unchanged outside the masks)."""
        text = data.decode("utf-8", "surrogateescape")
        redacted = self.redact_document(text, tenant=tenant)
        return data if redacted is text else redacted.encode("utf-8", "surrogateescape")

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


def _occurrences(text: str, forms: list[Entry]) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for form, _, _ in forms:
        start = text.find(form)
        while start != -1:
            found.append((start, start + len(form)))
            start = text.find(form, start + 1)
    return found


def _secret_key(key: object) -> bool:
    return isinstance(key, str) and SECRET_KEY.fullmatch(key) is not None


def _json_string(text: str) -> str:
    """``text`` as a JSON string literal: as it is where it can be UTF-8, with escapes where it holds a lone
    surrogate (a decoded ``\\ud800``), which no encoder could write into the answer's bytes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(text)
    return json.dumps(text, ensure_ascii=False)


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
