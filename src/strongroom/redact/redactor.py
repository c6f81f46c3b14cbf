"""``Redactor``: masks known secret values, secret-shaped fields and provider token shapes in text.

Three sources of spans, merged before anything is replaced, so overlapping and nested matches (a value
that is a substring of another, a token inside a field) become one mask:

1. **known values**, in every encoding a log might carry them (``encodings()``: raw, hex, percent, JSON,
   HTML, reprs, base64 at every alignment inside a blob, UTF-16), and behind any escape in the decoded
   view (``strongroom.redact.views``) when a line holds a trigger character. One Aho-Corasick automaton
   (pyahocorasick) holds the values and the rules' keywords, so one pass over a line finds both. Values
   come from every live ``Secret`` (``strongroom.live_values``) and from ``register()``. The automaton is
   rebuilt only when more than ``PENDING_LIMIT`` values were added, never per line: fewer new values go
   in a second, small automaton until then;
2. **secret-shaped fields** (``strongroom.redact.fields``): ``password=...``, ``"api_key": "..."``,
   ``session_id=...``, ``Authorization: ...``, ``scheme://user:password@host``, PEM private key blocks;
3. **provider token shapes**: the scanner's rules (``strongroom.rules``), run only where a keyword occurs
   (and, with Hyperscan installed, once it confirms the rule could match).

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
from strongroom.redact.fields import ASSIGNMENT, FIELD_RULES, SECRET_KEY, assigned_benign, counted, value_span
from strongroom.redact.fields import spans as field_spans
from strongroom.redact.views import decode, decoded_text, lower, triggered
from strongroom.rules import RULES
from strongroom.rules.base import Rule
from strongroom.rules.prefilter import Prefilter, make_prefilter
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
_URI_COMPONENT_SAFE = "-_.!~*'()"  # what JavaScript's encodeURIComponent leaves as it is
_CORE_START = (0, 2, 3)  # base64 characters that hold bits of the bytes before the value, per alignment
_MIN_CORE = 6  # characters of a base64 core inside a blob (36 bits): shorter ones would match by chance


def _b64_cores(raw: bytes) -> tuple[list[str], list[str]]:
    """Base64 and base64url of ``raw`` as they appear inside a longer blob, at each of the three alignments.

    Preceded by k bytes (k = 0, 1, 2), the first characters also encode those bytes and the last one the
    bytes after: the stable middle is what every blob holding the value contains. Returns (cores, the
    value's own base64 unpadded: a core and its last character, masked whole where the core is found).
    """
    cores: list[str] = []
    whole: list[str] = []
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw).decode("ascii").rstrip("=")
            end = len(encoded) - (1 if (shift + len(raw)) % 3 else 0)
            core = encoded[_CORE_START[shift] : end]
            if shift == 0 and core != encoded:
                whole.append(encoded)
            if len(core) >= _MIN_CORE or (shift == 0 and core):
                cores.append(core)
    return cores, whole


FOLD = 1  # a form in which case may differ (escapes and hex: `%2F`, `%2f`)
EXTEND = 2  # a form not in the automaton: checked where a form of the same value starts (own base64)


def _forms(value: Value) -> dict[str, int]:
    """Every literal form of ``value``, with its flags: ``FOLD``, ``EXTEND``.

    Only the lower-case spelling of a case-insensitive form is listed. Spellings no list covers (any
    character as ``\\uXXXX`` or ``&#...;``, base64 wrapped over lines, UTF-16 of ASCII text) are found by
    the decoded view (``strongroom.redact.views``) instead.
    """
    raw = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value
    cores, whole = _b64_cores(raw)
    itself = raw.decode("utf-8", "surrogateescape")
    exact = {itself, *cores}
    # As the decoded view sees the value itself: its line breaks dropped (a PEM key), and any escape it holds
    # decoded (a `\n` or `%41` that is part of the value), so it is found in a text that needed the view
    # for another reason (UTF-16 of it: the NULs dropped, then the value's own `\n` read as an escape).
    exact.add(decoded_text(itself))
    folded = {
        repr(value)[1:-1] if isinstance(value, str) else repr(value)[2:-1],
        ascii(value)[1:-1] if isinstance(value, str) else "",  # `ascii()`, `%a`: \xNN, \uNNNN escapes
        repr(raw)[2:-1],  # the bytes repr of a non-ASCII value: b'\xc3\xa9...'
        raw.hex(),
    }
    try:
        text = value if isinstance(value, str) else raw.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        exact.add(text)
        escaped = json.dumps(text)[1:-1]
        unescaped = json.dumps(text, ensure_ascii=False)[1:-1]
        folded |= {
            escaped,
            escaped.replace("/", "\\/"),  # JSON as PHP and some Java encoders write it
            unescaped,
            json.dumps(escaped)[1:-1],  # JSON inside JSON
            json.dumps(unescaped, ensure_ascii=False)[1:-1],
            html.escape(text),
            html.escape(text, quote=False),
            quote(text, safe="", errors="surrogatepass"),
            quote(text, errors="surrogatepass"),
            quote(text, safe=_URI_COMPONENT_SAFE, errors="surrogatepass"),
            quote_plus(text, safe="", errors="surrogatepass"),
        }
        if not text.isascii():  # UTF-16 as a UTF-8 reader sees it; of ASCII text, the view drops the NULs
            exact |= {
                text.encode(codec, "surrogatepass").decode("utf-8", "surrogateescape")
                for codec in ("utf-16-le", "utf-16-be")
            }
    forms = {lower(form): FOLD for form in folded}
    forms.update((form, 0) for form in exact)  # a form both exact and folded is checked exactly
    forms.update((form, EXTEND) for form in whole if form not in forms)
    # The value itself stays, however few characters its bytes decode to (`MIN_CHARS` counted its length).
    return {form: flags for form, flags in forms.items() if len(form) >= MIN_CHARS or form == itself}


def encodings(value: Value) -> set[str]:
    """The literal forms a value takes in logs, URLs, JSON, HTML and headers; each one is masked.

    Escapes and hex in both cases; base64 also as the stable middle of a longer blob at each alignment.
    """
    found: set[str] = set()
    for form, flags in _forms(value).items():
        found.add(form)
        if flags & FOLD:
            found |= {form.upper() if _HEX.fullmatch(form) else form, _PERCENT_ESCAPE_LOWER.sub(_upper, form)}
    return {form for form in found if len(form) >= MIN_CHARS}


_HEX = re.compile(r"[0-9a-f]+")
_PERCENT_ESCAPE_LOWER = re.compile(r"%[0-9a-f]{2}")


def _upper(match: re.Match[str]) -> str:
    return match.group().upper()


def _label(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_.-" else "_" for ch in name)[:64] or "secret"


# The last characters of each lower-cased form are its key in the automaton; the rest is verified. Five
# of 36 or more letters make a chance hit rare (one in tens of millions per key and position), as six of
# hex's 16 do; each character less saves about 1.5 MB for 10,000 values.
KEY_CHARS = 5
HEX_KEY_CHARS = 6
KEYWORD_BASE = 1 << 30  # automaton entries from here on are rule keywords, not values (32-bit ints)
Entry = tuple[str, str, Owner]  # (form, mask label, owner)
Hits = tuple[list[Span], set[int]]  # (value spans, indexes of rules whose keywords occur)


class _Automaton:
    """An immutable Aho-Corasick automaton over the last ``KEY_CHARS`` characters of every value's forms.

    Memory is what bounds it: the automaton stores integers only (a value's index, a rule keyword's, or a
    group of them when keys collide), and a value's forms are computed again when its key is seen, which is
    rare. Keys are the forms' ends, lower-cased: a value's end is its most random part (provider tokens
    share their prefixes), and lower case lets one key serve ``%2F`` and ``%2f``, hex in either case. A key
    hit is confirmed with ``startswith`` on the text, exactly or (for escapes and hex) without case. Rule
    keywords ride in the same automaton, so one pass over a line finds values and says which rules to run.
    Values shorter than ``short_below`` are not in the trie: they match only whole tokens (``short``).
    """

    def __init__(
        self,
        values: Iterable[tuple[Value, str, Owner]],
        *,
        fold_all: bool,
        short_below: int,
        keywords: Sequence[tuple[str, tuple[int, ...], bool]] = (),
    ) -> None:
        import ahocorasick  # type: ignore[import-not-found]  # a dependency (no type stubs)

        self.values: list[tuple[Value, str, Owner]] = []  # (value, name, owner): the registry's own tuples
        self.short: list[Entry] = []
        self.fold_all = fold_all
        self.keyword_rules = [rules for _, rules, _ in keywords]
        self.keyword_marks = [marked for _, _, marked in keywords]
        self.groups: list[tuple[int, ...]] = []
        self._forms: dict[int, tuple[tuple[str, str, int], ...]] = {}
        keys: dict[str, int] = {}
        for index, (keyword, _, _) in enumerate(keywords):
            self._key(keys, keyword, KEYWORD_BASE + index)
        for entry in values:
            value, name, owner = entry
            if len(value) < short_below:
                label = _label(name)
                self.short += [(form, label, owner) for form in encodings(value)]
                continue
            index = len(self.values)
            self.values.append(entry)
            for form, flags in _forms(value).items():
                if not flags & EXTEND:
                    low = lower(form)
                    self._key(keys, low[-HEX_KEY_CHARS if _HEX.fullmatch(low) else -KEY_CHARS :], index)
        self.automaton: Any = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for key, ident in keys.items():
            self.automaton.add_word(key, ident)
        self.empty = not keys
        if not self.empty:
            self.automaton.make_automaton()

    def _key(self, keys: dict[str, int], key: str, ident: int) -> None:
        held = keys.setdefault(key, ident)
        if held == ident:
            return
        if held >= 0:
            self.groups.append((held, ident))
            keys[key] = -len(self.groups)
        elif ident not in self.groups[-held - 1]:
            self.groups[-held - 1] += (ident,)

    def forms(self, index: int) -> tuple[tuple[str, str, int], ...]:
        """(lower-cased form, form, flags) of the value at ``index``, computed on first use."""
        found = self._forms.get(index)
        if found is None:
            fold = FOLD if self.fold_all else 0
            items = _forms(self.values[index][0]).items()
            found = self._forms[index] = tuple((lower(form), form, flags | fold) for form, flags in items)
        return found

    def scan(self, text: str, lowered: str, tenant: Scope, spans: list[Span], keywords: _Keywords | None) -> None:
        """Add to ``spans`` every value found in ``text`` (``lowered`` is its ``lower()``), and to ``keywords``
        the rules whose keywords occur and where the secret words of names end."""
        if self.empty:
            return
        for end, ident in self.automaton.iter(lowered):
            for one in (ident,) if ident >= 0 else self.groups[-ident - 1]:
                if one >= KEYWORD_BASE:
                    if keywords is not None:
                        keywords.rules.update(self.keyword_rules[one - KEYWORD_BASE])
                        if self.keyword_marks[one - KEYWORD_BASE]:
                            keywords.marks.append(end + 1)
                    continue
                _, name, owner = self.values[one]
                if _visible(owner, tenant):
                    self._verify(text, lowered, end + 1, self.forms(one), _label(name), spans)

    @staticmethod
    def _verify(  # noqa: PLR0917 -- the hot path: no keyword arguments
        text: str, lowered: str, stop: int, forms: tuple[tuple[str, str, int], ...], label: str, spans: list[Span]
    ) -> None:
        """The forms that end at ``stop``, and the longer forms (``EXTEND``) that start where they start."""
        for low, form, flags in forms:
            if flags & EXTEND:
                continue
            start = stop - len(low)
            if start >= 0 and lowered.endswith(low, start, stop) and (flags & FOLD or text.endswith(form, start, stop)):
                spans.append((start, 0, stop, label))
                spans += [
                    (start, 0, start + len(longer), label)
                    for _, longer, longer_flags in forms
                    if longer_flags & EXTEND and text.startswith(longer, start)
                ]


class _Keywords:
    """What the keywords found in a text say: the rules to run, and where secret words of names end."""

    __slots__ = ("marks", "rules")

    def __init__(self) -> None:
        self.rules: set[int] = set()
        self.marks: list[int] = []


def _keywords(rules: Sequence[Rule]) -> list[tuple[str, tuple[int, ...], bool]]:
    """(keyword, the rules it stands for, whether its places are kept: the names of ``secret-field``)."""
    by_keyword: dict[str, list[int]] = {}
    for index, rule in enumerate(rules):
        for keyword in rule.keywords:
            by_keyword.setdefault(keyword, []).append(index)
    return [
        (keyword, tuple(indexes), any(rules[i].id == ASSIGNMENT for i in indexes))
        for keyword, indexes in by_keyword.items()
    ]


_NO_VALUES = _Automaton((), fold_all=False, short_below=0)
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

    Escapes no list of forms covers (any character as JSON ``\\uXXXX`` or an HTML entity, percent-escapes
    of any case, base64 wrapped over lines, UTF-16 of ASCII text) are decoded into a view
    (``strongroom.redact.views``) when the text holds a trigger character (``\\ & % \\n \\r NUL``), and
    the values are searched for in it too. ``normalise=True`` also matches every form without case (the
    broker's scrubbing, for the one credential it injected).

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
        self._field_rules = frozenset(i for i, rule in enumerate(self._rules) if rule in FIELD_RULES)
        # "auto": the rules' keywords ride in the values' automaton (one pass per line); otherwise the
        # scanner's prefilter of that name runs as a second pass.
        self._prefilter = None if prefilter == "auto" else make_prefilter(self._rules, prefilter)
        self._keywords = _keywords(self._rules) if self._prefilter is None else []
        # With "auto", a provider rule whose keyword occurs is first confirmed by Hyperscan (when installed),
        # which runs every provider regex at once in about a microsecond: a generic rule's Python regex can
        # take several on a line that merely says "secret". Loaded on first need (its database is cached).
        self._providers = [i for i in range(len(self._rules)) if i not in self._field_rules]
        self._confirm: Prefilter | None = None
        self._confirm_tried = prefilter != "auto" or not self._providers
        self._lock = threading.Lock()
        self._short_below = short_below
        self._fold_all = normalise
        self._automaton = _Automaton((), fold_all=normalise, short_below=0, keywords=self._keywords)
        self._built_generation = -1
        self._built_values: set[tuple[Value, Owner]] = set()  # a value with a new owner is a new entry
        self._pending: list[tuple[Value, str, Owner]] = []  # values not yet in the automaton
        self._pending_automaton = _NO_VALUES
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
        """Bring the automaton and the pending values up to the registry's generation."""
        if self._live.generation == self._pending_generation:
            return
        with self._lock:
            generation, values = self._live.snapshot()
            if generation == self._pending_generation:
                return
            fresh = [entry for entry in values if (entry[0], entry[2]) not in self._built_values]
            if len(fresh) > PENDING_LIMIT or self._built_generation < 0:
                self._automaton = _Automaton(
                    values, fold_all=self._fold_all, short_below=self._short_below, keywords=self._keywords
                )
                self._built_values = {(v, o) for v, _, o in values}
                self._built_generation = generation
                self._pending, self._pending_automaton = [], _NO_VALUES
            else:
                self._pending = fresh
                self._pending_automaton = _Automaton(fresh, fold_all=self._fold_all, short_below=self._short_below)
            self._pending_generation = generation

    # -- text --------------------------------------------------------------------------------------

    def _scan(self, text: str, tenant: Scope, keywords: _Keywords | None) -> list[Span]:
        """Where a known value (not a short one) is, in any form: in ``text`` and in its decoded view."""
        spans: list[Span] = []
        lowered = text.lower()
        if len(lowered) != len(text):  # a character whose lower case is longer (rare): kept as it is
            lowered = lower(text)
        self._automaton.scan(text, lowered, tenant, spans, keywords)
        pending = self._pending_automaton
        if not pending.empty:
            pending.scan(text, lowered, tenant, spans, None)
        if triggered(text):
            # A first look at the decoded text; the view that maps it back is made only if it holds a value.
            decoded = decoded_text(text)
            found: list[Span] = []
            if decoded != text:
                lowered = lower(decoded)
                self._automaton.scan(decoded, lowered, tenant, found, None)
                if not pending.empty:
                    pending.scan(decoded, lowered, tenant, found, None)
            if found:
                decoded_again, view = decode(text)
                if view is None or decoded_again != decoded:  # cannot be (the same stages); if it were: all of it
                    spans.append((0, 0, len(text), found[0][3]))
                    return spans
                for start, rank, end, label in found:
                    source_start, source_end = view.source_span(start, end)
                    spans.append((source_start, rank, source_end, label))
        return spans

    def _value_spans(self, text: str, tenant: Scope) -> list[Span]:
        return self._scan(text, tenant, None)

    def _short_forms(self, tenant: Scope) -> list[Entry]:
        found = self._automaton.short
        if self._pending_automaton.short:
            found = found + self._pending_automaton.short
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
        keywords = _Keywords()
        spans = self._scan(text, tenant, keywords)
        rules = keywords.rules
        if self._short_below:
            spans += self._token_spans(text, tenant)
        if self._prefilter is not None:
            candidates = self._prefilter.candidates(text.encode("utf-8", "surrogatepass"))
            if candidates:
                rules.update(*candidates.values())
        if rules:
            if not self._confirm_tried or self._confirm is not None:
                rules = self._confirmed(text, rules)
            # Names' secret words are known from the automaton, unless another prefilter found the rules.
            self._rule_spans(text, rules, spans, keywords.marks if self._prefilter is None else None)
        return spans

    def _confirmed(self, text: str, rules: set[int]) -> set[int]:
        """``rules``, less the provider rules Hyperscan says cannot match ``text``."""
        if rules <= self._field_rules:
            return rules
        if not self._confirm_tried:
            with self._lock:
                if not self._confirm_tried:
                    try:
                        self._confirm = make_prefilter([self._rules[i] for i in self._providers], "hyperscan")
                    except ImportError:
                        self._confirm = None
                    self._confirm_tried = True
        if self._confirm is None:
            return rules
        found = self._confirm.candidates(text.encode("utf-8", "surrogatepass"))
        providers = self._providers
        return (rules & self._field_rules) | {providers[i] for lines in found.values() for i in lines}

    def _rule_spans(self, text: str, indexes: set[int], spans: list[Span], marks: list[int] | None) -> None:
        """Rule matches over the whole text (a log line, usually): the keywords said which rules to try."""
        for index in sorted(indexes):
            rule = self._rules[index]
            if index in self._field_rules:
                spans += [(start, 1, end, rule.id) for start, end in field_spans(rule, text, marks)]
                continue
            # A provider token is masked on its shape alone; the generic rule's only evidence is the name,
            # so its value must also look like a secret (or `secret 'stripe_key'` in a message is masked).
            judged = rule.id.startswith("generic-")
            for match in rule.regex.finditer(text):
                start, end = value_span(rule, match)
                if end > start and not assigned_benign(text, start, end):
                    if judged and not rule.accepts(text[start:end]):
                        continue
                    spans.append((start, 2, end, rule.id))

    def redact(self, text: str, *, tenant: Scope = EVERY) -> str:
        """``text`` with every known value, secret-shaped field and provider token masked."""
        if not text:
            return text
        if self._live.generation != self._pending_generation:
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
            if isinstance(data, int | float) and counted(_under) and self.redact(str(data)) == str(data):
                return data  # `prompt_tokens`: a count, kept a number (unless it is a registered value)
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
