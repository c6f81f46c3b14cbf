"""Detector rules for chat, mail, payments, AI providers, databases and generic crypto material.

Each regex is written from the provider's own description of its credential format (prefix, alphabet,
length). Formats without a distinctive prefix (a bare 32-hex token, a UUID) only match next to the
provider's name, so the shape alone never raises a finding. Every rule's keywords are literals that occur
in any text the regex can match (compared lower-case), so they can serve as the scanner's prefilter.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD
from strongroom.rules.context import TAIL as _R
from strongroom.rules.kit import ID_KINDS, keyed_or_near, keyed_provider_rule
from strongroom.rules.kit import UUID as _UUID
from strongroom.rules.kit import token as _token
from strongroom.rules.lookalikes import PEM_BODY_FOLLOWS

# --- database URLs ------------------------------------------------------------------------------------

_PLACEHOLDER_WORDS = frozenset(
    {
        "pass",
        "passwd",
        "pwd",
        "pw",
        "secret",
        "changeme",
        "change-me",
        "change_me",
        "changeit",
        "example",
        "placeholder",
        "redacted",
        "dummy",
        "null",
        "none",
        "todo",
        "xxx",
        "user",
        "username",
    }
)
_PLACEHOLDER_SHAPE = re.compile(r"[a-z_\-]*(?:password|passwd|secret|changeme)[a-z_\-]*")
_MASK_CHARS = frozenset("*xX.-_#?")


def _real_password(secret: str) -> bool:
    """False for the placeholders documentation and templates put where a password goes."""
    low = secret.lower()
    placeholder = (
        low in _PLACEHOLDER_WORDS
        or _PLACEHOLDER_SHAPE.fullmatch(low) is not None
        or secret[0] in "$<{[%("  # ${VAR}, $VAR, <password>, {{ password }}, [password], %(password)s
        or set(secret) <= _MASK_CHARS  # ***, xxxx, ....
    )
    return not placeholder


def _db_url(scheme: str) -> str:
    """``scheme://user:password@host`` with the password as the secret; the user may be empty (redis)."""
    return (
        rf"(?<![A-Za-z0-9+.-])(?i:{scheme})://[^\s:/?#@'\"`]*:"
        rf"(?P<secret>[^\s@/'\"`]{{1,256}})@[^\s/?#@'\"`:]"
    )


def _db_rule(rule_id: str, name: str, scheme: str, keywords: tuple[str, ...]) -> Rule:
    return Rule(
        id=rule_id,
        description=f"{name} connection URL with an inline password",
        pattern=_db_url(scheme),
        keywords=keywords,
        validate=_real_password,
    )


# --- JWT -----------------------------------------------------------------------------------------------


def _jwt_header_ok(token: str) -> bool:
    """The first part base64url-decodes to a JSON object naming its ``alg``."""
    head = token.split(".", 1)[0]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error):
        return False
    return isinstance(decoded, dict) and isinstance(decoded.get("alg"), str)


# --- Discord -------------------------------------------------------------------------------------------------


def _discord_user_id_ok(token: str) -> bool:
    """The first part of a bot token is base64url of the bot's user id: a 17-20 digit snowflake."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (ValueError, binascii.Error):
        return False
    return decoded.isdigit() and 17 <= len(decoded) <= 20


# --- Slack token rotation ---------------------------------------------------------------------------------
# Slack documents the prefixes (tooling.tokens.rotate: config access tokens `xoxe.xoxp-...`, refresh tokens
# `xoxe-...`; with token rotation on, bot/user tokens become `xoxe.xoxb-1-...` / `xoxe.xoxp-1-...`), not the
# body. Checked on published (revoked) tokens of all three kinds: after `<version>-` the body is unpadded
# base64 of ASCII `<kind>-<n>-<team id>-<ids...>-<64 hex>` (e.g. "2-2-<13 digits>-...-<64 hex>"), 146-166
# characters, so only alphanumerics. Decoding it rejects any other run of 60+ alphanumerics.
_SLACK_ROTATING_PAYLOAD = re.compile(r"[0-9]+(?:-[0-9]+){3,6}-[0-9a-f]{64}")


def _slack_rotating_body_ok(token: str) -> bool:
    """The part after the last ``-`` is base64 of Slack's ``<numbers>-...-<64 hex>`` payload."""
    body = token.rsplit("-", 1)[-1]
    try:
        payload = base64.b64decode(body + "=" * (-len(body) % 4), validate=True).decode("ascii")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        return False
    return _SLACK_ROTATING_PAYLOAD.fullmatch(payload) is not None


_CHAT: tuple[Rule, ...] = (
    Rule(
        id="slack-bot-token",
        description="Slack bot token (xoxb-)",
        pattern=_token(r"xoxb-[0-9]{8,14}-(?:[0-9]{8,14}-)?[A-Za-z0-9]{20,40}"),
        keywords=("xoxb-",),
        entropy=3.0,
    ),
    Rule(
        id="slack-user-token",
        description="Slack user token (xoxp-)",
        pattern=_token(r"xoxp-[0-9]{8,14}-[0-9]{8,14}-[0-9]{8,14}-[a-f0-9]{32}"),
        keywords=("xoxp-",),
        entropy=3.0,
    ),
    Rule(
        id="slack-workspace-access-token",
        description="Slack workspace app access token (legacy xoxa-)",
        pattern=_token(r"xoxa-[0-9]{1,14}(?:-[0-9]{8,14}){0,3}-[A-Za-z0-9]{20,64}"),
        keywords=("xoxa-",),
        entropy=3.0,
    ),
    Rule(
        id="slack-refresh-token",
        description="Slack workspace app refresh token (legacy xoxr-)",
        pattern=_token(r"xoxr-[0-9]{1,14}(?:-[0-9]{8,14}){0,3}-[A-Za-z0-9]{20,64}"),
        keywords=("xoxr-",),
        entropy=3.0,
    ),
    Rule(
        id="slack-app-level-token",
        description="Slack app-level token (xapp-) for Socket Mode and app-wide APIs",
        pattern=_token(r"xapp-[0-9]-A[A-Z0-9]{8,12}-[0-9]{10,14}-[a-f0-9]{64}"),
        keywords=("xapp-",),
        entropy=3.0,
    ),
    Rule(
        id="slack-config-access-token",
        description="Slack app configuration or rotating access token (xoxe.xoxp- / xoxe.xoxb-)",
        pattern=_token(r"xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{60,400}"),
        keywords=("xoxe.",),
        entropy=3.5,
        validate=_slack_rotating_body_ok,
    ),
    Rule(
        id="slack-config-refresh-token",
        description="Slack app configuration or rotation refresh token (xoxe-)",
        pattern=_token(r"xoxe-[0-9]-[A-Za-z0-9]{60,400}"),
        keywords=("xoxe-",),
        entropy=3.5,
        validate=_slack_rotating_body_ok,
    ),
    Rule(
        id="slack-webhook-url",
        description="Slack incoming webhook URL (hooks.slack.com/services/T…/B…/…)",
        pattern=(
            r"hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/"
            rf"(?P<secret>[A-Za-z0-9]{{20,32}}){_R}"
        ),
        keywords=("hooks.slack.com",),
        entropy=3.0,
    ),
    Rule(
        id="slack-workflow-webhook-url",
        description="Slack Workflow Builder webhook trigger URL (hooks.slack.com/workflows|triggers/…)",
        pattern=(
            r"hooks\.slack\.com/(?:workflows/T[A-Z0-9]{8,12}/A[A-Z0-9]{8,12}|triggers/T[A-Z0-9]{8,12})"
            rf"/[0-9]{{8,20}}/(?P<secret>[A-Za-z0-9]{{20,40}}){_R}"
        ),
        keywords=("hooks.slack.com",),
        entropy=3.0,
    ),
    # Discord bot tokens: base64url(user id) . base64url(timestamp) . HMAC. The HMAC part was 27 characters
    # until mid-2022 and is 38 since (both still valid); no length in between exists, so only those two match.
    keyed_or_near(
        "discord-bot-token",
        "Discord bot token (base64 of a 17-20 digit user id . timestamp . 27- or 38-char HMAC) under or after a"
        " discord/bot label",
        ("discord", "bot"),
        r"[MNO][A-Za-z0-9_-]{22,26}\.[A-Za-z0-9_-]{6}\.(?:[A-Za-z0-9_-]{38}|[A-Za-z0-9_-]{27})",
        entropy=3.5,
        validate=_discord_user_id_ok,
    ),
    # Discord OAuth2 applications: the client id is the application's snowflake (17-20 digits), the client
    # secret 32 base64url characters; neither has a prefix, so only a key naming discord reports them.
    keyed_provider_rule(
        "discord-client-id",
        "Discord OAuth2 client id (17-20 digit snowflake) under a discord + client id key; an identifier",
        ("discord",),
        r"[0-9]{17,20}",
        kinds=ID_KINDS,
        entropy=2.5,
        severity="low",
    ),
    keyed_provider_rule(
        "discord-client-secret",
        "Discord OAuth2 client secret (32 base64url characters) under a discord + secret key",
        ("discord",),
        r"[A-Za-z0-9_-]{32}",
        kinds=("secret",),
        entropy=3.5,
    ),
    Rule(
        id="discord-webhook-url",
        description="Discord webhook URL (discord.com/api/webhooks/<id>/<token>)",
        pattern=(
            r"(?:discord|discordapp)\.com/api/(?:v[0-9]{1,2}/)?webhooks/[0-9]{17,20}/"
            rf"(?P<secret>[A-Za-z0-9_-]{{60,72}}){_R}"
        ),
        keywords=("discord",),
        entropy=3.5,
    ),
    Rule(
        id="telegram-bot-token",
        description="Telegram Bot API token (<bot id>:AA + 33 characters)",
        pattern=r"(?<![0-9])[0-9]{6,12}:AA[A-Za-z0-9_-]{33}" + _R,
        keywords=(":aa",),
        entropy=3.5,
    ),
    Rule(
        id="teams-incoming-webhook-url",
        description="Microsoft Teams incoming webhook URL (webhook.office.com/webhookb2/…/IncomingWebhook/…)",
        pattern=(
            r"https://(?:[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2|outlook\.office(?:365)?\.com/webhook)/"
            rf"{_UUID}@{_UUID}/IncomingWebhook/(?P<secret>[0-9a-f]{{32}})/{_UUID}"
        ),
        keywords=("incomingwebhook",),
        entropy=3.0,
    ),
    Rule(
        id="teams-workflow-webhook-url",
        description="Teams Workflows / Power Automate / Logic Apps HTTP trigger URL with its SAS signature",
        pattern=(
            r"https://[A-Za-z0-9.-]+(?::443)?/(?:powerautomate/automations/direct/)?workflows/[0-9a-f]{32}"
            rf"/triggers/[A-Za-z0-9_-]+/paths/invoke\?[^\s\"'<>]*?sig=(?P<secret>[A-Za-z0-9_-]{{43}}){_R}"
        ),
        keywords=("paths/invoke",),
        entropy=3.5,
    ),
)

_MAIL: tuple[Rule, ...] = (
    Rule(
        id="sendgrid-api-key",
        description="SendGrid API key (SG.<22>.<43>)",
        pattern=_token(r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
        keywords=("sg.",),
        entropy=3.5,
    ),
    keyed_or_near(
        "mailgun-legacy-api-key",
        "Mailgun API key in the legacy key-<32 hex> format, under or after a mailgun label",
        ("mailgun",),
        r"key-[0-9a-f]{32}",
    ),
    keyed_or_near(
        "mailgun-api-key",
        "Mailgun API key (<32 hex>-<8 hex>-<8 hex>) under or after a mailgun label",
        ("mailgun",),
        r"[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8}",
    ),
    Rule(
        id="mailchimp-api-key",
        description="Mailchimp Marketing API key (<32 hex>-us<datacenter>)",
        pattern=_token(r"[0-9a-f]{32}-us[0-9]{1,2}"),
        keywords=("-us",),
        entropy=3.0,
    ),
    keyed_provider_rule(
        "postmark-server-token",
        "Postmark server or account API token (a UUID) under a postmark + token/key key",
        ("postmark",),
        _UUID,
    ),
    Rule(
        id="brevo-api-key",
        description="Brevo (Sendinblue) API v3 key (xkeysib-<64 hex>-<16>)",
        pattern=_token(r"xkeysib-[0-9a-f]{64}-[A-Za-z0-9]{16}"),
        keywords=("xkeysib-",),
        entropy=3.0,
    ),
    Rule(
        id="brevo-smtp-key",
        description="Brevo (Sendinblue) SMTP key (xsmtpsib-<64 hex>-<16>)",
        pattern=_token(r"xsmtpsib-[0-9a-f]{64}-[A-Za-z0-9]{16}"),
        keywords=("xsmtpsib-",),
        entropy=3.0,
    ),
    # Resend documents the re_ prefix (its examples write `re_xxxxxxxxx`); the rest, 8 alphanumerics + _ + 24
    # alphanumerics, is the shape of published keys, not documented.
    Rule(
        id="resend-api-key",
        description="Resend API key (re_ + 8 + _ + 24 alphanumerics)",
        pattern=_token(r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24}"),
        keywords=("re_",),
        entropy=3.5,
    ),
    keyed_or_near(
        "twilio-account-sid",
        "Twilio Account SID (AC + 32 hex) under or after a twilio label; an identifier, paired with a secret",
        ("twilio",),
        r"AC[0-9a-f]{32}",
        kinds=("sid", "account", "id"),
        severity="low",
    ),
    Rule(
        id="twilio-api-key",
        description="Twilio API key SID (SK + 32 hex)",
        pattern=_token(r"SK[0-9a-f]{32}"),
        keywords=("sk",),
        entropy=3.0,
        severity="medium",
    ),
    keyed_provider_rule(
        "twilio-auth-token",
        "Twilio auth token or API key secret (32 hex) under a twilio + token/secret key",
        ("twilio",),
        r"[0-9a-f]{32}",
    ),
)

_PAYMENTS: tuple[Rule, ...] = (
    Rule(
        id="stripe-live-secret-key",
        description="Stripe live-mode secret API key (sk_live_)",
        pattern=_token(r"sk_live_[A-Za-z0-9]{24,247}"),
        keywords=("sk_live_",),
        entropy=3.0,
        severity="critical",
    ),
    Rule(
        id="stripe-test-secret-key",
        description="Stripe test-mode secret API key (sk_test_)",
        pattern=_token(r"sk_test_[A-Za-z0-9]{24,247}"),
        keywords=("sk_test_",),
        entropy=3.0,
        severity="medium",
    ),
    Rule(
        id="stripe-live-restricted-key",
        description="Stripe live-mode restricted API key (rk_live_)",
        pattern=_token(r"rk_live_[A-Za-z0-9]{24,247}"),
        keywords=("rk_live_",),
        entropy=3.0,
        severity="critical",
    ),
    Rule(
        id="stripe-test-restricted-key",
        description="Stripe test-mode restricted API key (rk_test_)",
        pattern=_token(r"rk_test_[A-Za-z0-9]{24,247}"),
        keywords=("rk_test_",),
        entropy=3.0,
        severity="medium",
    ),
    Rule(
        id="stripe-webhook-secret",
        description="Stripe webhook endpoint signing secret (whsec_)",
        pattern=LEAD + r"whsec_[A-Za-z0-9+/]{24,100}={0,2}(?![A-Za-z0-9+/=_-])",
        keywords=("whsec_",),
        entropy=3.0,
    ),
    Rule(
        id="square-access-token",
        description="Square OAuth access token, legacy format (sq0atp-)",
        pattern=_token(r"sq0atp-[A-Za-z0-9_-]{22}"),
        keywords=("sq0atp-",),
        entropy=3.0,
    ),
    Rule(
        id="square-oauth-secret",
        description="Square application OAuth secret (sq0csp-)",
        pattern=_token(r"sq0csp-[A-Za-z0-9_-]{43}"),
        keywords=("sq0csp-",),
        entropy=3.0,
    ),
    keyed_or_near(
        "square-eaaa-access-token",
        "Square access token (EAAA…) under or after a square label (the prefix alone is shared with others)",
        ("square",),
        r"EAAA[A-Za-z0-9_-]{56,80}",
        entropy=3.5,
    ),
    Rule(
        id="braintree-production-access-token",
        description="PayPal/Braintree production access token (access_token$production$…$…)",
        pattern=_token(r"access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}"),
        keywords=("access_token$production$",),
        entropy=3.0,
        severity="critical",
    ),
    Rule(
        id="braintree-sandbox-access-token",
        description="PayPal/Braintree sandbox access token (access_token$sandbox$…$…)",
        pattern=_token(r"access_token\$sandbox\$[0-9a-z]{16}\$[0-9a-f]{32}"),
        keywords=("access_token$sandbox$",),
        entropy=3.0,
        severity="medium",
    ),
    Rule(
        id="plaid-access-token",
        description="Plaid Item access token (access-<environment>-<uuid>)",
        pattern=_token(rf"access-(?:production|development|sandbox)-{_UUID}"),
        keywords=("access-production-", "access-development-", "access-sandbox-"),
        entropy=3.0,
    ),
    Rule(
        id="flutterwave-secret-key",
        description="Flutterwave secret key (FLWSECK- / FLWSECK_TEST- + 32 hex + -X)",
        pattern=_token(r"FLWSECK(?:_TEST)?-[0-9a-f]{32}-X"),
        keywords=("flwseck",),
        entropy=3.0,
    ),
)

_AI: tuple[Rule, ...] = (
    Rule(
        id="openai-project-key",
        description="OpenAI project API key (sk-proj-)",
        pattern=_token(r"sk-proj-[A-Za-z0-9_-]{40,300}"),
        keywords=("sk-proj-",),
        entropy=3.5,
    ),
    Rule(
        id="openai-service-account-key",
        description="OpenAI service account API key (sk-svcacct-)",
        pattern=_token(r"sk-svcacct-[A-Za-z0-9_-]{40,300}"),
        keywords=("sk-svcacct-",),
        entropy=3.5,
    ),
    Rule(
        id="openai-admin-key",
        description="OpenAI admin API key (sk-admin-)",
        pattern=_token(r"sk-admin-[A-Za-z0-9_-]{40,300}"),
        keywords=("sk-admin-",),
        entropy=3.5,
        severity="critical",
    ),
    Rule(
        id="openai-legacy-key",
        description="OpenAI legacy user API key (sk- + 48 with the T3BlbkFJ marker)",
        pattern=_token(r"sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}"),
        keywords=("t3blbkfj",),
        entropy=3.5,
    ),
    Rule(
        id="openrouter-api-key",
        description="OpenRouter API key (sk-or-v1- + 64 hex)",
        pattern=_token(r"sk-or-v1-[0-9a-f]{64}"),
        keywords=("sk-or-v1-",),
        entropy=3.0,
    ),
    # Anthropic keys are 108 characters: sk-ant-api03- + 93 base64url characters + "AA" (the console's key
    # hints end in "AA"; published leaked keys have exactly 95 characters after the prefix, the last two
    # "AA"). Admin keys have the same body after sk-ant-admin01-.
    Rule(
        id="anthropic-api-key",
        description="Anthropic API key (sk-ant-api03- + 93 base64url characters + AA)",
        pattern=_token(r"sk-ant-api03-[A-Za-z0-9_-]{93}AA"),
        keywords=("sk-ant-api03-",),
        entropy=3.5,
    ),
    Rule(
        id="anthropic-admin-key",
        description="Anthropic Admin API key (sk-ant-admin01- + 93 base64url characters + AA)",
        pattern=_token(r"sk-ant-admin01-[A-Za-z0-9_-]{93}AA"),
        keywords=("sk-ant-admin01-",),
        entropy=3.5,
        severity="critical",
    ),
    Rule(
        id="huggingface-user-token",
        description="Hugging Face user access token (hf_ + 34)",
        pattern=_token(r"hf_[A-Za-z0-9]{34}"),
        keywords=("hf_",),
        entropy=3.5,
    ),
    Rule(
        id="huggingface-org-token",
        description="Hugging Face organization API token (api_org_ + 34, deprecated format)",
        pattern=_token(r"api_org_[A-Za-z0-9]{34}"),
        keywords=("api_org_",),
        entropy=3.5,
    ),
    keyed_provider_rule(
        "cohere-api-key",
        "Cohere API key (40 alphanumerics) under a cohere + key/token key or CO_API_KEY",
        ("cohere", "co_api"),
        r"[A-Za-z0-9]{40}",
        entropy=3.5,
    ),
    Rule(
        id="groq-api-key",
        description="Groq API key (gsk_ + 52)",
        pattern=_token(r"gsk_[A-Za-z0-9]{52}"),
        keywords=("gsk_",),
        entropy=3.5,
    ),
    Rule(
        id="replicate-api-token",
        description="Replicate API token (r8_ + 37)",
        pattern=_token(r"r8_[A-Za-z0-9]{37}"),
        keywords=("r8_",),
        entropy=3.5,
    ),
    Rule(
        id="perplexity-api-key",
        description="Perplexity API key (pplx- + 48)",
        pattern=_token(r"pplx-[A-Za-z0-9]{40,64}"),
        keywords=("pplx-",),
        entropy=3.5,
    ),
    keyed_provider_rule(
        "mistral-api-key",
        "Mistral AI API key (32 alphanumerics) under a mistral + key/token key",
        ("mistral",),
        r"[A-Za-z0-9]{32}",
        entropy=3.5,
    ),
    Rule(
        id="xai-api-key",
        description="xAI (Grok) API key (xai- + 80)",
        pattern=_token(r"xai-[A-Za-z0-9]{60,100}"),
        keywords=("xai-",),
        entropy=3.5,
    ),
    Rule(
        id="langsmith-personal-token",
        description="LangSmith personal access token (lsv2_pt_)",
        pattern=_token(r"lsv2_pt_[0-9a-f]{32}_[0-9a-f]{10}"),
        keywords=("lsv2_pt_",),
        entropy=3.0,
    ),
    Rule(
        id="langsmith-service-key",
        description="LangSmith service key (lsv2_sk_)",
        pattern=_token(r"lsv2_sk_[0-9a-f]{32}_[0-9a-f]{10}"),
        keywords=("lsv2_sk_",),
        entropy=3.0,
    ),
    Rule(
        id="pinecone-api-key",
        description="Pinecone API key (pcsk_<id>_<secret>)",
        pattern=_token(r"pcsk_[A-Za-z0-9]{4,10}_[A-Za-z0-9]{40,100}"),
        keywords=("pcsk_",),
        entropy=3.5,
    ),
)

_DATABASES: tuple[Rule, ...] = (
    _db_rule("postgres-url-password", "PostgreSQL", r"postgres(?:ql)?(?:\+[a-z0-9_]+)?", ("postgres",)),
    _db_rule("mysql-url-password", "MySQL", r"mysqlx?(?:\+[a-z0-9_]+)?", ("mysql",)),
    _db_rule("mariadb-url-password", "MariaDB", r"mariadb(?:\+[a-z0-9_]+)?", ("mariadb",)),
    _db_rule("mongodb-url-password", "MongoDB", r"mongodb(?:\+srv)?", ("mongodb",)),
    _db_rule("redis-url-password", "Redis", r"rediss?", ("redis",)),
    _db_rule("amqp-url-password", "AMQP (RabbitMQ)", r"amqps?", ("amqp",)),
    _db_rule("mssql-url-password", "SQL Server", r"(?:mssql|sqlserver)(?:\+[a-z0-9_]+)?", ("mssql", "sqlserver")),
)

_CRYPTO: tuple[Rule, ...] = (
    Rule(
        id="pem-private-key",
        description="PEM private key block header (PKCS#1, PKCS#8, SEC1, DSA, OpenSSH, PGP) with a key body",
        # a header alone, or over `...` or a placeholder, is documentation: the body must follow
        pattern=r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----" + PEM_BODY_FOLLOWS,
        keywords=("private key",),
        severity="critical",
    ),
    Rule(
        id="age-secret-key",
        description="age file-encryption identity (AGE-SECRET-KEY-1 + 58 bech32 characters)",
        # bech32 is written all upper or all lower case; age prints upper case and parses both
        pattern=_token(
            r"(?:AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}"
            r"|age-secret-key-1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58})"
        ),
        keywords=("age-secret-key-1",),
        entropy=3.5,
        severity="critical",
    ),
    Rule(
        id="jwt",
        description="JSON Web Token (base64url header.payload.signature whose header names its alg)",
        pattern=_token(r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,}"),
        keywords=("eyj",),
        validate=_jwt_header_ok,
        severity="medium",
    ),
    Rule(
        id="generic-bearer-token",
        description="Bearer token in an Authorization header",
        pattern=(
            r"(?i:authorization)\\{0,3}[\"']?\s*[:=]\s*\\{0,3}[\"']?(?i:bearer)\s+"
            r"(?P<secret>[A-Za-z0-9._~+/-]{20,}=*)(?![A-Za-z0-9._~+/=-])"
        ),
        keywords=("bearer",),
        entropy=3.5,
        severity="medium",
    ),
)

RULES: tuple[Rule, ...] = (*_CHAT, *_MAIL, *_PAYMENTS, *_AI, *_DATABASES, *_CRYPTO)
