"""Source precedence: env > .env.local > .env > secrets dir > store by default, reorderable per load or schema."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from strongroom import Secret
from strongroom.config import ConfigError, Settings, SourceKey, secret
from strongroom.config.loader import default_sources, load, report
from strongroom.config.sources import Source
from strongroom.config.sources.dotenv import DotEnvSource
from strongroom.config.sources.env import EnvSource
from strongroom.config.sources.files import SecretsDirSource
from strongroom.config.sources.store import PLATFORM_TENANT, StoreSource
from strongroom.vault import Vault

LAYERS = ("env", "env_local", "dotenv", "secrets_dir", "store")
"""The default order, highest first, as the layer names used below."""


@dataclass
class Layers:
    """One value-holder per default source, written before the sources are built."""

    directory: Path
    vault: Vault
    environ: dict[str, str] = field(default_factory=dict)
    env_local: dict[str, str] = field(default_factory=dict)
    dotenv: dict[str, str] = field(default_factory=dict)

    @property
    def secrets_dir(self) -> Path:
        return self.directory / "secrets"

    def put(self, layer: str, field_name: str, value: str) -> None:
        env_name = field_name.upper()
        if layer == "env":
            self.environ[env_name] = value
        elif layer == "env_local":
            self.env_local[env_name] = value
        elif layer == "dotenv":
            self.dotenv[env_name] = value
        elif layer == "secrets_dir":
            (self.secrets_dir / env_name).write_text(value + "\n", encoding="utf-8")
        elif layer == "store":
            self.vault.put(PLATFORM_TENANT, field_name, value, kind="platform")
        else:  # pragma: no cover -- a typo in the test
            raise AssertionError(layer)

    def write_dotenv(self) -> None:
        for name, values in ((".env.local", self.env_local), (".env", self.dotenv)):
            text = "".join(f'{k}="{v}"\n' for k, v in values.items())
            (self.directory / name).write_text(text, encoding="utf-8")

    def sources(self) -> list[Source]:
        """The five sources in the default order, reading these layers."""
        self.write_dotenv()
        return [
            EnvSource(environ=self.environ),
            DotEnvSource(self.directory / ".env.local"),
            DotEnvSource(self.directory / ".env"),
            SecretsDirSource(self.secrets_dir),
            StoreSource(self.vault),
        ]


@pytest.fixture
def layers(tmp_path: Path, open_vault: Callable[..., Vault]) -> Layers:
    vault = open_vault()
    vault.create_tenant(PLATFORM_TENANT)
    work = tmp_path / "app"
    work.mkdir()
    (work / "secrets").mkdir()
    return Layers(directory=work, vault=vault)


def _value(layer: str, field_name: str) -> str:
    return f"{field_name}-from-{layer}-7c1e9a"


PAIRS = list(itertools.combinations(LAYERS, 2))  # (higher, lower) for every pair


def _pair_field(higher: str, lower: str) -> str:
    return f"{higher}_over_{lower}"


PairSchema = type(
    "PairSchema",
    (Settings,),
    {
        "__annotations__": {_pair_field(h, lo): Secret[str] for h, lo in PAIRS},
        "__module__": __name__,
    },
)


def test_default_sources_are_in_the_documented_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """default_sources() is env, .env.local, .env, the secrets dir ($STRONGROOM_SECRETS_DIR) and the store."""
    monkeypatch.setenv("STRONGROOM_SECRETS_DIR", str(tmp_path / "mounted"))
    sources = default_sources(tmp_path)
    assert [type(s) for s in sources] == [EnvSource, DotEnvSource, DotEnvSource, SecretsDirSource, StoreSource]
    assert [s.name for s in sources] == ["env", ".env.local", ".env", f"secrets-dir:{tmp_path / 'mounted'}", "store"]
    assert sources[1].path == tmp_path / ".env.local"  # type: ignore[attr-defined]
    assert sources[2].path == tmp_path / ".env"  # type: ignore[attr-defined]


def test_default_secrets_dir_is_run_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without $STRONGROOM_SECRETS_DIR the secrets directory is /run/secrets, and the dotenv files are in cwd."""
    monkeypatch.delenv("STRONGROOM_SECRETS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    sources = default_sources()
    assert sources[3].name == "secrets-dir:/run/secrets"
    assert sources[1].path == tmp_path / ".env.local"  # type: ignore[attr-defined]


def test_higher_source_wins_for_every_pair(layers: Layers) -> None:
    """For each pair of default sources, a field present in both takes the higher one's value."""
    for higher, lower in PAIRS:
        name = _pair_field(higher, lower)
        layers.put(higher, name, _value(higher, name))
        layers.put(lower, name, _value(lower, name))
    settings = load(PairSchema, environment="dev", sources=layers.sources())
    got = {name: getattr(settings, name).reveal() for name in PairSchema.fields()}
    assert got == {_pair_field(h, lo): _value(h, _pair_field(h, lo)) for h, lo in PAIRS}


def test_each_layer_alone_supplies_the_value(layers: Layers) -> None:
    """A field in exactly one source is found there, whichever source it is, and the report names it."""

    class One(Settings):
        only_env: Secret[str]
        only_env_local: Secret[str]
        only_dotenv: Secret[str]
        only_secrets_dir: Secret[str]
        only_store: Secret[str]

    for layer in LAYERS:
        layers.put(layer, f"only_{layer}", _value(layer, "only"))
    settings = load(One, environment="dev", sources=layers.sources())
    for layer in LAYERS:
        assert getattr(settings, f"only_{layer}").reveal() == _value(layer, "only")
    sources = {r.name: r.source for r in report(settings)}
    assert sources == {
        "only_env": "env",
        "only_env_local": ".env.local",
        "only_dotenv": ".env",
        "only_secrets_dir": f"secrets-dir:{layers.secrets_dir}",
        "only_store": "store:dev",
    }


def test_removing_the_top_value_uncovers_the_next_one(layers: Layers) -> None:
    """With one field in all five sources, each load takes the highest remaining one."""

    class One(Settings):
        api_token: Secret[str]

    for layer in LAYERS:
        layers.put(layer, "api_token", _value(layer, "api_token"))
    seen = []
    for layer in LAYERS:
        settings = load(One, environment="dev", sources=layers.sources())
        seen.append((settings.api_token.reveal(), settings.api_token.source))
        if layer == "env":
            layers.environ.clear()
        elif layer == "env_local":
            layers.env_local.clear()
        elif layer == "dotenv":
            layers.dotenv.clear()
        elif layer == "secrets_dir":
            (layers.secrets_dir / "API_TOKEN").unlink()
    assert seen == [
        (_value("env", "api_token"), "env"),
        (_value("env_local", "api_token"), ".env.local"),
        (_value("dotenv", "api_token"), ".env"),
        (_value("secrets_dir", "api_token"), f"secrets-dir:{layers.secrets_dir}"),
        (_value("store", "api_token"), "store:dev"),
    ]


@pytest.fixture
def default_store_env(monkeypatch: pytest.MonkeyPatch, store_url: str, tmp_path: Path) -> None:
    """Point an argument-less StoreSource() at the test's store and key file ($STRONGROOM_HOME/keys/dev.json)."""
    for name in ("STRONGROOM_MASTER_KEY", "STRONGROOM_MASTER_KEY_ID", "STRONGROOM_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRONGROOM_URL", store_url)
    monkeypatch.setenv("STRONGROOM_HOME", str(tmp_path))


@pytest.fixture
def real_defaults(
    layers: Layers, monkeypatch: pytest.MonkeyPatch, default_store_env: None
) -> Iterator[Callable[[], list[Source]]]:
    """default_sources() itself, unmodified, reading os.environ, the layers' directory and the store."""
    monkeypatch.setenv("STRONGROOM_SECRETS_DIR", str(layers.secrets_dir))
    sources: list[Source] = []

    def build() -> list[Source]:
        layers.write_dotenv()
        for name, value in layers.environ.items():
            monkeypatch.setenv(name, value)
        sources[:] = default_sources(layers.directory)
        return sources

    yield build
    for source in sources:
        if isinstance(source, StoreSource):
            source.close()


def test_default_sources_resolve_in_documented_order(
    layers: Layers,
    real_defaults: Callable[[], list[Source]],
) -> None:
    """Through default_sources() unmodified, every pair resolves to the higher source (store opened from env)."""
    for higher, lower in PAIRS:
        name = _pair_field(higher, lower)
        layers.put(higher, name, _value(higher, name))
        layers.put(lower, name, _value(lower, name))
    layers.put("store", "only_in_store", "store-only-3b8d")
    schema = type(
        "WithStore",
        (Settings,),
        {
            "__annotations__": {**{_pair_field(h, lo): Secret[str] for h, lo in PAIRS}, "only_in_store": Secret[str]},
            "__module__": __name__,
        },
    )
    settings = load(schema, environment="dev", sources=real_defaults())
    got = {name: getattr(settings, name).reveal() for name in PairSchema.fields()}
    assert got == {_pair_field(h, lo): _value(h, _pair_field(h, lo)) for h, lo in PAIRS}
    assert settings.only_in_store.reveal() == "store-only-3b8d"
    assert settings.only_in_store.source == "store:dev"


def test_load_without_sources_uses_defaults_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings.load() with no sources reads env first, then .env.local, then .env in the current directory."""
    for name in ("STRONGROOM_SECRETS_DIR", "STRONGROOM_ENV", "ALPHA", "BETA", "GAMMA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STRONGROOM_SECRETS_DIR", str(tmp_path / "no-secrets-here"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ALPHA=alpha-dotenv\nBETA=beta-dotenv\nGAMMA=gamma-dotenv\n", encoding="utf-8")
    (tmp_path / ".env.local").write_text("ALPHA=alpha-local\nBETA=beta-local\n", encoding="utf-8")
    monkeypatch.setenv("ALPHA", "alpha-env")

    class S(Settings):
        alpha: Secret[str]
        beta: Secret[str]
        gamma: str

    settings = S.load()
    assert settings.alpha.reveal() == "alpha-env"
    assert settings.beta.reveal() == "beta-local"
    assert settings.gamma == "gamma-dotenv"


def test_env_local_beats_env_file(tmp_path: Path) -> None:
    """.env.local overrides .env for the same variable; .env still supplies what .env.local lacks."""
    (tmp_path / ".env").write_text("API_TOKEN=shared\nLOG_LEVEL=warning\n", encoding="utf-8")
    (tmp_path / ".env.local").write_text("API_TOKEN=mine-only\n", encoding="utf-8")

    class S(Settings):
        api_token: Secret[str]
        log_level: str

    settings = S.load("dev", sources=default_sources(tmp_path)[1:3])
    assert settings.api_token.reveal() == "mine-only"
    assert settings.api_token.source == ".env.local"
    assert settings.log_level == "warning"


def test_custom_source_order_is_respected(layers: Layers) -> None:
    """sources=[...] in reverse order makes the store win over the environment, and so on down the list."""
    for higher, lower in PAIRS:
        name = _pair_field(higher, lower)
        layers.put(higher, name, _value(higher, name))
        layers.put(lower, name, _value(lower, name))
    settings = load(PairSchema, environment="dev", sources=list(reversed(layers.sources())))
    got = {name: getattr(settings, name).reveal() for name in PairSchema.fields()}
    assert got == {_pair_field(h, lo): _value(lo, _pair_field(h, lo)) for h, lo in PAIRS}


def test_custom_sources_exclude_the_ones_left_out(layers: Layers) -> None:
    """A source not in sources=[...] is never consulted, even if it holds the value."""

    class One(Settings):
        api_token: Secret[str]

    layers.put("env", "api_token", "from-env-only")
    with pytest.raises(ConfigError) as info:
        load(One, environment="dev", sources=layers.sources()[1:])
    assert "looked in .env.local, .env, secrets-dir:" in str(info.value)
    assert "store" in str(info.value)


class _Recording:
    """A source that records the keys it was asked for and answers from a dict."""

    dynamic = False

    def __init__(self, label: str, values: dict[str, str]) -> None:
        self.label = label
        self.values = values
        self.asked: list[SourceKey] = []

    @property
    def name(self) -> str:
        return self.label

    def get(self, key: SourceKey) -> object:
        from strongroom.config import Found

        self.asked.append(key)
        value = self.values.get(key.env)
        return None if value is None else Found(value, self.label)


def test_first_source_with_a_value_stops_the_search() -> None:
    """Once a source answers, lower sources are not asked for that field."""
    first = _Recording("first", {"API_TOKEN": "tok-first"})
    second = _Recording("second", {"API_TOKEN": "tok-second", "OTHER": "other-second"})

    class S(Settings):
        api_token: Secret[str]
        other: Secret[str]

    settings = S.load("prod", sources=[first, second])  # type: ignore[list-item]
    assert settings.api_token.reveal() == "tok-first"
    assert settings.other.reveal() == "other-second"
    assert [k.env for k in first.asked] == ["API_TOKEN", "OTHER"]
    assert [k.env for k in second.asked] == ["OTHER"]
    assert second.asked[0] == SourceKey("other", "OTHER", "prod")


def test_schema_sources_classmethod_overrides_defaults(tmp_path: Path) -> None:
    """A schema's ``sources`` classmethod replaces the default list, in the order it returns."""
    low = _Recording("low", {"API_TOKEN": "tok-low", "ONLY_LOW": "only-low"})
    high = _Recording("high", {"API_TOKEN": "tok-high"})

    class S(Settings):
        api_token: Secret[str]
        only_low: str

        @classmethod
        def sources(cls) -> list[object]:
            return [high, low]

    settings = S.load("dev")
    assert settings.api_token.reveal() == "tok-high"
    assert settings.only_low == "only-low"
    assert "sources" not in S.fields()


def test_schema_sources_as_plain_callable_attribute() -> None:
    """``sources`` may be any callable attribute (here a staticmethod) returning the sources."""
    only = _Recording("only", {"API_TOKEN": "tok-static"})

    class S(Settings):
        api_token: Secret[str]
        sources = staticmethod(lambda: [only])

    assert S.load("dev").api_token.reveal() == "tok-static"
    assert only.asked


def test_explicit_sources_argument_beats_schema_sources() -> None:
    """sources= passed to load() wins over the schema's own ``sources``."""
    schema_source = _Recording("schema", {"API_TOKEN": "tok-schema"})
    given = _Recording("given", {"API_TOKEN": "tok-given"})

    class S(Settings):
        api_token: Secret[str]

        @classmethod
        def sources(cls) -> list[object]:
            return [schema_source]

    assert S.load("dev", sources=[given]).api_token.reveal() == "tok-given"  # type: ignore[list-item]
    assert schema_source.asked == []


def test_schema_sources_are_inherited() -> None:
    """A subclass uses its base schema's ``sources``."""
    base_source = _Recording("base", {"API_TOKEN": "tok-base", "EXTRA": "extra-base"})

    class Base(Settings):
        api_token: Secret[str] = secret()

        @classmethod
        def sources(cls) -> list[object]:
            return [base_source]

    class Child(Base):
        extra: str = "x"

    settings = Child.load("dev")
    assert settings.extra == "extra-base"
    assert settings.api_token.reveal() == "tok-base"


class _Failing:
    """A source that raises the given error for every key."""

    dynamic = False

    def __init__(self, label: str, error: Exception) -> None:
        self.label = label
        self.error = error

    @property
    def name(self) -> str:
        return self.label

    def get(self, key: SourceKey) -> object:
        raise self.error


def test_unavailable_source_gives_way_to_lower_sources() -> None:
    """A source raising SourceUnavailable is skipped: the next source supplies the value."""
    from strongroom.config.sources import SourceUnavailable

    down = _Failing("remote", SourceUnavailable("remote: connection refused"))
    lower = _Recording("lower", {"API_TOKEN": "tok-lower"})

    class S(Settings):
        api_token: Secret[str]

    settings = S.load("dev", sources=[down, lower])  # type: ignore[list-item]
    assert settings.api_token.reveal() == "tok-lower"
    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[down])  # type: ignore[list-item]
    assert info.value.problems == [
        "API_TOKEN: missing (required in dev; looked in remote; remote unavailable: remote: connection refused)"
    ]


def test_broken_source_stops_the_search() -> None:
    """A source raising a plain ConfigError (broken, not down) is a problem even if a lower source has the value."""
    broken = _Failing("local-file", ConfigError("local-file:3: not a KEY=value line"))
    lower = _Recording("lower", {"API_TOKEN": "tok-lower"})

    class S(Settings):
        api_token: Secret[str]

    with pytest.raises(ConfigError) as info:
        S.load("dev", sources=[broken, lower])  # type: ignore[list-item]
    assert info.value.problems == ["API_TOKEN: local-file:3: not a KEY=value line"]
    assert lower.asked == []
