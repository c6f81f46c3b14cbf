"""Provider credentials that carry their provider's own prefix: the prefix is the keyword, the rest its shape.

Written from each provider's description of its token format (prefix, alphabet, length); where a provider
documents only the prefix, the length range is that of the tokens it issues, kept loose, and the entropy
floor keeps runs of one character out.
"""

from __future__ import annotations

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD, TAIL
from strongroom.rules.kit import prefixed_rule

__all__ = ["RULES"]

_TAIL64 = r"(?![A-Za-z0-9+/=_-])"
_LOWER_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _rule(
    rule_id: str,
    description: str,
    body: str,
    keywords: tuple[str, ...],
    *,
    entropy: float | None = 3.0,
    severity: str = "high",
) -> Rule:
    """A token whose ``body`` holds its prefix (one of several, or not at the start); ``keywords`` lists
    the literals one of which is in every match."""
    return Rule(
        id=rule_id,
        description=description,
        pattern=f"{LEAD}{body}{TAIL}",
        keywords=keywords,
        entropy=entropy,
        severity=severity,
    )


RULES: tuple[Rule, ...] = (
    # --- identity, collaboration, CRM ------------------------------------------------------------------
    prefixed_rule(
        "adobe-client-secret",
        "Adobe Developer Console OAuth client secret (p8e- + 32 characters)",
        "p8e-",
        r"[A-Za-z0-9_-]{32}",
        entropy=3.5,
    ),
    _rule(
        "facebook-access-token",
        "Facebook / Meta Graph API user, page or system user access token (EAA + 100+ alphanumerics)",
        r"EAA[A-Za-z0-9]{100,400}",
        ("eaa",),
        entropy=4.0,
    ),
    _rule(
        "hubspot-private-app-token",
        "HubSpot private app / personal access key (pat-<region>- + UUID)",
        rf"pat-(?:na|eu|ap)[0-9]{{1,2}}-{_LOWER_UUID}",
        ("pat-na", "pat-eu", "pat-ap"),
    ),
    prefixed_rule(
        "intercom-access-token",
        "Intercom access token (base64 of tok:..., so dG9rOj + base64)",
        "dG9rOj",
        r"[A-Za-z0-9+/_-]{40,120}={0,2}",
        entropy=4.0,
        tail=_TAIL64,
    ),
    prefixed_rule(
        "contentful-personal-access-token",
        "Contentful personal access token (CFPAT- + 43 base64url characters)",
        "CFPAT-",
        r"[A-Za-z0-9_-]{43}",
        entropy=3.5,
    ),
    prefixed_rule(
        "figma-personal-access-token",
        "Figma personal access token (figd_ + ~40 base64url characters)",
        "figd_",
        r"[A-Za-z0-9_-]{38,64}",
        entropy=3.5,
    ),
    prefixed_rule(
        "typeform-personal-access-token",
        "Typeform personal access token (tfp_ + 40-64 characters)",
        "tfp_",
        r"[A-Za-z0-9_-]{40,64}",
        entropy=3.5,
    ),
    prefixed_rule(
        "frameio-developer-token",
        "Frame.io developer token (fio-u- + 64 characters)",
        "fio-u-",
        r"[A-Za-z0-9_=-]{64}",
        entropy=3.5,
    ),
    prefixed_rule(
        "onepassword-secret-key",
        "1Password account Secret Key (A3- + six groups of upper-case alphanumerics)",
        "A3-",
        r"[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
        severity="critical",
    ),
    # --- developer platforms -------------------------------------------------------------------------
    _rule(
        "dynatrace-api-token",
        "Dynatrace access token (dt0<kind><version>. + 24-char public id . 64-char secret)",
        r"dt0[a-z][0-9]{2}\.[A-Z0-9]{24}\.[A-Z0-9]{64}",
        ("dt0",),
        entropy=3.5,
    ),
    prefixed_rule(
        "newrelic-insert-key",
        "New Relic Insights insert key (NRII- + 32 characters)",
        "NRII-",
        r"[A-Za-z0-9_-]{32}",
        entropy=3.5,
    ),
    prefixed_rule(
        "readme-api-key",
        "ReadMe API key (rdme_ + 40-100 alphanumerics)",
        "rdme_",
        r"[A-Za-z0-9]{40,100}",
        entropy=3.5,
    ),
    prefixed_rule(
        "render-api-key",
        "Render API key (rnd_ + 32 alphanumerics)",
        "rnd_",
        r"[A-Za-z0-9]{32}",
        entropy=3.5,
    ),
    _rule(
        "prefect-api-key",
        "Prefect Cloud API key (pnu_ user / pnb_ service account + 36 alphanumerics)",
        r"pn[ub]_[A-Za-z0-9]{36}",
        ("pnu_", "pnb_"),
        entropy=3.5,
    ),
    _rule(
        "sonarqube-token",
        "SonarQube / SonarCloud user, project or global analysis token (squ_/sqp_/sqa_ + 40 hex)",
        r"sq[upa]_[a-f0-9]{40}",
        ("squ_", "sqp_", "sqa_"),
    ),
    prefixed_rule(
        "jfrog-reference-token",
        "JFrog Artifactory reference token (base64 of reftkn: cmVmdGtu + 56 characters)",
        "cmVmdGtu",
        r"[A-Za-z0-9]{56}",
        entropy=4.0,
    ),
    prefixed_rule(
        "jfrog-api-key",
        "JFrog Artifactory API key (AKCp + 69 alphanumerics)",
        "AKCp",
        r"[A-Za-z0-9]{69}",
        entropy=4.0,
    ),
    prefixed_rule(
        "octopus-deploy-api-key",
        "Octopus Deploy API key (API- + 26-32 upper-case alphanumerics)",
        "API-",
        r"[A-Z0-9]{26,32}",
        entropy=3.5,
    ),
    prefixed_rule(
        "circleci-personal-token",
        "CircleCI personal API token (CCIPAT_ + 22 + _ + 40 hex)",
        "CCIPAT_",
        r"[A-Za-z0-9]{22}_[a-f0-9]{40}",
        entropy=3.5,
    ),
    _rule(
        "deno-deploy-token",
        "Deno Deploy access token (ddp_ personal / ddw_ organisation + 36 alphanumerics)",
        r"dd[pw]_[A-Za-z0-9]{36}",
        ("ddp_", "ddw_"),
        entropy=3.5,
    ),
    prefixed_rule(
        "infracost-api-key",
        "Infracost API key (ico- + 32 alphanumerics)",
        "ico-",
        r"[A-Za-z0-9]{32}",
        entropy=3.5,
    ),
    prefixed_rule(
        "scalingo-api-token",
        "Scalingo API token (tk-us- + 48 characters)",
        "tk-us-",
        r"[A-Za-z0-9_-]{48}",
        entropy=3.5,
    ),
    _rule(
        "harness-access-token",
        "Harness personal (pat.) or service account (sat.) token: account id . token id . secret",
        r"[ps]at\.[A-Za-z0-9_-]{22}\.[a-f0-9]{24}\.[A-Za-z0-9]{20}",
        ("pat.", "sat."),
        entropy=3.5,
    ),
    prefixed_rule(
        "planetscale-oauth-token",
        "PlanetScale OAuth token (pscale_oauth_ + 32-64 characters)",
        "pscale_oauth_",
        r"[A-Za-z0-9_.-]{32,64}",
        entropy=3.5,
    ),
    prefixed_rule(
        "fly-io-org-token",
        "Fly.io organisation / deploy token, older format (fo1_ + 43 base64url characters)",
        "fo1_",
        r"[A-Za-z0-9_-]{43}",
        entropy=3.5,
    ),
    prefixed_rule(
        "adafruit-io-key",
        "Adafruit IO key (aio_ + 28 alphanumerics)",
        "aio_",
        r"[A-Za-z0-9]{28}",
        entropy=3.5,
    ),
    _rule(
        "cloudflare-origin-ca-key",
        "Cloudflare Origin CA key (v1.0- + 24 hex - 146 hex)",
        r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}",
        ("v1.0-",),
    ),
    prefixed_rule(
        "digitalocean-spaces-access-key",
        "DigitalOcean Spaces access key id (DO + 18 upper-case alphanumerics); paired with a secret",
        "DO00",
        r"[A-Z0-9]{16}",
        entropy=3.0,
        severity="medium",
    ),
    prefixed_rule(
        "scaleway-access-key",
        "Scaleway access key id (SCW + 17 upper-case alphanumerics); paired with a secret key",
        "SCW",
        r"[A-Z0-9]{17}",
        entropy=3.0,
        severity="medium",
    ),
    prefixed_rule(
        "grafana-api-key",
        'Grafana API key, legacy format (base64 of {"k":..., so eyJrIjoi + base64)',
        "eyJrIjoi",
        r"[A-Za-z0-9+/]{50,200}={0,2}",
        entropy=4.0,
        tail=_TAIL64,
    ),
    Rule(
        id="cloudinary-url",
        description="Cloudinary API secret in a CLOUDINARY_URL (cloudinary://<15-digit key>:<27-char secret>@cloud)",
        pattern=r"cloudinary://[0-9]{15}:(?P<secret>[A-Za-z0-9_-]{27})@[A-Za-z0-9_-]",
        keywords=("cloudinary://",),
        entropy=3.5,
    ),
    # --- Google, Firebase --------------------------------------------------------------------------------
    _rule(
        "gcp-oauth-refresh-token",
        "Google OAuth 2.0 refresh token (1//0 + 40+ base64url characters)",
        r"1//0[A-Za-z0-9_-]{40,300}",
        ("1//0",),
        entropy=4.0,
    ),
    _rule(
        "firebase-cloud-messaging-server-key",
        "Firebase Cloud Messaging legacy server key (AAAA + 7 : APA91b + 134 characters)",
        r"AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{134}",
        (":apa91b",),
        entropy=4.0,
    ),
    # --- payments, commerce, shipping ------------------------------------------------------------------
    _rule(
        "shippo-api-token",
        "Shippo API token (shippo_live_ / shippo_test_ + 40 hex)",
        r"shippo_(?:live|test)_[a-f0-9]{40}",
        ("shippo_",),
    ),
    _rule(
        "easypost-api-key",
        "EasyPost production or test API key (EZAK / EZTK + 54 alphanumerics)",
        r"EZ[AT]K[A-Za-z0-9]{54}",
        ("ezak", "eztk"),
        entropy=3.5,
    ),
    _rule(
        "duffel-api-token",
        "Duffel API access token (duffel_live_ / duffel_test_ + 43 base64url characters)",
        r"duffel_(?:live|test)_[A-Za-z0-9_-]{43}",
        ("duffel_",),
        entropy=3.5,
    ),
    _rule(
        "mercadopago-access-token",
        "Mercado Pago production access token (APP_USR-<app id>-<date>-<32 hex>-<user id>)",
        r"APP_USR-[0-9]{15,16}-[0-9]{6}-[a-f0-9]{32}-[0-9]{6,12}",
        ("app_usr-",),
    ),
    _rule(
        "razorpay-key-id",
        "Razorpay API key id (rzp_live_ / rzp_test_ + 14 alphanumerics); paired with a key secret",
        r"rzp_(?:live|test)_[A-Za-z0-9]{14}",
        ("rzp_",),
        severity="medium",
    ),
    _rule(
        "maxmind-license-key",
        "MaxMind license key (6 + _ + 29 alphanumerics + _mmk)",
        r"[A-Za-z0-9]{6}_[A-Za-z0-9]{29}_mmk",
        ("_mmk",),
        entropy=3.5,
    ),
    # --- social -------------------------------------------------------------------------------------------
    _rule(
        "twitter-bearer-token",
        "X / Twitter app-only bearer token (22 A's, then URL-encoded base64 ending %3D + 40-60 characters)",
        r"A{22}[A-Za-z0-9%]{20,100}%3D[A-Za-z0-9]{40,60}",
        ("aaaaaaaaaaaaaaaaaaaaaa",),
        entropy=3.5,
    ),
    _rule(
        "dropbox-short-lived-token",
        "Dropbox short-lived access token (sl. + 130+ base64url characters)",
        r"sl\.[A-Za-z0-9_.-]{130,1400}",
        ("sl.",),
        entropy=4.0,
    ),
    _rule(
        "yandex-api-key",
        "Yandex Cloud API key (AQVN + 35-38 characters)",
        r"AQVN[A-Za-z0-9_-]{35,38}",
        ("aqvn",),
        entropy=3.5,
    ),
)
