"""Look-alikes: documented examples, placeholders, the key name repeated and fake sequences are not reported by
any rule; random keys always are, also in test files, unless marked.

Every value is generated (AWS's documented examples are assembled from pieces); no credential-like literal
is stored here.
"""

from __future__ import annotations

import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strongroom.rules import RULES, Rule
from strongroom.rules.lookalikes import PEM_BODY_FOLLOWS, is_lookalike
from strongroom.scan.engine import Scanner
from strongroom.testing.samples import sample, supported_rule_ids

SETTINGS = settings(max_examples=200, deadline=None)
BY_ID = {rule.id: rule for rule in RULES}
B32 = string.ascii_uppercase + "234567"
B64 = string.ascii_letters + string.digits + "+/"
ALPHABETS = {
    "base62": string.ascii_letters + string.digits,
    "hex": "0123456789abcdef",
    "HEX": "0123456789ABCDEF",
    "base64": B64,
    "base32": B32,
    "lower36": string.ascii_lowercase + string.digits,
}
DOCUMENTED = "EXAM" + "PLE"  # the word AWS ends its documented example keys with


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _scanner(*rule_ids: str) -> Scanner:
    return Scanner([BY_ID[i] for i in rule_ids], prefilter="regex")


# --- random keys stay reported ---------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**64), alphabet=st.sampled_from(sorted(ALPHABETS)), size=st.integers(16, 80))
def test_random_values_are_never_lookalikes(seed: int, alphabet: str, size: int) -> None:
    """A value drawn at random from a key alphabet is never taken for a stand-in, whatever short runs it holds."""
    value = _draw(random.Random(seed), ALPHABETS[alphabet], size)  # noqa: S311 -- test data
    assert not is_lookalike(value), value


@pytest.mark.parametrize("rule_id", sorted(supported_rule_ids()))
def test_every_rules_samples_are_still_accepted(rule_id: str) -> None:
    """The look-alike check every rule applies never rejects a generated credential of that rule."""
    rule = BY_ID[rule_id]
    for seed in range(25):
        secret = sample(rule, seed).secret
        assert rule.accepts(secret), secret


def test_real_keys_in_test_files_are_reported_unless_marked(tmp_path: object) -> None:
    """Where a key sits does not make it fake: a test file's key is reported, and a marked line is not."""
    key = sample(BY_ID["aws-access-key-id"], 3).secret
    scanner = _scanner("aws-access-key-id")
    assert [f.rule_id for f in scanner.scan_text(f'KEY = "{key}"\n', "tests/test_upload.py")] == ["aws-access-key-id"]
    assert scanner.scan_text(f'KEY = "{key}"  # strongroom:allow\n', "tests/test_upload.py") == []


# --- documented examples -----------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 2**32), prefix=st.sampled_from(["AKIA", "ASIA"]))
def test_aws_documented_example_keys_are_not_reported(seed: int, prefix: str) -> None:
    """AWS's example key ids end in the documented word, its example secret key has it before KEY."""
    rng = random.Random(seed)  # noqa: S311 -- test data
    key_id = prefix + _draw(rng, string.ascii_uppercase, 8) + rng.choice("234567") + DOCUMENTED
    secret_key = _draw(rng, B64, 30) + DOCUMENTED + "KEY"
    text = (
        f"[default]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret_key}\n"
        f'{{"AccessKeyId": "{key_id}", "SecretAccessKey": "{secret_key}"}}\n'
    )
    assert _scanner("aws-access-key-id", "aws-secret-access-key", "generic-secret-assignment").scan_text(text) == []
    real = text.replace(key_id, sample(BY_ID["aws-access-key-id"], seed).secret)
    assert {f.rule_id for f in _scanner("aws-access-key-id").scan_text(real)} == {"aws-access-key-id"}


# --- placeholders, the name repeated, fake sequences -----------------------------------------------------

_names = st.sampled_from(["api_key", "apiToken", "client_secret", "accessToken", "ALGOLIA_API_KEY", "password"])


def _spellings(name: str) -> list[str]:
    words = [w.lower() for w in name.replace("_", " ").replace("-", " ").split()]
    if len(words) == 1:  # camelCase
        out, word = [], ""
        for ch in name:
            if ch.isupper() and word:
                out.append(word.lower())
                word = ""
            word += ch
        words = [*out, word.lower()]
    camel = words[0] + "".join(w.capitalize() for w in words[1:])
    return [camel, "_".join(words), "-".join(words), "_".join(words).upper(), camel[0].upper() + camel[1:]]


@SETTINGS
@given(
    name=_names,
    template=st.sampled_from(
        [
            "<{n}>",
            "<your-{n}>",
            "${{{u}}}",
            "{{{{ {n} }}}}",
            "%({n})s",
            "your-{n}-here",
            "{n}_changeme",
            "REPLACE_ME_{u}",
            "insert-{n}-here",
            "dummy-{n}",
            "fake_{n}_1234",
            "sample-{n}",
            "{n}_example",
            "{u}_VALUE",
            "my_{n}",
            "test_{n}_123",
            "{n}-todo",
        ]
    ),
    spelling=st.integers(0, 4),
)
def test_placeholders_and_the_name_repeated_are_lookalikes(name: str, template: str, spelling: int) -> None:
    """Template syntax, stand-in words, and a value that is its key name again (with filler) are stand-ins."""
    n = _spellings(name)[spelling]
    assert is_lookalike(template.format(n=n, u=n.upper())), template.format(n=n, u=n.upper())


_SOURCES = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "qwertyuiop", "asdfghjkl", "zxcvbnm")


@st.composite
def fake_sequences(draw: st.DrawFn) -> str:
    """A run along the alphabet, the digits or a keyboard row, or a short unit repeated, of 12 to 64 chars."""
    size = draw(st.integers(12, 64))
    if draw(st.booleans()):
        unit = draw(st.text(alphabet=ALPHABETS["base62"], min_size=1, max_size=4))
    else:
        source = draw(st.sampled_from(_SOURCES))
        source = source[::-1] if draw(st.booleans()) else source
        unit = source.upper() if draw(st.booleans()) else source
    return (unit * (size // len(unit) + 1))[:size]


@SETTINGS
@given(
    body=fake_sequences(),
    prefix=st.sampled_from(["", "sk_live_", "ghp_", "AKIA", "xoxb-", "key-"]),
    digits=st.sampled_from(["", "1234", "0000"]),
)
def test_fake_sequences_are_lookalikes(body: str, prefix: str, digits: str) -> None:
    """A value that is (after a short prefix) a run or a repeated unit is fake, whatever it is joined to."""
    if len(prefix) * 5 > len(body):  # the prefix is a small part of the value
        body = body * 3
    assert is_lookalike(prefix + body + digits), prefix + body + digits


@pytest.mark.parametrize(
    "value",
    [
        "1234567890abcdef",
        "abcdefghijklmnop",
        "0" * 32,
        "a" * 24,
        string.ascii_uppercase,
        "abc" * 6,
        "qwertyuiop",
        "deadbeef" * 2,
        "test" + "123",
        "changeme",
        "TODO_TODO",
    ],
)
def test_listed_fakes_are_lookalikes(value: str) -> None:
    assert is_lookalike(value)


@pytest.mark.parametrize(
    ("rule_id", "prefix"), [("github-classic-pat", 4), ("stripe-live-secret-key", 8), ("aws-access-key-id", 4)]
)
def test_provider_rules_skip_fake_bodies(rule_id: str, prefix: int) -> None:
    """A provider's prefix followed by a fake body is not that provider's key."""
    secret = sample(BY_ID[rule_id], 1).secret
    scanner = _scanner(rule_id)
    for fake in ("0123456789" * 8, "X" * 80, "abcdefghijklmnopqrstuvwxyz" * 3, "AB" * 40):
        body = fake[: len(secret) - prefix]
        value = secret[:prefix] + (body.upper().replace("0", "A").replace("1", "B") if prefix == 4 else body)
        assert scanner.scan_text(f'token = "{value}"\n') == [], value
    assert len(scanner.scan_text(f'token = "{secret}"\n')) == 1


# --- PEM blocks --------------------------------------------------------------------------------------------

_HEADER = r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
_PEM_WITH_BODY = Rule(
    id="pem-private-key-with-body",
    description="the pem-private-key header, followed by a key body",
    pattern=_HEADER + PEM_BODY_FOLLOWS,
    keywords=("private key",),
)


def test_pem_blocks_with_a_body_are_found_in_every_context() -> None:
    """The body check finds every generated key block, plain, in a string, in YAML and inside JSON."""
    scanner = Scanner([_PEM_WITH_BODY], prefilter="regex")
    for seed in range(10):
        example = sample(BY_ID["pem-private-key"], seed)
        for context in example.contexts:
            assert len(scanner.scan_text(context)) == 1, context


def test_pem_blocks_without_a_body_are_not() -> None:
    """A header with nothing, `...`, a placeholder, a truncated line or an example body after it is no key."""
    dashes = "-" * 5
    rng = random.Random(7)  # noqa: S311 -- test data
    line = _draw(rng, B64, 64)
    begin, end = f"{dashes}BEGIN RSA PRIVATE KEY{dashes}", f"{dashes}END RSA PRIVATE KEY{dashes}"
    scanner = Scanner([_PEM_WITH_BODY], prefilter="regex")
    for text in (
        f"{begin}\n{end}\n",
        f"{begin}\n...\n{end}\n",
        f"{begin}\n<your private key here>\n{end}\n",
        f'{{"PrivateKey": "{begin}\\n{line[:40]}...{line[-8:]}\\n{end}"}}\n',
        f'{{"PrivateKey": "{begin}\\n{DOCUMENTED}{line}\\n{end}"}}\n',
        f"when your file has '{begin}' and '{end}'\n",
        f'_START = b"{begin}"\n_END = b"{end}"\n',
    ):
        assert scanner.scan_text(text) == [], text


# --- the key name again ------------------------------------------------------------------------------------


@SETTINGS
@given(
    seed=st.integers(0, 2**32),
    name=st.sampled_from(["RegEnumKey", "apiToken", "DB_PASSWORD", "clientSecret", "githubToken", "signingKey"]),
    shape=st.sampled_from(["{n} = {m}.{n}\n", '"{n}": "{n}"\n', "{n}: {m}::{n}\n", "{n} = {m}.{n}()\n"]),
)
@pytest.mark.slow
def test_a_value_that_is_its_own_name_is_not_reported(seed: int, name: str, shape: str) -> None:
    """`RegEnumKey = win32api.RegEnumKey`: the value names the key again; a random value there is reported."""
    rng = random.Random(seed)  # noqa: S311 -- test data
    module = rng.choice(["win32api", "rust_openssl.hpke", "self", "config.auth", "Settings"])
    scanner = Scanner(RULES, prefilter="regex")
    assert scanner.scan_text(shape.format(n=name, m=module)) == []
    secret = sample(BY_ID["generic-secret-assignment"], seed).secret
    assert len(scanner.scan_text(f'{name} = "{secret}"\n')) == 1


@pytest.mark.parametrize(
    "value",
    [
        "".join(f"{a}{d}" for a, d in zip("abcdef", "123456", strict=True)),  # two runs interleaved
        "AB1C2defGHijkLMNo3PqQRstUvwxyza",  # the alphabet in mixed case, digits in it
    ],
)
def test_interleaved_and_mixed_case_runs_are_lookalikes(value: str) -> None:
    assert is_lookalike(value)
