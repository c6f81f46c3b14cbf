"""Secret-shaped fields: values that are secret because of what they are called, whatever they look like.

Written as ``Rule``s so that they go through the same prefilter as the provider rules: one pass over a
log line decides whether any field rule or provider rule could match at all. The ``secret`` group is what
gets masked; the label around it stays, so a masked line still says what was there.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from strongroom.rules.base import Rule

# Names that make a value secret: `password`, `db_password`, `X-Api-Key`, `refresh_token`, `client_secret`...
_KEY_WORDS = (
    r"passw(?:or)?d|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key"
    r"|client[_-]?secret|credentials?|dsn|session[_-]?id|signature"
)
# ...but not the names of metadata about a secret: `secret_name`, `token_type`, `api_key_id`, `expires_at`.
_METADATA = "".join(
    f"(?<![_.-]{suffix})"
    for suffix in (
        "name",
        "names",
        "id",
        "ids",
        "type",
        "count",
        "at",
        "version",
        "kind",
        "length",
        "prefix",
        "scope",
        "scopes",
        "hint",
        "format",
        "path",
        "file",
        "url",
        "uri",
        "ttl",
        "policy",
        "rotation",
        "source",
        "env",
    )
)
# Session identifiers: `session_id`, `sessionid`, `PHPSESSID`, `JSESSIONID`, `sid`, `connect.sid`.
_SESSION = r"(?:[\w.-]*session[_.-]?id|[\w.-]*sessid|(?:[\w-]*[_.-])?sid)"
# Short words that name a secret only as a name's last part: `DB_PASS`, `basic_auth`, `aws.creds` (not
# `passenger`, `author`).
_LAST_WORDS = r"(?:[\w.-]*[_.-])?(?:pass|auth|creds)"
_KEY = rf"(?:[\w.-]*(?:{_KEY_WORDS})[\w.-]*{_METADATA}|{_SESSION}|{_LAST_WORDS})"
_FIELD_KEYWORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "dsn",
    "session",
    "signature",
    "sid",
    "auth",
    "creds",
)
# A value: double- or single-quoted (escapes allowed), or bare up to white space or a quote (a password may
# hold `;,&<>)]}`: cutting there would show its tail).
_VALUE = r"""(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>(?:[^'\\\n]|\\.)*)'|(?P<bare>[^\s"']+))"""
# In a URL's query (`?token=abc&next=1`, `&sid=...#top`), `&` and `#` end the value.
_QUERY = rf"""(?<=[?&]){_KEY}=(?P<query>[^\s"'&#]+)"""
# An already masked value (`password=[REDACTED:x]`, redacted twice) stays as it is, label and all.
_MASKED = re.compile(r"\[REDACTED:[\w.-]*\]")
# Counts, not tokens: `prompt_tokens=123`, `max_tokens: 4096`, `"total_tokens": 77`.
_COUNTED_KEY = re.compile(r"(?i)[\w.-]*tokens")
_NUMBER = re.compile(r"-?[0-9][0-9_.,]*[;)\]}>]*")  # a bare value runs on: `"total_tokens": 77}}`
# The working directory (`pwd=/home/x`, `PWD=~/src`, `OLDPWD=...`), not a password.
_PATH_KEY = re.compile(r"(?i)(?:old)?pwd")
# ...and only a value that looks like one: `PWD=` is also ODBC's password field (`UID=sa;PWD=/p@ss!`), so a
# value with characters no path name uses, or a single `/segment`, is still masked.
_PATH_VALUE = re.compile(r"~(?:/[\w.@+-]*)*|(?:/[\w.@+-]+){2,}/?|/")

FIELD_RULES: tuple[Rule, ...] = (
    Rule(
        id="secret-field",
        description='a value assigned to a secret-named key (key=value, key: value, "key": "value", ?key=value)',
        pattern=rf"""(?i){_QUERY}|(?<![\w.-])["']?{_KEY}["']?\s*(?:=>|[=:])\s*{_VALUE}""",
        keywords=_FIELD_KEYWORDS,
        severity="high",
    ),
    Rule(
        id="auth-header",
        description="an Authorization, Proxy-Authorization, Cookie or Set-Cookie header value",
        pattern=r"""(?i)(?<![\w-])["']?(?:proxy-)?(?:authorization|set-cookie|cookie)["']?\s*[:=]\s*["']?"""
        r"""(?P<secret>[^"'\r\n]+)""",
        keywords=("authorization", "cookie"),
        severity="high",
    ),
    Rule(
        id="url-password",
        description="the password in a URL's user information (scheme://user:password@host)",
        pattern=r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@\"']*:(?P<secret>[^\s@/\"']+)@",
        keywords=("://",),
        severity="high",
    ),
    Rule(
        id="private-key-block",
        description="the body of a PEM private key block, from its BEGIN line to its END line, over lines",
        # The body up to the END line; with no END line (a cut key), the base64 and header lines that follow.
        pattern=r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:(?P<secret>(?:[^-]|-(?!----))+)"
        r"(?=-----END )|(?P<tail>(?:\r?\n(?:[A-Za-z0-9+/=:, ]|-(?!----))*)+))",
        keywords=("private key",),
        severity="critical",
    ),
)


# The fast path of `secret-field`: every `key=`, `key: `, `"key": ` in the line (a possessive run, so no
# backtracking), its name checked against the secret names only then; the regex above with the names inside
# it tries every alternation at every word (tens of microseconds a line).
_ASSIGN = re.compile(r"""(?<![\w.-])["']?(?P<key>[\w.-]++)["']?\s*+(?P<op>=>|[=:])\s*+""")
_SECRET_NAME = re.compile(rf"(?i){_KEY}")
# The stems every secret name holds: a cheap search first spares most names (`status`, `user`) the full one.
_STEM = re.compile(r"(?i)pass|pwd|secret|token|key|credential|dsn|sess|sid|signature|auth|creds")
_VALUE_AT = re.compile(_VALUE)
_QUERY_VALUE_AT = re.compile(r"""[^\s"'&#]+""")


ASSIGNMENT = "secret-field"
# From the end of a secret word in a name (found by the redactor's automaton) to the start of the value.
_NAME_REST = re.compile(r"""[\w.-]*+["']?\s*+(?P<op>=>|[=:])\s*+""")


def _assignments(text: str, marks: Sequence[int] | None) -> Iterator[tuple[int, str, str, int]]:
    """(name start, name, operator, value start) of the assignments in ``text`` with a secret-looking name.

    ``marks``: where secret words end in ``text`` (the redactor's one pass found them); only the names
    around them are looked at. None: every assignment in ``text``.
    """
    if marks is None:
        for assign in _ASSIGN.finditer(text):
            name = assign.group("key")
            if _STEM.search(name) is not None:
                yield assign.start("key"), name, assign.group("op"), assign.end()
        return
    done = -1
    for mark in sorted(marks):
        if mark <= done:
            continue  # a second secret word in the same name (`client_secret_key`)
        rest = _NAME_REST.match(text, mark)
        if rest is None:
            continue
        start = mark
        while start and (text[start - 1].isalnum() or text[start - 1] in "_.-"):
            start -= 1
        name_end = mark
        while name_end < len(text) and (text[name_end].isalnum() or text[name_end] in "_.-"):
            name_end += 1
        done = name_end
        yield start, text[start:name_end], rest.group("op"), rest.end()


def spans(rule: Rule, text: str, marks: Sequence[int] | None = None) -> list[tuple[int, int]]:
    """Where ``rule`` (a field rule) masks ``text``: its values, less those ``benign`` says are no secret.

    ``marks`` (for ``secret-field``): where the secret words of names end in ``text``, if known.
    """
    found: list[tuple[int, int]] = []
    if rule.id != ASSIGNMENT:
        for match in rule.regex.finditer(text):
            start, end = value_span(rule, match)
            if end > start and not _masked(text[start:end]):
                found.append((start, end))
        return found
    for name_start, name, op, at in _assignments(text, marks):
        if _SECRET_NAME.fullmatch(name) is None:
            continue
        quoted = name_start and text[name_start - 1] in "\"'"
        if name_start and not quoted and text[name_start - 1] in "?&" and op == "=":
            value = _QUERY_VALUE_AT.match(text, at)  # a URL's query: `&` and `#` end the value
            span = value.span() if value is not None else (at, at)
        else:
            value = _VALUE_AT.match(text, at)
            if value is None:
                continue
            span = next(value.span(g) for g in ("dq", "sq", "bare") if value.group(g) is not None)
        if span[1] > span[0] and not _benign(name, text[span[0] : span[1]]):
            found.append(span)
    return found


def assigned_benign(text: str, start: int, end: int) -> bool:
    """A provider rule's match at ``text[start:end]`` that is the value of a benign field (``pwd=/home/x``,
    ``max_tokens=4096``): the field rules' exceptions hold for the generic assignment rules too."""
    value = text[start:end]
    if value[:1] not in _BENIGN_STARTS:  # only a mask, a number or a path can be benign: most matches end here
        return False
    at = start  # walk back over `name "= "`: a regex searching backwards would try every position
    at -= at > 0 and text[at - 1] in "\"'"
    while at and text[at - 1] in " \t":
        at -= 1
    if at > 1 and text[at - 2 : at] == "=>":
        at -= 2
    elif at and text[at - 1] in "=:":
        at -= 1
    else:
        return False
    while at and text[at - 1] in " \t":
        at -= 1
    at -= at > 0 and text[at - 1] in "\"'"
    name_end = at
    while at and (text[at - 1].isalnum() or text[at - 1] in "_.-"):
        at -= 1
    return at < name_end and _benign(text[at:name_end], value)


_BENIGN_STARTS = frozenset("[/~-0123456789")


def _masked(value: str) -> bool:
    """An already masked value (`password=[REDACTED:x]`, redacted twice) stays as it is, label and all: one
    that starts with a mask and holds nothing but masks, spaces and punctuation."""
    if not value.startswith("[REDACTED:"):
        return False
    return not any(ch.isalnum() for ch in _MASKED.sub("", value))


def _benign(name: str, value: str) -> bool:
    """A field value that is no secret: a mask already, a token count, or a working directory."""
    if _masked(value):
        return True
    if _COUNTED_KEY.fullmatch(name) and _NUMBER.fullmatch(value):
        return True
    return _PATH_KEY.fullmatch(name) is not None and _PATH_VALUE.fullmatch(value) is not None


def counted(key: str) -> bool:
    """A key whose numbers are counts (``prompt_tokens``): a number under it stays a number."""
    return _COUNTED_KEY.fullmatch(key) is not None


def value_span(rule: Rule, match: re.Match[str]) -> tuple[int, int]:
    """Where the secret part of a field match is: the quoted or bare value, or the rule's ``secret`` group."""
    groups = rule.regex.groupindex
    for name in ("query", "dq", "sq", "bare", "secret", "tail"):
        if name in groups and match.group(name) is not None:
            return match.span(name)
    return match.span()


# Keys of dicts (structured log events, Sentry events, JSON bodies) whose values are masked whole.
SECRET_KEY = re.compile(rf"(?i)(?:{_KEY}|(?:proxy-)?authorization|set-cookie|cookies?)")
