"""Credentials written the way HTTP clients take them: ``curl -u user:password``, an ``Authorization: Basic``
header, a password inside a URL (``https://user:password@host``), and the ``auth`` field of a Docker
``config.json``.

None has a provider prefix; each is recognised by its syntax (curl's ``-u``/``--user`` option, RFC 7617's
``Basic`` scheme, RFC 3986's userinfo) and the password must look like one: not a variable (``$PASS``,
``${PASS}``, ``%PASS%``), a template (``<password>``, ``{{ password }}``), a mask or a placeholder word.
"""

from __future__ import annotations

import base64
import binascii
import re

from strongroom.rules.base import Rule, shannon_entropy

__all__ = ["RULES", "real_password"]

_PLACEHOLDERS = frozenset(
    {
        "pass",
        "password",
        "passwd",
        "pwd",
        "pw",
        "secret",
        "changeme",
        "changeit",
        "example",
        "placeholder",
        "redacted",
        "dummy",
        "null",
        "none",
        "todo",
        "user",
        "username",
        "admin",
        "guest",
        "test",
        "root",
        "token",
        "apikey",
        "api_key",
        "x-oauth-basic",
        "x-access-token",
    }
)
_PLACEHOLDER_PARTS = (
    "password",
    "passwd",
    "secret",
    "changeme",
    "example",
    "your",
    "xxxx",
    "****",
    "....",
    "canary",
    "dummy",
    "fake",
    "sample",
)
_MIN_ENTROPY = 2.5


def real_password(secret: str) -> bool:
    """False for what documentation, templates and scripts put where a password goes.

    Variables (``$PASS``, ``${PASS}``, ``$(cat f)``, ``%PASS%``), templates (``<password>``, ``{{ pw }}``,
    ``[password]``, ``%(pw)s``), placeholder words and masks, and values too short or too regular to be a
    password (under 6 characters or 2.5 bits of entropy per character).
    """
    low = secret.lower()
    return not (
        len(secret) < 6
        or secret[0] in "$<{[%(*"
        or "$" in secret
        or low in _PLACEHOLDERS
        or any(part in low for part in _PLACEHOLDER_PARTS)
        or shannon_entropy(secret) < _MIN_ENTROPY
    )


_USERPASS = re.compile(r"(?P<user>[^:\s]{1,128}):(?P<password>[^\s]{1,256})")


def _basic_credentials_ok(encoded: str) -> bool:
    """``encoded`` is base64 of ``user:password`` (printable ASCII) with a real-looking password."""
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        return False
    match = _USERPASS.fullmatch(decoded)
    return match is not None and decoded.isprintable() and real_password(match.group("password"))


# curl's -u/--user takes `user:password` (curl(1)); written `-u user:pw`, `-uuser:pw`, `--user 'user:pw'`,
# `--user=user:pw`. Without a colon curl prompts for the password: nothing to report.
_CURL_USER = (
    r"(?i:curl)\b[^\n]{0,300}?(?<![\w-])(?:-u[ \t]*|--user(?:[ \t]+|=))\\?[\"']?"
    r"[^\s:\"'$]{1,128}:(?P<secret>[^\s\"']{1,256}?)\\?[\"']?(?=\s|$|\\)"
)

_URL_SCHEMES = ("https", "http", "ftps", "ftp", "sftp", "smtps", "smtp", "imaps", "imap", "ldaps", "ldap", "ssh", "git")

RULES: tuple[Rule, ...] = (
    Rule(
        id="curl-user-password",
        description="Password in a curl command's -u / --user user:password option (a real-looking password)",
        pattern=_CURL_USER,
        keywords=("curl",),
        validate=real_password,
    ),
    Rule(
        id="http-basic-auth-header",
        description="HTTP Basic credentials: an Authorization: Basic header whose base64 decodes to user:password",
        pattern=(
            r"(?i:authorization)\\{0,3}[\"']?[ \t]*[:=][ \t]*\\{0,3}[\"']?(?i:basic)[ \t]+"
            r"(?P<secret>[A-Za-z0-9+/]{8,400}={0,2})(?![A-Za-z0-9+/=])"
        ),
        keywords=("authorization",),
        validate=_basic_credentials_ok,
    ),
    Rule(
        id="url-password",
        description="Password in a URL's user:password@ part (http, ftp, smtp, imap, ldap, ssh, git)",
        pattern=(
            rf"(?<![A-Za-z0-9+.-])(?i:{'|'.join(_URL_SCHEMES)})://[^\s:/?#@'\"`]{{1,128}}:"
            r"(?P<secret>[^\s@/'\"`]{1,256})@[A-Za-z0-9\[]"
        ),
        keywords=("http", "ftp", "smtp", "imap", "ldap", "ssh", "git"),  # each scheme holds one
        validate=real_password,
        severity="medium",
    ),
    Rule(
        id="docker-config-auth",
        description="Registry credentials in a Docker config.json auth field (base64 of user:password)",
        # config.json's own form, a JSON member (escaped when the file is itself a string), not any `auth=`
        pattern=(
            r"(?<![\w-])(?P<q>\\{0,3})\"auth(?P=q)\"[ \t]*:[ \t]*(?P=q)\""
            r"(?P<secret>[A-Za-z0-9+/]{8,400}={0,2})(?P=q)\""
        ),
        # Hyperscan has no back-references and would flag every "auth": the same without them
        prefilter=r"\\{0,3}\"auth\\{0,3}\"[ \t]*:[ \t]*\\{0,3}\"[A-Za-z0-9+/]{8}",
        keywords=("auth",),
        validate=_basic_credentials_ok,
    ),
)
