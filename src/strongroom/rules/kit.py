"""Builders every provider module shares, on top of the context model (:mod:`strongroom.rules.context`).

A provider credential is recognised in one of two ways, and this module has one builder for each:

- :func:`prefixed_rule`: the value carries its provider's own prefix (``dckr_pat_``, ``dt0c01.``); the
  prefix is the keyword and :data:`~strongroom.rules.context.LEAD` / ``TAIL`` bound the token, also right
  after a ``\\n`` escape in a JSON string.
- :func:`keyed_provider_rule`: the value has no prefix (32 hex, 40 base62, a UUID), so it is reported only
  when the key it is assigned to names the provider *and* what the value is (``discordToken``,
  ``ALGOLIA_API_KEY``, ``discord-client-secret``, ``meraki.api.key``), in every form the context model
  knows. The provider word is the keyword. Because the key name says what the value is, hex values of
  digest lengths (32/40/64), which the generic rule refuses as hashes, are reported here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD, TAIL, keyed, loosely_keyed

__all__ = [
    "ID_KINDS",
    "SECRET_KINDS",
    "UUID",
    "key_name",
    "keyed_or_near",
    "keyed_provider_rule",
    "prefixed_rule",
    "spellings",
    "token",
]

UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

# What a key name says its value is, for a secret: a token, a key (api key, app key), a secret, a password
# (pass, pwd), a credential; not `auth`, which `app.auth.algolia_index` has in its path. Matched
# case-insensitively inside the name: `discordToken`, `ALGOLIA_API_KEY`, `discord-client-secret` all count.
SECRET_KINDS: tuple[str, ...] = ("token", "key", "secret", "pass", "pwd", "credential")
# ... and for an identifier that is only half a credential (an OAuth client id, an app id).
ID_KINDS: tuple[str, ...] = ("client_id", "clientid", "client-id", "app_id", "appid", "app-id", "application_id")


def spellings(words: Sequence[str]) -> tuple[str, ...]:
    """Every way a word is written in a key name, lower case: a ``_`` in it also stands for ``-``, ``.`` or
    nothing (the keywords of a rule whose key name holds the word)."""
    return tuple(sorted({w.lower().replace("_", sep) for w in words for sep in ("_", "-", ".", "")}))


def token(body: str) -> str:
    """A whole token that is itself the secret: nothing token-like glued to it on either side."""
    return f"{LEAD}{body}{TAIL}"


def prefixed_rule(
    rule_id: str,
    description: str,
    prefix: str,
    body: str,
    *,
    entropy: float | None = 3.0,
    severity: str = "high",
    tail: str = TAIL,
    validate: Callable[[str], bool] | None = None,
) -> Rule:
    """A token that starts with the literal ``prefix`` (the keyword) followed by ``body``."""
    return Rule(
        id=rule_id,
        description=description,
        pattern=f"{LEAD}{re.escape(prefix)}{body}{tail}",
        keywords=(prefix.lower(),),
        entropy=entropy,
        validate=validate,
        severity=severity,
    )


def key_name(words: Sequence[str], kinds: Sequence[str] = SECRET_KINDS) -> str:
    """A key name that holds one of the provider ``words`` and, after it or before it, one of the ``kinds``.

    Either may be glued to other words in any case and with ``_``, ``-``, ``.`` or nothing between them:
    ``discordToken``, ``DISCORD_BOT_TOKEN``, ``discord-client-secret``, ``api_key_algolia``. A ``_`` in a word
    or kind also stands for ``-``, ``.`` or nothing (``client_id`` covers ``clientId`` and ``client-id``).
    """

    def alternation(items: Sequence[str]) -> str:
        parts = (r"[_.-]?".join(re.escape(p) for p in item.split("_")) for item in items)
        # longest first, then by text: the pattern must be the same in every process (it keys the compiled
        # prefilter's cache; set order changes with the hash seed)
        return "|".join(sorted(set(parts), key=lambda p: (-len(p), p)))

    provider, kind = alternation(words), alternation(kinds)
    # the kind first only right before the provider (`token_discord`), not anywhere in a dotted path
    return rf"(?i:(?:{provider})[\w.-]{{0,24}}?(?:{kind})|(?:{kind})[_.-]?(?:{provider}))"


# What may follow the provider's words in a key name before the assignment (`DISCORD_BOT_TOKEN_V2`).
_REST = r"[\w.-]{0,16}?"


def keyed_provider_rule(
    rule_id: str,
    description: str,
    words: Sequence[str],
    value: str,
    *,
    kinds: Sequence[str] = SECRET_KINDS,
    entropy: float | None = 3.0,
    severity: str = "high",
    validate: Callable[[str], bool] | None = None,
) -> Rule:
    """A prefix-less ``value`` assigned to a key whose name names the provider (one of ``words``, lower case,
    the keywords) and a kind of credential (one of ``kinds``), in every form of the context model.

    ``value`` is the credential's own shape; it must not run on into more token characters.
    """
    return Rule(
        id=rule_id,
        description=description,
        pattern=keyed(key_name(words, kinds), rf"(?:{value}){TAIL}", rest=_REST),
        prefilter=loosely_keyed(key_name(words, kinds), value, rest=_REST),
        keywords=spellings(words),
        entropy=entropy,
        validate=validate,
        severity=severity,
    )


def keyed_or_near(
    rule_id: str,
    description: str,
    words: Sequence[str],
    value: str,
    *,
    kinds: Sequence[str] = SECRET_KINDS,
    entropy: float | None = 3.0,
    severity: str = "high",
    validate: Callable[[str], bool] | None = None,
) -> Rule:
    """:func:`keyed_provider_rule`, and also the value within 40 characters after a provider word on the
    same line: for values whose shape is distinctive on its own (a Discord bot token's three parts, Square's
    ``EAAA``, Mailgun's ``key-``), written in places no key names (``client.run("...")``, a comment)."""
    keyed_rule = keyed_provider_rule(rule_id, description, words, value, kinds=kinds)
    # keyed() ends with the value's own group; the near form shares it (a group name may occur only once)
    before = keyed_rule.pattern.rsplit("(?P<secret>", 1)[0]
    words_re = "|".join(re.escape(w) for w in spellings(words))
    near = rf"(?i:{words_re})[^\n]{{0,40}}?{LEAD}"
    return Rule(
        id=rule_id,
        description=description,
        pattern=rf"(?:{before}|{near})(?P<secret>{value}){TAIL}",
        prefilter=rf"(?:{loosely_keyed(key_name(words, kinds), '', rest=_REST)}|{near})(?:{value})",
        keywords=keyed_rule.keywords,
        entropy=entropy,
        validate=validate,
        severity=severity,
    )
