"""Generated positive and negative cases for every rule in ``strongroom.rules.services``.

Nothing in this file looks like a live credential: every example is assembled at run time from a
prefix and characters drawn from ``random.Random(seed)``.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from strongroom.rules.base import Rule
from strongroom.rules.services import RULES

ROOT = Path(__file__).resolve().parents[2]

DIGITS = string.digits
HEX = "0123456789abcdef"
ALNUM = string.ascii_letters + string.digits
LOWNUM = string.ascii_lowercase + string.digits
UPNUM = string.ascii_uppercase + string.digits
B64URL = ALNUM + "-_"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
NOT_HEX = "ghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class V:
    """A variable part: ``n`` characters drawn from ``alphabet``; ``s`` marks it as (part of) the secret."""

    alphabet: str
    n: int
    s: bool = False


Part = str | V


def _uuid() -> list[Part]:
    return [V(HEX, 8), "-", V(HEX, 4), "-", V(HEX, 4), "-", V(HEX, 4), "-", V(HEX, 12)]


@dataclass(frozen=True)
class Tpl:
    """How to build one rule's example: literal and generated parts, and the variable name around it."""

    parts: tuple[Part, ...]
    name: str = "token"
    labelled: bool = False  # the name carries the provider label the rule requires


@dataclass
class Case:
    """One generated example: the text to embed, the secret the rule must report, and bad variants."""

    value: str
    secret: str
    name: str
    negatives: list[str] = field(default_factory=list)
    neutral: list[str] = field(default_factory=list)  # embedded under a name without the provider label


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _mutate_literal(text: str) -> str:
    """Change the last letter of a literal, keeping its case."""
    i = max(i for i, ch in enumerate(text) if ch.isalpha())
    new = "q" if text[i].lower() != "q" else "z"
    return text[:i] + (new.upper() if text[i].isupper() else new) + text[i + 1 :]


def _from_template(tpl: Tpl, rule: Rule, rng: random.Random) -> Case:
    """The positive example and the standard negatives (prefix, length, charset, entropy, label)."""
    drawn = [p if isinstance(p, str) else _draw(rng, p.alphabet, p.n) for p in tpl.parts]
    flagged = [i for i, p in enumerate(tpl.parts) if isinstance(p, V) and p.s]
    lo, hi = (flagged[0], flagged[-1] + 1) if flagged else (0, len(drawn))
    candidates = [i for i in (flagged or range(len(drawn))) if isinstance(tpl.parts[i], V)]
    target = max(candidates, key=lambda i: len(drawn[i]))
    case = Case(value="".join(drawn), secret="".join(drawn[lo:hi]), name=tpl.name)

    def variant(i: int, text: str) -> str:
        return "".join(text if j == i else d for j, d in enumerate(drawn))

    literals = [i for i, p in enumerate(tpl.parts) if isinstance(p, str) and any(c.isalpha() for c in p)]
    if literals:
        case.negatives.append(variant(literals[0], _mutate_literal(drawn[literals[0]])))
    case.negatives.append(variant(target, drawn[target][: len(drawn[target]) // 2]))
    mid = len(drawn[target]) // 2
    case.negatives.append(variant(target, drawn[target][:mid] + "!" + drawn[target][mid + 1 :]))
    part = tpl.parts[target]
    assert isinstance(part, V)
    if set(part.alphabet) <= set(HEX):
        case.negatives.append(variant(target, _draw(rng, NOT_HEX, part.n)))
    if rule.entropy is not None:
        flat = [p if isinstance(p, str) else p.alphabet[0] * p.n for p in tpl.parts]
        case.negatives.append("".join(flat))
    return case


TEMPLATES: dict[str, Tpl] = {
    # chat
    "slack-bot-token": Tpl(("xoxb-", V(DIGITS, 12), "-", V(DIGITS, 13), "-", V(ALNUM, 24))),
    "slack-user-token": Tpl(
        ("xoxp-", V(DIGITS, 12), "-", V(DIGITS, 12), "-", V(DIGITS, 13), "-", V(HEX, 32)),
    ),
    "slack-workspace-access-token": Tpl(("xoxa-2-", V(DIGITS, 12), "-", V(DIGITS, 12), "-", V(ALNUM, 32))),
    "slack-refresh-token": Tpl(("xoxr-", V(DIGITS, 12), "-", V(DIGITS, 12), "-", V(ALNUM, 32))),
    "slack-app-level-token": Tpl(("xapp-1-A", V(UPNUM, 10), "-", V(DIGITS, 13), "-", V(HEX, 64))),
    "slack-config-access-token": Tpl(("xoxe.xoxp-1-", V(ALNUM, 110))),
    "slack-config-refresh-token": Tpl(("xoxe-1-", V(ALNUM, 110))),
    "slack-webhook-url": Tpl(
        ("https://hooks.slack.com/services/T", V(UPNUM, 10), "/B", V(UPNUM, 10), "/", V(ALNUM, 24, s=True)),
        name="webhook_url",
    ),
    "slack-workflow-webhook-url": Tpl(
        (
            "https://hooks.slack.com/workflows/T", V(UPNUM, 10), "/A", V(UPNUM, 10), "/",
            V(DIGITS, 18), "/", V(ALNUM, 24, s=True),
        ),
        name="webhook_url",
    ),
    "discord-bot-token": Tpl(
        ("M", V(B64URL, 25), ".", V(B64URL, 6), ".", V(B64URL, 38)),
        name="discord_bot_token",
        labelled=True,
    ),
    "discord-webhook-url": Tpl(
        ("https://discord.com/api/webhooks/", V(DIGITS, 18), "/", V(B64URL, 68, s=True)), name="webhook_url"
    ),
    "telegram-bot-token": Tpl((V(DIGITS, 10), ":AA", V(B64URL, 33))),
    "teams-incoming-webhook-url": Tpl(
        (
            "https://", V(LOWNUM, 8), ".webhook.office.com/webhookb2/", *_uuid(), "@", *_uuid(),
            "/IncomingWebhook/", V(HEX, 32, s=True), "/", *_uuid(),
        ),
        name="webhook_url",
    ),
    "teams-workflow-webhook-url": Tpl(
        (
            "https://prod-12.westus.logic.azure.com:443/workflows/", V(HEX, 32),
            "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=",
            V(B64URL, 43, s=True),
        ),
        name="webhook_url",
    ),
    # mail
    "sendgrid-api-key": Tpl(("SG.", V(B64URL, 22), ".", V(B64URL, 43))),
    "mailgun-legacy-api-key": Tpl(("key-", V(HEX, 32)), name="mailgun_api_key", labelled=True),
    "mailgun-api-key": Tpl(
        (V(HEX, 32), "-", V(HEX, 8), "-", V(HEX, 8)), name="mailgun_api_key", labelled=True
    ),
    "mailchimp-api-key": Tpl((V(HEX, 32), "-us", V(DIGITS, 2))),
    "postmark-server-token": Tpl(tuple(_uuid()), name="postmark_server_token", labelled=True),
    "brevo-api-key": Tpl(("xkeysib-", V(HEX, 64), "-", V(ALNUM, 16))),
    "brevo-smtp-key": Tpl(("xsmtpsib-", V(HEX, 64), "-", V(ALNUM, 16))),
    "twilio-account-sid": Tpl(("AC", V(HEX, 32)), name="twilio_account_sid", labelled=True),
    "twilio-api-key": Tpl(("SK", V(HEX, 32)), name="api_key_sid"),
    "twilio-auth-token": Tpl((V(HEX, 32),), name="twilio_auth_token", labelled=True),
    # payments
    "stripe-live-secret-key": Tpl(("sk_live_", V(ALNUM, 32))),
    "stripe-test-secret-key": Tpl(("sk_test_", V(ALNUM, 32))),
    "stripe-live-restricted-key": Tpl(("rk_live_", V(ALNUM, 32))),
    "stripe-test-restricted-key": Tpl(("rk_test_", V(ALNUM, 32))),
    "stripe-webhook-secret": Tpl(("whsec_", V(ALNUM, 32))),
    "square-access-token": Tpl(("sq0atp-", V(B64URL, 22))),
    "square-oauth-secret": Tpl(("sq0csp-", V(B64URL, 43))),
    "square-eaaa-access-token": Tpl(("EAAA", V(B64URL, 60)), name="square_access_token", labelled=True),
    "braintree-production-access-token": Tpl(("access_token$production$", V(LOWNUM, 16), "$", V(HEX, 32))),
    "braintree-sandbox-access-token": Tpl(("access_token$sandbox$", V(LOWNUM, 16), "$", V(HEX, 32))),
    "plaid-access-token": Tpl(("access-production-", *_uuid())),
    "flutterwave-secret-key": Tpl(("FLWSECK-", V(HEX, 32), "-X")),
    # AI providers
    "openai-project-key": Tpl(("sk-proj-", V(B64URL, 64))),
    "openai-service-account-key": Tpl(("sk-svcacct-", V(B64URL, 64))),
    "openai-admin-key": Tpl(("sk-admin-", V(B64URL, 64))),
    "openai-legacy-key": Tpl(("sk-", V(ALNUM, 20), "T3BlbkFJ", V(ALNUM, 20))),
    "openrouter-api-key": Tpl(("sk-or-v1-", V(HEX, 64))),
    "anthropic-api-key": Tpl(("sk-ant-api03-", V(B64URL, 95))),
    "anthropic-admin-key": Tpl(("sk-ant-admin01-", V(B64URL, 95))),
    "huggingface-user-token": Tpl(("hf_", V(ALNUM, 34))),
    "huggingface-org-token": Tpl(("api_org_", V(ALNUM, 34))),
    "cohere-api-key": Tpl((V(ALNUM, 40),), name="cohere_api_key", labelled=True),
    "groq-api-key": Tpl(("gsk_", V(ALNUM, 52))),
    "replicate-api-token": Tpl(("r8_", V(ALNUM, 37))),
    "perplexity-api-key": Tpl(("pplx-", V(ALNUM, 48))),
    "mistral-api-key": Tpl((V(ALNUM, 32),), name="mistral_api_key", labelled=True),
    "xai-api-key": Tpl(("xai-", V(ALNUM, 80))),
    "langsmith-personal-token": Tpl(("lsv2_pt_", V(HEX, 32), "_", V(HEX, 10))),
    "langsmith-service-key": Tpl(("lsv2_sk_", V(HEX, 32), "_", V(HEX, 10))),
    "pinecone-api-key": Tpl(("pcsk_", V(ALNUM, 6), "_", V(ALNUM, 64))),
    # crypto material
    "age-secret-key": Tpl(("AGE-SECRET-KEY-1", V(BECH32, 58))),
    "generic-bearer-token": Tpl(("Authorization: Bearer ", V(B64URL + ".~+/", 32, s=True)), name="headers"),
}

DB_SCHEMES = {
    "postgres-url-password": ("postgresql", "postgres", "postgresql+psycopg"),
    "mysql-url-password": ("mysql", "mysql+pymysql", "jdbc:mysql"),
    "mariadb-url-password": ("mariadb", "mariadb+mariadbconnector"),
    "mongodb-url-password": ("mongodb", "mongodb+srv"),
    "redis-url-password": ("redis", "rediss"),
    "amqp-url-password": ("amqp", "amqps"),
    "mssql-url-password": ("mssql", "sqlserver", "mssql+pyodbc"),
}
PLACEHOLDER_PASSWORDS = (
    "password", "pass", "PASSWORD", "changeme", "***", "********", "${DB_PASSWORD}", "$DB_PASSWORD",
    "<password>", "{{ db_password }}", "%(password)s", "xxxxxx", "your_password_here", "secret",
)
PASSWORD_CHARS = ALNUM + "!#%^*~-_"


def _db_case(rule_id: str, rng: random.Random) -> Case:
    """A URL with a random password, and URLs with placeholders, no password or a broken scheme."""
    scheme = rng.choice(DB_SCHEMES[rule_id])
    user = "svc_" + _draw(rng, string.ascii_lowercase, 6)
    password = rng.choice(ALNUM) + _draw(rng, PASSWORD_CHARS, 18)
    host = "db-" + _draw(rng, LOWNUM, 5) + ".internal:5432/app"
    case = Case(value=f"{scheme}://{user}:{password}@{host}", secret=password, name="database_url")
    case.negatives += [f"{scheme}://{user}:{p}@{host}" for p in PLACEHOLDER_PASSWORDS]
    case.negatives += [
        f"{scheme}://{user}@{host}",  # no password
        f"{scheme}://{user}:@{host}",  # empty password
        f"{scheme}://{user}:{password[:5]} {password[5:]}@{host}",  # whitespace is not a password character
        f"{_mutate_literal(scheme.split('+')[0])}://{user}:{password}@{host}",  # wrong scheme
    ]
    return case


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt_case(rng: random.Random) -> Case:
    """A signed JWT built from JSON at run time, and tokens whose header is not a JWS header."""
    def jwt(header: bytes, sig_len: int = 43) -> str:
        payload = json.dumps({"sub": _draw(rng, LOWNUM, 12), "iat": rng.randrange(10**9, 2 * 10**9)})
        return f"{_b64url(header)}.{_b64url(payload.encode())}.{_draw(rng, B64URL, sig_len)}"

    alg = rng.choice(["HS256", "RS256", "ES256", "EdDSA"])
    token = jwt(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    head, payload, sig = token.split(".")
    negatives = [
        jwt(json.dumps({"typ": "JWT", "kid": "k1"}).encode()),  # no alg
        jwt(b'{"alg": "HS256", "typ": '),  # not JSON
        jwt(b'{"alg": 256, "typ": "JWT"}'),  # alg is not a name
        jwt(json.dumps({"alg": alg}).encode(), sig_len=8),  # signature too short
        f"{_b64url(json.dumps([alg]).encode())}.{payload}.{sig}",  # header is not an object: no eyJ prefix
        f"{head[:-1]}!.{payload}.{sig}",  # wrong character set
    ]
    return Case(value=token, secret=token, name="id_token", negatives=negatives)


def _pem_case(rng: random.Random) -> Case:
    """A PEM private key block assembled from pieces, and headers that are not private keys."""
    dashes = "-" * 5
    kind = rng.choice(["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", "PGP "])
    label = kind + "PRIVATE" + " KEY" + (" BLOCK" if kind == "PGP " else "")
    header = f"{dashes}BEGIN {label}{dashes}"
    body = "\n".join(_draw(rng, ALNUM + "+/", 64) for _ in range(4))
    value = f"{header}\n{body}\n{dashes}END {label}{dashes}\n"
    negatives = [
        f"{dashes}BEGIN PUBLIC KEY{dashes}",
        f"{dashes}BEGIN CERTIFICATE{dashes}",
        f"{dashes}BEGIN RSA PUBLIC KEY{dashes}",
        f"{dashes[:4]}BEGIN {label}{dashes[:4]}",
        f"{dashes}BEGIN FOO PRIVATE KEY{dashes}",
    ]
    return Case(value=value, secret=header, name="private_key", negatives=negatives)


def build_case(rule: Rule, seed: int) -> Case:
    """The generated example for ``rule`` (every rule must have one)."""
    rng = random.Random(f"{rule.id}:{seed}")  # noqa: S311 -- reproducible test data, not key material
    if rule.id in TEMPLATES:
        case = _from_template(TEMPLATES[rule.id], rule, rng)
        if TEMPLATES[rule.id].labelled:
            case.neutral.append(case.value)
        return case
    if rule.id in DB_SCHEMES:
        return _db_case(rule.id, rng)
    if rule.id == "jwt":
        return _jwt_case(rng)
    if rule.id == "pem-private-key":
        return _pem_case(rng)
    raise AssertionError(f"no generator for rule {rule.id}")


CONTEXTS: dict[str, Callable[[str, str], str]] = {
    "python": lambda name, value: f'{name} = "{value}"\n',
    "yaml": lambda name, value: f"config:\n  {name}: {value}\n  retries: 3\n",
    "json": lambda name, value: json.dumps({"service": "billing", name: value}, indent=2),
    "env": lambda name, value: f"export {name.upper()}={value}\n",
    "log": lambda name, value: f"2024-05-01T12:00:00Z INFO worker[42] loaded {name}={value} retries=3\n",
    "url": lambda name, value: f"https://api.example.com/callback?{name}={value}&state=ok",
}
SEEDS = (1, 2, 3)


def _accepted(rule: Rule, text: str) -> Iterator[str]:
    for match in rule.regex.finditer(text):
        secret = rule.secret_of(match)
        if rule.accepts(secret):
            yield secret


def _rule_params() -> list[object]:
    return [pytest.param(rule, id=rule.id) for rule in RULES]


@pytest.mark.parametrize("context", sorted(CONTEXTS))
@pytest.mark.parametrize("rule", _rule_params())
def test_rule_finds_generated_secret_in_context(rule: Rule, context: str) -> None:
    """The rule matches its generated example in a typical context, reports the secret part and accepts it."""
    for seed in SEEDS:
        case = build_case(rule, seed)
        text = CONTEXTS[context](case.name, case.value)
        matches = list(rule.regex.finditer(text))
        secrets = [rule.secret_of(m) for m in matches]
        assert case.secret in secrets, (context, text, secrets)
        assert rule.accepts(case.secret)
        for match in matches:
            assert any(k in match.group(0).lower() for k in rule.keywords), match.group(0)
        assert any(k in text.lower() for k in rule.keywords)


@pytest.mark.parametrize("rule", _rule_params())
def test_rule_rejects_generated_negatives(rule: Rule) -> None:
    """Wrong prefix, length, charset, placeholders, low entropy and a missing label produce no accepted match."""
    for seed in SEEDS:
        case = build_case(rule, seed)
        assert case.negatives
        texts = [CONTEXTS["python"](case.name, n) for n in case.negatives]
        texts += [CONTEXTS["python"]("value", n) for n in case.neutral]
        for text in texts:
            assert not list(_accepted(rule, text)), text


@pytest.mark.parametrize("rule", [pytest.param(r, id=r.id) for r in RULES if r.entropy is not None])
def test_entropy_floor_rejects_flat_secret(rule: Rule) -> None:
    """A rule with an entropy floor refuses a one-character secret of the generated length."""
    case = build_case(rule, 0)
    assert not rule.accepts(case.secret[0] * len(case.secret))


def test_rule_ids_unique_and_enough() -> None:
    """Rule ids are unique, lower-case-hyphenated and there are at least 40 of them."""
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40
    assert set(ids) == set(TEMPLATES) | set(DB_SCHEMES) | {"jwt", "pem-private-key"}


def _corpus() -> list[tuple[str, str]]:
    paths = [*sorted((ROOT / "src" / "strongroom").rglob("*.py")), ROOT / "pyproject.toml", ROOT / "README.md"]
    return [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in paths if p.is_file()]


CORPUS = _corpus()


@pytest.mark.parametrize("rule", _rule_params())
def test_rule_quiet_on_project_source(rule: Rule) -> None:
    """No rule reports an accepted secret in the project's own source, pyproject.toml or README."""
    assert len(CORPUS) > 10
    hits = [(path, secret) for path, text in CORPUS for secret in _accepted(rule, text)]
    assert not hits
