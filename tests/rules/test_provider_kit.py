"""Provider rules built on the context model: compound key names, every assignment form, prefix-less hex.

Values are drawn from ``random.Random`` at test time; nothing here is a real credential.
"""

from __future__ import annotations

import base64
import json
import random
import string

import pytest

from strongroom.rules import RULES, Rule
from strongroom.rules.kit import key_name, keyed_provider_rule

BY_ID = {rule.id: rule for rule in RULES}
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def found(rule: Rule, text: str) -> list[str]:
    return [rule.secret_of(m) for m in rule.regex.finditer(text) if rule.accepts(rule.secret_of(m))]


def _forms(name: str, value: str) -> list[str]:
    """The value under the name as code and config write it, including the forms issue 16 found missed."""
    return [
        f'{name} = "{value}"\n',
        f"{name}: {value}\n",
        json.dumps({name: value}),
        json.dumps({"config.json": json.dumps({name: value}, indent=2)}),  # JSON inside a JSON string
        f"<{name}>\n    {value}\n</{name}>\n",  # the value on the line after the opening tag
        f'var {name} string = "{value}"\n',
        f'String {name} = "{value}";\n',
        f'const {name}: string = "{value}";\n',
        f'$this->{name} .= "{value}";\n',
        f"export {name}={value}\n",
        f"ENV {name} {value}\n",
        f"- name: {name}\n  value: {value}\n",
        f'setenv("{name}", "{value}")\n',
    ]


@pytest.mark.parametrize(
    ("rule_id", "name", "alphabet", "length"),
    [
        ("discord-client-secret", "discordClientSecret", ALNUM + "-_", 32),
        ("discord-client-secret", "discord-client-secret", ALNUM + "-_", 32),
        ("algolia-api-key", "algoliaToken", HEX, 32),
        ("algolia-api-key", "ALGOLIA_API_KEY", HEX, 32),
        ("adobe-client-id", "adobeToken", HEX, 32),
        ("cisco-meraki-api-key", "merakiApiKey", HEX, 40),
        ("finicity-app-key", "FINICITY_APP_KEY", HEX, 32),
        ("facebook-app-secret", "fbAppSecret", HEX, 32),
        ("linode-api-token", "linode.token", HEX, 64),
        ("twilio-auth-token", "twilioAuthToken", HEX, 32),
        ("datadog-api-key", "DD_API_KEY", HEX, 32),
    ],
)
def test_compound_key_names_in_every_form(rule_id: str, name: str, alphabet: str, length: int) -> None:
    """A prefix-less value under a provider + kind key name is found in every form, hex digests included:
    the key name says it is a credential, so 32/40/64 hex is not taken for a hash."""
    rule = BY_ID[rule_id]
    rng = random.Random(f"{rule_id}-{name}")  # noqa: S311 -- test data
    value = _draw(rng, alphabet, length)
    for text in _forms(name, value):
        assert value in found(rule, text), text


@pytest.mark.parametrize(
    "name", ["algolia_index_name", "ALGOLIA_APP_ID_HASH", "commit_sha", "api_token_checksum_algo", "value"]
)
def test_a_key_that_does_not_name_the_provider_and_a_kind_is_not_enough(name: str) -> None:
    """The provider word alone, or a kind word alone, does not make a 32-hex value an Algolia key."""
    rng = random.Random(name)  # noqa: S311 -- test data
    value = _draw(rng, HEX, 32)
    assert found(BY_ID["algolia-api-key"], f'{name} = "{value}"\n') == []


def test_key_name_takes_either_order_and_any_separator() -> None:
    """`discordToken`, `DISCORD_BOT_TOKEN`, `discord-client-secret`, `token_discord` all name discord + a kind."""
    import re

    pattern = re.compile(key_name(("discord",)))
    for name in ("discordToken", "DISCORD_BOT_TOKEN", "discord-client-secret", "token_discord", "Discord.Api.Key"):
        assert pattern.search(name), name
    for name in ("discord_channel", "DISCORD_GUILD_ID", "webhook_url"):
        assert not pattern.search(name), name


def test_keyed_provider_rule_keywords_cover_every_spelling() -> None:
    """A word with `_` in it is also written with `-`, `.` or nothing: every spelling is a keyword, so the
    prefilter never drops a line the pattern matches."""
    rule = keyed_provider_rule("x-test-key", "test", ("dd_api",), "[a-f0-9]{32}")
    assert {"dd_api", "dd-api", "dd.api", "ddapi"} <= set(rule.keywords)
    rng = random.Random(3)  # noqa: S311 -- test data
    value = _draw(rng, HEX, 32)
    for name in ("DD_API_KEY", "dd-api-key", "ddApiKey", "dd.api.key"):
        match = rule.regex.search(f"{name}={value}")
        assert match is not None, name
        assert any(k in match.group(0).lower() for k in rule.keywords)


def test_prefixed_tokens_after_a_json_escape() -> None:
    """A prefixed token right after `\\n` inside a JSON string (a file's content as a value) is found."""
    rng = random.Random(4)  # noqa: S311 -- test data
    key = "AGE-SECRET-KEY-1" + _draw(rng, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58)
    doc = json.dumps({"keys.txt": f"# created: 2024-01-01\n{key}\n"})
    assert found(BY_ID["age-secret-key"], doc) == [key]
    assert found(BY_ID["age-secret-key"], f'ageToken = "{key.lower()}"') == [key.lower()]


def test_discord_bot_token_first_part_must_be_a_user_id() -> None:
    """The first part of a bot token is base64url of a snowflake; any other base64 there is refused."""
    rng = random.Random(5)  # noqa: S311 -- test data
    rest = f".{_draw(rng, ALNUM, 6)}.{_draw(rng, ALNUM, 38)}"
    head = base64.urlsafe_b64encode(str(rng.randrange(10**17, 10**19)).encode()).decode().rstrip("=")
    other = base64.urlsafe_b64encode(_draw(rng, string.ascii_letters, 18).encode()).decode().rstrip("=")
    rule = BY_ID["discord-bot-token"]
    assert found(rule, f'client.run("{head}{rest}")  # discord bot') == []  # no label before it
    assert found(rule, f'bot.run("{head}{rest}")') == [head + rest]
    assert found(rule, f'bot.run("{other}{rest}")') == []


@pytest.mark.parametrize(
    ("text", "reported"),
    [
        ("curl -u deploy:{pw} https://h/x", True),
        ("curl -s --user 'deploy:{pw}' https://h/x", True),
        ('curl -H "Accept: */*" -udeploy:{pw} https://h/x', True),
        ("curl -u deploy:$PASSWORD https://h/x", False),
        ('curl -u "$USER:$PASS" https://h/x', False),
        ("curl -u deploy https://h/x", False),
        ("curl -u deploy:password https://h/x", False),
    ],
)
def test_curl_user_password(text: str, reported: bool) -> None:
    """curl's -u/--user user:password reports a real-looking password, not a variable or a placeholder."""
    rng = random.Random(text)  # noqa: S311 -- test data
    pw = _draw(rng, ALNUM, 14) + "#" + _draw(rng, string.digits, 2)
    assert bool(found(BY_ID["curl-user-password"], text.format(pw=pw))) is reported
