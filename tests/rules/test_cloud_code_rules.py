"""Generated positive and negative cases for the cloud, code-host and developer-platform rules.

No token-like literal lives in this file: every example is assembled at test time from a prefix and
random characters drawn from the format's alphabet, with checksums computed where the rule checks one.
"""

from __future__ import annotations

import random
import string
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from strongroom.rules.base import Rule
from strongroom.rules.cloud_code import RULES

ROOT = Path(__file__).resolve().parents[2]
BY_ID = {rule.id: rule for rule in RULES}

# An alphabet and a character outside it (used for the wrong-charset case).
Alpha = tuple[str, str]
HEX: Alpha = ("0123456789abcdef", "g")
HEX_UP: Alpha = ("0123456789ABCDEF", "G")
UP_NUM: Alpha = (string.ascii_uppercase + string.digits, "a")
LOW_NUM: Alpha = (string.ascii_lowercase + string.digits, "A")
B32: Alpha = (string.ascii_uppercase + "234567", "8")
B62: Alpha = (string.ascii_letters + string.digits, "!")
B64: Alpha = (string.ascii_letters + string.digits + "+/", "!")
B64URL: Alpha = (string.ascii_letters + string.digits + "-_", "!")
ENTRA: Alpha = (string.ascii_letters + string.digits + "_~.-", "!")
DIGIT: Alpha = (string.digits, "x")

# A shape is a sequence of literal pieces and random (alphabet, length) pieces; the length is the
# format's minimum, so that one character less is always too short.
Piece = str | tuple[Alpha, int]

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def crc_suffix(random_part: str) -> str:
    """The 6-char base62 CRC32 checksum GitHub and npm append to a token's random part."""
    value = zlib.crc32(random_part.encode())
    out = ""
    while value:
        value, digit = divmod(value, 62)
        out = BASE62[digit] + out
    return out.rjust(6, "0")


def with_checksum(token: str) -> str:
    """Append the checksum of the part after the prefix."""
    return token + crc_suffix(token.rsplit("_", 1)[-1])


def generic_contexts(secret: str) -> list[str]:
    """The places a token typically sits: Python, YAML, JSON, an env file, an HTTP header."""
    return [
        f'api_token = "{secret}"\n',
        f"service:\n  token: {secret}\n  region: eu-west-1\n",
        f'{{"name": "deploy", "token": "{secret}", "enabled": true}}',
        f"export SERVICE_TOKEN={secret}\n",
        f"curl -H 'Authorization: Bearer {secret}' https://api.example.com/v1/me",
    ]


def labelled(*labels: str) -> Callable[[str], list[str]]:
    """Contexts for a label-gated rule: each label as a Python, YAML, JSON and env assignment."""

    def contexts(secret: str) -> list[str]:
        out: list[str] = []
        for label in labels:
            out += [
                f'{label} = "{secret}"\n',
                f"config:\n  {label}: {secret}\n",
                f'{{"{label}": "{secret}"}}',
                f"{label.upper()}={secret}\n",
            ]
        return out

    return contexts


@dataclass(frozen=True)
class Case:
    """How to generate one rule's examples."""

    shape: tuple[Piece, ...]
    contexts: Callable[[str], list[str]] = generic_contexts
    bad_prefix: tuple[str, str] | None = None  # replace this literal piece by that one
    bad_context: Callable[[str], str] | None = None  # the secret under a label the rule must not accept
    finish: Callable[[str], str] = field(default=lambda token: token)  # e.g. append a checksum

    def build(self, rng: random.Random, shape: tuple[Piece, ...] | None = None, *, flat: bool = False) -> str:
        """The secret: literal pieces as they are, random pieces drawn from their alphabet (or its first char)."""
        parts = []
        for piece in shape or self.shape:
            if isinstance(piece, str):
                parts.append(piece)
            else:
                (alphabet, _), n = piece
                parts.append(alphabet[0] * n if flat else "".join(rng.choice(alphabet) for _ in range(n)))
        return self.finish("".join(parts))

    def longest(self) -> int:
        """Index of the longest random piece (the one the length and charset negatives alter)."""
        sizes = [(-1 if isinstance(p, str) else p[1], i) for i, p in enumerate(self.shape)]
        return max(sizes)[1]

    def negatives(self, rule: Rule, rng: random.Random) -> dict[str, str]:
        """Texts that must yield no accepted match: wrong length, charset, prefix, checksum, entropy."""
        wrap = self.bad_context or (lambda s: self.contexts(s)[0])
        out: dict[str, str] = {}
        i = self.longest()
        piece = self.shape[i]
        assert not isinstance(piece, str)
        alpha, n = piece
        short = (*self.shape[:i], (alpha, n - 1), *self.shape[i + 1 :])
        out["too-short"] = self.contexts(self.build(rng, short))[0]
        good = self.build(rng)
        body = "".join(rng.choice(alpha[0]) for _ in range(n))
        half = n // 2
        intruded = body[:half] + alpha[1] + body[half + 1 :]
        charset = tuple(intruded if j == i else p for j, p in enumerate(self.shape))
        out["wrong-charset"] = self.contexts(self.build(rng, charset))[0]
        if self.bad_prefix is not None:
            old, new = self.bad_prefix
            swapped = tuple(new if p == old else p for p in self.shape)
            assert swapped != self.shape, "bad_prefix must name a literal piece of the shape"
            out["wrong-prefix"] = self.contexts(self.build(rng, swapped))[0]
        if self.bad_context is not None:
            out["wrong-label"] = wrap(good)
        if rule.validate is not None:
            flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
            out["bad-checksum"] = self.contexts(flipped)[0]
        if rule.entropy is not None:
            out["low-entropy"] = self.contexts(self.build(rng, flat=True))[0]
        return out


def gh(prefix: str) -> Case:
    """A GitHub-style checksummed token: prefix + 30 base62 + CRC32."""
    bad = prefix[:-2] + "x_"
    return Case((prefix, (B62, 30)), bad_prefix=(prefix, bad), finish=with_checksum)


def gitlab(prefix: str) -> Case:
    """A GitLab token in its legacy 20-character form."""
    return Case((prefix, (B64URL, 20)), bad_prefix=(prefix, prefix.replace("gl", "gx", 1)))


def sa_json(secret: str, kind: str = "service_account") -> str:
    """A Google service-account key file, as issued, with the key material left out."""
    return (
        "{\n"
        f'  "type": "{kind}",\n'
        '  "project_id": "demo-project",\n'
        f'  "private_key_id": "{secret}",\n'
        '  "private_key": "<omitted>",\n'
        '  "client_email": "ci@demo-project.iam.gserviceaccount.com"\n'
        "}\n"
    )


def sas_url(sig: str) -> list[str]:
    """An Azure blob URL carrying a SAS, in a URL, a connection string and a YAML value."""
    query = f"sv=2022-11-02&ss=b&srt=sco&sp=rl&se=2031-01-01T00:00:00Z&spr=https&sig={sig}"
    return [
        f"https://acct.blob.core.windows.net/container/file.txt?{query}\n",
        f'conn = "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature={query}"\n',
        f"storage:\n  sas_url: 'https://acct.blob.core.windows.net/c?{query}'\n",
    ]


def conn(key_label: str, prefix: str, suffix: str = "") -> Callable[[str], list[str]]:
    """Contexts for a key inside a semicolon-separated connection string."""

    def contexts(secret: str) -> list[str]:
        cs = f"{prefix}{key_label}={secret}{suffix}"
        return [f'CONN = "{cs}"\n', f"storage:\n  connection_string: {cs}\n", f"AZURE_CONN='{cs}'\n"]

    return contexts


UUID_SHAPE: tuple[Piece, ...] = ((HEX, 8), "-", (HEX, 4), "-", (HEX, 4), "-", (HEX, 4), "-", (HEX, 12))

CASES: dict[str, Case] = {
    "aws-access-key-id": Case(("AKIA", (B32, 16)), bad_prefix=("AKIA", "AKIB")),
    "aws-secret-access-key": Case(
        ((B64, 40),),
        contexts=labelled("aws_secret_access_key", "SecretAccessKey", "secret-access-key"),
        bad_context=lambda s: f'aws_region_checksum = "{s}"\n',
    ),
    "aws-session-token": Case(
        ((B64, 100),),
        contexts=labelled("aws_session_token", "SessionToken"),
        bad_context=lambda s: f'aws_request_blob = "{s}"\n',
    ),
    "aws-mws-auth-token": Case(("amzn.mws.", *UUID_SHAPE), bad_prefix=("amzn.mws.", "amzn.mvs.")),
    "gcp-api-key": Case(("AIza", (B64URL, 35)), bad_prefix=("AIza", "AIzb")),
    "gcp-service-account-key": Case(
        ((HEX, 40),),
        contexts=lambda s: [sa_json(s), sa_json(s).replace("\n", "").replace(": ", ":")],
        bad_context=lambda s: sa_json(s, "authorized_user"),
    ),
    "gcp-oauth-client-secret": Case(("GOCSPX-", (B64URL, 28)), bad_prefix=("GOCSPX-", "GOCSPY-")),
    "gcp-oauth-access-token": Case(("ya29.", (B64URL, 30)), bad_prefix=("ya29.", "ya30.")),
    "azure-storage-account-key": Case(
        ((B64, 86), "=="),
        contexts=conn(
            "AccountKey", "DefaultEndpointsProtocol=https;AccountName=acct;", ";EndpointSuffix=core.windows.net"
        ),
        bad_context=lambda s: f'CONN = "AccountName=acct;SharedKey={s}"\n',
    ),
    "azure-sas-token": Case(
        ((B62, 43), "%3D"),
        contexts=sas_url,
        bad_context=lambda s: f"https://example.com/page?ref=docs&sig={s}\n",
    ),
    "azure-service-bus-shared-access-key": Case(
        ((B64, 43), "="),
        contexts=conn("SharedAccessKey", "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;"),
        bad_context=lambda s: f'CONN = "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName={s}"\n',
    ),
    "azure-ad-client-secret": Case(((ENTRA, 3), (DIGIT, 1), "Q~", (ENTRA, 31)), bad_prefix=("Q~", "R~")),
    "azure-devops-pat": Case(((B62, 76), "AZDO", (B62, 4)), bad_prefix=("AZDO", "AZDQ")),
    "github-classic-pat": gh("ghp_"),
    "github-oauth-token": gh("gho_"),
    "github-user-to-server-token": gh("ghu_"),
    "github-server-to-server-token": gh("ghs_"),
    "github-refresh-token": gh("ghr_"),
    "github-fine-grained-pat": Case(
        ("github_pat_", (B62, 22), "_", (B62, 59)), bad_prefix=("github_pat_", "github_pax_")
    ),
    "gitlab-pat": gitlab("glpat-"),
    "gitlab-deploy-token": gitlab("gldt-"),
    "gitlab-runner-token": gitlab("glrt-"),
    "gitlab-pipeline-trigger-token": gitlab("glptt-"),
    "gitlab-ci-job-token": gitlab("glcbt-"),
    "gitlab-feed-token": gitlab("glft-"),
    "gitlab-incoming-mail-token": gitlab("glimt-"),
    "gitlab-oauth-app-secret": gitlab("gloas-"),
    "gitlab-agent-token": gitlab("glagent-"),
    "gitlab-runner-registration-token": Case(("GR1348941", (B64URL, 20)), bad_prefix=("GR1348941", "GR1348942")),
    "bitbucket-app-password": Case(
        ((B62, 20),),
        contexts=labelled("bitbucket_app_password", "BitbucketPassword", "bitbucket.token"),
        bad_context=lambda s: f'gitea_app_password = "{s}"\n',
    ),
    "atlassian-api-token": Case(("ATATT3", (B64URL, 150)), bad_prefix=("ATATT3", "ATATT4")),
    "atlassian-access-token": Case(("ATCTT3", (B64URL, 150)), bad_prefix=("ATCTT3", "ATCTT4")),
    "npm-access-token": Case(("npm_", (B62, 30)), bad_prefix=("npm_", "nqm_"), finish=with_checksum),
    "pypi-upload-token": Case(
        ("pypi-AgEIcHlwaS5vcmc", (B64URL, 50)), bad_prefix=("pypi-AgEIcHlwaS5vcmc", "pypi-AgEIcHlwaS5vcmd")
    ),
    "pypi-test-upload-token": Case(
        ("pypi-AgENdGVzdC5weXBpLm9yZw", (B64URL, 50)),
        bad_prefix=("pypi-AgENdGVzdC5weXBpLm9yZw", "pypi-AgENdGVzdC5weXBpLm9yZx"),
    ),
    "rubygems-api-key": Case(("rubygems_", (HEX, 48)), bad_prefix=("rubygems_", "rubygem_")),
    "nuget-api-key": Case(("oy2", (LOW_NUM, 43)), bad_prefix=("oy2", "oy3")),
    "clojars-deploy-token": Case(("CLOJARS_", (LOW_NUM, 60)), bad_prefix=("CLOJARS_", "CLOJURE_")),
    "dockerhub-pat": Case(("dckr_pat_", (B64URL, 27)), bad_prefix=("dckr_pat_", "dckr_pet_")),
    "dockerhub-org-access-token": Case(("dckr_oat_", (B64URL, 27)), bad_prefix=("dckr_oat_", "dckr_ost_")),
    "vault-service-token": Case(("hvs.", (B64URL, 24)), bad_prefix=("hvs.", "hvx.")),
    "vault-batch-token": Case(("hvb.", (B64URL, 24)), bad_prefix=("hvb.", "hvx.")),
    "vault-recovery-token": Case(("hvr.", (B64URL, 24)), bad_prefix=("hvr.", "hvx.")),
    "terraform-cloud-api-token": Case(((B62, 14), ".atlasv1.", (B64URL, 60)), bad_prefix=(".atlasv1.", ".atlasv2.")),
    "digitalocean-pat": Case(("dop_v1_", (HEX, 64)), bad_prefix=("dop_v1_", "dop_v2_")),
    "digitalocean-oauth-token": Case(("doo_v1_", (HEX, 64)), bad_prefix=("doo_v1_", "doo_v2_")),
    "digitalocean-refresh-token": Case(("dor_v1_", (HEX, 64)), bad_prefix=("dor_v1_", "dor_v2_")),
    "heroku-api-key": Case(
        UUID_SHAPE,
        contexts=labelled("HEROKU_API_KEY", "heroku_token", "herokuSecret"),
        bad_context=lambda s: f'request_id = "{s}"\n',
    ),
    "flyio-token": Case(("FlyV1 fm2_", (B64, 100)), bad_prefix=("FlyV1 fm2_", "FlyV2 fm2_")),
    "supabase-pat": Case(("sbp_", (HEX, 40)), bad_prefix=("sbp_", "sbq_")),
    "supabase-secret-key": Case(("sb_secret_", (B64URL, 20)), bad_prefix=("sb_secret_", "sb_publishable_")),
    "planetscale-password": Case(("pscale_pw_", (B64URL, 32)), bad_prefix=("pscale_pw_", "pscale_px_")),
    "planetscale-service-token": Case(("pscale_tkn_", (B64URL, 32)), bad_prefix=("pscale_tkn_", "pscale_tkx_")),
    "pulumi-access-token": Case(("pul-", (HEX, 40)), bad_prefix=("pul-", "pol-")),
    "databricks-token": Case(("dapi", (HEX, 32)), bad_prefix=("dapi", "dapx")),
    "cloudflare-api-token": Case(
        ((B64URL, 40),),
        contexts=labelled("CLOUDFLARE_API_TOKEN", "cf_api_token", "cloudflareToken"),
        bad_context=lambda s: f'fastly_api_token = "{s}"\n',
    ),
    "cloudflare-global-api-key": Case(
        ((HEX, 37),),
        contexts=labelled("CLOUDFLARE_API_KEY", "cf_api_key", "cloudflare_global_key"),
        bad_context=lambda s: f'cache_key = "{s}"\n',
    ),
    "alibaba-access-key-id": Case(("LTAI", (B62, 12)), bad_prefix=("LTAI", "LTAJ")),
    "alibaba-access-key-secret": Case(
        ((B62, 30),),
        contexts=labelled("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "aliyun_secret", "alicloudSecretKey"),
        bad_context=lambda s: f'access_key_secret = "{s}"\n',
    ),
    "tencent-secret-id": Case(("AKID", (B62, 32)), bad_prefix=("AKID", "AKIE")),
    "ibm-cloud-api-key": Case(
        ((B64URL, 44),),
        contexts=labelled("IBMCLOUD_API_KEY", "ibm_apikey", "ibmCloudApiKey"),
        bad_context=lambda s: f'oracle_api_key = "{s}"\n',
    ),
    "shopify-access-token": Case(("shpat_", (HEX, 32)), bad_prefix=("shpat_", "shpax_")),
    "shopify-custom-app-token": Case(("shpca_", (HEX, 32)), bad_prefix=("shpca_", "shpcx_")),
    "shopify-private-app-token": Case(("shppa_", (HEX, 32)), bad_prefix=("shppa_", "shppx_")),
    "shopify-shared-secret": Case(("shpss_", (HEX_UP, 32)), bad_prefix=("shpss_", "shpsx_")),
    "linear-api-key": Case(("lin_api_", (B62, 40)), bad_prefix=("lin_api_", "lin_apx_")),
    "doppler-personal-token": Case(("dp.pt.", (B62, 40)), bad_prefix=("dp.pt.", "dp.px.")),
    "doppler-cli-token": Case(("dp.ct.", (B62, 40)), bad_prefix=("dp.ct.", "dp.cx.")),
    "doppler-service-token": Case(("dp.st.", "prd.", (B62, 40)), bad_prefix=("dp.st.", "dp.sx.")),
    "doppler-service-account-token": Case(("dp.sa.", (B62, 40)), bad_prefix=("dp.sa.", "dp.sx.")),
    "grafana-cloud-token": Case(("glc_eyJ", (B64, 30), "=="), bad_prefix=("glc_eyJ", "glx_eyJ")),
    "grafana-service-account-token": Case(("glsa_", (B62, 32), "_", (HEX, 8)), bad_prefix=("glsa_", "glsx_")),
    "newrelic-user-api-key": Case(("NRAK-", (UP_NUM, 27)), bad_prefix=("NRAK-", "NRAX-")),
    "newrelic-license-key": Case(((HEX, 36), "NRAL"), bad_prefix=("NRAL", "NRAX")),
    "sentry-org-auth-token": Case(("sntrys_eyJ", (B64, 40), "_", (B64, 43)), bad_prefix=("sntrys_eyJ", "sntryx_eyJ")),
    "sentry-user-auth-token": Case(("sntryu_", (HEX, 64)), bad_prefix=("sntryu_", "sntryx_")),
    "postman-api-key": Case(("PMAK-", (HEX, 24), "-", (HEX, 34)), bad_prefix=("PMAK-", "PMAX-")),
    "buildkite-user-token": Case(("bkua_", (HEX, 40)), bad_prefix=("bkua_", "bkux_")),
    "tailscale-key": Case(("tskey-auth-", (B62, 8), "-", (B62, 24)), bad_prefix=("tskey-auth-", "tskey-xyz-")),
}


def seed_of(rule_id: str) -> int:
    """A stable per-rule seed, so a failure reproduces."""
    return zlib.crc32(rule_id.encode())


def accepted(rule: Rule, text: str) -> list[str]:
    """The secrets the rule reports in ``text``: matches whose secret part passes entropy and checksum."""
    return [rule.secret_of(m) for m in rule.regex.finditer(text) if rule.accepts(rule.secret_of(m))]


def test_every_rule_has_a_case_and_ids_are_unique() -> None:
    """Ids are unique, there are at least 40 rules, and each has a generated case (and no case is orphaned)."""
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40
    assert set(ids) == set(CASES)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_matches_generated_examples(rule: Rule) -> None:
    """A valid generated token is found and accepted in every typical context, and a keyword occurs in it."""
    case = CASES[rule.id]
    rng = random.Random(seed_of(rule.id))  # noqa: S311 - test data, not key material
    for _ in range(3):
        secret = case.build(rng)
        assert rule.accepts(secret), secret
        for text in case.contexts(secret):
            assert secret in accepted(rule, text), text
            for m in rule.regex.finditer(text):
                assert any(k in m.group(0).lower() for k in rule.keywords), (m.group(0), rule.keywords)


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_rejects_generated_near_misses(rule: Rule) -> None:
    """Wrong length, charset, prefix or label, checksum and a flat low-entropy body are all refused."""
    case = CASES[rule.id]
    rng = random.Random(seed_of(rule.id) + 1)  # noqa: S311 - test data, not key material
    negatives = case.negatives(rule, rng)
    assert {"too-short", "wrong-charset"} <= set(negatives)
    assert {"wrong-prefix", "wrong-label"} & set(negatives)
    if rule.validate is not None:
        assert "bad-checksum" in negatives
    for kind, text in negatives.items():
        assert accepted(rule, text) == [], f"{kind}: {text!r}"


def _corpus() -> str:
    """Ordinary project text: the package sources, the tests and pyproject.toml."""
    paths = sorted((ROOT / "src" / "strongroom").rglob("*.py")) + sorted((ROOT / "tests").rglob("*.py"))
    paths.append(ROOT / "pyproject.toml")
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in paths)


@pytest.fixture(scope="module")
def corpus() -> str:
    """The project's own source text, read once."""
    return _corpus()


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.id)
def test_rule_stays_quiet_on_project_source(rule: Rule, corpus: str) -> None:
    """No rule reports anything in the project's ordinary source text (false-positive guard)."""
    assert len(corpus) > 10_000
    assert accepted(rule, corpus) == []
