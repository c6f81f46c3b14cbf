"""The generic rule: high-entropy values under secret-named labels are found, what users expect ignored is not.

Values are generated (hypothesis, and the shared generator in ``strongroom.testing.samples``); no
credential-like literal is stored here.
"""

from __future__ import annotations

import base64
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.rules import PROVIDER_RULES, RULES
from strongroom.rules.base import shannon_entropy
from strongroom.rules.generic import RULE, looks_like_secret
from strongroom.testing.samples import generic_contexts, generic_placeholders, generic_secret, sample

CONSONANTS = "bcdfghjklmnpqrstvwz"
SECRETISH = CONSONANTS + CONSONANTS.upper() + "0123456789"
SYMBOLS = "!@#^+=~"
HEX = "0123456789abcdef"
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])


def found(text: str) -> list[str]:
    return [RULE.secret_of(m) for m in RULE.regex.finditer(text) if RULE.accepts(RULE.secret_of(m))]


# Random values: consonants (no vowel, so no word such as "example" or "dummy" can appear), digits and at
# least one symbol (so the value is neither an identifier, a number nor a hex digest). Drawn from a seeded
# generator, not from hypothesis's text strategy, which seeks out the fake runs (`0001123456`) that the
# look-alike check rightly ignores.
def _random_value(seed: int, size: int) -> str:
    rng = random.Random(seed)  # noqa: S311 -- test data
    rest = "".join(rng.choice(SECRETISH + SYMBOLS) for _ in range(size))
    at = rng.randrange(size + 1)
    return rng.choice(SECRETISH) + rest[:at] + rng.choice(SYMBOLS) + rest[at:]


random_values = st.builds(_random_value, st.integers(0, 2**32 - 1), st.integers(14, 60)).filter(
    lambda v: shannon_entropy(v) >= 3.0 and any(c.isdigit() for c in v) and any(c.isalpha() for c in v)
)

names = st.from_regex(r"[a-z]{2,8}(_[a-z]{2,8}){0,2}", fullmatch=True)


@SETTINGS
@given(value=random_values)
def test_random_high_entropy_values_are_found_in_every_shape(value: str) -> None:
    """A random high-entropy value under a secret-named label is reported, whatever the file format."""
    for text in generic_contexts(value):
        assert value in found(text), text


@SETTINGS
@given(
    value=random_values,
    prefix=st.sampled_from(["", "db_", "DB_", "github_", "my", "app.", "X-"]),
    label=st.sampled_from(
        [
            "password",
            "Password",
            "PASSWORD",
            "passwd",
            "pwd",
            "passphrase",
            "secret",
            "Secret",
            "token",
            "Token",
            "api_key",
            "apiKey",
            "ApiKey",
            "API_KEY",
            "api-key",
            "apikey",
            "access_key",
            "AccessKey",
            "private_key",
            "secret_key",
            "SECRET_KEY",
            "client_secret",
            "clientSecret",
            "auth_token",
            "credentials",
        ]
    ),
    shape=st.sampled_from(['{0} = "{1}"', "{0}: {1}", '"{0}": "{1}"', "{0}={1}", "{0} := '{1}'", "{0} => '{1}'"]),
)
def test_label_spellings(value: str, prefix: str, label: str, shape: str) -> None:
    """snake_case, camelCase, UPPER_CASE and kebab-case labels, with or without a prefix word, all count."""
    if prefix == "my" and label[0].islower():
        label = label[0].upper() + label[1:]  # camelCase: myPassword, not mypassword
    assert value in found(shape.format(prefix + label, value))


@SETTINGS
@given(
    value=random_values,
    label=st.sampled_from(
        [
            "password_hash",
            "token_count",
            "max_tokens",
            "tokenizer",
            "secret_name",
            "passwordPolicy",
            "token_type",
            "secrets",
            "keyword",
            "monkey",
            "description",
            "pwdump",
            "password_file",
            "token_url",
            "tokens",
        ]
    ),
)
def test_other_labels_are_not_secret_named(value: str, label: str) -> None:
    """A label in which the secret word is not the last word does not make its value a secret."""
    assert found(f'{label} = "{value}"\n') == []
    assert found(f"{label}: {value}\n") == []


@SETTINGS
@given(
    name=names,
    template=st.sampled_from(
        [
            "${{{u}}}",
            "${u}",
            "{{{{ {n} }}}}",
            "{{{{{n}}}}}",
            "%({n})s",
            "<{n}>",
            "your_{n}_here",
            "<your-{n}>",
            "settings.{u}",
            "self.{n}",
            "config.{n}.value",
            "os.environ.{u}",
            "env.{u}",
            "example-{n}-value",
            "dummy_{n}_12345",
            "{n}-changeme",
            "xxxxxxxx{n}",
            "********",
            "{n}_REDACTED",
        ]
    ),
)
def test_placeholders_are_never_reported(name: str, template: str) -> None:
    """Template variables, stand-ins, masks and code references are not secrets, in any shape."""
    value = template.format(n=name, u=name.upper())
    for text in (
        f'password = "{value}"\n',
        f"API_TOKEN={value}\n",
        f"client_secret: {value}\n",
        json.dumps({"apiKey": value}),
    ):
        assert found(text) == [], text


@SETTINGS
@given(
    digest=st.sampled_from([32, 40, 56, 64, 96, 128]).flatmap(
        lambda n: st.text(alphabet=HEX, min_size=n, max_size=n) | st.text(alphabet=HEX.upper(), min_size=n, max_size=n)
    ),
    uuid=st.uuids(),
    blob=st.binary(min_size=16, max_size=64),
    algorithm=st.sampled_from(["sha1", "sha256", "sha384", "sha512"]),
)
def test_digests_uuids_and_integrity_strings_are_not_secrets(
    digest: str, uuid: object, blob: bytes, algorithm: str
) -> None:
    """Lock-file integrity values, hex hashes of hash lengths and UUIDs are ignored."""
    integrity = f"{algorithm}-{base64.b64encode(blob).decode()}"
    for value in (digest, str(uuid), str(uuid).upper(), integrity):
        assert found(f'token = "{value}"\n') == []
        assert found(f"api_key: {value}\n") == []


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]\n',
        'password = os.environ.get("DB_PASSWORD", "")\n',
        'api_key = os.getenv("API_KEY")\n',
        "token = self.token\n",
        "secret = settings.SECRET_KEY\n",
        "token = get_token(session, scope='read')\n",
        "password: SecretStr\n",
        "password: str | None = None\n",
        "api_key: Secret[str] = field(default_factory=Secret)\n",
        "password=password,\n",
        "pwd = os.getcwd()\n",
        "export PASSWORD=$DB_PASSWORD\n",
        "token: ${{ secrets.GITHUB_TOKEN }}\n",
        "password: !vault |\n",
        "password_file: /run/secrets/db_password\n",
        "token_endpoint: https://auth.internal/oauth/token\n",
        "private_key: ./certs/server.key\n",
        "credentials: ~/.config/gcloud/application_default_credentials.json\n",
        "if password == other_password:\n",
        "password:\n  from_secret: database\n",
        "write_text(f\"token = '{make_token(rng)}'\\n\")\n",  # a template in a test, not its value
        "const url = `${base}?token=${session.token}`;\n",
    ],
)
def test_code_references_and_paths_are_not_reported(line: str) -> None:
    """What code and config put under secret-named labels without holding a secret."""
    assert found(line) == [], line


def test_url_with_credentials_counts_and_without_does_not() -> None:
    """A URL is a value like any other only when it carries user:password; a plain URL is not a secret."""
    rng = random.Random(3)  # noqa: S311 -- test data
    secret = generic_secret(rng)
    assert looks_like_secret(f"https://deploy:{secret}@git.internal/repo.git")
    assert not looks_like_secret("https://auth.internal/oauth2/v1/token?grant=client")


def test_a_value_a_provider_rule_reports_is_left_to_it() -> None:
    """A provider-format token under a secret-named label is that provider's finding, not the generic one's."""
    by_id = {rule.id: rule for rule in PROVIDER_RULES}
    for rule_id in ("github-classic-pat", "stripe-live-secret-key", "slack-bot-token"):
        token = sample(by_id[rule_id], 1).secret
        assert found(f'TOKEN = "{token}"\n') == []
        assert token in [by_id[rule_id].secret_of(m) for m in by_id[rule_id].regex.finditer(f'TOKEN = "{token}"')]


def test_generic_rule_is_last_and_medium() -> None:
    """The generic rule is in RULES, after every provider rule, at medium severity."""
    assert RULES[-1] is RULE
    assert RULE.severity == "medium"
    assert RULE.entropy is not None
    assert abs(RULE.entropy - 3.0) < 0.5


def test_the_value_does_not_run_onto_the_next_line() -> None:
    """An empty YAML value followed by a nested mapping is not read across the line break."""
    rng = random.Random(4)  # noqa: S311 -- test data
    nested = generic_secret(rng)
    assert found(f"password:\n  {nested}\n") == []


def test_shared_placeholders_are_ignored() -> None:
    """The placeholder list the shared generator offers is ignored as a whole value, quoted or not."""
    for placeholder in generic_placeholders(random.Random(9)):  # noqa: S311 -- test data
        assert not found(f'password = "{placeholder}"\n'), placeholder
        assert not found(f"PASSWORD={placeholder}\n"), placeholder
