"""Detector rules for cloud providers, code hosts and developer platforms.

Each pattern is written from the provider's own description of its credential format (prefix, length,
alphabet). Where a format has no distinctive prefix, the pattern requires a nearby label naming the
provider, so that a bare 40-character string is never reported on its shape alone.
"""

from __future__ import annotations

import re
import zlib

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD as _LEAD
from strongroom.rules.context import TAIL as _TAIL
from strongroom.rules.context import keyed
from strongroom.rules.kit import UUID as _UUID
from strongroom.rules.kit import key_name, keyed_or_near, keyed_provider_rule
from strongroom.rules.kit import prefixed_rule as _prefixed

__all__ = ["RULES", "crc32_base62_checksum_ok", "crc32_hex_checksum_ok"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

# A base64 value ends where no base64 character follows.
_TAIL64 = r"(?![A-Za-z0-9+/=_-])"


def crc32_base62_checksum_ok(token: str) -> bool:
    """GitHub/npm token checksum: the last 6 chars are base62 (0-9A-Za-z) of the CRC32 of the 30 random chars.

    The random part is what follows the prefix (``ghp_``, ``npm_``, ...) up to the checksum.

    Checked (not assumed) against classic PATs that GitHub itself issued and revoked, published as test
    data: the CRC32 (IEEE, as ``zlib.crc32``) covers the 30 random characters only, not the prefix; the
    base62 alphabet is digits, then upper case, then lower case (0-9A-Za-z, *not* Go's big.Int order
    0-9a-zA-Z, which fails on every real token); the number is left-padded with "0" to 6 characters.
    Comparing the decoded number (rather than re-encoding) accepts exactly the same strings.
    """
    body = token.rsplit("_", 1)[-1]
    if len(body) != 36:
        return False
    random_part, check = body[:30], body[30:]
    value = 0
    for ch in check:
        digit = _BASE62.find(ch)
        if digit < 0:
            return False
        value = value * 62 + digit
    return value == zlib.crc32(random_part.encode("ascii"))


def crc32_hex_checksum_ok(token: str) -> bool:
    """Private Packagist token checksum: the last 8 chars are the CRC32 of prefix + random part, in hex.

    From Private Packagist's "Composer Authentication" documentation: ``prefix`` + 60 hex random characters
    + 8 hex checksum, the checksum being ``crc32(prefix . random)`` written as lower-case hex, left-padded
    with "0" to 8 characters.
    """
    body, check = token[:-8], token[-8:]
    return f"{zlib.crc32(body.encode('ascii')):08x}" == check


def _tok(prefix: str, body: str, tail: str = _TAIL) -> str:
    """A prefixed token: a literal ``prefix`` then ``body``, bounded on both sides."""
    return f"{_LEAD}{re.escape(prefix)}{body}{tail}"


def _github(rule_id: str, kind: str, prefix: str) -> Rule:
    # github.blog "Behind GitHub's new authentication token formats": prefix + 30 base62 + 6-char CRC32 checksum.
    return Rule(
        id=rule_id,
        description=f"GitHub {kind} ({prefix} + 36 base62 characters, CRC32 checksum)",
        pattern=_tok(prefix, r"[A-Za-z0-9]{36}"),
        keywords=(prefix,),
        validate=crc32_base62_checksum_ok,
        severity="critical",
    )


# GitLab "Token prefixes": every GitLab token type carries its own prefix; the legacy body is 20 base64url
# characters, the newer routable form is longer and ends in `.<version>.<crc>`.
_GITLAB_BODY = r"[0-9A-Za-z_-]{20,300}(?:\.[0-9a-z]{2}\.[0-9a-z]{7,9})?"


def _gitlab(rule_id: str, kind: str, prefix: str, *, severity: str = "high") -> Rule:
    return _prefixed(rule_id, f"GitLab {kind} ({prefix})", prefix, _GITLAB_BODY, severity=severity)


# AWS documents example keys with EXAMPLE in them (an access key id ending EXAMPLE, a secret key ending
# EXAMPLEKEY); they are in every tutorial and grant nothing.
_NOT_AWS_EXAMPLE = r"(?![A-Za-z0-9/+]{0,33}EXAMPLE)"

RULES: tuple[Rule, ...] = (
    # --- AWS -------------------------------------------------------------------------------------
    Rule(
        id="aws-access-key-id",
        description="AWS access key id (AKIA long-term, ASIA temporary, ABIA/ACCA service; 20 chars, base32 body)",
        pattern=rf"{_LEAD}(?P<secret>(?:AKIA|ASIA|ABIA|ACCA){_NOT_AWS_EXAMPLE}[A-Z2-7]{{16}})(?![A-Za-z0-9])",
        keywords=("akia", "asia", "abia", "acca"),
        entropy=3.0,
        severity="critical",
    ),
    Rule(
        id="aws-secret-access-key",
        description="AWS secret access key (40 base64 characters) under a secret_access_key or aws + secret key",
        pattern=keyed(
            rf"(?:(?i:secret[_.-]?access[_.-]?key)|{key_name(('aws',), ('secret',))})",
            rf"{_NOT_AWS_EXAMPLE}[A-Za-z0-9/+]{{40}}(?![A-Za-z0-9/+=])",
            rest=r"[\w.-]{0,16}?",
        ),
        keywords=("secret_access_key", "secret-access-key", "secret.access.key", "secretaccesskey", "aws"),
        entropy=4.0,
        severity="critical",
    ),
    Rule(
        id="aws-session-token",
        description="AWS STS session token (100+ base64 characters) under a session token key",
        pattern=keyed(
            r"(?i:session[_.-]?token)",
            r"[A-Za-z0-9/+=]{100,}(?![A-Za-z0-9/+=])",  # unbounded: a bounded repeat costs Hyperscan 17 s
            rest=r"[\w.-]{0,16}?",
        ),
        keywords=("session_token", "session-token", "session.token", "sessiontoken"),
        entropy=4.0,
        severity="medium",
    ),
    _prefixed(
        "aws-mws-auth-token",
        "Amazon Marketplace Web Service auth token (amzn.mws. + UUID)",
        "amzn.mws.",
        _UUID,
    ),
    # --- Google Cloud ----------------------------------------------------------------------------
    _prefixed("gcp-api-key", "Google Cloud API key (AIza + 35 characters)", "AIza", r"[0-9A-Za-z_-]{35}", entropy=3.5),
    Rule(
        id="gcp-service-account-key",
        description="Google Cloud service-account JSON key file (type service_account with a private_key_id)",
        pattern=(r'"type"\s*:\s*"service_account"[\s\S]{0,400}?"private_key_id"\s*:\s*"(?P<secret>[0-9a-f]{40})"'),
        keywords=("service_account",),
        entropy=3.0,
        severity="critical",
    ),
    _prefixed(
        "gcp-oauth-client-secret",
        "Google OAuth client secret (GOCSPX- + 28 characters)",
        "GOCSPX-",
        r"[0-9A-Za-z_-]{28}",
        entropy=3.5,
    ),
    _prefixed(
        "gcp-oauth-access-token",
        "Google OAuth 2.0 access token (ya29.)",
        "ya29.",
        r"[0-9A-Za-z_-]{30,2048}",
        entropy=3.5,
        severity="medium",
    ),
    # --- Azure -----------------------------------------------------------------------------------
    Rule(
        id="azure-storage-account-key",
        description="Azure storage account key in a connection string (AccountKey= 88-char base64)",
        pattern=r"AccountKey=(?P<secret>[A-Za-z0-9+/]{86}==)",
        keywords=("accountkey=",),
        entropy=4.5,
        severity="critical",
    ),
    Rule(
        id="azure-sas-token",
        description="Azure shared access signature (sv=<version> ... sig=<HMAC-SHA256, base64, URL-encoded>)",
        pattern=(
            r"\bsv=\d{4}-\d{2}-\d{2}&[^\s\"'<>]{0,400}?\bsig="
            r"(?P<secret>(?:[A-Za-z0-9+/]|%2[BbFf]){43}(?:%3[Dd]|=))"
        ),
        keywords=("sig=",),
        entropy=4.0,
        severity="high",
    ),
    Rule(
        id="azure-service-bus-shared-access-key",
        description="Azure Service Bus / Event Hubs / IoT Hub SharedAccessKey (44-char base64) in a connection string",
        pattern=r"SharedAccessKey=(?P<secret>[A-Za-z0-9+/]{43}=)",
        keywords=("sharedaccesskey=",),
        entropy=4.0,
    ),
    Rule(
        id="azure-ad-client-secret",
        description="Microsoft Entra ID (Azure AD) application client secret (xxxNQ~ + 31-34 characters)",
        pattern=r"(?:(?<![A-Za-z0-9_~.\\-])|(?<=\\[nrt]))(?P<secret>[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})"
        r"(?![A-Za-z0-9_~.-])",
        keywords=("q~",),
        entropy=3.5,
    ),
    Rule(
        id="azure-devops-pat",
        description="Azure DevOps personal access token, 84-character format with the AZDO signature",
        pattern=rf"{_LEAD}(?P<secret>[A-Za-z0-9]{{76}}AZDO[A-Za-z0-9]{{4}}){_TAIL}",
        keywords=("azdo",),
        entropy=4.0,
    ),
    # --- GitHub ----------------------------------------------------------------------------------
    _github("github-classic-pat", "personal access token (classic)", "ghp_"),
    _github("github-oauth-token", "OAuth access token", "gho_"),
    _github("github-user-to-server-token", "app user-to-server token", "ghu_"),
    _github("github-server-to-server-token", "app installation (server-to-server) token", "ghs_"),
    # GitHub's "Refreshing user access tokens" shows refresh tokens as ghr_ + 76 base62 characters, not the
    # 36 of the other kinds (the previous ghr_ rule, a copy of those, could never match a real one); no
    # checksum is documented for them, so the entropy floor stands in.
    _prefixed(
        "github-refresh-token",
        "GitHub app refresh token (ghr_ + 76 base62 characters)",
        "ghr_",
        r"[A-Za-z0-9]{76}",
        entropy=4.0,
        severity="critical",
    ),
    _prefixed(
        "github-fine-grained-pat",
        "GitHub fine-grained personal access token (github_pat_ + 22 + _ + 59)",
        "github_pat_",
        r"[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        entropy=4.0,
        severity="critical",
    ),
    # --- GitLab ----------------------------------------------------------------------------------
    _gitlab("gitlab-pat", "personal, project or group access token", "glpat-", severity="critical"),
    _gitlab("gitlab-deploy-token", "deploy token", "gldt-"),
    _gitlab("gitlab-runner-token", "runner authentication token", "glrt-"),
    _gitlab("gitlab-pipeline-trigger-token", "pipeline trigger token", "glptt-"),
    _gitlab("gitlab-ci-job-token", "CI/CD job token", "glcbt-", severity="medium"),
    _gitlab("gitlab-feed-token", "feed token", "glft-", severity="medium"),
    _gitlab("gitlab-incoming-mail-token", "incoming mail token", "glimt-", severity="medium"),
    _gitlab("gitlab-oauth-app-secret", "OAuth application secret", "gloas-"),
    _gitlab("gitlab-agent-token", "agent for Kubernetes token", "glagent-"),
    _prefixed(
        "gitlab-runner-registration-token",
        "GitLab legacy runner registration token (GR1348941 + 20 characters)",
        "GR1348941",
        r"[0-9A-Za-z_-]{20}",
    ),
    # --- Atlassian / Bitbucket -------------------------------------------------------------------
    keyed_provider_rule(
        "bitbucket-app-password",
        "Bitbucket app password (ATBB + 32, or 20 alphanumerics) under a bitbucket + password/token key",
        ("bitbucket",),
        r"(?:ATBB[A-Za-z0-9_=.-]{32}|[A-Za-z0-9]{20})(?![=.])",
        kinds=("pass", "pwd", "secret", "token"),
    ),
    _prefixed(
        "atlassian-api-token",
        "Atlassian cloud API token (ATATT3 + ~186 characters)",
        "ATATT3",
        r"[A-Za-z0-9_=-]{150,300}",
        entropy=4.0,
    ),
    _prefixed(
        "atlassian-access-token",
        "Atlassian / Bitbucket repository, project or workspace access token (ATCTT3)",
        "ATCTT3",
        r"[A-Za-z0-9_=-]{150,300}",
        entropy=4.0,
    ),
    # --- Package registries ----------------------------------------------------------------------
    Rule(
        id="npm-access-token",
        description="npm access token (npm_ + 36 base62 characters, CRC32 checksum)",
        pattern=_tok("npm_", r"[A-Za-z0-9]{36}"),
        keywords=("npm_",),
        validate=crc32_base62_checksum_ok,
        severity="critical",
    ),
    _prefixed(
        "pypi-upload-token",
        "PyPI API token (pypi- + base64url macaroon for pypi.org)",
        "pypi-AgEIcHlwaS5vcmc",
        r"[A-Za-z0-9_-]{50,1000}",
        entropy=4.0,
        severity="critical",
    ),
    _prefixed(
        "pypi-test-upload-token",
        "TestPyPI API token (pypi- + base64url macaroon for test.pypi.org)",
        "pypi-AgENdGVzdC5weXBpLm9yZw",
        r"[A-Za-z0-9_-]{50,1000}",
        entropy=4.0,
        severity="medium",
    ),
    _prefixed("rubygems-api-key", "RubyGems API key (rubygems_ + 48 hex)", "rubygems_", r"[a-f0-9]{48}"),
    _prefixed(
        "nuget-api-key", "NuGet.org API key (oy2 + 43 lower-case alphanumerics)", "oy2", r"[a-z0-9]{43}", entropy=3.5
    ),
    _prefixed("clojars-deploy-token", "Clojars deploy token (CLOJARS_ + 60)", "CLOJARS_", r"[a-z0-9]{60}"),
    _prefixed(
        "dockerhub-pat",
        "Docker Hub personal access token (dckr_pat_)",
        "dckr_pat_",
        r"[A-Za-z0-9_-]{27,64}",
        entropy=3.5,
    ),
    _prefixed(
        "dockerhub-org-access-token",
        "Docker Hub organization access token (dckr_oat_)",
        "dckr_oat_",
        r"[A-Za-z0-9_-]{27,64}",
        entropy=3.5,
    ),
    # --- HashiCorp -------------------------------------------------------------------------------
    _prefixed(
        "vault-service-token", "HashiCorp Vault service token (hvs.)", "hvs.", r"[A-Za-z0-9_-]{24,1024}", entropy=3.5
    ),
    _prefixed(
        "vault-batch-token", "HashiCorp Vault batch token (hvb.)", "hvb.", r"[A-Za-z0-9_-]{24,1024}", entropy=3.5
    ),
    _prefixed(
        "vault-recovery-token", "HashiCorp Vault recovery token (hvr.)", "hvr.", r"[A-Za-z0-9_-]{24,1024}", entropy=3.5
    ),
    Rule(
        id="terraform-cloud-api-token",
        description="Terraform Cloud / Enterprise API token (14 chars + .atlasv1. + 60-70 chars)",
        pattern=rf"{_LEAD}[A-Za-z0-9]{{14}}\.atlasv1\.[A-Za-z0-9_=-]{{60,70}}(?![A-Za-z0-9_=-])",
        keywords=(".atlasv1.",),
        entropy=4.0,
        severity="critical",
    ),
    # --- Hosting and PaaS ------------------------------------------------------------------------
    _prefixed("digitalocean-pat", "DigitalOcean personal access token (dop_v1_ + 64 hex)", "dop_v1_", r"[a-f0-9]{64}"),
    _prefixed("digitalocean-oauth-token", "DigitalOcean OAuth token (doo_v1_ + 64 hex)", "doo_v1_", r"[a-f0-9]{64}"),
    _prefixed(
        "digitalocean-refresh-token", "DigitalOcean OAuth refresh token (dor_v1_ + 64 hex)", "dor_v1_", r"[a-f0-9]{64}"
    ),
    keyed_provider_rule(
        "heroku-api-key",
        "Heroku API key (a UUID, or HRKU-) under a heroku + key/token key",
        ("heroku",),
        rf"{_UUID}|HRKU-[A-Za-z0-9_-]{{20,100}}",
    ),
    _prefixed(
        "flyio-token", "Fly.io macaroon token (FlyV1 fm2_...)", "FlyV1 fm", r"[12][a-z]?_[A-Za-z0-9+/=_-]{100,8192}"
    ),
    _prefixed("supabase-pat", "Supabase personal access token (sbp_ + 40 hex)", "sbp_", r"[a-f0-9]{40}"),
    _prefixed(
        "supabase-secret-key",
        "Supabase secret API key (sb_secret_)",
        "sb_secret_",
        r"[A-Za-z0-9_-]{20,64}",
        entropy=3.5,
    ),
    _prefixed(
        "planetscale-password", "PlanetScale database password (pscale_pw_)", "pscale_pw_", r"[A-Za-z0-9_.-]{32,64}"
    ),
    _prefixed(
        "planetscale-service-token", "PlanetScale service token (pscale_tkn_)", "pscale_tkn_", r"[A-Za-z0-9_.-]{32,64}"
    ),
    _prefixed("pulumi-access-token", "Pulumi access token (pul- + 40 hex)", "pul-", r"[a-f0-9]{40}"),
    _prefixed(
        "databricks-token", "Databricks personal access token (dapi + 32 hex)", "dapi", r"[a-f0-9]{32}(?:-[0-9])?"
    ),
    # --- Cloudflare, Alibaba, Tencent, IBM -------------------------------------------------------
    keyed_provider_rule(
        "cloudflare-api-token",
        "Cloudflare API token (40 base64url characters) under a cloudflare + token key or CF_API_TOKEN",
        ("cloudflare", "cf_api"),
        r"[A-Za-z0-9_-]{40}",
        kinds=("token", "secret"),
        entropy=3.5,
    ),
    keyed_provider_rule(
        "cloudflare-global-api-key",
        "Cloudflare global API key (37 hex) under a cloudflare + key key or CF_API_KEY",
        ("cloudflare", "cf_api"),
        r"[a-f0-9]{37}",
        kinds=("key",),
        severity="critical",
    ),
    _prefixed("alibaba-access-key-id", "Alibaba Cloud AccessKey ID (LTAI + 12-20)", "LTAI", r"[A-Za-z0-9]{12,20}"),
    keyed_provider_rule(
        "alibaba-access-key-secret",
        "Alibaba Cloud AccessKey secret (30 alphanumerics) under an alibaba/aliyun + secret key",
        ("alibaba", "aliyun", "alicloud"),
        r"[A-Za-z0-9]{30}",
        kinds=("secret",),
        entropy=3.5,
        severity="critical",
    ),
    _prefixed("tencent-secret-id", "Tencent Cloud SecretId (AKID + 32)", "AKID", r"[A-Za-z0-9]{32}", entropy=3.5),
    keyed_provider_rule(
        "ibm-cloud-api-key",
        "IBM Cloud API key (44 base64url characters) under an ibm + api key key",
        ("ibm",),
        r"[A-Za-z0-9_-]{44}",
        kinds=("api_key", "apikey", "key"),
        entropy=3.5,
    ),
    # --- Developer platforms ---------------------------------------------------------------------
    _prefixed("shopify-access-token", "Shopify Admin API access token (shpat_ + 32 hex)", "shpat_", r"[a-fA-F0-9]{32}"),
    _prefixed(
        "shopify-custom-app-token", "Shopify custom app access token (shpca_ + 32 hex)", "shpca_", r"[a-fA-F0-9]{32}"
    ),
    _prefixed(
        "shopify-private-app-token", "Shopify private app access token (shppa_ + 32 hex)", "shppa_", r"[a-fA-F0-9]{32}"
    ),
    _prefixed("shopify-shared-secret", "Shopify app shared secret (shpss_ + 32 hex)", "shpss_", r"[a-fA-F0-9]{32}"),
    _prefixed("linear-api-key", "Linear personal API key (lin_api_ + 40)", "lin_api_", r"[A-Za-z0-9]{40}", entropy=3.5),
    _prefixed(
        "doppler-personal-token", "Doppler personal token (dp.pt.)", "dp.pt.", r"[A-Za-z0-9]{40,44}", entropy=3.5
    ),
    _prefixed("doppler-cli-token", "Doppler CLI token (dp.ct.)", "dp.ct.", r"[A-Za-z0-9]{40,44}", entropy=3.5),
    _prefixed(
        "doppler-service-token",
        "Doppler service token (dp.st., optionally with its config slug)",
        "dp.st.",
        r"(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44}",
        entropy=3.5,
    ),
    _prefixed(
        "doppler-service-account-token",
        "Doppler service account token (dp.sa.)",
        "dp.sa.",
        r"[A-Za-z0-9]{40,44}",
        entropy=3.5,
    ),
    _prefixed(
        "grafana-cloud-token",
        "Grafana Cloud access policy / API token (glc_ + base64 JSON)",
        "glc_",
        r"eyJ[A-Za-z0-9+/]{30,400}={0,2}",
        entropy=4.0,
        tail=_TAIL64,
    ),
    _prefixed(
        "grafana-service-account-token",
        "Grafana service account token (glsa_ + 32 + _ + 8 hex)",
        "glsa_",
        r"[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}",
        entropy=3.5,
    ),
    _prefixed("newrelic-user-api-key", "New Relic user API key (NRAK- + 27)", "NRAK-", r"[A-Z0-9]{27}"),
    Rule(
        id="newrelic-license-key",
        description="New Relic ingest license key (36 hex + NRAL)",
        pattern=rf"{_LEAD}(?P<secret>[a-f0-9]{{36}}NRAL){_TAIL}",
        keywords=("nral",),
        entropy=3.0,
    ),
    _prefixed(
        "sentry-org-auth-token",
        "Sentry organization auth token (sntrys_ + base64 JSON + _ + secret)",
        "sntrys_",
        r"eyJ[A-Za-z0-9+/=]{40,1000}_[A-Za-z0-9+/]{43}",
        entropy=4.0,
        tail=_TAIL64,
    ),
    _prefixed("sentry-user-auth-token", "Sentry user auth token (sntryu_ + 64 hex)", "sntryu_", r"[a-f0-9]{64}"),
    _prefixed(
        "postman-api-key", "Postman API key (PMAK- + 24 hex + - + 34 hex)", "PMAK-", r"[a-f0-9]{24}-[a-f0-9]{34}"
    ),
    _prefixed("buildkite-user-token", "Buildkite user access token (bkua_ + 40 hex)", "bkua_", r"[a-f0-9]{40}"),
    _prefixed(
        "sourcegraph-access-token",
        "Sourcegraph access token (sgp_ [+ 16 hex instance id _ | local_] + 40 hex)",
        "sgp_",
        r"(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40}",
    ),
    Rule(
        id="packagist-token",
        description="Private Packagist token (packagist_<kind>_ + 60 hex + 8 hex CRC32 checksum)",
        pattern=_tok("packagist_", r"[a-z]{3}_[a-f0-9]{68}"),
        keywords=("packagist_",),
        validate=crc32_hex_checksum_ok,
        severity="critical",
    ),
    # Netlify, "Change to the Netlify authentication token format": nf + one letter naming the kind
    # (p personal, c CLI, o OAuth, u app.netlify.com, b build), then `_`; 40 characters in all.
    Rule(
        id="netlify-access-token",
        description="Netlify access token (nfp_/nfc_/nfo_/nfu_/nfb_ + 36 alphanumerics)",
        pattern=rf"{_LEAD}nf[pcoub]_[A-Za-z0-9]{{36}}{_TAIL}",
        keywords=("nfp_", "nfc_", "nfo_", "nfu_", "nfb_"),
        entropy=3.5,
    ),
    # Vercel, "Introducing new token formats and secret scanning": vcp personal, vci integration, vca app
    # access, vcr app refresh, vck API key. The length of the rest is not documented.
    Rule(
        id="vercel-token",
        description="Vercel access token or API key (vcp_/vci_/vca_/vcr_/vck_ + 24-100 alphanumerics)",
        pattern=rf"{_LEAD}vc[piark]_[A-Za-z0-9]{{24,100}}{_TAIL}",
        keywords=("vcp_", "vci_", "vca_", "vcr_", "vck_"),
        entropy=3.5,
    ),
    # Datadog: application keys "start with ddapp_ followed by 34 alphanumeric characters" (AWS Secrets
    # Manager's Datadog partner page); personal and service access tokens start ddpat_ / ddsat_ (Datadog
    # "Personal Access Tokens"), their length is not documented.
    _prefixed(
        "datadog-application-key",
        "Datadog application key (ddapp_ + 34 alphanumerics)",
        "ddapp_",
        r"[A-Za-z0-9]{34}",
        entropy=3.5,
    ),
    Rule(
        id="datadog-access-token",
        description="Datadog personal or service access token (ddpat_/ddsat_)",
        pattern=rf"{_LEAD}dd[ps]at_[A-Za-z0-9_-]{{24,128}}{_TAIL}",
        keywords=("ddpat_", "ddsat_"),
        entropy=3.5,
    ),
    keyed_provider_rule(
        "datadog-api-key",
        "Datadog API key (32 hex) under a datadog + key key or DD_API_KEY",
        ("datadog", "dd_api"),
        r"[a-f0-9]{32}",
        kinds=("key", "token"),
    ),
    keyed_provider_rule(
        "datadog-legacy-application-key",
        "Datadog application key, 40-hex format, under a datadog/dd app + key key (DD_APP_KEY)",
        ("datadog", "dd_app"),
        r"[a-f0-9]{40}",
        kinds=("key",),
    ),
    # Notion: integration tokens start ntn_ (older ones secret_, too generic a prefix to report without a
    # notion label). The rest, 11 digits + 35 alphanumerics, is the shape of published tokens, not documented.
    _prefixed(
        "notion-integration-token",
        "Notion integration token (ntn_ + 11 digits + 35 alphanumerics)",
        "ntn_",
        r"[0-9]{11}[A-Za-z0-9]{35}",
        entropy=3.5,
    ),
    keyed_or_near(
        "notion-legacy-integration-token",
        "Notion integration token, legacy secret_ + 43 alphanumerics, under or after a notion label",
        ("notion",),
        r"secret_[A-Za-z0-9]{43}",
        entropy=3.5,
    ),
    # Airtable personal access tokens: pat + the token's 14-character id, `.`, then 64 hex.
    _prefixed(
        "airtable-personal-access-token",
        "Airtable personal access token (pat + 14 + . + 64 hex)",
        "pat",
        r"[A-Za-z0-9]{14}\.[a-f0-9]{64}",
        entropy=3.5,
    ),
    # 1Password: service account tokens start with ops_ (1Password developer docs); the rest is base64 JSON.
    _prefixed(
        "onepassword-service-account-token",
        "1Password service account token (ops_ + base64-encoded JSON)",
        "ops_eyJ",
        r"[A-Za-z0-9+/_-]{100,4096}={0,2}",
        entropy=4.0,
        severity="critical",
        tail=_TAIL64,
    ),
    # Mapbox: "all secret access tokens start with sk" (public ones pk, which are meant to be public);
    # sk. + base64url JSON naming the user + . + a random part.
    _prefixed(
        "mapbox-secret-token",
        "Mapbox secret access token (sk.eyJ... . ...)",
        "sk.eyJ",
        r"[A-Za-z0-9_-]{20,400}\.[A-Za-z0-9_-]{20,30}",
        entropy=4.0,
    ),
    _prefixed(
        "tailscale-key",
        "Tailscale auth key, API access token or OAuth client secret (tskey-<kind>-<id>-<secret>)",
        "tskey-",
        r"(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{8,64}-[A-Za-z0-9]{24,64}",
        entropy=3.5,
    ),
)
