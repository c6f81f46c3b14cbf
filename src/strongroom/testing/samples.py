"""Fake credentials for every detector rule, made at run time: public test data, for strongroom and its users.

Published on purpose, as part of ``strongroom.testing``: strongroom's rule tests and benchmarks use it, and
so can a user's tests, to prove that their logs, error reports and responses mask every credential format
strongroom knows, without committing a real-looking token. It lives outside ``strongroom.rules`` so that
the scanner and the redactor never import it (``tests/test_layers.py``: only entry points may).

``sample(rule, seed)`` returns a :class:`Sample`: a secret in the rule's format, realistic places it sits
(Python, YAML, JSON, .env, TOML, a log line, a URL, an HTTP header, a connection string, a key file), and
near misses the rule must not report (too short, a character outside the alphabet, a changed prefix, a bad
checksum, a flat low-entropy body, the right value under the wrong label, placeholders). Everything is
drawn from ``random.Random(seed)``, so a sample is the same for the same rule and seed.

No token-like literal lives in this module: a format is described as literal pieces (the provider's
prefix) and random pieces (an alphabet and a length), and checksums are computed. Nothing here is key
material: the randomness is :mod:`random`, on purpose, so that samples are reproducible.
"""

from __future__ import annotations

import base64
import json
import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from strongroom.rules.base import Rule

__all__ = ["Sample", "generic_contexts", "generic_placeholders", "generic_secret", "sample", "supported_rule_ids"]


@dataclass(frozen=True)
class Sample:
    """One rule's generated example."""

    rule_id: str
    secret: str  # the part the rule reports (its `secret` group, or the whole match)
    contexts: tuple[str, ...]  # realistic lines/snippets containing the secret
    negatives: tuple[str, ...]  # near-misses the rule must NOT report
    names: tuple[str, ...] = ("api_token",)  # key names the value is assigned to (a labelled rule needs one)
    value: str = ""  # the whole value assigned (the secret inside a URL, say); empty: the secret itself

    @property
    def assigned(self) -> str:
        """What is written after ``name =``: the value the secret sits in."""
        return self.value or self.secret


# --- alphabets ----------------------------------------------------------------------------------------------

DIGITS = string.digits
HEX = "0123456789abcdef"
HEX_UP = "0123456789ABCDEF"
ALNUM = string.ascii_letters + string.digits
LOWNUM = string.ascii_lowercase + string.digits
UPNUM = string.ascii_uppercase + string.digits
B32 = string.ascii_uppercase + "234567"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
ENTRA = ALNUM + "_~.-"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
NOT_HEX = "ghijklmnopqrstuvwxyz"
# Letters that spell no word: no vowels, no x or y (so no "example", "dummy", "xxxx", "your_" by chance).
_CONSONANTS = "bcdfghjklmnpqrstvwz"
_SECRETISH = _CONSONANTS + _CONSONANTS.upper() + DIGITS
_SYMBOLS = "!@#^+=~"


@dataclass(frozen=True)
class _R:
    """A random piece: ``n`` characters of ``alphabet``; ``lo`` is the shortest the rule accepts (0: ``n``)."""

    alphabet: str
    n: int
    lo: int = 0

    @property
    def shortest(self) -> int:
        return self.lo or self.n


_Piece = str | _R
_Contexts = Callable[[str, str], list[str]]  # (name, value) -> texts


def _uuid() -> tuple[_Piece, ...]:
    return (_R(HEX, 8), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 12))


def _draw(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _intruder(alphabet: str) -> str:
    """A character outside ``alphabet``; a token character where possible, so only the alphabet rejects it."""
    return next(ch for ch in ("g", "G", "!") if ch not in alphabet)


def _mutate_literal(text: str) -> str:
    """Change the last letter of a literal, keeping its case."""
    i = max(i for i, ch in enumerate(text) if ch.isalpha())
    new = "q" if text[i].lower() != "q" else "z"
    return text[:i] + (new.upper() if text[i].isupper() else new) + text[i + 1 :]


def _other_char(ch: str) -> str:
    """A different character of the same kind (digit, hex letter, letter of the same case)."""
    for pool in (DIGITS, "abcdef", "ABCDEF", string.ascii_lowercase, string.ascii_uppercase):
        if ch in pool:
            return pool[(pool.index(ch) + 1) % len(pool)]
    return "A"


# --- contexts -----------------------------------------------------------------------------------------------


def _assignments(name: str, value: str) -> list[str]:
    """``value`` under ``name`` as Python, YAML, JSON, .env, TOML, a log line and a URL query."""
    return [
        f'{name} = "{value}"\n',
        f"config:\n  {name}: {value}\n  retries: 3\n",
        json.dumps({"service": "billing", name: value}, indent=2),
        f"export {name.upper()}={value}\n",
        f"[service]\n{name} = '{value}'\n",
        f"2024-05-01T12:00:00Z INFO worker[42] loaded {name}={value} retries=3\n",
        f"https://api.example.com/callback?{name}={value}&state=ok",
    ]


def _header(value: str) -> str:
    return f"curl -H 'Authorization: Bearer {value}' https://api.example.com/v1/me\n"


# --- the declarative specs ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Spec:
    """How to build one rule's sample from pieces.

    ``body`` is the secret; ``before``/``after`` the rest of the value it is embedded in (a URL, a
    connection string). ``names`` are the variable names the value is assigned to in the contexts; for a
    ``labelled`` rule they carry the label it requires, and ``wrong_names`` are labels it must ignore.
    """

    body: tuple[_Piece, ...]
    before: tuple[_Piece, ...] = ()
    after: tuple[_Piece, ...] = ()
    names: tuple[str, ...] = ("api_token",)
    labelled: bool = False
    wrong_names: tuple[str, ...] = ("value",)
    checksum: Callable[[str], str] | None = None  # appends the checksum to the drawn secret
    bad_prefix: tuple[str, str] | None = None  # replace this literal piece by that one (default: mutate)
    extra_negatives: Callable[[str], list[str]] | None = None  # secret -> more texts to stay quiet on


def _base62_crc32(token: str) -> str:
    """GitHub/npm: append base62 (0-9A-Za-z) of the CRC32 of the part after the last ``_``, 6 characters."""
    alphabet = string.digits + string.ascii_uppercase + string.ascii_lowercase
    value = zlib.crc32(token.rsplit("_", 1)[-1].encode())
    out = ""
    while value:
        value, digit = divmod(value, 62)
        out = alphabet[digit] + out
    return token + out.rjust(6, "0")


def _hex_crc32(token: str) -> str:
    """Private Packagist: append the CRC32 of the whole token so far (prefix + random part), 8 hex."""
    return token + f"{zlib.crc32(token.encode()):08x}"


def _gh(prefix: str) -> _Spec:
    return _Spec((prefix, _R(ALNUM, 30)), checksum=_base62_crc32)


def _gitlab(prefix: str) -> _Spec:
    return _Spec((prefix, _R(B64URL, 24, 20)))


def _prefixed(prefix: str, alphabet: str, n: int, lo: int = 0) -> _Spec:
    return _Spec((prefix, _R(alphabet, n, lo)))


def _labelled(body: tuple[_Piece, ...], *names: str, wrong: tuple[str, ...] = ("value",)) -> _Spec:
    return _Spec(body, names=names, labelled=True, wrong_names=wrong)


def _conn_string_spec(before: str, body: tuple[_Piece, ...], after: str, wrong: Callable[[str], list[str]]) -> _Spec:
    return _Spec(
        body, before=(before,), after=(after,) if after else (), names=("connection_string",), extra_negatives=wrong
    )


_SAS_QUERY = "sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2031-01-01T00:00:00Z&spr=https&sig="

_SPECS: dict[str, _Spec] = {
    "strongroom-share-link": _prefixed("srs_", B64URL, 43),
    # --- AWS, Google Cloud, Azure ------------------------------------------------------------------------
    "aws-access-key-id": _prefixed("AKIA", B32, 16),
    "aws-secret-access-key": _labelled(
        (_R(B64, 40),),
        "aws_secret_access_key",
        "SecretAccessKey",
        "secret-access-key",
        wrong=("aws_region_checksum",),
    ),
    "aws-session-token": _labelled(
        (_R(B64, 120, 100),), "aws_session_token", "SessionToken", wrong=("aws_request_blob",)
    ),
    "aws-mws-auth-token": _Spec(("amzn.mws.", *_uuid())),
    "gcp-api-key": _prefixed("AIza", B64URL, 35),
    "gcp-oauth-client-secret": _prefixed("GOCSPX-", B64URL, 28),
    "gcp-oauth-access-token": _prefixed("ya29.", B64URL, 60, 30),
    "azure-storage-account-key": _conn_string_spec(
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=",
        (_R(B64, 86), "=="),
        ";EndpointSuffix=core.windows.net",
        lambda s: [f'CONN = "AccountName=acct;SharedKey={s}"\n'],
    ),
    "azure-sas-token": _Spec(
        (_R(ALNUM, 43), "%3D"),
        before=("https://acct.blob.core.windows.net/container/file.txt?" + _SAS_QUERY,),
        names=("sas_url",),
        extra_negatives=lambda s: [f"https://example.com/page?ref=docs&sig={s}\n"],
    ),
    "azure-service-bus-shared-access-key": _conn_string_spec(
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=",
        (_R(B64, 43), "="),
        "",
        lambda s: [f'CONN = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName={s}"\n'],
    ),
    "azure-ad-client-secret": _Spec((_R(ENTRA, 3), _R(DIGITS, 1), "Q~", _R(ENTRA, 34, 31))),
    "azure-devops-pat": _Spec((_R(ALNUM, 76), "AZDO", _R(ALNUM, 4))),
    # --- code hosts and registries -------------------------------------------------------------------------
    "github-classic-pat": _gh("ghp_"),
    "github-oauth-token": _gh("gho_"),
    "github-user-to-server-token": _gh("ghu_"),
    "github-server-to-server-token": _gh("ghs_"),
    "github-refresh-token": _prefixed("ghr_", ALNUM, 76),
    "github-fine-grained-pat": _Spec(("github_pat_", _R(ALNUM, 22), "_", _R(ALNUM, 59))),
    "gitlab-pat": _gitlab("glpat-"),
    "gitlab-deploy-token": _gitlab("gldt-"),
    "gitlab-runner-token": _gitlab("glrt-"),
    "gitlab-pipeline-trigger-token": _gitlab("glptt-"),
    "gitlab-ci-job-token": _gitlab("glcbt-"),
    "gitlab-feed-token": _gitlab("glft-"),
    "gitlab-incoming-mail-token": _gitlab("glimt-"),
    "gitlab-oauth-app-secret": _gitlab("gloas-"),
    "gitlab-agent-token": _gitlab("glagent-"),
    "gitlab-runner-registration-token": _prefixed("GR1348941", B64URL, 20),
    "bitbucket-app-password": _labelled(
        (_R(ALNUM, 20),),
        "bitbucket_app_password",
        "BitbucketPassword",
        "bitbucket.token",
        wrong=("gitea_app_password",),
    ),
    "atlassian-api-token": _prefixed("ATATT3", B64URL, 180, 150),
    "atlassian-access-token": _prefixed("ATCTT3", B64URL, 180, 150),
    "npm-access-token": _Spec(("npm_", _R(ALNUM, 30)), checksum=_base62_crc32),
    "pypi-upload-token": _prefixed("pypi-AgEIcHlwaS5vcmc", B64URL, 120, 50),
    "pypi-test-upload-token": _prefixed("pypi-AgENdGVzdC5weXBpLm9yZw", B64URL, 120, 50),
    "rubygems-api-key": _prefixed("rubygems_", HEX, 48),
    "nuget-api-key": _prefixed("oy2", LOWNUM, 43),
    "clojars-deploy-token": _prefixed("CLOJARS_", LOWNUM, 60),
    "dockerhub-pat": _prefixed("dckr_pat_", B64URL, 36, 27),
    "dockerhub-org-access-token": _prefixed("dckr_oat_", B64URL, 36, 27),
    "packagist-token": _Spec(
        ("packagist_ort_", _R(HEX, 60)), checksum=_hex_crc32, bad_prefix=("packagist_ort_", "packagist_or_")
    ),
    "sourcegraph-access-token": _Spec(("sgp_", _R(HEX, 16), "_", _R(HEX, 40))),
    # --- HashiCorp, hosting, platforms -------------------------------------------------------------------
    "vault-service-token": _prefixed("hvs.", B64URL, 90, 24),
    "vault-batch-token": _prefixed("hvb.", B64URL, 90, 24),
    "vault-recovery-token": _prefixed("hvr.", B64URL, 90, 24),
    "terraform-cloud-api-token": _Spec((_R(ALNUM, 14), ".atlasv1.", _R(B64URL, 67, 60))),
    "digitalocean-pat": _prefixed("dop_v1_", HEX, 64),
    "digitalocean-oauth-token": _prefixed("doo_v1_", HEX, 64),
    "digitalocean-refresh-token": _prefixed("dor_v1_", HEX, 64),
    "heroku-api-key": _labelled(_uuid(), "HEROKU_API_KEY", "heroku_token", "herokuSecret", wrong=("request_id",)),
    "flyio-token": _prefixed("FlyV1 fm2_", B64, 160, 100),
    "supabase-pat": _prefixed("sbp_", HEX, 40),
    "supabase-secret-key": _prefixed("sb_secret_", B64URL, 40, 20),
    "planetscale-password": _prefixed("pscale_pw_", B64URL, 43, 32),
    "planetscale-service-token": _prefixed("pscale_tkn_", B64URL, 43, 32),
    "pulumi-access-token": _prefixed("pul-", HEX, 40),
    "databricks-token": _prefixed("dapi", HEX, 32),
    "netlify-access-token": _prefixed("nfp_", ALNUM, 36),
    "vercel-token": _prefixed("vcp_", ALNUM, 48, 24),
    "cloudflare-api-token": _labelled(
        (_R(B64URL, 40),), "CLOUDFLARE_API_TOKEN", "cf_api_token", "cloudflareToken", wrong=("fastly_api_token",)
    ),
    "cloudflare-global-api-key": _labelled(
        (_R(HEX, 37),), "CLOUDFLARE_API_KEY", "cf_api_key", "cloudflare_global_key", wrong=("cache_key",)
    ),
    "alibaba-access-key-id": _prefixed("LTAI", ALNUM, 20, 12),
    "alibaba-access-key-secret": _labelled(
        (_R(ALNUM, 30),),
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
        "aliyun_secret",
        "alicloudSecretKey",
        wrong=("access_key_secret",),
    ),
    "tencent-secret-id": _prefixed("AKID", ALNUM, 32),
    "ibm-cloud-api-key": _labelled(
        (_R(B64URL, 44),), "IBMCLOUD_API_KEY", "ibm_apikey", "ibmCloudApiKey", wrong=("oracle_api_key",)
    ),
    "shopify-access-token": _prefixed("shpat_", HEX, 32),
    "shopify-custom-app-token": _prefixed("shpca_", HEX, 32),
    "shopify-private-app-token": _prefixed("shppa_", HEX, 32),
    "shopify-shared-secret": _prefixed("shpss_", HEX_UP, 32),
    "linear-api-key": _prefixed("lin_api_", ALNUM, 40),
    "doppler-personal-token": _prefixed("dp.pt.", ALNUM, 43, 40),
    "doppler-cli-token": _prefixed("dp.ct.", ALNUM, 43, 40),
    "doppler-service-token": _Spec(("dp.st.", "prd.", _R(ALNUM, 43, 40))),
    "doppler-service-account-token": _prefixed("dp.sa.", ALNUM, 43, 40),
    "grafana-cloud-token": _Spec(("glc_eyJ", _R(B64, 120, 30), "==")),
    "grafana-service-account-token": _Spec(("glsa_", _R(ALNUM, 32), "_", _R(HEX, 8))),
    "newrelic-user-api-key": _prefixed("NRAK-", UPNUM, 27),
    "newrelic-license-key": _Spec((_R(HEX, 36), "NRAL")),
    "sentry-org-auth-token": _Spec(("sntrys_eyJ", _R(B64, 120, 40), "_", _R(B64, 43))),
    "sentry-user-auth-token": _prefixed("sntryu_", HEX, 64),
    "postman-api-key": _Spec(("PMAK-", _R(HEX, 24), "-", _R(HEX, 34))),
    "buildkite-user-token": _prefixed("bkua_", HEX, 40),
    "datadog-application-key": _prefixed("ddapp_", ALNUM, 34),
    "datadog-access-token": _prefixed("ddpat_", B64URL, 48, 24),
    "datadog-api-key": _labelled(
        (_R(HEX, 32),), "DD_API_KEY", "datadog_api_key", "datadogApiKey", wrong=("newrelic_api_key",)
    ),
    "datadog-legacy-application-key": _labelled(
        (_R(HEX, 40),), "DD_APP_KEY", "datadog_application_key", "datadogAppKey", wrong=("newrelic_app_key",)
    ),
    "notion-integration-token": _Spec(("ntn_", _R(DIGITS, 11), _R(ALNUM, 35))),
    "notion-legacy-integration-token": _labelled(
        ("secret_", _R(ALNUM, 43)), "NOTION_TOKEN", "notion_api_key", wrong=("slack_token",)
    ),
    "airtable-personal-access-token": _Spec(("pat", _R(ALNUM, 14), ".", _R(HEX, 64))),
    "onepassword-service-account-token": _prefixed("ops_eyJ", B64URL, 400, 100),
    "mapbox-secret-token": _Spec(("sk.eyJ", _R(B64URL, 60, 20), ".", _R(B64URL, 22, 20))),
    "tailscale-key": _Spec(("tskey-auth-", _R(ALNUM, 17, 8), "-", _R(ALNUM, 33, 24))),
    # --- chat ------------------------------------------------------------------------------------------------
    "slack-bot-token": _Spec(("xoxb-", _R(DIGITS, 12), "-", _R(DIGITS, 13), "-", _R(ALNUM, 24, 20))),
    "slack-user-token": _Spec(("xoxp-", _R(DIGITS, 12), "-", _R(DIGITS, 12), "-", _R(DIGITS, 13), "-", _R(HEX, 32))),
    "slack-workspace-access-token": _Spec(("xoxa-2-", _R(DIGITS, 12), "-", _R(DIGITS, 12), "-", _R(ALNUM, 32, 20))),
    "slack-refresh-token": _Spec(("xoxr-", _R(DIGITS, 12), "-", _R(DIGITS, 12), "-", _R(ALNUM, 32, 20))),
    "slack-app-level-token": _Spec(("xapp-1-A", _R(UPNUM, 10), "-", _R(DIGITS, 13), "-", _R(HEX, 64))),
    "slack-webhook-url": _Spec(
        (_R(ALNUM, 24, 20),),
        before=("https://hooks.slack.com/services/T", _R(UPNUM, 10), "/B", _R(UPNUM, 10), "/"),
        names=("webhook_url",),
    ),
    "slack-workflow-webhook-url": _Spec(
        (_R(ALNUM, 24, 20),),
        before=(
            "https://hooks.slack.com/workflows/T",
            _R(UPNUM, 10),
            "/A",
            _R(UPNUM, 10),
            "/",
            _R(DIGITS, 18),
            "/",
        ),
        names=("webhook_url",),
    ),
    "discord-client-id": _labelled(
        (_R(DIGITS, 18, 17),), "DISCORD_CLIENT_ID", "discordClientId", "discord-app-id", wrong=("discord_guild_id",)
    ),
    "discord-client-secret": _labelled(
        (_R(B64URL, 32),), "DISCORD_CLIENT_SECRET", "discordSecret", "discord-client-secret", wrong=("discord_guild",)
    ),
    "discord-webhook-url": _Spec(
        (_R(B64URL, 68, 60),),
        before=("https://discord.com/api/webhooks/", _R(DIGITS, 18), "/"),
        names=("webhook_url",),
    ),
    "telegram-bot-token": _Spec((_R(DIGITS, 10), ":AA", _R(B64URL, 33))),
    "teams-incoming-webhook-url": _Spec(
        (_R(HEX, 32),),
        before=(
            "https://",
            _R(LOWNUM, 8),
            ".webhook.office.com/webhookb2/",
            *_uuid(),
            "@",
            *_uuid(),
            "/IncomingWebhook/",
        ),
        after=("/", *_uuid()),
        names=("webhook_url",),
    ),
    "teams-workflow-webhook-url": _Spec(
        (_R(B64URL, 43),),
        before=(
            "https://prod-12.westus.logic.azure.com:443/workflows/",
            _R(HEX, 32),
            "/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=",
        ),
        names=("webhook_url",),
    ),
    # --- mail ------------------------------------------------------------------------------------------------
    "sendgrid-api-key": _Spec(("SG.", _R(B64URL, 22), ".", _R(B64URL, 43))),
    "mailgun-legacy-api-key": _labelled(("key-", _R(HEX, 32)), "mailgun_api_key", "MAILGUN_KEY"),
    "mailgun-api-key": _labelled((_R(HEX, 32), "-", _R(HEX, 8), "-", _R(HEX, 8)), "mailgun_api_key"),
    "mailchimp-api-key": _Spec((_R(HEX, 32), "-us", _R(DIGITS, 2))),
    "postmark-server-token": _labelled(_uuid(), "postmark_server_token", "POSTMARK_API_TOKEN"),
    "brevo-api-key": _Spec(("xkeysib-", _R(HEX, 64), "-", _R(ALNUM, 16))),
    "brevo-smtp-key": _Spec(("xsmtpsib-", _R(HEX, 64), "-", _R(ALNUM, 16))),
    "resend-api-key": _Spec(("re_", _R(ALNUM, 8), "_", _R(ALNUM, 24))),
    "twilio-account-sid": _labelled(("AC", _R(HEX, 32)), "twilio_account_sid"),
    "twilio-api-key": _Spec(("SK", _R(HEX, 32)), names=("api_key_sid",)),
    "twilio-auth-token": _labelled((_R(HEX, 32),), "twilio_auth_token", "TWILIO_SECRET"),
    # --- payments --------------------------------------------------------------------------------------------
    "stripe-live-secret-key": _prefixed("sk_live_", ALNUM, 99, 24),
    "stripe-test-secret-key": _prefixed("sk_test_", ALNUM, 99, 24),
    "stripe-live-restricted-key": _prefixed("rk_live_", ALNUM, 99, 24),
    "stripe-test-restricted-key": _prefixed("rk_test_", ALNUM, 99, 24),
    "stripe-webhook-secret": _prefixed("whsec_", ALNUM, 32, 24),
    "square-access-token": _prefixed("sq0atp-", B64URL, 22),
    "square-oauth-secret": _prefixed("sq0csp-", B64URL, 43),
    "square-eaaa-access-token": _labelled(("EAAA", _R(B64URL, 60, 56)), "square_access_token"),
    "braintree-production-access-token": _Spec(("access_token$production$", _R(LOWNUM, 16), "$", _R(HEX, 32))),
    "braintree-sandbox-access-token": _Spec(("access_token$sandbox$", _R(LOWNUM, 16), "$", _R(HEX, 32))),
    "plaid-access-token": _Spec(("access-production-", *_uuid())),
    "flutterwave-secret-key": _Spec(("FLWSECK-", _R(HEX, 32), "-X")),
    # --- AI providers ----------------------------------------------------------------------------------------
    "openai-project-key": _prefixed("sk-proj-", B64URL, 156, 40),
    "openai-service-account-key": _prefixed("sk-svcacct-", B64URL, 156, 40),
    "openai-admin-key": _prefixed("sk-admin-", B64URL, 156, 40),
    "openai-legacy-key": _Spec(("sk-", _R(ALNUM, 20), "T3BlbkFJ", _R(ALNUM, 20))),
    "openrouter-api-key": _prefixed("sk-or-v1-", HEX, 64),
    "anthropic-api-key": _Spec(("sk-ant-api03-", _R(B64URL, 93), "AA")),
    "anthropic-admin-key": _Spec(("sk-ant-admin01-", _R(B64URL, 93), "AA")),
    "huggingface-user-token": _prefixed("hf_", ALNUM, 34),
    "huggingface-org-token": _prefixed("api_org_", ALNUM, 34),
    "cohere-api-key": _labelled((_R(ALNUM, 40),), "cohere_api_key", "CO_API_KEY"),
    "groq-api-key": _prefixed("gsk_", ALNUM, 52),
    "replicate-api-token": _prefixed("r8_", ALNUM, 37),
    "perplexity-api-key": _prefixed("pplx-", ALNUM, 48, 40),
    "mistral-api-key": _labelled((_R(ALNUM, 32),), "mistral_api_key", "MISTRAL_KEY"),
    "xai-api-key": _prefixed("xai-", ALNUM, 80, 60),
    "langsmith-personal-token": _Spec(("lsv2_pt_", _R(HEX, 32), "_", _R(HEX, 10))),
    "langsmith-service-key": _Spec(("lsv2_sk_", _R(HEX, 32), "_", _R(HEX, 10))),
    "pinecone-api-key": _Spec(("pcsk_", _R(ALNUM, 6, 4), "_", _R(ALNUM, 64, 40))),
    # --- prefixed provider tokens (providers_prefixed) -----------------------------------------------------
    "adobe-client-secret": _prefixed("p8e-", B64URL, 32),
    "facebook-access-token": _Spec(("EAAG", _R(ALNUM, 180, 99)), bad_prefix=("EAAG", "EBAG")),
    "hubspot-private-app-token": _Spec(
        ("pat-na1-", _R(HEX, 8), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 12))
    ),
    "intercom-access-token": _prefixed("dG9rOj", B64URL, 56, 40),
    "contentful-personal-access-token": _prefixed("CFPAT-", B64URL, 43),
    "figma-personal-access-token": _prefixed("figd_", B64URL, 40, 38),
    "typeform-personal-access-token": _prefixed("tfp_", B64URL, 44, 40),
    "frameio-developer-token": _prefixed("fio-u-", B64URL, 64),
    "onepassword-secret-key": _Spec(
        ("A3-", _R(UPNUM, 6), "-", _R(UPNUM, 11), "-", _R(UPNUM, 5), "-", _R(UPNUM, 5), "-", _R(UPNUM, 5))
    ),
    "dynatrace-api-token": _Spec(("dt0c01.", _R(UPNUM, 24), ".", _R(UPNUM, 64)), bad_prefix=("dt0c01.", "dt1c01.")),
    "newrelic-insert-key": _prefixed("NRII-", B64URL, 32),
    "readme-api-key": _prefixed("rdme_", ALNUM, 70, 40),
    "render-api-key": _prefixed("rnd_", ALNUM, 32),
    "prefect-api-key": _prefixed("pnu_", ALNUM, 36),
    "sonarqube-token": _prefixed("squ_", HEX, 40),
    "jfrog-reference-token": _prefixed("cmVmdGtu", ALNUM, 56),
    "jfrog-api-key": _prefixed("AKCp", ALNUM, 69),
    "octopus-deploy-api-key": _prefixed("API-", UPNUM, 28, 26),
    "circleci-personal-token": _Spec(("CCIPAT_", _R(ALNUM, 22), "_", _R(HEX, 40))),
    "deno-deploy-token": _prefixed("ddp_", ALNUM, 36),
    "infracost-api-key": _prefixed("ico-", ALNUM, 32),
    "scalingo-api-token": _prefixed("tk-us-", B64URL, 48),
    "harness-access-token": _Spec(("pat.", _R(B64URL, 22), ".", _R(HEX, 24), ".", _R(ALNUM, 20))),
    "planetscale-oauth-token": _prefixed("pscale_oauth_", B64URL, 43, 32),
    "fly-io-org-token": _prefixed("fo1_", B64URL, 43),
    "adafruit-io-key": _prefixed("aio_", ALNUM, 28),
    "cloudflare-origin-ca-key": _Spec(("v1.0-", _R(HEX, 24), "-", _R(HEX, 146))),
    "digitalocean-spaces-access-key": _prefixed("DO00", UPNUM, 16),
    "scaleway-access-key": _prefixed("SCW", UPNUM, 17),
    "grafana-api-key": _prefixed("eyJrIjoi", ALNUM, 80, 50),
    "cloudinary-url": _Spec(
        (_R(B64URL, 27),),
        before=("cloudinary://", _R(DIGITS, 15), ":"),
        after=("@demo-cloud",),
        names=("CLOUDINARY_URL",),
    ),
    "gcp-oauth-refresh-token": _prefixed("1//0", B64URL, 100, 40),
    "firebase-cloud-messaging-server-key": _Spec(("AAAA", _R(B64URL, 7), ":APA91b", _R(B64URL, 134))),
    "shippo-api-token": _prefixed("shippo_live_", HEX, 40),
    "easypost-api-key": _prefixed("EZAK", ALNUM, 54),
    "duffel-api-token": _prefixed("duffel_live_", B64URL, 43),
    "mercadopago-access-token": _Spec(
        ("APP_USR-", _R(DIGITS, 16, 15), "-", _R(DIGITS, 6), "-", _R(HEX, 32), "-", _R(DIGITS, 9, 6))
    ),
    "razorpay-key-id": _prefixed("rzp_live_", ALNUM, 14),
    "maxmind-license-key": _Spec((_R(ALNUM, 6), "_", _R(ALNUM, 29), "_mmk")),
    "twitter-bearer-token": _Spec(("A" * 22, _R(ALNUM, 40, 20), "%3D", _R(ALNUM, 50, 40))),
    "dropbox-short-lived-token": _prefixed("sl.", B64URL, 140, 130),
    "yandex-api-key": _prefixed("AQVN", B64URL, 36, 35),
    # --- keyed provider credentials (providers_keyed) --------------------------------------------------------
    "algolia-api-key": _labelled(
        (_R(HEX, 32),), "ALGOLIA_API_KEY", "algoliaToken", "algolia-admin-key", wrong=("algolia_index_name",)
    ),
    "adobe-client-id": _labelled(
        (_R(HEX, 32),), "ADOBE_CLIENT_ID", "adobeApiKey", "adobe-client-id", wrong=("adobe_org_name",)
    ),
    "okta-api-token": _labelled(("00", _R(B64URL, 40)), "OKTA_API_TOKEN", "oktaToken", wrong=("okta_org_url",)),
    "zendesk-api-token": _labelled((_R(ALNUM, 40),), "ZENDESK_API_TOKEN", "zendeskToken", wrong=("zendesk_email",)),
    "atlassian-legacy-api-token": _labelled(
        (_R(ALNUM, 24),), "JIRA_API_TOKEN", "confluenceToken", "atlassian-api-key", wrong=("jira_project",)
    ),
    "linear-client-secret": _labelled(
        (_R(HEX, 32),), "LINEAR_CLIENT_SECRET", "linearSecret", wrong=("linear_team_id",)
    ),
    "linkedin-client-secret": _labelled(
        (_R(ALNUM, 16),), "LINKEDIN_CLIENT_SECRET", "linkedinSecret", wrong=("linkedin_company",)
    ),
    "asana-personal-access-token": _labelled(
        ("1/", _R(DIGITS, 16), ":", _R(HEX, 32)), "ASANA_ACCESS_TOKEN", "asanaToken", wrong=("jira_token",)
    ),
    "airtable-legacy-api-key": _labelled(
        ("key", _R(ALNUM, 14)), "AIRTABLE_API_KEY", "airtableKey", wrong=("airtable_base",)
    ),
    "facebook-app-secret": _labelled(
        (_R(HEX, 32),), "FACEBOOK_APP_SECRET", "fbAppSecret", "facebook-client-secret", wrong=("facebook_app_id",)
    ),
    "twitter-api-secret": _labelled(
        (_R(ALNUM, 50, 45),), "TWITTER_API_SECRET", "twitterConsumerSecret", wrong=("twitter_handle",)
    ),
    "twitter-access-token": _labelled(
        (_R(DIGITS, 18, 5), "-", _R(ALNUM, 40)), "TWITTER_ACCESS_TOKEN", "twitterToken", wrong=("twitter_user",)
    ),
    "twitch-api-token": _labelled((_R(LOWNUM, 30),), "TWITCH_CLIENT_SECRET", "twitchToken", wrong=("twitch_channel",)),
    "cisco-meraki-api-key": _labelled(
        (_R(HEX, 40),), "MERAKI_DASHBOARD_API_KEY", "merakiApiKey", "meraki-key", wrong=("meraki_org_id",)
    ),
    "fastly-api-token": _labelled((_R(B64URL, 32),), "FASTLY_API_TOKEN", "fastlyKey", wrong=("fastly_service",)),
    "linode-api-token": _labelled((_R(HEX, 64),), "LINODE_TOKEN", "linodeApiKey", wrong=("linode_region",)),
    "vultr-api-key": _labelled((_R(UPNUM, 36),), "VULTR_API_KEY", "vultrToken", wrong=("vultr_region",)),
    "scaleway-secret-key": _labelled(_uuid(), "SCW_SECRET_KEY", "scalewaySecret", wrong=("scw_project_id",)),
    "digitalocean-spaces-secret-key": _labelled(
        (_R(B64, 43),), "SPACES_SECRET_KEY", "digitaloceanSpacesSecret", wrong=("spaces_bucket",)
    ),
    "netlify-legacy-token": _labelled(
        (_R(B64URL, 43),), "NETLIFY_AUTH_TOKEN", "netlifyToken", wrong=("netlify_site_id",)
    ),
    "vercel-legacy-token": _labelled((_R(ALNUM, 24),), "VERCEL_TOKEN", "vercelToken", wrong=("vercel_team",)),
    "railway-api-token": _labelled(_uuid(), "RAILWAY_TOKEN", "railwayApiToken", wrong=("railway_project_id",)),
    "gitea-access-token": _labelled((_R(HEX, 40),), "GITEA_TOKEN", "giteaToken", wrong=("gitea_commit",)),
    "circleci-legacy-token": _labelled((_R(HEX, 40),), "CIRCLECI_TOKEN", "circleciToken", wrong=("circleci_sha",)),
    "travis-ci-api-token": _labelled((_R(B64URL, 22),), "TRAVIS_API_TOKEN", "travisToken", wrong=("travis_job",)),
    "launchdarkly-key": _labelled(
        ("sdk-", _R(HEX, 8), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 4), "-", _R(HEX, 12)),
        "LAUNCHDARKLY_SDK_KEY",
        "LD_SDK_KEY",
        wrong=("request_id",),
    ),
    "honeycomb-api-key": _labelled(
        (_R(ALNUM, 32, 22),), "HONEYCOMB_API_KEY", "honeycombKey", wrong=("honeycomb_dataset",)
    ),
    "pagerduty-api-key": _labelled(
        (_R(B64URL, 20),), "PAGERDUTY_API_KEY", "pagerdutyToken", wrong=("pagerduty_service",)
    ),
    "sumologic-access-key": _labelled((_R(ALNUM, 64),), "SUMO_ACCESS_KEY", "sumologicKey", wrong=("sumo_collector",)),
    "snyk-api-token": _labelled(_uuid(), "SNYK_TOKEN", "snykApiKey", wrong=("snyk_org",)),
    "codecov-upload-token": _labelled(_uuid(), "CODECOV_TOKEN", "codecovToken", wrong=("codecov_flag",)),
    "rapidapi-key": _labelled((_R(ALNUM, 50),), "RAPIDAPI_KEY", "xRapidApiKey", wrong=("rapidapi_host",)),
    "confluent-api-secret": _labelled(
        (_R(B64, 64),), "CONFLUENT_API_SECRET", "confluentSecret", wrong=("confluent_cluster",)
    ),
    "finicity-app-key": _labelled((_R(HEX, 32),), "FINICITY_APP_KEY", "finicityAppKey", wrong=("finicity_customer",)),
    "finicity-client-secret": _labelled(
        (_R(ALNUM, 20),), "FINICITY_PARTNER_SECRET", "finicitySecret", wrong=("finicity_partner_id",)
    ),
    "paypal-client-secret": _labelled(
        (_R(B64URL, 80),), "PAYPAL_CLIENT_SECRET", "paypalSecret", wrong=("paypal_client_id",)
    ),
    "razorpay-key-secret": _labelled(
        (_R(ALNUM, 24),), "RAZORPAY_KEY_SECRET", "razorpaySecret", wrong=("razorpay_key_id",)
    ),
    "coinbase-api-secret": _labelled(
        (_R(ALNUM, 32),), "COINBASE_API_SECRET", "coinbaseSecret", wrong=("coinbase_acct",)
    ),
    "etsy-api-key": _labelled((_R(LOWNUM, 24),), "ETSY_API_KEY", "etsyKeystring", wrong=("etsy_shop",)),
    "vonage-api-secret": _labelled((_R(ALNUM, 16),), "VONAGE_API_SECRET", "nexmoSecret", wrong=("vonage_number",)),
    "messagebird-api-key": _labelled(
        (_R(ALNUM, 25),), "MESSAGEBIRD_API_KEY", "messagebirdKey", wrong=("messagebird_originator",)
    ),
    "github-oauth-client-secret": _labelled(
        (_R(HEX, 40),), "GITHUB_CLIENT_SECRET", "githubOauthSecret", wrong=("github_sha",)
    ),
    "openai-api-key": _labelled(("sk-", _R(ALNUM, 48, 20)), "OPENAI_API_KEY", "openaiKey", wrong=("model_name",)),
    "azure-cognitive-services-key": _labelled(
        (_R(HEX, 32),), "AZURE_OPENAI_API_KEY", "azureSpeechKey", wrong=("azure_region",)
    ),
    "auth0-client-secret": _labelled((_R(B64URL, 64),), "AUTH0_CLIENT_SECRET", "auth0Secret", wrong=("auth0_domain",)),
    "mailjet-api-key": _labelled((_R(HEX, 32),), "MAILJET_API_KEY", "mailjetSecretKey", wrong=("mailjet_sender",)),
    "mandrill-api-key": _labelled((_R(B64URL, 22),), "MANDRILL_API_KEY", "mandrillKey", wrong=("mandrill_from",)),
    "sparkpost-api-key": _labelled((_R(HEX, 40),), "SPARKPOST_API_KEY", "sparkpostKey", wrong=("sparkpost_host",)),
    "plivo-auth-token": _labelled((_R(ALNUM, 40),), "PLIVO_AUTH_TOKEN", "plivoToken", wrong=("plivo_number",)),
    "pusher-app-secret": _labelled((_R(HEX, 20),), "PUSHER_APP_SECRET", "pusherSecret", wrong=("pusher_cluster",)),
    "consul-acl-token": _labelled(_uuid(), "CONSUL_HTTP_TOKEN", "consulToken", wrong=("consul_node_id",)),
    "nomad-acl-token": _labelled(_uuid(), "NOMAD_TOKEN", "nomadSecret", wrong=("nomad_alloc_id",)),
    "mongodb-atlas-private-key": _labelled(
        _uuid(), "MONGODB_ATLAS_PRIVATE_KEY", "atlasPrivateKey", wrong=("atlas_group_id",)
    ),
    "segment-write-key": _labelled((_R(ALNUM, 32),), "SEGMENT_WRITE_KEY", "segmentKey", wrong=("segment_name",)),
    "mixpanel-api-secret": _labelled((_R(HEX, 32),), "MIXPANEL_API_SECRET", "mixpanelSecret", wrong=("mixpanel_id",)),
    "amplitude-api-key": _labelled((_R(HEX, 32),), "AMPLITUDE_API_KEY", "amplitudeSecretKey", wrong=("amplitude_id",)),
    "bugsnag-api-key": _labelled((_R(HEX, 32),), "BUGSNAG_API_KEY", "bugsnagKey", wrong=("bugsnag_release",)),
    "rollbar-access-token": _labelled((_R(HEX, 32),), "ROLLBAR_ACCESS_TOKEN", "rollbarToken", wrong=("rollbar_env",)),
    "newrelic-legacy-license-key": _labelled(
        (_R(HEX, 40),), "NEW_RELIC_LICENSE_KEY", "newrelicKey", wrong=("newrelic_app_name",)
    ),
    "splunk-hec-token": _labelled(_uuid(), "SPLUNK_HEC_TOKEN", "splunkToken", wrong=("splunk_index_id",)),
    "zoom-client-secret": _labelled((_R(ALNUM, 32),), "ZOOM_CLIENT_SECRET", "zoomSecret", wrong=("zoom_meeting",)),
    "slack-signing-secret": _labelled((_R(HEX, 32),), "SLACK_SIGNING_SECRET", "slackSecret", wrong=("slack_channel",)),
    "spotify-client-secret": _labelled(
        (_R(HEX, 32),), "SPOTIFY_CLIENT_SECRET", "spotifySecret", wrong=("spotify_playlist",)
    ),
    "dropbox-app-credential": _labelled(
        (_R(B64URL, 64),), "DROPBOX_ACCESS_TOKEN", "dropboxToken", wrong=("dropbox_folder",)
    ),
    "trello-api-credential": _labelled((_R(HEX, 64),), "TRELLO_TOKEN", "trelloApiKey", wrong=("trello_board",)),
    "binance-api-credential": _labelled(
        (_R(ALNUM, 64),), "BINANCE_API_SECRET", "binanceKey", wrong=("binance_symbol",)
    ),
    "plaid-client-secret": _labelled((_R(HEX, 30),), "PLAID_SECRET", "plaidClientSecret", wrong=("plaid_env",)),
    "braintree-private-key": _labelled(
        (_R(HEX, 32),), "BRAINTREE_PRIVATE_KEY", "braintreePrivateKey", wrong=("braintree_merchant",)
    ),
    "gocardless-access-token": _labelled(
        ("live_", _R(B64URL, 40)), "GOCARDLESS_ACCESS_TOKEN", "gocardlessToken", wrong=("gocardless_env",)
    ),
    "npm-legacy-auth-token": _labelled(_uuid(), "NPM_TOKEN", "npmAuthToken", wrong=("npm_package",)),
    # --- crypto material -------------------------------------------------------------------------------------
    "age-secret-key": _prefixed("AGE-SECRET-KEY-1", BECH32, 58),
    "generic-bearer-token": _Spec(
        (_R(B64URL + ".~+/", 40, 20),), before=("Authorization: Bearer ",), names=("headers",)
    ),
}


class _Builder:
    """Draws one spec's pieces; each method returns a whole value (before + secret + after)."""

    def __init__(self, spec: _Spec, rng: random.Random) -> None:
        self.spec = spec
        self.rng = rng
        self.pieces = (*spec.before, *spec.body, *spec.after)
        self.lo, self.hi = len(spec.before), len(spec.before) + len(spec.body)
        self.drawn = [p if isinstance(p, str) else _draw(rng, p.alphabet, p.n) for p in self.pieces]

    def value(self, drawn: list[str] | None = None) -> tuple[str, str]:
        """(value, secret) for ``drawn`` pieces, the checksum (if any) appended to the secret."""
        parts = drawn or self.drawn
        secret = "".join(parts[self.lo : self.hi])
        if self.spec.checksum is not None:
            secret = self.spec.checksum(secret)
        return "".join(parts[: self.lo]) + secret + "".join(parts[self.hi :]), secret

    def with_piece(self, index: int, text: str) -> str:
        return self.value([text if i == index else d for i, d in enumerate(self.drawn)])[0]

    def target(self) -> tuple[int, _R]:
        """The longest random piece of the secret (the first of equals): the one the length and alphabet
        negatives alter."""
        candidates = [(i, p) for i, p in enumerate(self.pieces) if self.lo <= i < self.hi and isinstance(p, _R)]
        return max(candidates, key=lambda c: (c[1].n, -c[0]))

    def negatives(self, rule: Rule) -> list[str]:
        """Values (not yet in a context) the rule must not report."""
        out: list[str] = []
        spec = self.spec
        literals = [i for i in range(self.lo, self.hi) if isinstance(self.pieces[i], str)]
        literals += [i for i in range(self.lo) if isinstance(self.pieces[i], str)]
        literals = [i for i in literals if any(ch.isalpha() for ch in self.drawn[i])]
        if spec.bad_prefix is not None:
            old, new = spec.bad_prefix
            out.append(self.with_piece(self.pieces.index(old), new))
        elif literals:
            out.append(self.with_piece(literals[0], _mutate_literal(self.drawn[literals[0]])))
        i, piece = self.target()
        short = piece.shortest
        out.append(self.with_piece(i, _draw(self.rng, piece.alphabet, short - 1)))
        body = _draw(self.rng, piece.alphabet, short)
        out.append(self.with_piece(i, body[: short // 2] + _intruder(piece.alphabet) + body[short // 2 + 1 :]))
        if set(piece.alphabet) <= set(HEX + HEX_UP):
            out.append(self.with_piece(i, _draw(self.rng, NOT_HEX, piece.n)))
        if rule.validate is not None:
            value, secret = self.value()
            out.append(value.replace(secret, secret[:-1] + _other_char(secret[-1])))
        if rule.entropy is not None:
            flat = [p if isinstance(p, str) else p.alphabet[0] * p.n for p in self.pieces]
            out.append(self.value(flat)[0])
        return out


def _from_spec(rule: Rule, spec: _Spec, rng: random.Random) -> Sample:
    builder = _Builder(spec, rng)
    for _ in range(100):  # a draw below the rule's own entropy floor is not a realistic credential
        value, secret = builder.value()
        if rule.accepts(secret):
            break
        builder = _Builder(spec, rng)
    contexts = [text for name in spec.names for text in _assignments(name, value)]
    if not spec.labelled and not spec.before and not spec.after:
        contexts.append(_header(value))
    name = spec.names[0]
    negatives = [f'{name} = "{bad}"\n' for bad in builder.negatives(rule)]
    if spec.labelled:
        negatives += [f'{wrong} = "{value}"\n' for wrong in spec.wrong_names]
    if spec.extra_negatives is not None:
        negatives += spec.extra_negatives(secret)
    return Sample(rule.id, secret, tuple(contexts), tuple(negatives), spec.names, value)


# --- formats that need more than pieces ---------------------------------------------------------------------


def _service_account_json(key_id: str, kind: str = "service_account") -> str:
    """A Google service-account key file as issued, with the key material itself left out."""
    return (
        "{\n"
        f'  "type": "{kind}",\n'
        '  "project_id": "demo-project",\n'
        f'  "private_key_id": "{key_id}",\n'
        '  "private_key": "<omitted>",\n'
        '  "client_email": "ci@demo-project.iam.gserviceaccount.com"\n'
        "}\n"
    )


def _gcp_service_account(rule: Rule, rng: random.Random) -> Sample:
    key_id = _draw(rng, HEX, 40)
    doc = _service_account_json(key_id)
    compact = doc.replace("\n", "").replace(": ", ":")
    negatives = (
        _service_account_json(key_id, "authorized_user"),
        _service_account_json(_draw(rng, HEX, 39)),
        _service_account_json(_draw(rng, NOT_HEX, 40)),
        _service_account_json("0" * 40),
    )
    return Sample(rule.id, key_id, (doc, compact, json.dumps({"credentials": json.loads(doc)})), negatives)


def _discord_bot(rule: Rule, rng: random.Random) -> Sample:
    """A bot token whose first part is base64url of a snowflake, and tokens whose first part is not."""
    head = _b64url(str(rng.randrange(10**17, 10**19)).encode())
    stamp, hmac = _draw(rng, B64URL, 6), _draw(rng, B64URL, rng.choice((27, 38)))
    secret = f"{head}.{stamp}.{hmac}"
    names = ("discord_bot_token", "DISCORD_TOKEN", "discordToken")
    contexts = [text for name in names for text in _assignments(name, secret)]
    contexts.append(f'bot.run("{secret}")\n')
    not_digits = _b64url(_draw(rng, string.ascii_letters, 18).encode())
    negatives = [
        f"{not_digits}.{stamp}.{hmac}",  # the first part is not a user id
        f"{head}.{stamp}.{hmac[:26]}",  # an HMAC of no length Discord issues
        f"{head}.{stamp}!.{hmac}",
        f"{head}.{stamp}.{'A' * len(hmac)}",
    ]
    texts = [f'discord_token = "{n}"\n' for n in negatives] + [f'value = "{secret}"\n']
    return Sample(rule.id, secret, tuple(contexts), tuple(texts), names)


def _slack_rotating_payload(rng: random.Random, kind: str) -> str:
    """What a rotating Slack token's body encodes: ``<kind>-<version>-<team id>-<ids>-<64 hex>``."""
    ids = "-".join(str(rng.randrange(10**12, 10**13)) for _ in range(3 if kind == "3" else 4))
    return f"{kind}-{rng.choice('12')}-{ids}-{_draw(rng, HEX, 64)}"


def _unpadded_b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode().rstrip("=")


def _slack_rotating(rule: Rule, rng: random.Random) -> Sample:
    refresh = rule.id == "slack-config-refresh-token"
    prefix = "xoxe-1-" if refresh else rng.choice(("xoxe.xoxp-1-", "xoxe.xoxb-1-"))
    kind = "3" if refresh else "2"
    body = _unpadded_b64(_slack_rotating_payload(rng, kind))
    secret = prefix + body
    bad_payload = _unpadded_b64(_slack_rotating_payload(rng, kind)[:-64] + _draw(rng, NOT_HEX, 64))
    negatives = [
        _mutate_literal(prefix) + body,
        prefix + _draw(rng, ALNUM, len(body)),  # right shape, but not Slack's payload
        prefix + bad_payload,
        prefix + body[:59],
        prefix + body[:30] + "!" + body[31:60],
        prefix + "A" * len(body),
    ]
    contexts = [*_assignments("slack_token", secret), _header(secret)]
    return Sample(rule.id, secret, tuple(contexts), tuple(f'slack_token = "{n}"\n' for n in negatives))


_DB_SCHEMES = {
    "postgres-url-password": ("postgresql", "postgres", "postgresql+psycopg"),
    "mysql-url-password": ("mysql", "mysql+pymysql", "jdbc:mysql"),
    "mariadb-url-password": ("mariadb", "mariadb+mariadbconnector"),
    "mongodb-url-password": ("mongodb", "mongodb+srv"),
    "redis-url-password": ("redis", "rediss"),
    "amqp-url-password": ("amqp", "amqps"),
    "mssql-url-password": ("mssql", "sqlserver", "mssql+pyodbc"),
}
_PLACEHOLDER_PASSWORDS = (
    "password",
    "pass",
    "PASSWORD",
    "changeme",
    "***",
    "********",
    "${DB_PASSWORD}",
    "$DB_PASSWORD",
    "<password>",
    "{{ db_password }}",
    "%(password)s",
    "xxxxxx",
    "your_password_here",
    "secret",
)
_PASSWORD_CHARS = ALNUM + "!#%^*~-_"


def _database_url(rule: Rule, rng: random.Random) -> Sample:
    """A URL with a random password; URLs with placeholders, no password or a broken scheme."""
    scheme = rng.choice(_DB_SCHEMES[rule.id])
    user = "svc_" + _draw(rng, string.ascii_lowercase, 6)
    password = rng.choice(ALNUM) + _draw(rng, _PASSWORD_CHARS, 18)
    host = "db-" + _draw(rng, LOWNUM, 5) + ".internal:5432/app"
    bad_scheme = _mutate_literal(scheme.split("+")[0].removeprefix("jdbc:"))
    urls = [f"{scheme}://{user}:{p}@{host}" for p in _PLACEHOLDER_PASSWORDS]
    urls += [
        f"{scheme}://{user}@{host}",  # no password
        f"{scheme}://{user}:@{host}",  # empty password
        f"{scheme}://{user}:{password[:5]} {password[5:]}@{host}",  # whitespace is not a password character
        f"{bad_scheme}://{user}:{password}@{host}",  # another scheme
    ]
    url = f"{scheme}://{user}:{password}@{host}"
    return Sample(
        rule.id, password, tuple(_assignments("database_url", url)), tuple(f'database_url = "{u}"\n' for u in urls)
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt(rule: Rule, rng: random.Random) -> Sample:
    """A signed JWT built from JSON, and tokens whose header is not a JWS header."""

    def token(header: bytes, sig_len: int = 43) -> str:
        claims = json.dumps({"sub": _draw(rng, LOWNUM, 12), "iat": rng.randrange(10**9, 2 * 10**9)})
        return f"{_b64url(header)}.{_b64url(claims.encode())}.{_draw(rng, B64URL, sig_len)}"

    alg = rng.choice(["HS256", "RS256", "ES256", "EdDSA"])
    secret = token(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    head, claims, sig = secret.split(".")
    negatives = [
        token(json.dumps({"typ": "JWT", "kid": "k1"}).encode()),  # no alg
        token(b'{"alg": "HS256", "typ": '),  # not JSON
        token(b'{"alg": 256, "typ": "JWT"}'),  # alg is not a name
        token(json.dumps({"alg": alg}).encode(), sig_len=8),  # signature too short
        f"{_b64url(json.dumps([alg]).encode())}.{claims}.{sig}",  # header is not an object: no eyJ prefix
        f"{head[:-1]}!.{claims}.{sig}",  # wrong character set
    ]
    contexts = [*_assignments("id_token", secret), _header(secret)]
    return Sample(rule.id, secret, tuple(contexts), tuple(f'id_token = "{n}"\n' for n in negatives))


def _pem(rule: Rule, rng: random.Random) -> Sample:
    """A PEM private key block assembled from pieces, and headers that are not private keys."""
    dashes = "-" * 5
    kind = rng.choice(["", "RSA ", "EC ", "DSA ", "OPENSSH ", "ENCRYPTED ", "PGP "])
    label = kind + "PRIVATE" + " KEY" + (" BLOCK" if kind == "PGP " else "")
    header = f"{dashes}BEGIN {label}{dashes}"
    body = "\n".join(_draw(rng, B64, 64) for _ in range(4))
    block = f"{header}\n{body}\n{dashes}END {label}{dashes}\n"
    contexts = (
        block,
        f'PRIVATE_KEY = """{block}"""\n',
        "tls:\n  key: |\n" + "".join(f"    {line}\n" for line in block.splitlines()),
        json.dumps({"type": "service_account", "private_key": block}),
        f'export PRIVATE_KEY="{block}"\n',
    )
    negatives = (
        f"{dashes}BEGIN PUBLIC KEY{dashes}",
        f"{dashes}BEGIN CERTIFICATE{dashes}",
        f"{dashes}BEGIN RSA PUBLIC KEY{dashes}",
        f"{dashes[:4]}BEGIN {label}{dashes[:4]}",
        f"{dashes}BEGIN FOO PRIVATE KEY{dashes}",
    )
    return Sample(rule.id, header, contexts, negatives)


# --- the generic rule ---------------------------------------------------------------------------------------


def generic_secret(rng: random.Random, length: int | None = None) -> str:
    """A random value the generic rule must report: mixed case, digits and a symbol, no word in it."""
    n = length or rng.randrange(16, 41)
    chars = [rng.choice(_CONSONANTS), rng.choice(_CONSONANTS.upper()), rng.choice(DIGITS), rng.choice(_SYMBOLS)]
    chars += [rng.choice(_SECRETISH + _SYMBOLS) for _ in range(n - len(chars))]
    rng.shuffle(chars)
    first = rng.choice(_SECRETISH)  # never a symbol first: `*x` is a YAML alias, `$x` a variable
    return first + "".join(chars[1:])


def generic_contexts(secret: str) -> list[str]:
    """A secret-named label assigned ``secret`` in the shapes config and code use."""
    return [
        f'password = "{secret}"\n',
        f"conn = connect(host='db', password='{secret}')\n",
        f"database:\n  db_password: {secret}\n  port: 5432\n",
        json.dumps({"name": "deploy", "apiKey": secret}),
        f"export GITHUB_TOKEN={secret}\n",
        f"[auth]\nclient_secret = '{secret}'\n",
        f"[database]\npasswd = {secret}\n",
        f"const apiKey = '{secret}';\n",
        f"X-Api-Key: {secret}\n",
        f'token := "{secret}"\n',
        f'    password: str = "{secret}"\n',
        f"config[:auth] = {{ :private_key => '{secret}' }}\n",
        f'<add key="AccessKey" value="x" /><connection password="{secret}" />\n',
        f"SECRET_KEY={secret} DEBUG=false\n",
        f'settings.credentials = "{secret}"\n',
    ]


def generic_placeholders(rng: random.Random) -> list[str]:
    """Values people put under secret-named labels that are not secrets (each a whole value)."""
    word = rng.choice(("db_password", "api_key", "github_token", "client_secret", "auth_token"))
    upper = word.upper()
    return [
        "changeme",
        "change_me_please",
        "<your-api-key>",
        f"<{word}>",
        f"${{{upper}}}",
        f"${upper}",
        f"{{{{{word}}}}}",
        f"%({word})s",
        f"your_{word}_here",
        "xxxxxxxxxxxxxxxx",
        "****************",
        f"example-{word}",
        f"dummy-{word}-value",
        "None",
        "null",
        "true",
        "false",
        "undefined",
        "00000000-0000-0000-0000-000000000000",
        _uuid_text(rng),
        _draw(rng, HEX, 32),
        _draw(rng, HEX, 40),
        _draw(rng, HEX, 64),
        "sha512-" + base64.b64encode(rng.randbytes(64)).decode(),
        "sha256-" + base64.b64encode(rng.randbytes(32)).decode(),
        f"settings.{upper}",
        f"self.{word}",
        f"config.secrets.{word}",
        f"os.environ.{word}",
        "/run/secrets/db_password",
        "./certs/server.key",
        "~/.config/app/token.json",
        "https://vault.example.com/v1/secret/data/app",
        "tok-second",
        "read-only-user",
        "aaaaaaaaaaaa",
        "abcabcabcabc",
        "SecretStr",
    ]


def _uuid_text(rng: random.Random) -> str:
    return "-".join(_draw(rng, HEX, n) for n in (8, 4, 4, 4, 12))


def _generic(rule: Rule, rng: random.Random) -> Sample:
    secret = generic_secret(rng)
    placeholders = generic_placeholders(rng)
    negatives = [f'password = "{p}"\n' for p in placeholders]
    negatives += [f"PASSWORD={p}\n" for p in placeholders]
    negatives += [
        'password = os.environ["DB_PASSWORD"]\n',
        'api_key = os.getenv("API_KEY")\n',
        "token = get_token(session)\n",
        "secret: Secret[str] = field(default_factory=Secret)\n",
        f'password = "{secret[:7]}"\n',  # too short
        f'password_hash = "{secret}"\n',  # a label that is not secret-named
        f'token_count = "{secret}"\n',
        f'tokenizer = "{secret}"\n',
        f'secret_name = "{secret}"\n',
        f'if password == "{secret}":\n',  # a comparison, not an assignment
        f'password = "{secret[:6]} {secret[6:]}"\n',  # prose, not a value
    ]
    return Sample(rule.id, secret, tuple(generic_contexts(secret)), tuple(negatives))


def _strongroom_api_key(rule: Rule, rng: random.Random) -> Sample:
    from strongroom.rules.api_key_format import BASE62, checksum

    body = "srk_" + "".join(rng.choice(BASE62) for _ in range(8)) + "_" + "".join(rng.choice(BASE62) for _ in range(32))
    key = body + checksum(body)
    wrong = "A" if key[-1] != "A" else "B"
    negatives = (
        f'api_key = "{key[:-1]}{wrong}"\n',  # a one-character change breaks the checksum
        f'api_key = "{key[:-2]}"\n',  # too short
        f'api_key = "srx_{key[4:]}"\n',
    )  # another prefix
    return Sample(rule.id, key, tuple(generic_contexts(key)), negatives)


def _password(rng: random.Random) -> str:
    """A password as people choose them for services: letters, digits and a symbol, no word in it."""
    return rng.choice(_CONSONANTS.upper()) + _draw(rng, _SECRETISH, 14) + rng.choice("!#%^*~") + _draw(rng, DIGITS, 2)


_BAD_PASSWORDS = ("$API_PASSWORD", "${API_PASSWORD}", "<password>", "password", "changeme", "xxxxxxxx", "****")


def _curl_user(rule: Rule, rng: random.Random) -> Sample:
    """``curl -u user:password`` as shell scripts and docs write it; variables and placeholders as negatives."""
    user, pw = "svc_" + _draw(rng, string.ascii_lowercase, 6), _password(rng)
    url = "https://api.example.com/v1/items"
    contexts = (
        f"curl -u {user}:{pw} {url}\n",
        f"curl -s --user '{user}:{pw}' -X POST {url}\n",
        f'RUN curl -fsSL -u"{user}:{pw}" {url} -o /tmp/x\n',
        f"curl --user={user}:{pw} {url}\n",
        json.dumps({"run": f"curl -u {user}:{pw} {url}"}),
    )
    negatives = [f"curl -u {user}:{bad} {url}\n" for bad in _BAD_PASSWORDS]
    negatives += [f"curl -u {user} {url}\n", f"wget --user {user}:{pw} {url}\n"]
    return Sample(rule.id, pw, contexts, tuple(negatives), ("curl",), pw)


def _basic_header(rule: Rule, rng: random.Random) -> Sample:
    """``Authorization: Basic base64(user:password)`` in curl, HTTP and code; non-credential base64 as negatives."""
    user, pw = "svc_" + _draw(rng, string.ascii_lowercase, 6), _password(rng)
    secret = base64.b64encode(f"{user}:{pw}".encode()).decode()
    contexts = (
        f"curl -H 'Authorization: Basic {secret}' https://api.example.com/\n",
        f"GET / HTTP/1.1\r\nHost: example.com\r\nAuthorization: Basic {secret}\r\n",
        json.dumps({"headers": {"Authorization": f"Basic {secret}"}}),
        f'headers = {{"authorization": "Basic {secret}"}}\n',
    )
    negatives = [
        f"Authorization: Basic {base64.b64encode(f'{user}:{bad}'.encode()).decode()}\n" for bad in _BAD_PASSWORDS
    ]
    negatives += [
        f"Authorization: Basic {base64.b64encode(_draw(rng, ALNUM, 24).encode()).decode()}\n",  # no colon
        f"Authorization: Basic {secret[:-3]}!{secret[-2:]}\n",
        f"Authorization: Bearer {secret}\n",
    ]
    return Sample(rule.id, secret, contexts, tuple(negatives), ("authorization",), secret)


def _url_password(rule: Rule, rng: random.Random) -> Sample:
    """``https://user:password@host`` in config and code; URLs without a real password as negatives."""
    user, pw = "svc_" + _draw(rng, string.ascii_lowercase, 6), _password(rng)
    scheme = rng.choice(("https", "ftp", "smtp", "ldaps"))
    url = f"{scheme}://{user}:{pw}@files-{_draw(rng, LOWNUM, 5)}.internal/path"
    contexts = tuple(_assignments("mirror_url", url))
    negatives = [f'mirror_url = "{scheme}://{user}:{bad}@files.internal/path"\n' for bad in _BAD_PASSWORDS]
    negatives += [
        f'mirror_url = "{scheme}://{user}@files.internal/path"\n',
        f'mirror_url = "{scheme}://files.internal/"\n',
    ]
    return Sample(rule.id, pw, contexts, tuple(negatives), ("mirror_url",), url)


def _docker_auth(rule: Rule, rng: random.Random) -> Sample:
    """A Docker ``config.json`` registry entry; an auth of no user:password, or of a placeholder, as negatives."""
    user, pw = "svc_" + _draw(rng, string.ascii_lowercase, 6), _password(rng)
    secret = base64.b64encode(f"{user}:{pw}".encode()).decode()
    doc = {"auths": {"registry.example.com": {"auth": secret}}}
    contexts = (
        json.dumps(doc, indent=2),
        json.dumps(doc),
        json.dumps({"config.json": json.dumps(doc)}),
    )
    negatives = (
        json.dumps({"auths": {"r.example.com": {"auth": base64.b64encode(f"{user}:changeme".encode()).decode()}}}),
        json.dumps({"auths": {"r.example.com": {"auth": base64.b64encode(_draw(rng, ALNUM, 30).encode()).decode()}}}),
        json.dumps({"auths": {"r.example.com": {"oauth": secret}}}),
        f"https://example.com/cb?auth={secret}\n",
    )
    return Sample(rule.id, secret, contexts, negatives, ("auth",), secret)


_CUSTOM: dict[str, Callable[[Rule, random.Random], Sample]] = {
    "strongroom-api-key": _strongroom_api_key,
    "gcp-service-account-key": _gcp_service_account,
    "slack-config-access-token": _slack_rotating,
    "discord-bot-token": _discord_bot,
    "curl-user-password": _curl_user,
    "http-basic-auth-header": _basic_header,
    "url-password": _url_password,
    "docker-config-auth": _docker_auth,
    "slack-config-refresh-token": _slack_rotating,
    "jwt": _jwt,
    "pem-private-key": _pem,
    "generic-secret-assignment": _generic,
    **dict.fromkeys(_DB_SCHEMES, _database_url),
}


def supported_rule_ids() -> frozenset[str]:
    """The ids :func:`sample` can generate for."""
    return frozenset(_SPECS) | frozenset(_CUSTOM)


def sample(rule: Rule, seed: int) -> Sample:
    """A generated example for ``rule``, the same for the same rule and seed.

    Raises ``KeyError`` for a rule this module has no generator for.
    """
    rng = random.Random(seed)  # noqa: S311 -- reproducible fake credentials for tests, never key material
    if rule.id in _CUSTOM:
        return _CUSTOM[rule.id](rule, rng)
    if rule.id in _SPECS:
        return _from_spec(rule, _SPECS[rule.id], rng)
    raise KeyError(f"no sample generator for rule {rule.id!r}")
