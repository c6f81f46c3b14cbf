"""Loading a schema: resolve every field through the sources, validate everything, fail with one report.

Problems are named by field, environment variable and source, never by value.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from strongroom import changes
from strongroom.clock import Clock
from strongroom.config.cache import CachedValue, LiveSecret
from strongroom.config.schema import FieldSpec, Settings
from strongroom.config.sources import Found, Source, SourceKey, SourceUnavailable
from strongroom.config.sources.dotenv import DotEnvSource
from strongroom.config.sources.env import EnvSource
from strongroom.config.sources.files import SecretsDirSource
from strongroom.config.sources.store import StoreSource
from strongroom.defaults import DEFAULT_ENVIRONMENT
from strongroom.errors import ConfigError, Expired, StrongroomError
from strongroom.vocabulary import ENVIRONMENT_ENV, SECRETS_DIR_ENV

S = TypeVar("S", bound=Settings)

DEFAULT_TTL_SECONDS = 300.0
DEFAULT_MAX_STALE_SECONDS = 3600.0

# Template leftovers, matched as tokens anywhere in the value (case-insensitive), plus values that are
# nothing but a template marker or a bare placeholder word. Real keys are random enough never to hold these.
_PLACEHOLDER = re.compile(
    r"change[-_ ]?me|changeit|replace[-_ ]?(?:me|with)|insert[-_ ]?(?:your|key|token|secret|here)|fill[-_ ]?in"
    r"|your[-_ ][\w-]*?(?:key|token|secret|password)|x{6,}|\*{3,}"
    r"|^\s*(?:<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|\.{3,})\s*$"
    r"|^\s*(?:todo|tbd|fixme|placeholder|dummy|redacted|example|sample|secret|password|xxx)(?:\s*$|\s*:|\s)",
    re.IGNORECASE,
)


def looks_like_placeholder(value: str) -> bool:
    """True for values people leave in templates: ``changeme``, ``xxx``, ``TODO: …``, ``<your key>``, ``${X}``."""
    return _PLACEHOLDER.search(value) is not None


def default_sources(directory: Path | None = None) -> list[Source]:
    """The documented default precedence, highest first."""
    base = directory or Path.cwd()
    return [
        EnvSource(),
        DotEnvSource(base / ".env.local"),
        DotEnvSource(base / ".env"),
        SecretsDirSource(os.environ.get(SECRETS_DIR_ENV) or "/run/secrets"),
        StoreSource(),
    ]


@dataclass(frozen=True, slots=True)
class FieldReport:
    """One line of ``strongroom check``: where a field came from and how old it is. Never the value."""

    name: str
    env: str
    is_secret: bool
    source: str | None
    version: str | None
    updated_at: float | None
    rotate_seconds: float | None
    status: str

    def rotation_due(self, now: float) -> float | None:
        if self.rotate_seconds is None or self.updated_at is None:
            return None
        return self.updated_at + self.rotate_seconds - now


def resolve_environment(schema: type[Settings], environment: str | None) -> str:
    environment = environment or os.environ.get(ENVIRONMENT_ENV) or DEFAULT_ENVIRONMENT
    if environment not in schema.environments:
        raise ConfigError(
            f"unknown environment {environment!r}: {schema.__name__} declares {', '.join(schema.environments)}"
        )
    return environment


def load(
    schema: type[S],
    *,
    environment: str | None = None,
    sources: Sequence[Source] | None = None,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    max_stale_seconds: float = DEFAULT_MAX_STALE_SECONDS,
    overlap_seconds: float | None = None,
    clock: Clock = time.time,
) -> S:
    environment = resolve_environment(schema, environment)
    owned = sources is None  # sources we create are ours to close (Settings.close())
    chosen = list(sources) if sources is not None else _schema_sources(schema)
    _check_sources(schema, chosen)
    # Overlap defaults to twice the TTL: a peer may sign with the old value until its own cache refreshes.
    overlap = 2 * ttl_seconds if overlap_seconds is None else overlap_seconds
    problems: list[str] = []
    values: dict[str, Any] = {}
    reports: list[FieldReport] = []
    for spec in schema.__fields__.values():
        key = SourceKey(spec.name, spec.env, environment)
        found, source, notes, problem = _resolve(spec, key, chosen)
        status = "ok"
        if problem is not None:
            problems.append(problem)
            status = "problem"
        elif found is None:
            values[spec.name] = _default(spec, ttl_seconds, max_stale_seconds, overlap, clock)
            status = "default" if spec.has_default else "absent (optional here)"
        else:
            converted, problem = _convert(spec, found)
            if problem is not None:
                problems.append(problem)
                status = "problem"
            elif spec.is_secret:
                fetch = (
                    (lambda source=source, key=key: source.get(key)) if source is not None and source.dynamic else None
                )
                cached = CachedValue(
                    spec.name,
                    found,
                    fetch,
                    ttl_seconds=ttl_seconds,
                    max_stale_seconds=max_stale_seconds,
                    overlap_seconds=overlap,
                    clock=clock,
                    environment_scoped=bool(getattr(source, "environment_scoped", False)),
                )
                change_key = getattr(source, "change_key", None) if fetch is not None else None
                if change_key is not None:
                    changes.subscribe(change_key(key), cached.invalidate)
                values[spec.name] = LiveSecret(spec.name, cached)
            else:
                values[spec.name] = converted
        if found is None and problem is None and notes:
            status += f" ({'; '.join(notes)})"
        reports.append(
            FieldReport(
                spec.name,
                spec.env,
                spec.is_secret,
                found.source if found else None,
                found.version if found else None,
                found.updated_at if found else None,
                spec.rotate_seconds,
                status,
            )
        )
    if problems:
        if owned:
            _close(chosen)
        raise ConfigError(
            f"configuration of {schema.__name__} for {environment} has {len(problems)} problem(s)", problems
        )
    instance = object.__new__(schema)
    for name, value in values.items():
        object.__setattr__(instance, name, value)
    object.__setattr__(instance, "_environment", environment)
    object.__setattr__(instance, "_report", reports)
    object.__setattr__(instance, "_owned_sources", chosen if owned else [])
    return instance


def _check_sources(schema: type[Settings], sources: Sequence[object]) -> None:
    for position, candidate in enumerate(sources, 1):
        if not isinstance(candidate, Source):
            raise ConfigError(
                f"source {position} of {schema.__name__} ({type(candidate).__name__}) is not a "
                "strongroom source: it needs name, dynamic and get(key)"
            )


def _close(sources: Sequence[Source]) -> None:
    for source in sources:
        close = getattr(source, "close", None)
        if callable(close):
            close()


def _default(spec: FieldSpec, ttl_seconds: float, max_stale_seconds: float, overlap: float, clock: Clock) -> Any:
    if not spec.has_default or spec.default is None:
        return None
    if not spec.is_secret:
        return spec.default
    # A secret's default is still a masked, live handle (a static one).
    cached = CachedValue(
        spec.name,
        Found(str(spec.default), "default"),
        None,
        ttl_seconds=ttl_seconds,
        max_stale_seconds=max_stale_seconds,
        overlap_seconds=overlap,
        clock=clock,
    )
    return LiveSecret(spec.name, cached)


def _schema_sources(schema: type[Settings]) -> list[Source]:
    custom = getattr(schema, "sources", None)
    return list(custom()) if callable(custom) else default_sources()


def _resolve(  # noqa: PLR0911 -- one return per outcome
    spec: FieldSpec,
    key: SourceKey,
    sources: Sequence[Source],
) -> tuple[Found | None, Source | None, list[str], str | None]:
    notes: list[str] = []
    for source in sources:
        try:
            found = source.get(key)
        except Expired:
            return None, source, notes, f"{spec.env}: expired (in {source.name})"
        except SourceUnavailable as exc:
            notes.append(f"{source.name} unavailable: {exc}")
            continue
        except ConfigError as exc:  # a broken source is a problem, not a reason to fall through
            return None, source, notes, f"{spec.env}: {exc}"
        except StrongroomError as exc:
            return None, source, notes, f"{spec.env}: {source.name} failed: {type(exc).__name__}: {exc}"
        except Exception as exc:  # a driver's message may quote data: name only its type
            return None, source, notes, f"{spec.env}: {source.name} failed ({type(exc).__name__})"
        if found is not None:
            if not found.value.strip() and not spec.required(key.environment):
                notes.append(f"empty in {source.name}")  # an optional value left blank in a template: absent
                continue
            return found, source, notes, None
    if spec.required(key.environment):
        looked = ", ".join(s.name for s in sources)
        extra = f"; {'; '.join(notes)}" if notes else ""
        return None, None, notes, f"{spec.env}: missing (required in {key.environment}; looked in {looked}{extra})"
    return None, None, notes, None


def _convert(spec: FieldSpec, found: Found) -> tuple[Any, str | None]:  # noqa: PLR0911 -- one return per outcome
    where = f"from {found.source}"
    value = found.value
    if not value.strip():
        return None, f"{spec.env}: empty ({where})"
    if spec.is_secret and looks_like_placeholder(value):  # plain settings may well be "password" or "sample"
        return None, f"{spec.env}: looks like a placeholder, not a real value ({where})"
    if spec.is_secret or spec.type is str:
        return value, None
    if spec.type is bool:
        lowered = value.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True, None
        if lowered in ("0", "false", "no", "off"):
            return False, None
        return None, f"{spec.env}: not a boolean (use true/false) ({where})"
    try:
        return spec.type(value.strip()), None
    except ValueError:
        return None, f"{spec.env}: not a valid {spec.type.__name__} ({where})"


def report(settings: Settings) -> list[FieldReport]:
    return list(getattr(settings, "_report", []))


def import_schema(reference: str) -> type[Settings]:
    """``module:Class`` → the schema class, importing with the current directory on ``sys.path``."""
    module_name, _, class_name = reference.partition(":")
    if not module_name or not class_name:
        raise ConfigError(f"--schema must be MODULE:CLASS, got {reference!r}")
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import schema module {module_name!r}: {exc}") from None
    schema = getattr(module, class_name, None)
    if not (isinstance(schema, type) and issubclass(schema, Settings)):
        raise ConfigError(f"{reference} is not a strongroom.config.Settings subclass")
    return schema


def environment_for_child(settings: Settings) -> dict[str, str]:
    """The schema's values as environment variables, for ``strongroom run``."""
    out: dict[str, str] = {}
    for spec in type(settings).__fields__.values():
        value = getattr(settings, spec.name, None)
        if value is None:
            continue
        if isinstance(value, LiveSecret):
            out[spec.env] = value.reveal()
        elif isinstance(value, bool):
            out[spec.env] = "true" if value else "false"
        else:
            out[spec.env] = str(value)
    return out
