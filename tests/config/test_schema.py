"""The declared schema: field kinds, ``secret()``/``setting()`` options, durations, environments, inheritance."""

from __future__ import annotations

import uuid
from typing import Optional

import pytest

from strongroom import Secret
from strongroom.config import ConfigError, FieldSpec, Settings, parse_duration, secret, setting
from strongroom.config.cache import LiveSecret
from strongroom.config.sources.env import EnvSource

_PASSWORD = "pw-" + uuid.uuid4().hex[:8]  # generated: no credential-shaped literal is committed

DAY = 86400.0


# -- parse_duration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90d", 90 * DAY),
        ("30d", 30 * DAY),
        ("12h", 12 * 3600.0),
        ("45m", 45 * 60.0),
        ("15s", 15.0),
        ("2w", 14 * DAY),
        ("1w2d", 9 * DAY),
        ("1d12h", 1.5 * DAY),
        ("1w 2d", 9 * DAY),
        ("  7d  ", 7 * DAY),
    ],
)
def test_parse_duration_accepts_number_unit_forms(text: str, seconds: float) -> None:
    """Valid durations (one or more number+unit parts) convert to seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["abc", "10x", "d", "", "   ", "90", "1.5d", "-5d", "d90", "90dd", "5d abc", "1y", "ten days"]
)
def test_parse_duration_rejects_malformed_forms(text: str) -> None:
    """Anything but number+unit parts raises ConfigError that names the bad text and the accepted units."""
    with pytest.raises(ConfigError) as info:
        parse_duration(text)
    assert "invalid duration" in str(info.value)
    assert "s, m, h, d or w" in str(info.value)


# -- secret() options -----------------------------------------------------------------------------


@pytest.mark.parametrize("sensitivity", ["low", "medium", "high", "critical"])
def test_secret_accepts_every_documented_sensitivity(sensitivity: str) -> None:
    """Each of low/medium/high/critical is accepted and lands on the FieldSpec."""

    class S(Settings):
        token: Secret[str] = secret(sensitivity=sensitivity)

    assert S.fields()["token"].sensitivity == sensitivity


@pytest.mark.parametrize("sensitivity", ["extreme", "HIGH", "", "secret"])
def test_secret_rejects_unknown_sensitivity(sensitivity: str) -> None:
    """An unknown sensitivity raises ConfigError listing the allowed ones."""
    with pytest.raises(ConfigError, match="invalid sensitivity") as info:
        secret(sensitivity=sensitivity)
    assert "low, medium, high, critical" in str(info.value)


@pytest.mark.parametrize("kind", ["platform", "tenant", "ephemeral"])
def test_secret_accepts_every_kind(kind: str) -> None:
    """platform/tenant/ephemeral are accepted and kept on the FieldSpec."""

    class S(Settings):
        token: Secret[str] = secret(kind=kind)

    assert S.fields()["token"].kind == kind


def test_secret_rejects_unknown_kind() -> None:
    """An unknown kind raises ConfigError naming the allowed kinds."""
    with pytest.raises(ConfigError, match="invalid kind") as info:
        secret(kind="session")
    assert "platform, tenant, ephemeral" in str(info.value)


@pytest.mark.parametrize("rotate", ["abc", "10x", "d", "90"])
def test_secret_rejects_malformed_rotation_at_declaration(rotate: str) -> None:
    """A malformed rotation period fails when secret() is called, before any class exists."""
    with pytest.raises(ConfigError, match="invalid duration"):
        secret(rotate=rotate)


def test_rotation_period_is_stored_in_seconds() -> None:
    """rotate="90d" becomes rotate_seconds on the FieldSpec; no rotate means None."""

    class S(Settings):
        database_url: Secret[str] = secret(sensitivity="critical", rotate="90d", description="primary DB")
        other: Secret[str] = secret()

    spec = S.fields()["database_url"]
    assert spec.rotate_seconds == 90 * DAY
    assert spec.sensitivity == "critical"
    assert spec.description == "primary DB"
    assert S.fields()["other"].rotate_seconds is None


def test_secret_defaults_are_high_platform_no_rotation() -> None:
    """A bare Secret[str] field is a high-sensitivity platform secret required everywhere."""

    class S(Settings):
        token: Secret[str]

    spec = S.fields()["token"]
    assert (spec.is_secret, spec.kind, spec.sensitivity, spec.rotate_seconds) == (True, "platform", "high", None)
    assert spec.required_in is None
    assert all(spec.required(env) for env in ("dev", "preview", "prod"))


# -- field kinds ----------------------------------------------------------------------------------


def test_secret_and_plain_fields_are_classified() -> None:
    """Secret[str] is a secret of type str; str/int/float/bool are plain settings of that type."""

    class S(Settings):
        token: Secret[str] = secret()
        name: str
        port: int
        ratio: float
        debug: bool

    fields = S.fields()
    assert fields["token"].is_secret is True
    assert fields["token"].type is str
    for name, expected in (("name", str), ("port", int), ("ratio", float), ("debug", bool)):
        assert fields[name].is_secret is False
        assert fields[name].type is expected


def test_bare_secret_annotation_means_secret_of_str() -> None:
    """An unparameterised ``Secret`` annotation is a secret holding a str."""

    class S(Settings):
        token: Secret

    assert S.fields()["token"].is_secret is True
    assert S.fields()["token"].type is str


def test_plain_setting_default_is_used_and_not_required() -> None:
    """A bare default (``level: str = "info"``) makes the setting optional with that default."""

    class S(Settings):
        log_level: str = "info"
        port: int = setting(default=8080, env="APP_PORT", description="listen port")

    level, port = S.fields()["log_level"], S.fields()["port"]
    assert level.has_default
    assert level.default == "info"
    assert not level.required("prod")
    assert port.env == "APP_PORT"
    assert port.default == 8080
    assert port.description == "listen port"
    loaded = S.load("dev", sources=[EnvSource(environ={})])
    assert loaded.log_level == "info"
    assert loaded.port == 8080


def test_loaded_secret_is_a_live_handle_and_plain_is_a_value() -> None:
    """After load, a secret field is a LiveSecret (masked repr) and a plain field is its converted value."""

    class S(Settings):
        token: Secret[str] = secret()
        port: int

    value = "tok-" + "9" * 30
    loaded = S.load("dev", sources=[EnvSource(environ={"TOKEN": value, "PORT": "8080"})])
    assert isinstance(loaded.token, LiveSecret)
    assert isinstance(loaded.token, Secret)
    assert loaded.token.reveal() == value
    assert value not in repr(loaded.token)
    assert value not in repr(loaded)
    assert loaded.port == 8080
    assert loaded.environment == "dev"


@pytest.mark.parametrize(
    "annotation", ["list[str]", "dict[str, str]", "bytes", "Secret[bytes]", "Secret[int]", "int | str"]
)
def test_unsupported_annotation_is_rejected_naming_the_field(annotation: str) -> None:
    """A field type other than Secret[str]/str/int/float/bool raises ConfigError naming that field."""
    namespace: dict[str, object] = {"__annotations__": {"weird_field": annotation, "fine": "str"}}
    with pytest.raises(ConfigError) as info:
        type("Bad", (Settings,), namespace)
    assert any(p.startswith("weird_field:") and "unsupported type" in p for p in info.value.problems)
    assert "weird_field" in str(info.value)
    assert not any(p.startswith("fine") for p in info.value.problems)


def test_every_schema_problem_is_reported_at_once() -> None:
    """Two bad fields in one class produce one ConfigError with both named."""
    with pytest.raises(ConfigError) as info:

        class Bad(Settings):
            first: list[str]
            second: Secret[str] = setting()
            third: Secret[str] = secret(required_in=("staging",))

    joined = "\n".join(info.value.problems)
    assert len(info.value.problems) == 3
    assert "first:" in joined
    assert "second:" in joined
    assert "third:" in joined


def test_secret_declaration_on_a_plain_annotation_is_rejected() -> None:
    """secret() on a str field (or setting() on a Secret field) is a schema error naming the field."""
    with pytest.raises(ConfigError) as info:

        class Bad(Settings):
            token: str = secret()

    assert any(p.startswith("token:") and "secret()" in p for p in info.value.problems)
    with pytest.raises(ConfigError) as info2:

        class Bad2(Settings):
            token: Secret[str] = setting()

    assert any(p.startswith("token:") and "setting()" in p for p in info2.value.problems)


# -- environment-variable names --------------------------------------------------------------------


def test_env_name_defaults_to_upper_case_field_name() -> None:
    """A field's environment variable is its name upper-cased."""

    class S(Settings):
        database_url: Secret[str] = secret()
        openai_api_key: Secret[str]
        log_level: str = "info"

    assert {n: f.env for n, f in S.fields().items()} == {
        "database_url": "DATABASE_URL",
        "openai_api_key": "OPENAI_API_KEY",
        "log_level": "LOG_LEVEL",
    }


def test_env_override_is_used_for_lookup() -> None:
    """secret(env=...) renames the variable, and load() looks up that name, not the upper-cased field."""

    class S(Settings):
        database_url: Secret[str] = secret(env="PG_DSN")

    assert S.fields()["database_url"].env == "PG_DSN"
    loaded = S.load("dev", sources=[EnvSource(environ={"PG_DSN": f"postgresql://u:{_PASSWORD}@db/app"})])
    assert loaded.database_url.reveal() == f"postgresql://u:{_PASSWORD}@db/app"
    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[EnvSource(environ={"DATABASE_URL": f"postgresql://u:{_PASSWORD}@db/app"})])
    assert any(p.startswith("PG_DSN: missing") for p in info.value.problems)


# -- environments ----------------------------------------------------------------------------------


def test_required_in_limits_where_a_secret_is_required() -> None:
    """required_in=("preview","prod") is required there and optional in dev."""

    class S(Settings):
        openai_api_key: Secret[str] = secret(required_in=("preview", "prod"))

    spec = S.fields()["openai_api_key"]
    assert spec.required_in == ("preview", "prod")
    assert not spec.required("dev")
    assert spec.required("preview")
    assert spec.required("prod")


def test_required_in_with_unknown_environment_is_rejected() -> None:
    """required_in naming an environment the schema does not declare fails at class creation."""
    with pytest.raises(ConfigError) as info:

        class S(Settings):
            openai_api_key: Secret[str] = secret(required_in=("prod", "staging"))

    assert any(p.startswith("openai_api_key:") and "staging" in p for p in info.value.problems)


def test_custom_environments_make_required_in_valid() -> None:
    """A schema declaring environments=("dev","staging") may name staging, and load() accepts it."""

    class S(Settings):
        environments = ("dev", "staging")
        token: Secret[str] = secret(required_in=("staging",))

    assert S.fields()["token"].required("staging")
    assert S.load("dev", sources=[EnvSource(environ={})]).token is None
    with pytest.raises(ConfigError, match="unknown environment 'prod'"):
        S.load("prod", sources=[EnvSource(environ={})])


def test_default_environments_are_dev_preview_prod(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without configuration the environments are dev, preview, prod and load() defaults to dev."""
    monkeypatch.delenv("STRONGROOM_ENV", raising=False)

    class S(Settings):
        level: str = "info"

    assert S.environments == ("dev", "preview", "prod")
    assert S.load(sources=[]).environment == "dev"
    monkeypatch.setenv("STRONGROOM_ENV", "preview")
    assert S.load(sources=[]).environment == "preview"
    with pytest.raises(ConfigError, match="unknown environment"):
        S.load("qa", sources=[])


# -- Optional secrets -------------------------------------------------------------------------------


def test_optional_secret_annotations_are_secrets() -> None:
    """``Secret[str] | None`` and ``Optional[Secret[str]]`` are secret fields of type str."""

    class S(Settings):
        a: Secret[str] | None = secret(default=None)
        b: Optional[Secret[str]] = None  # noqa: UP045 -- the typing.Optional spelling is what is tested
        c: int | None = None

    fields = S.fields()
    assert fields["a"].is_secret
    assert fields["a"].type is str
    assert fields["b"].is_secret
    assert fields["b"].type is str
    assert not fields["c"].is_secret
    assert fields["c"].type is int


def test_optional_secret_with_default_none_loads_as_none_or_value() -> None:
    """An optional secret absent everywhere is None; present, it is a live handle."""

    class S(Settings):
        sentry_dsn: Secret[str] | None = secret(default=None)

    assert not S.fields()["sentry_dsn"].required("prod")
    assert S.load("prod", sources=[EnvSource(environ={})]).sentry_dsn is None
    loaded = S.load("prod", sources=[EnvSource(environ={"SENTRY_DSN": "https://k3y@o1.ingest.example.io/1"})])
    assert loaded.sentry_dsn.reveal() == "https://k3y@o1.ingest.example.io/1"


# -- inheritance and fields() -------------------------------------------------------------------------


class _Base(Settings):
    database_url: Secret[str] = secret(sensitivity="critical", rotate="90d", env="PG_DSN")
    log_level: str = "info"


class _Child(_Base):
    api_token: Secret[str] = secret(sensitivity="low")


def test_fields_are_inherited_from_a_schema_base() -> None:
    """A subclass of a schema has the base's fields first, then its own."""
    assert list(_Child.fields()) == ["database_url", "log_level", "api_token"]
    assert list(_Base.fields()) == ["database_url", "log_level"]
    assert _Child.fields()["api_token"].sensitivity == "low"


def test_inherited_fields_keep_their_declared_options() -> None:
    """An inherited field keeps the base's env name, sensitivity, rotation and default in the subclass."""
    inherited = _Child.fields()["database_url"]
    assert (inherited.env, inherited.sensitivity, inherited.rotate_seconds) == ("PG_DSN", "critical", 90 * DAY)
    assert _Child.fields()["log_level"].default == "info"
    loaded = _Child.load(
        "prod", sources=[EnvSource(environ={"PG_DSN": f"postgresql://u:{_PASSWORD}@db/app", "API_TOKEN": "tok-5be1c0"})]
    )
    assert loaded.log_level == "info"
    assert loaded.database_url.reveal() == f"postgresql://u:{_PASSWORD}@db/app"


def test_subclass_can_redeclare_an_inherited_field() -> None:
    """Redeclaring a field in the subclass replaces the base's declaration for the subclass only."""

    class Child(_Base):
        database_url: Secret[str] = secret(sensitivity="medium", env="DB_DSN")

    assert Child.fields()["database_url"].sensitivity == "medium"
    assert Child.fields()["database_url"].env == "DB_DSN"
    assert _Base.fields()["database_url"].env == "PG_DSN"
    assert _Base.fields()["database_url"].sensitivity == "critical"


def test_fields_returns_fieldspecs_in_declaration_order_and_a_copy() -> None:
    """fields() maps names to FieldSpec in declaration order; mutating the result does not touch the schema."""

    class S(Settings):
        zeta: Secret[str]
        alpha: int = 1
        _private: str = "not a field"
        environments = ("dev", "preview", "prod")

    fields = S.fields()
    assert list(fields) == ["zeta", "alpha"]
    assert all(isinstance(f, FieldSpec) for f in fields.values())
    fields.pop("zeta")
    assert "zeta" in S.fields()


def test_settings_base_has_no_fields() -> None:
    """Settings itself declares no fields."""
    assert Settings.fields() == {}


def test_secret_default_is_still_a_masked_secret() -> None:
    """A secret field that falls back to a non-None default is a Secret: reveal() gives it and repr masks it."""

    class S(Settings):
        token: Secret[str] = secret(default="dev-default-tok-5e0c1a")

    loaded = S.load("dev", sources=[EnvSource(environ={})])
    assert "dev-default-tok-5e0c1a" not in repr(loaded)
    assert isinstance(loaded.token, Secret)
    assert loaded.token.reveal() == "dev-default-tok-5e0c1a"


def test_field_named_like_a_settings_attribute_is_not_an_attribute_error() -> None:
    """A field called ``environment`` is rejected with a ConfigError naming it, or loads; never AttributeError."""

    def attempt() -> str:
        try:

            class S(Settings):
                environment: str = "local"

            S.load("dev", sources=[EnvSource(environ={})])
        except ConfigError as exc:
            return str(exc)
        return "loaded"

    outcome = attempt()
    assert outcome == "loaded" or "environment" in outcome


def test_required_in_given_as_a_bare_string_is_rejected() -> None:
    """required_in="prod" (a string, not a tuple) is a schema error, not silently "required nowhere"."""
    with pytest.raises(ConfigError, match=r"required_in must be a tuple of environment names"):

        class S(Settings):
            token: Secret[str] = secret(required_in="prod")  # type: ignore[arg-type]
