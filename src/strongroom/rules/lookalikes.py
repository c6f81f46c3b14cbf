"""Values shaped like a credential that are not one: documented examples, placeholders, fake sequences.

Every rule consults :func:`is_lookalike` (through ``Rule.accepts``), so a provider rule and the generic rule
agree on what a stand-in is. The classes:

- documented examples: AWS's example keys end in ``EXAMPLE`` (``...EXAMPLEKEY`` for the secret key), and
  other vendors' docs use the same word;
- placeholders and templates: ``<...>``, ``${...}``, ``{{...}}``, ``%(...)s``, ``$VAR``, masks (``****``),
  marker words anywhere (``changeme``, ``placeholder``, ``redacted``, ``dummy``, ``sample``), short marker
  words as a whole part (``fake_``, ``-todo-``);
- values made of words: the key name repeated (``apiToken``, ``API_KEY_VALUE``, ``my_password``), or filler
  (``your-key-here``, ``test123``, ``insert-key``);
- fake sequences: repeats (``0000``, ``aaaa``, ``abcabc``, ``deadbeefdeadbeef``), alphabet and digit runs
  (``abcdefgh``, ``1234567890``) and keyboard rows (``qwertyuiop``), once they cover most of the value.

A random key may hold a short run (``123``, ``aaa``) by chance, so runs suppress a value only when they cover
at least half of its letters and digits; words suppress it only when every part of it is a word or a run.
Values with whitespace inside (a PEM header) are judged by their rule, not here: only placeholder syntax
applies to them.
"""

from __future__ import annotations

import re

__all__ = ["PEM_BODY_FOLLOWS", "is_lookalike", "repeats_its_name", "sequence_coverage"]

# Marker words that mean "stand-in" wherever they occur, written in one case (`example`, `Example`,
# `EXAMPLE`): five letters or more, so a random key holds one by chance about once in a billion values.
_MARKER_WORDS = (
    "example",
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "placeholder",
    "redacted",
    "replaceme",
    "replace_me",
    "replace-me",
    "dummy",
    "sample",
    "notreal",
    "not_real",
    "not-real",
    "not_a_real",
    "not-a-real",
    "insert_",
    "insert-",
    "your_",
    "your-",
    "yourkey",
    "yourtoken",
    "yoursecret",
    "yourapikey",
    "fixme",
)
_MARKERS = re.compile(
    "|".join(re.escape(form) for word in _MARKER_WORDS for form in {word, word.capitalize(), word.upper()})
)
# Template and interpolation syntax, and masks: characters no key alphabet holds.
_TEMPLATE = re.compile(r"\$\{|\{\{|\}\}|%\(|#\{|\*{3}|^<.*>$|^\$[A-Za-z_]|^%[A-Za-z_]\w*%$|^\[\[.*\]\]$")
# Short marker words, counted only as a whole part (between separators or at the ends): `fake_token`,
# `sk-todo-1`, but not `...xfakeq...` inside random text.
_PART_MARKERS = frozenset(
    form
    for word in ("fake", "todo", "mock", "bogus", "stub", "xxxx", "dummy", "invalid")
    for form in (word, word.capitalize(), word.upper())
)
_PARTS = re.compile(r"[A-Za-z0-9]+")

# Words people put in a value when they have none: key-name words and filler. A value made only of these,
# other words and runs is the name repeated or a stand-in.
_FILLER_WORDS = (
    "my your our the an some this that here there goes put enter insert replace with set new old your"
    " api key keys token tokens secret secrets password passwords passwd pass pwd pw passphrase credential"
    " credentials cred creds access private public client auth oauth bearer session refresh id value val"
    " test tests testing fake dummy sample example demo mock stub todo fixme tbd placeholder changeme"
    " foo bar baz qux quux xyz abc default dev local app admin user username root db string str"
    " hello world super very long random real not valid invalid bogus none null empty blank"
)
_FILLER = frozenset(_FILLER_WORDS.split())
# Filler words run together (`APIKEY`, `secretkey`, `accesstoken`), as one part.
_FILLER_RUN = re.compile("(?:" + "|".join(sorted((w for w in _FILLER if len(w) > 1), key=len, reverse=True)) + ")+")
# A word with filler glued after it (`ALGOLIAAPIKEY`, `discordtoken`).
_WORD_THEN_FILLER = re.compile(rf"(?P<word>[a-z]{{3,}}?)(?P<filler>{_FILLER_RUN.pattern})")
# Parts: camelCase and ALLCAPS words, digit runs.
_WORD_PARTS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_VOWELS = frozenset("aeiouAEIOU")
_LETTER_AFTER_DIGIT = re.compile(r"[0-9][A-Za-z]")
_CLUSTER = re.compile(r"[^aeiouAEIOU]{4}")
# Identifiers joined by `.`, `:`, `::`, `->` or `/` (a code reference or a resource name).
_NAME_PATH = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:(?:\.|::?|->|/)[A-Za-z_$][A-Za-z0-9_$]*)*")

# Repeats: one character three times or more, two characters three times, 3-8 characters twice.
_REPEATS = re.compile(r"([A-Za-z0-9])\1{2,}|([A-Za-z0-9]{2})\2{2,}|([A-Za-z0-9]{3,8}?)\3+")
# Runs: each character the next one along the alphabet, the digits or a keyboard row (either direction).
_RUN_SOURCES = ("abcdefghijklmnopqrstuvwxyz", "01234567890", "qwertyuiop", "asdfghjkl", "zxcvbnm", "1qaz2wsx3edc")
_STEPS = frozenset(
    a + b
    for source in _RUN_SOURCES
    for text in (source, source[::-1])
    for i in range(len(text) - 1)
    for a in {text[i], text[i].upper()}  # either case (`AB1C2defGHijk` is the alphabet with digits in it)
    for b in {text[i + 1], text[i + 1].upper()}
)
_MIN_RUN = 4
# The share of a value that runs must cover, and all of it below 12 letters and digits: a random key holds a
# short run by chance, a fake is (nearly) all runs.
_MOSTLY = 0.7
_SOME = 0.3
_SHORT = 12
_HEX_LETTERS = frozenset("abcdef")

# A PEM header followed by a key body, for the pem-private-key rule to append to its header pattern: after
# line breaks (escaped ones too, `\n` in a JSON string), indentation, quotes and `+`/`|` joins, either armor
# headers (an encrypted key's `Proc-Type:`, PGP's `Version:`/`Comment:`) or a whole base64 line of 40
# characters or more that ends in a line break, not in `...`, and does not start with the documented-example
# word. So `BEGIN ... PRIVATE KEY` followed by nothing, `...`, a placeholder, a truncated line or prose is not
# reported. `[\s\S]` makes the rule run on a window around the line rather than on the line alone.
_PEM_SEP = r"""(?:[\s\S](?<=[\s"'`+|])|\\[nr])"""
PEM_BODY_FOLLOWS = (
    rf"(?={_PEM_SEP}{{0,40}}?(?:(?:Proc-Type|Version|Comment):"
    rf"|(?!EXAMPLE)[A-Za-z0-9+/=]{{40,}}{_PEM_SEP}+(?:[A-Za-z0-9+/=]{{4}}|-----END)))"
)


def sequence_coverage(value: str) -> float:
    """The share of the letters and digits of ``value`` that sit in repeats and runs (0 to 1)."""
    total = sum(ch.isalnum() for ch in value)
    if not total:
        return 0.0
    covered = [False] * len(value)
    # A repeat holds some three characters twice; a random value seldom does, and the regex is the slow part.
    if len({value[i : i + 3] for i in range(len(value) - 2)}) < len(value) - 2:
        for match in _REPEATS.finditer(value):
            covered[match.start() : match.end()] = [True] * (match.end() - match.start())
    start = 0
    for i in range(1, len(value) + 1):
        if i < len(value) and value[i - 1 : i + 1] in _STEPS:
            continue
        if i - start >= _MIN_RUN:
            covered[start:i] = [True] * (i - start)
        start = i
    return sum(c for c, ch in zip(covered, value, strict=True) if ch.isalnum()) / total


def _fake_sequence(value: str) -> bool:
    coverage = sequence_coverage(value)
    if coverage >= 1 or (coverage >= _MOSTLY and sum(ch.isalnum() for ch in value) >= _SHORT):
        return True
    # The alphabet with digits dropped in (`AB1C2defGHijk3...`), and two runs interleaved (`a1b2c3d4`); each
    # checked only when the value starts to look like one.
    letters = "".join(ch for ch in value if ch.isalpha())
    if (
        coverage >= _SOME
        and len(letters) >= _SHORT
        and 4 * len(letters) >= 3 * len(value)
        and not set(letters.lower()) <= _HEX_LETTERS  # six letters run into each other by chance
        and sequence_coverage(letters) >= _MOSTLY
    ):
        return True
    return (
        len(value) >= 8
        and value[0] + value[2] in _STEPS
        and value[1] + value[3] in _STEPS
        and sequence_coverage(value[::2]) >= 1
        and sequence_coverage(value[1::2]) >= 1
    )


def _made_of_words(value: str) -> bool:
    """Filler words (more than half the letters), other pronounceable words and short or fake numbers, and
    nothing else: `my_password`, `API_KEY_VALUE`, `SuperSecretPassword1`, `test123`."""
    if _LETTER_AFTER_DIGIT.search(value):
        return False  # `an0rlykei2`: random, words do not resume after a number
    filler = letters = others = 0
    for part in _WORD_PARTS.findall(value):
        if part.isdigit():
            if len(part) > 4 and sequence_coverage(part) < 1:
                return False
            continue
        letters += len(part)
        low = part.lower()
        if low in _FILLER or _FILLER_RUN.fullmatch(low):
            filler += len(part)
            continue
        glued = _WORD_THEN_FILLER.fullmatch(low)
        word = glued.group("word") if glued else low
        if len(word) < 3 or not _VOWELS.intersection(word) or _CLUSTER.search(word):
            return False
        others += 1
        filler += len(part) - len(word)
    return 2 * filler > letters and (filler >= 5 or not others)


def repeats_its_name(name: str, value: str) -> bool:
    """Whether ``value`` is the key name ``name`` again: the same (``apiToken = "apiToken"``) or an attribute
    of that name (``RegEnumKey = win32api.RegEnumKey``, ``token = self.token``)."""
    if len(name) < 3:
        return False
    if value.lower() == name.lower():
        return True
    for sep in (".", "::", "->", ":", "/"):
        head, found, tail = value.rpartition(sep)
        if found and tail.removesuffix("()") == name and _NAME_PATH.fullmatch(head):
            return True
    return False


def _placeholder(value: str) -> bool:
    return (
        _TEMPLATE.search(value) is not None
        or _MARKERS.search(value) is not None
        or any(part in _PART_MARKERS for part in _PARTS.findall(value))
    )


def is_lookalike(value: str) -> bool:
    """True for a value that has a credential's shape but is a documented example, a placeholder, the key
    name repeated, or a fake sequence (see the module docs)."""
    if _placeholder(value):
        return True
    if any(ch.isspace() for ch in value):
        return False
    if not value.isascii():
        return False
    return _fake_sequence(value) or _made_of_words(value)
