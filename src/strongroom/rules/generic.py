"""One generic rule: a value assigned to a secret-named label, in the shapes config and code use.

The provider rules know a credential by its own format. This rule knows it by where it sits: after a label
that names a secret (``password``, ``DB_PASSWORD``, ``apiKey``, ``client_secret``, ``X-Api-Key``, ...) and an
assignment (``=``, ``:``, ``:=``, ``=>``), quoted or not, as Python, JS, YAML, JSON, TOML, INI, .env and
HTTP headers write it. Because the label is the only evidence, the value must look like a secret: at least
8 characters, about 3 bits of entropy per character, and none of the things people put in such places
without leaking anything (placeholders, template variables, masks, hashes, UUIDs, code references, paths
and URLs without credentials); see :func:`looks_like_secret`.
"""

from __future__ import annotations

import re

from strongroom.rules.base import Rule
from strongroom.rules.context import VALUE_END, keyed
from strongroom.rules.lookalikes import is_lookalike

__all__ = ["LABEL_WORDS", "RULE", "RULES", "looks_like_secret"]

# The label words, each matched as the *last* word of an identifier, so that `DB_PASSWORD`, `github_token`
# and `clientSecret` count and `password_hash`, `token_count`, `tokenizer`, `max_tokens`, `secret_name` do
# not. Compound words may be written with `_`, `-` or nothing between their parts.
LABEL_WORDS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "api_key",
    "access_key",
    "private_key",
    "secret_key",
    "credential",
    "credentials",
    "creds",
    "auth",
)
# Words no English word ends in, so they count glued to the letters before them too (`adminpassword`,
# `githubtoken`, `clientsecret`); the others must start a component (`bypass`, `oauth` do not).
_GLUED_WORDS = ("password", "passwd", "passphrase", "secret")
# Tokens that are not credentials: pagination, idempotency and anti-forgery tokens (`--next-token`,
# `ClientToken`, `csrf_token`): random by design, and in every API's examples.
_NOT_SECRET_TOKENS = (
    "next",
    "page",
    "continuation",
    "pagination",
    "starting",
    "start",
    "change",
    "idempotency",
    "client",
    "sync",
    "cursor",
    "resume",
    "csrf",
    "xsrf",
    "cancellation",
    "request",
    "output",
    "input",
    "import",
    "export",
    # a tokenizer's special tokens (`eos_token = "</s>"`)
    "pad",
    "eos",
    "bos",
    "unk",
    "mask",
    "sep",
    "cls",
    "special",
    "end",
)
# Keys that are not secrets, however random their values: `public_key`, `primary_key`, `cache_key`, ...
_NOT_SECRET_KEYS = (
    "public",
    "pub",
    "publishable",
    "primary",
    "foreign",
    "sort",
    "partition",
    "cache",
    "hash",
    "range",
    "row",
    "object",
    "idempotency",
    "lookup",
    "unique",
    "index",
    "search",
    "dict",
    "map",
    "host",
    "ssh",
    "gpg",
    "pgp",
    "site",
    "recaptcha",
    "turnstile",
    "result",
    "dest",
    "destination",
    "source",
    "output",
    "input",
    "field",
    "column",
    "attribute",
    "metric",
    "group",
    "item",
    "entry",
    "route",
    "query",
)


def _word(word: str) -> str:
    return "[_-]?".join(re.escape(part) for part in word.split("_"))


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(_word(w) for w in sorted(words, key=len, reverse=True))


def _not_after(words: tuple[str, ...], label: str) -> str:
    """Lookbehinds, checked once ``label`` matched: it does not end one of ``word + label`` (any separator)."""
    return "".join(rf"(?<!(?i:{w}{label}))(?<!(?i:{w}[_-]{label}))" for w in words)


# A word starts a component after a non-letter, an escape (`\n` in a string holding a file), or in
# camelCase (`dbPassword`, `myApiKey`).
_COMPONENT_START = r"(?:(?<![A-Za-z])|(?<=\\[nrt])|(?<=[a-z0-9])(?=[A-Z]))"
_OTHER_WORDS = tuple(w for w in LABEL_WORDS if w not in (*_GLUED_WORDS, "token", "key"))
# The characters a match can start with: a lookahead on them lets `re` skip every other position, which
# makes the rule several times faster on lines that hold no label.
_FIRST = "".join(sorted({c for w in LABEL_WORDS for c in (w[0], w[0].upper())} | set("_-EK")))
# Not after a colon that follows a word: `arn:aws:secretsmanager:...:secret:name` is a resource type, not
# an assignment (a Ruby symbol, `:password => "v"`, is one).
_LABEL = (
    rf"(?=[{_FIRST}])(?<![\w*]:)"
    rf"(?:{_COMPONENT_START}(?i:{_alternation(_OTHER_WORDS)})"
    rf"|(?i:{_alternation(_GLUED_WORDS)})"
    rf"|(?i:token){_not_after(_NOT_SECRET_TOKENS, 'token')}"
    # `key` only as the last word of a longer name (`stripe_key`, `apiKey`): a name that is only `key` is
    # a map's key far more often than a credential's
    rf"|(?<=[A-Za-z0-9])(?:[_-](?i:key)|Key){_not_after(_NOT_SECRET_KEYS, 'key')})"
    r"(?![A-Za-z0-9_-])"
)
# The value, quoted (then it runs to the closing quote, no whitespace inside) or bare (then it ends at
# whitespace, a separator or a query string's &, and must not run into a call, a subscript or a template).
_QUOTED = r"""(?<=["'`])[^\s"'`\\]{8,200}(?=\\*["'`])"""
_BARE = rf"""(?<!["'`])[^\s"'`,;()\[\]{{}}<>|\\&]{{8,200}}{VALUE_END}"""

_PATTERN = keyed(_LABEL, f"{_QUOTED}|{_BARE}")

# -- what a secret-named value is when it is not a secret ---------------------------------------------------

_NON_SECRET_WORDS = frozenset(
    {
        "none",
        "null",
        "nil",
        "true",
        "false",
        "undefined",
        "yes",
        "no",
        "on",
        "off",
        "n/a",
        "na",
        "empty",
        "required",
        "optional",
        "string",
        "str",
        "bytes",
        "secretstr",
        "secretbytes",
        "unset",
        "default",
    }
)
# Substrings that mark a stand-in, whatever surrounds them (case-insensitive).
_PLACEHOLDER_PARTS = (
    "changeme",
    "change_me",
    "change-me",
    "changeit",
    "example",
    "dummy",
    "placeholder",
    "redacted",
    "replace_me",
    "replace-me",
    "replaceme",
    "your_",
    "your-",
    "yourtoken",
    "yourkey",
    "yoursecret",
    "xxxx",
    "****",
    "....",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%(",
    "#{",
    "password",
    "passwd",
    "secret",
    "insert_",
    "fixme",
    "todo",
    "sample",
    "fake",
    "notreal",
    "not_real",
    "not-a-real",
)
_MASK_CHARS = frozenset("*xX.-_#?•")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_DIGEST = re.compile(r"(?:[0-9a-f]+|[0-9A-F]+)")
_SHORT_HEX = 24  # up to a Mongo ObjectId: ids and hash prefixes; hex keys are longer and named by provider
_DIGEST_LENGTHS = frozenset({32, 40, 56, 64, 96, 128})  # MD5, SHA-1, SHA-224, SHA-256, SHA-384, SHA-512
_INTEGRITY = re.compile(r"(?i:sha(?:1|224|256|384|512)|md5)[-:][A-Za-z0-9+/=_-]+")
# A code reference: `self.password`, `settings.API_KEY`, `os.environ`, `config.db.token2`, `API_KEY_V2`,
# `getPassword` -- identifiers of letters and underscores (digits only at the end of each), dotted or not.
_IDENT = r"[A-Za-z_$][A-Za-z_$]*[0-9]*"
_CODE_REF = re.compile(rf"{_IDENT}(?:\.{_IDENT})*(?:\(\))?")
# Interpolation: `{name}`, `{f(x)}` (f-strings, str.format, JS/shell `${...}`), `%s`, `$VAR`, `$(cmd)`.
_TEMPLATE_FIELD = re.compile(r"\{[^{}]*\}|%[sdr]|\$[A-Za-z_({]")
_PATH = re.compile(
    r"(?:~|\.{1,2})?/[\w.@+-]*(?:/[\w.@+-]*)*"  # /run/secrets/x, ./certs/x, ~/.config/x
    r"|[A-Za-z]:[\\/].*"  # C:\keys\x
    r"|[\w.-]+\.(?:pem|key|crt|json|txt|yaml|yml|env|p12|pfx|jks)"  # server.key
)
_URL = re.compile(r"[a-z][a-z0-9+.-]*://(?P<userinfo>[^/@\s]*@)?.*", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?[0-9][0-9_.,:]*")
# A slug of words (`tok-second`, `read-only`, `local-file:3`, `kms:DescribeKey`): each part one word in one case
# (with trailing digits), or a number. A secret needs at least 8 characters that are not such words.
_SEPARATORS = re.compile(r"[-_.:/?&]|(?<=[a-z])=(?=[A-Za-z])")
_WORDLIKE = re.compile(r"(?:[a-z]+|[A-Z]+|(?:[A-Z]?[a-z]{2,})+)[0-9]*|[0-9]+")
_MIN_RANDOM_CHARS = 8


def _random_chars(value: str) -> int:
    """How many characters of ``value`` are not in word-like parts."""
    return sum(len(part) for part in _SEPARATORS.split(value) if not _WORDLIKE.fullmatch(part))


def _placeholder(value: str) -> bool:
    low = value.lower()
    return (
        low in _NON_SECRET_WORDS
        or set(value) <= _MASK_CHARS
        or any(part in low for part in _PLACEHOLDER_PARTS)
        or _TEMPLATE_FIELD.search(value) is not None
        or value[0] in "$%@&*!"  # $VAR, %x%, @ref, YAML anchors/aliases/tags
        or low.startswith(("your", "env:", "env.", "vault:", "op://", "ref+"))  # references to a store
    )


def _identifier_or_digest(value: str) -> bool:
    return (
        _UUID.fullmatch(value) is not None
        or ((len(value) in _DIGEST_LENGTHS or len(value) <= _SHORT_HEX) and _HEX_DIGEST.fullmatch(value) is not None)
        or _INTEGRITY.fullmatch(value) is not None
        or _NUMBER.fullmatch(value) is not None
    )


# A dotted reference whose parts hold digits (`win32api.RegEnumKey`, a Sphinx `~contextvars.Token`): code
# when it splits into words and numbers.
_DOTTED = re.compile(r"~?[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)+(?:\(\))?")
_SUBWORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|[0-9]+")
_VOWELS = frozenset("aeiouyAEIOUY")


def _dotted_words(value: str) -> bool:
    if _DOTTED.fullmatch(value) is None:
        return False
    odd = sum(
        len(part)
        for part in _SUBWORDS.findall(value)
        if not (part.isdigit() or part.isupper() or (len(part) >= 2 and _VOWELS.intersection(part)))
    )
    return odd < 3


def _code_or_words(value: str) -> bool:
    return _CODE_REF.fullmatch(value) is not None or _dotted_words(value) or _random_chars(value) < _MIN_RANDOM_CHARS


def _path_or_plain_url(value: str) -> bool:
    url = _URL.fullmatch(value)
    if url is not None:
        userinfo = url.group("userinfo")
        return userinfo is None or ":" not in userinfo
    return _PATH.fullmatch(value) is not None


def looks_like_secret(value: str) -> bool:
    """False for values that sit under secret-named labels without being secrets.

    Placeholders and template variables (``changeme``, ``<token>``, ``${VAR}``, ``{{ var }}``, ``%(x)s``,
    ``your_key_here``, ``xxxx``, ``****``, ``example``, ``dummy``), ``None``/``null``/``true``/``false``,
    UUIDs, hex digests of hash lengths and ``sha256-``/``sha512-`` integrity strings (lock files), numbers,
    code references (``self.password``, ``settings.API_KEY``, a bare identifier, a call), slugs of words
    (``tok-second``, ``read-only``), file paths and URLs without credentials in them; and what no rule
    reports (:func:`strongroom.rules.lookalikes.is_lookalike`: documented examples, the key name repeated,
    fake sequences).
    """
    return not (
        _placeholder(value)
        or _identifier_or_digest(value)
        or _code_or_words(value)
        or _path_or_plain_url(value)
        or is_lookalike(value)
    )


def _reported_by_a_provider_rule(value: str) -> bool:
    """True if a provider rule reports a secret inside ``value`` on its own (no label needed).

    Such a value is that rule's finding; the generic rule leaves it alone rather than report it twice.
    """
    from strongroom.rules import PROVIDER_RULES  # the package imports this module: resolved at call time

    low = value.lower()
    for rule in PROVIDER_RULES:
        if any(keyword in low for keyword in rule.keywords):
            for match in rule.regex.finditer(value):
                if rule.accepts(rule.secret_of(match)):
                    return True
    return False


def _validate(value: str) -> bool:
    return looks_like_secret(value) and not _reported_by_a_provider_rule(value)


def _keywords() -> tuple[str, ...]:
    """Every spelling of every label word, less those that contain another (`secret` covers `secret_key`)."""
    spellings = {v for w in LABEL_WORDS for v in (w, w.replace("_", "-"), w.replace("_", ""))}
    return tuple(sorted(k for k in spellings if not any(o != k and o in k for o in spellings)))


RULE = Rule(
    id="generic-secret-assignment",
    description="A high-entropy value assigned to a secret-named label (password, token, api_key, secret, ...)",
    pattern=_PATTERN,
    keywords=_keywords(),
    entropy=3.0,
    validate=_validate,
    severity="medium",
)

RULES: tuple[Rule, ...] = (RULE,)
