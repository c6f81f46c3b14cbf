"""Secret-shaped fields: values that are secret because of what they are called, whatever they look like.

Written as ``Rule``s so that they go through the same prefilter as the provider rules: one pass over a
log line decides whether any field rule or provider rule could match at all. The ``secret`` group is what
gets masked; the label around it stays, so a masked line still says what was there.
"""

from __future__ import annotations

import re

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
_KEY = rf"[\w.-]*(?:{_KEY_WORDS})[\w.-]*{_METADATA}"
_FIELD_KEYWORDS = ("pass", "pwd", "secret", "token", "key", "credential", "dsn", "session", "signature")
# A value: double- or single-quoted (escapes allowed), or bare up to a delimiter of logs, URLs and forms.
_VALUE = r"""(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>(?:[^'\\\n]|\\.)*)'|(?P<bare>[^\s"'&,;<>)\]}]+))"""

FIELD_RULES: tuple[Rule, ...] = (
    Rule(
        id="secret-field",
        description='a value assigned to a secret-named key (key=value, key: value, "key": "value", ?key=value)',
        pattern=rf"""(?i)(?<![\w.-])["']?{_KEY}["']?\s*(?:=>|[=:])\s*{_VALUE}""",
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
)


def value_span(rule: Rule, match: re.Match[str]) -> tuple[int, int]:
    """Where the secret part of a field match is: the quoted or bare value, or the rule's ``secret`` group."""
    groups = rule.regex.groupindex
    for name in ("dq", "sq", "bare", "secret"):
        if name in groups and match.group(name) is not None:
            return match.span(name)
    return match.span()


# Keys of dicts (structured log events, Sentry events, JSON bodies) whose values are masked whole.
SECRET_KEY = re.compile(rf"(?i)(?:{_KEY}|(?:proxy-)?authorization|set-cookie|cookies?)")
