"""The public API as a user writes it, type-checked with ``mypy --strict`` (never executed, never collected).

Run: ``mypy --strict tests/typing/api.py``. Every entry point of ``strongroom``, ``strongroom.config``,
``strongroom.redact``, ``strongroom.scan``, ``strongroom.testing``, ``strongroom.crypto`` and
``strongroom.rotation`` appears here with ``assert_type`` on what it gives back, so an ``Any`` leaking into
a public signature fails the check.
``# type: ignore[...]`` lines are misuse that must stay a type error: ``--strict`` reports an unused
ignore, so if the library stopped catching the misuse (an ``Any`` again), the check fails.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, assert_type

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

import strongroom
import strongroom.config
import strongroom.redact
from strongroom import (
    AccessDenied,
    AuditError,
    ConfigError,
    Conflict,
    Expired,
    InvalidInput,
    KeyProviderError,
    NotFound,
    Secret,
    SecretInfo,
    StoreError,
    StrongroomError,
    TamperedError,
    TenantInfo,
    Vault,
    VersionInfo,
)
from strongroom.audit import AuditEvent
from strongroom.config import (
    DEFAULT_ENVIRONMENTS,
    FieldReport,
    FieldSpec,
    Found,
    LiveSecret,
    Settings,
    Source,
    SourceKey,
    StrongroomSettingsSource,
    default_sources,
    looks_like_placeholder,
    parse_duration,
    report,
    secret,
    setting,
)
from strongroom.crypto import MASTER_KEY_ENV, MASTER_KEY_ID_ENV, KeyProvider, LocalKeyProvider
from strongroom.crypto.hazmat import Binding, DataKeyCache, decrypt, encrypt, new_key, wrap_context
from strongroom.redact import MASK, RedactingFilter, Redactor, encodings, format_exception
from strongroom.rotation import (
    ENTRY_POINT_GROUP,
    BaseRotator,
    PolicySpec,
    RotationContext,
    RotationResult,
    Rotations,
    Rotator,
    Rotators,
    load_policy_file,
)
from strongroom.rules import RULES
from strongroom.scan import Finding, Scanner
from strongroom.testing import assert_not_leaked, leak_texts
from strongroom.testing.samples import Sample, sample, supported_rule_ids

# --- strongroom: Vault, Secret, errors ----------------------------------------------------------------


def vault_usage(home: Path) -> None:
    keys = LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
    assert_type(keys, LocalKeyProvider)
    with Vault.open(f"sqlite:///{home / 'db'}", key_provider=keys, environment="dev", actor="svc") as vault:
        assert_type(vault, Vault)
        # Vault.open() takes explicit keywords: a misspelt option is a type error, not a runtime surprise.
        Vault.open(f"sqlite:///{home / 'db'}", cache_ttl=5)  # type: ignore[call-arg]
        assert_type(
            Vault.open(
                f"sqlite:///{home / 'db'}",
                key_provider=keys,
                audit_mode="sync",
                cache_ttl_seconds=0.0,
                dek_cache_ttl_seconds=60.0,
                max_value_bytes=4096,
            ),
            Vault,
        )
        assert_type(vault.create_tenant("acme"), TenantInfo)
        info = vault.put("acme", "stripe", "value", sensitivity="critical", expected_version=0)
        assert_type(info, SecretInfo)
        assert_type(info.version, int)
        assert_type(vault.put("acme", "raw", b"\x00\x01"), SecretInfo)
        assert_type(vault.list("acme", include_deleted=True), list[SecretInfo])
        assert_type(vault.list_tenants(), list[TenantInfo])
        assert_type(vault.versions("acme", "stripe"), list[VersionInfo])
        with vault.use("acme", "stripe", purpose="charge", request_id="r1") as used:
            assert_type(used.name, str)
            assert_type(used.version, int | None)
            assert_type(used.reveal(), str | bytes)
        with vault.use("acme", "stripe", purpose="charge", type=str) as text:
            assert_type(text, Secret[str])
            assert_type(text.reveal(), str)
        with vault.use("acme", "stripe", purpose="charge", version=1, type=bytes) as raw:
            assert_type(raw.reveal(), bytes)
        vault.delete("acme", "stripe")
        vault.delete_tenant("acme")
        assert_type(vault.audit_event("acme", "secret.use", "stripe", detail="checked"), AuditEvent)


def secret_usage() -> None:
    text = Secret("name", "value")
    assert_type(text, Secret[str])
    assert_type(text.reveal(), str)
    assert_type(text.name, str)
    assert_type(text.version, int | None)
    raw = Secret("name", b"value", 3)
    assert_type(raw, Secret[bytes])
    assert_type(raw.reveal(), bytes)
    with Secret("name", "value") as opened:
        assert_type(opened, Secret[str])
    assert_type(strongroom.__version__, str)
    strongroom.Vaultt  # type: ignore[attr-defined]  # noqa: B018 -- a misspelt name is an error, not Any


def error_usage(vault: Vault) -> None:
    try:
        vault.put("acme", "stripe", "value", expected_version=1)
    except (Conflict, NotFound) as exc:
        assert_type(exc, Conflict | NotFound)
        base: StrongroomError = exc
        del base
    except ConfigError as exc:
        assert_type(exc.problems, list[str])
    errors: tuple[type[StrongroomError], ...] = (
        AccessDenied,
        AuditError,
        ConfigError,
        Conflict,
        Expired,
        InvalidInput,
        KeyProviderError,
        NotFound,
        StoreError,
        TamperedError,
    )
    del errors
    bad_input: ValueError = InvalidInput("x")  # InvalidInput is a ValueError too
    del bad_input


# --- strongroom.config ------------------------------------------------------------------------------


class AppSettings(Settings):
    database_url: Secret[str] = secret(sensitivity="critical", rotate="90d")
    openai_api_key: Secret[str] | None = secret(sensitivity="high", required_in=("preview", "prod"))
    log_level: str = "info"
    port: int = setting(default=8080, env="PORT")
    region: str = setting(required_in=("prod",), description="cloud region")


class Misdeclared(Settings):
    count: int = secret()  # type: ignore[assignment]  # secret() is a Secret[str]
    port: int = setting(default="80")  # type: ignore[assignment]  # setting(default=x) is x's type


def config_usage(directory: Path) -> None:
    settings = AppSettings.load("prod", sources=default_sources(directory), ttl_seconds=60.0)
    assert_type(settings, AppSettings)
    assert_type(AppSettings.load(), AppSettings)
    assert_type(settings.database_url, Secret[str])
    assert_type(settings.database_url.reveal(), str)
    assert_type(settings.openai_api_key, Secret[str] | None)
    assert_type(settings.port, int)
    assert_type(settings.log_level, str)
    assert_type(settings.environment, str)
    settings.close()

    assert_type(strongroom.config.load(AppSettings), AppSettings)
    assert_type(strongroom.config.load(AppSettings, environment="dev", sources=[]), AppSettings)
    assert_type(report(settings), list[FieldReport])
    assert_type(AppSettings.fields(), dict[str, FieldSpec])
    assert_type(parse_duration("90d"), float)
    assert_type(looks_like_placeholder("changeme"), bool)
    assert_type(default_sources(), list[Source])
    assert_type(DEFAULT_ENVIRONMENTS, tuple[str, str, str])
    source: Source = default_sources()[0]
    assert_type(source.get(SourceKey("database_url", "DATABASE_URL", "dev")), Found | None)
    live: Secret[str] = LiveSecret.__new__(LiveSecret)
    del live
    assert_type(StrongroomSettingsSource, type[StrongroomSettingsSource])
    strongroom.config.lod  # type: ignore[attr-defined]  # noqa: B018 -- a misspelt name is an error, not Any


# --- strongroom.redact ------------------------------------------------------------------------------


def redact_usage(exc: Exception) -> None:
    redactor = Redactor(follow_live=False)
    assert_type(redactor.redact("text"), str)
    assert_type(redactor.redact_bytes(b"text"), bytes)
    assert_type(redactor.register("value", "name"), bool)
    assert_type(encodings("value"), set[str])
    assert_type(MASK, str)
    assert_type(format_exception(exc, redactor), str)

    assert_type(strongroom.redact.default(), Redactor)
    assert_type(strongroom.redact.install(excepthook=False), RedactingFilter)
    assert_type(strongroom.redact.uninstall(), None)
    assert_type(strongroom.redact.register(Secret("name", "value")), bool)
    assert_type(strongroom.redact.redact("text"), str)
    assert_type(strongroom.redact.redact_data("text"), str)
    assert_type(strongroom.redact.redact_data(b"text"), bytes)
    assert_type(strongroom.redact.redact_data(Secret("name", "value")), str)
    assert_type(strongroom.redact.redact_data({"password": "value", "port": 1}), dict[str, Any])
    assert_type(strongroom.redact.redact_data(["value"]), list[Any])
    assert_type(strongroom.redact.redact_data(3), object)
    writer = strongroom.redact.RedactingWriter(sys.stdout)
    stream: io.TextIOBase = writer
    del stream
    logging.getLogger("app").addFilter(strongroom.redact.install())
    structlog.configure(processors=[strongroom.redact.structlog_processor, structlog.processors.JSONRenderer()])
    event = strongroom.redact.sentry_before_send({"message": "text"}, {})
    assert_type(event, dict[str, Any])


# --- strongroom.scan --------------------------------------------------------------------------------


def scan_usage(lines: Iterable[str]) -> None:
    scanner = Scanner()
    assert_type(scanner.prefilter, str)
    assert_type(Scanner(RULES, fingerprint_key=b"k" * 32, prefilter="regex"), Scanner)
    findings = scanner.scan_text("text", "settings.py")
    assert_type(findings, list[Finding])
    assert_type(scanner.scan_bytes(b"text"), list[Finding])
    assert_type(scanner.scan_lines(lines, "app.log"), Iterable[Finding])
    for finding in findings:
        assert_type(finding.rule_id, str)
        assert_type(finding.path, str)
        assert_type(finding.line, int)
        assert_type(finding.column, int)
        assert_type(finding.fingerprint, str)
        assert_type(finding.commit, str | None)
        assert_type(finding.masked, str)


# --- strongroom.testing -----------------------------------------------------------------------------


def testing_usage(exc: Exception) -> None:
    assert_not_leaked(["value"], exc, "text")
    assert_type(leak_texts(exc), list[str])
    made = sample(RULES[0], seed=0)
    assert_type(made, Sample)
    assert_type(made.secret, str)
    assert_type(made.contexts, tuple[str, ...])
    assert_type(made.negatives, tuple[str, ...])
    assert_type(supported_rule_ids(), frozenset[str])


# --- strongroom.crypto and strongroom.crypto.hazmat -------------------------------------------------


def crypto_usage(path: Path) -> None:
    keys = LocalKeyProvider.create_file(path, "dev")
    provider: KeyProvider = keys
    assert_type(provider.key_id, str)
    assert_type(provider.current_version(), int)
    assert_type(provider.wrap(b"key", b"context"), tuple[int, bytes])
    assert_type(provider.unwrap(b"wrapped", 1, b"context"), bytes)
    assert_type(MASTER_KEY_ENV, Literal["STRONGROOM_MASTER_KEY"])
    assert_type(MASTER_KEY_ID_ENV, Literal["STRONGROOM_MASTER_KEY_ID"])

    key = new_key()
    assert_type(key, bytes)
    binding = Binding("dev", "tenant-id", "stripe", 1)
    blob = encrypt(AESGCM(key), 1, b"plaintext", binding)
    assert_type(blob, bytes)
    assert_type(decrypt(AESGCM(key), blob, binding), bytes)
    assert_type(wrap_context("dev", "tenant-id", 1, keys.key_id), bytes)
    cache = DataKeyCache(max_entries=16, ttl_seconds=60.0)
    assert_type(cache.get("tenant-id", 1), AESGCM | None)
    assert_type(cache.put("tenant-id", 1, key), AESGCM)


# --- strongroom.rotation ----------------------------------------------------------------------------


class _TypedRotator(BaseRotator):
    name = "typed"

    def create(self, ctx: RotationContext) -> str:
        assert_type(ctx.options, Mapping[str, Any])
        assert_type(ctx.current(), Secret[Any] | None)
        return "value"


def rotation_usage(vault: Vault, path: Path) -> None:
    rotations = Rotations(vault, rotators=Rotators({"typed": _TypedRotator}))
    policy = rotations.set_policy("acme", "db", every="30d", rotator="typed", overlap=3600)
    assert_type(policy.next_due, float)
    result = rotations.rotate("acme", "db")
    assert_type(result, RotationResult)
    assert_type(result.failed, bool)
    assert_type(rotations.run_due(), list[RotationResult])
    assert_type(load_policy_file(path), list[PolicySpec])
    rotator: Rotator = _TypedRotator()
    assert_type(rotator.name, str)
    assert_type(ENTRY_POINT_GROUP, str)
    rotations.set_policy("acme", "db", every=[30], rotator="typed")  # type: ignore[arg-type]
