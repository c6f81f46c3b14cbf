"""Fail fast: ``load()`` collects every problem into one ``ConfigError`` naming variables and sources, never values."""

from __future__ import annotations

import secrets as pysecrets
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom import Secret
from strongroom.config import ConfigError, Settings, secret
from strongroom.config.loader import looks_like_placeholder, report
from strongroom.config.sources.dotenv import DotEnvSource
from strongroom.config.sources.env import EnvSource
from strongroom.config.sources.store import PLATFORM_TENANT, StoreSource
from strongroom.vault import Vault


def _everything_said(exc: ConfigError) -> str:
    """Every text a user or a log could see of this error."""
    return "\n".join(
        [str(exc), repr(exc), *map(str, exc.args), *exc.problems, "".join(traceback.format_exception(exc))]
    )


def _assert_no_canary(exc: ConfigError, canaries: list[str]) -> None:
    said = _everything_said(exc)
    for canary in canaries:
        assert canary not in said, "a value appeared in the ConfigError"


def _problem(exc: ConfigError, env: str) -> str:
    matching = [p for p in exc.problems if p.startswith(f"{env}:")]
    assert len(matching) == 1, f"expected one problem for {env}, got {len(matching)}"
    return matching[0]


class Everything(Settings):
    database_url: Secret[str] = secret(sensitivity="critical", rotate="90d")
    jwt_signing_key: Secret[str] = secret(sensitivity="critical")
    stripe_key: Secret[str] = secret(env="STRIPE_SECRET_KEY")
    smtp_password: Secret[str]
    openai_api_key: Secret[str] = secret(required_in=("preview", "prod"))
    session_token: Secret[str] = secret(kind="ephemeral")
    webhook_secret: Secret[str]
    sendgrid_key: Secret[str]
    twilio_token: Secret[str]
    internal_token: Secret[str]
    port: int
    sample_rate: float
    debug: bool
    log_level: str = "info"


@pytest.fixture
def clock() -> list[float]:
    return [1_700_000_000.0]


@pytest.fixture
def clocked_vault(open_vault: Callable[..., Vault], clock: list[float]) -> Vault:
    vault = open_vault(clock=lambda: clock[0])
    vault.create_tenant(PLATFORM_TENANT)
    return vault


def test_every_problem_is_collected_into_one_error(
    open_vault: Callable[..., Vault], clock: list[float], make_canary: Callable[[str], str]
) -> None:
    """Missing, empty, wrong-typed, placeholder and expired fields all appear in one ConfigError, with no value."""
    clocked_vault = open_vault(clock=lambda: clock[0], environment="prod")
    clocked_vault.create_tenant(PLATFORM_TENANT)
    canaries = [make_canary(label) for label in ("port", "rate", "debug", "eph", "ph1", "ph2", "ph3", "ok")]
    port_c, rate_c, debug_c, eph_c, ph1_c, ph2_c, ph3_c, ok_c = canaries
    clocked_vault.put(PLATFORM_TENANT, "session_token", eph_c, kind="ephemeral", ttl_seconds=60)
    clock[0] += 120
    environ = {
        # database_url and smtp_password: missing everywhere
        "JWT_SIGNING_KEY": "   ",  # empty (whitespace only)
        "STRIPE_SECRET_KEY": "",  # empty
        "WEBHOOK_SECRET": f"your-webhook-secret-{ph1_c}",
        "SENDGRID_KEY": f"<your sendgrid key {ph2_c}>",
        "TWILIO_TOKEN": f"${{{ph3_c}}}",
        "INTERNAL_TOKEN": ok_c,  # the one good secret
        "PORT": f"eighty-{port_c}",
        "SAMPLE_RATE": f"half-{rate_c}",
        "DEBUG": f"maybe-{debug_c}",
    }
    sources = [EnvSource(environ=environ), StoreSource(clocked_vault)]
    with pytest.raises(ConfigError) as info:
        Everything.load("prod", sources=sources, clock=lambda: clock[0])
    exc = info.value

    assert "Everything" in str(exc)
    assert "prod" in str(exc)
    assert len(exc.problems) == 12
    assert "DATABASE_URL: missing" in _problem(exc, "DATABASE_URL")
    assert "looked in env, store" in _problem(exc, "DATABASE_URL")
    assert "SMTP_PASSWORD: missing" in _problem(exc, "SMTP_PASSWORD")
    assert "OPENAI_API_KEY: missing (required in prod" in _problem(exc, "OPENAI_API_KEY")
    assert "empty (from env)" in _problem(exc, "JWT_SIGNING_KEY")
    assert "empty (from env)" in _problem(exc, "STRIPE_SECRET_KEY")
    for env in ("WEBHOOK_SECRET", "SENDGRID_KEY", "TWILIO_TOKEN"):
        assert "placeholder" in _problem(exc, env)
        assert "from env" in _problem(exc, env)
    assert "expired (in store)" in _problem(exc, "SESSION_TOKEN")
    assert "not a valid int (from env)" in _problem(exc, "PORT")
    assert "not a valid float (from env)" in _problem(exc, "SAMPLE_RATE")
    assert "not a boolean" in _problem(exc, "DEBUG")
    assert not any(p.startswith(("INTERNAL_TOKEN", "LOG_LEVEL")) for p in exc.problems)
    for problem in exc.problems:
        assert problem in str(exc)
    _assert_no_canary(exc, canaries)


def test_missing_names_the_variable_and_every_source_looked_in(tmp_path: Path) -> None:
    """A missing required field's problem names its env var, the environment, and each source in order."""

    class S(Settings):
        database_url: Secret[str] = secret(env="PG_DSN")

    sources = [EnvSource(environ={}), DotEnvSource(tmp_path / ".env.local"), DotEnvSource(tmp_path / ".env")]
    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=sources)
    assert info.value.problems == ["PG_DSN: missing (required in dev; looked in env, .env.local, .env)"]


@pytest.mark.parametrize(
    "placeholder",
    [
        "changeme",
        "CHANGEME",
        "change-me",
        "change_me",
        "xxx",
        "XXXXXXXX",
        "TODO",
        "todo",
        "tbd",
        "FIXME",
        "<your key>",
        "<API_KEY>",
        "${X}",
        "${OPENAI_API_KEY}",
        "your-api-key",
        "your_api_key",
        "your key here",
        "replace-me",
        "placeholder",
        "dummy",
        "***",
        "...",
        "  changeme  ",
    ],
)
def test_placeholders_are_flagged(placeholder: str) -> None:
    """Values people leave in templates are recognised as placeholders."""
    assert looks_like_placeholder(placeholder)


@pytest.mark.parametrize("placeholder", ["changeme", "xxx", "TODO", "<your key>", "${X}", "your-api-key"])
def test_placeholder_value_fails_load_for_secrets_and_settings(placeholder: str) -> None:
    """A placeholder fails load() for a secret, naming variable and source; plain settings are not judged
    (a setting may legitimately be "password" or "sample")."""

    class S(Settings):
        api_key: Secret[str]
        region: str

    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[EnvSource(environ={"API_KEY": placeholder, "REGION": placeholder})])
    assert info.value.problems == ["API_KEY: looks like a placeholder, not a real value (from env)"]


# Generated at test time, not collection time: every xdist worker must collect the same test ids.
_REAL_VALUES: dict[str, Callable[[], str]] = {
    "uuid-hex": lambda: uuid.uuid4().hex,
    "uuid": lambda: str(uuid.uuid4()),
    "token-urlsafe": lambda: pysecrets.token_urlsafe(32),
    "sk-token": lambda: "sk-" + pysecrets.token_hex(24),
    "postgres-url": lambda: f"postgresql://app:{pysecrets.token_urlsafe(18)}@db.internal:5432/app?sslmode=require",
    "redis-url": lambda: f"redis://:{pysecrets.token_hex(16)}@cache:6379/0",
    "slack-webhook": lambda: "https://hooks.slack.com/services/T000/B000/" + pysecrets.token_hex(12),
}
_ORDINARY_VALUES = [
    "info",
    "8080",
    "true",
    "eu-west-1",
    "0.25",
    "xx",
    "max",
    "todos-service",
    "example.com",
    "my-secret-store",
]


@pytest.mark.parametrize(
    "make_value",
    [pytest.param(make, id=name) for name, make in _REAL_VALUES.items()]
    + [pytest.param(lambda v=v: v, id=v) for v in _ORDINARY_VALUES],
)
def test_real_looking_values_are_not_placeholders(make_value: Callable[[], str]) -> None:
    """Random tokens, URLs with random passwords and ordinary settings are not flagged."""
    assert not looks_like_placeholder(make_value())


def test_real_values_load_and_convert() -> None:
    """A complete, real-looking configuration loads, with ints, floats and booleans converted."""
    db = f"postgresql://app:{pysecrets.token_urlsafe(18)}@db:5432/app"

    class S(Settings):
        database_url: Secret[str]
        port: int
        sample_rate: float
        debug: bool
        verbose: bool
        log_level: str = "info"

    loaded = S.load(
        "prod",
        sources=[
            EnvSource(
                environ={"DATABASE_URL": db, "PORT": " 8080 ", "SAMPLE_RATE": "0.25", "DEBUG": "yes", "VERBOSE": "OFF"}
            )
        ],
    )
    assert loaded.database_url.reveal() == db
    assert (loaded.port, loaded.sample_rate, loaded.debug, loaded.verbose) == (8080, 0.25, True, False)
    assert loaded.log_level == "info"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_boolean_spellings(text: str, expected: bool) -> None:
    """Booleans accept 1/true/yes/on and 0/false/no/off in any case."""

    class S(Settings):
        debug: bool

    assert S.load("dev", sources=[EnvSource(environ={"DEBUG": text})]).debug is expected


@pytest.mark.parametrize("text", ["2", "enabled", "y", "t"])
def test_other_boolean_spellings_are_rejected(text: str) -> None:
    """Anything else for a bool is a problem naming the variable, not a silent False."""

    class S(Settings):
        debug: bool

    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[EnvSource(environ={"DEBUG": text})])
    assert info.value.problems == ["DEBUG: not a boolean (use true/false) (from env)"]


def test_expired_ephemeral_secret_is_a_problem(
    clocked_vault: Vault, clock: list[float], make_canary: Callable[[str], str]
) -> None:
    """An ephemeral store secret past its TTL fails load() as expired in the store; before, it loads."""
    canary = make_canary("ephemeral")
    clocked_vault.put(PLATFORM_TENANT, "session_token", canary, kind="ephemeral", ttl_seconds=60)

    class S(Settings):
        session_token: Secret[str] = secret(kind="ephemeral")

    fresh = S.load("dev", sources=[StoreSource(clocked_vault)], clock=lambda: clock[0])
    assert fresh.session_token.reveal() == canary
    clock[0] += 61
    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[StoreSource(clocked_vault)], clock=lambda: clock[0])
    assert info.value.problems == ["SESSION_TOKEN: expired (in store)"]
    _assert_no_canary(info.value, [canary])


def test_expired_in_store_is_not_masked_by_a_lower_source(
    clocked_vault: Vault, clock: list[float], tmp_path: Path
) -> None:
    """An expired value is reported even if a source after the store also has the name."""
    clocked_vault.put(PLATFORM_TENANT, "session_token", "eph-value-1", kind="ephemeral", ttl_seconds=10)
    clock[0] += 11
    (tmp_path / ".env").write_text("SESSION_TOKEN=fallback-value\n", encoding="utf-8")

    class S(Settings):
        session_token: Secret[str]

    with pytest.raises(ConfigError, match="expired"):
        S.load("dev", sources=[StoreSource(clocked_vault), DotEnvSource(tmp_path / ".env")], clock=lambda: clock[0])


class PerEnvironment(Settings):
    database_url: Secret[str]
    openai_api_key: Secret[str] = secret(required_in=("preview", "prod"))
    sentry_dsn: Secret[str] = secret(required_in=("prod",))


def test_optional_in_dev_is_absent_without_error() -> None:
    """Secrets required only in preview/prod may be absent in dev: they load as None, marked in the report."""
    loaded = PerEnvironment.load("dev", sources=[EnvSource(environ={"DATABASE_URL": "postgresql://d/app"})])
    assert loaded.openai_api_key is None
    assert loaded.sentry_dsn is None
    statuses = {r.name: r.status for r in report(loaded)}
    assert statuses["openai_api_key"].startswith("absent (optional here)")
    assert statuses["database_url"] == "ok"


def test_required_in_prod_is_missing_in_prod() -> None:
    """The same schema in prod lists every prod-only secret that is absent; preview lists only its own."""
    environ = {"DATABASE_URL": "postgresql://p/app"}
    with pytest.raises(ConfigError) as prod:
        PerEnvironment.load("prod", sources=[EnvSource(environ=environ)])
    assert [p.split(":")[0] for p in prod.value.problems] == ["OPENAI_API_KEY", "SENTRY_DSN"]
    assert all("required in prod" in p for p in prod.value.problems)
    with pytest.raises(ConfigError) as preview:
        PerEnvironment.load("preview", sources=[EnvSource(environ=environ)])
    assert [p.split(":")[0] for p in preview.value.problems] == ["OPENAI_API_KEY"]


def test_environment_comes_from_strongroom_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an explicit environment, STRONGROOM_ENV selects which secrets are required."""
    monkeypatch.setenv("STRONGROOM_ENV", "prod")
    with pytest.raises(ConfigError, match="for prod"):
        PerEnvironment.load(sources=[EnvSource(environ={"DATABASE_URL": "postgresql://p/app"})])


def test_optional_present_value_is_still_validated() -> None:
    """A dev-optional secret that is present but a placeholder is still a problem in dev."""
    with pytest.raises(ConfigError) as info:
        PerEnvironment.load(
            "dev", sources=[EnvSource(environ={"DATABASE_URL": "postgresql://d/app", "OPENAI_API_KEY": "changeme"})]
        )
    assert [p.split(":")[0] for p in info.value.problems] == ["OPENAI_API_KEY"]


def test_problems_from_several_sources_name_each_source(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """Each problem names the source its value came from (env vs .env), and no value from either."""
    env_c, file_c = make_canary("env"), make_canary("file")
    (tmp_path / ".env").write_text(f"PORT=p-{file_c}\n", encoding="utf-8")

    class S(Settings):
        port: int
        debug: bool

    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[EnvSource(environ={"DEBUG": f"d-{env_c}"}), DotEnvSource(tmp_path / ".env")])
    assert info.value.problems == [
        "PORT: not a valid int (from .env)",
        "DEBUG: not a boolean (use true/false) (from env)",
    ]
    _assert_no_canary(info.value, [env_c, file_c])


def test_store_down_is_named_when_a_required_secret_is_missing(tmp_path: Path) -> None:
    """A store that cannot be opened is named in the missing-secret problem (as unavailable), without crashing."""

    class S(Settings):
        database_url: Secret[str]

    broken = StoreSource(url=f"sqlite:///{tmp_path / 'nowhere' / 'db.sqlite'}", home=tmp_path / "no-home")
    try:
        with pytest.raises(ConfigError) as info:
            S.load("dev", sources=[EnvSource(environ={}), broken])
    finally:
        broken.close()
    problem = _problem(info.value, "DATABASE_URL")
    assert "looked in env, store" in problem
    assert "store unavailable" in problem


def test_rotated_ephemeral_secret_loads_while_current_version_is_valid(
    clocked_vault: Vault, clock: list[float]
) -> None:
    """After an ephemeral secret is re-issued, load() uses the valid new version even though the old one expired."""
    clocked_vault.put(PLATFORM_TENANT, "session_token", "eph-old-0d6c", kind="ephemeral", ttl_seconds=60)
    clock[0] += 50
    clocked_vault.put(PLATFORM_TENANT, "session_token", "eph-new-9a41", kind="ephemeral", ttl_seconds=60)
    clock[0] += 20  # the old version expired 10 s ago; the new one is valid for 40 s more

    class S(Settings):
        session_token: Secret[str] = secret(kind="ephemeral")

    loaded = S.load("dev", sources=[StoreSource(clocked_vault)], clock=lambda: clock[0])
    assert loaded.session_token.reveal() == "eph-new-9a41"
