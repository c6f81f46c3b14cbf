"""The declared schema: a class whose annotated fields are secrets (``Secret[str]``) or plain settings.

    class AppSettings(Settings):
        database_url: Secret[str] = secret(sensitivity="critical", rotate="90d")
        openai_api_key: Secret[str] = secret(sensitivity="high", rotate="30d", required_in=("preview", "prod"))
        log_level: str = "info"

Plain Python, no pydantic: the schema is read once, when the class is created.
"""

from __future__ import annotations

import inspect
import re
import sys
import time
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self, TypeVar, cast, overload

from strongroom.errors import ConfigError
from strongroom.secret import Secret
from strongroom.vocabulary import KINDS, SENSITIVITIES

if TYPE_CHECKING:
    from strongroom.clock import Clock
    from strongroom.config.sources import Source

V = TypeVar("V")

DEFAULT_ENVIRONMENTS = ("dev", "preview", "prod")
_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MISSING: Any = object()


def parse_duration(text: str) -> float:
    """``"90d"``, ``"12h"``, ``"1w2d"`` → seconds; anything else raises ``ConfigError``."""
    parts = _DURATION.findall(text.strip())
    if not parts or "".join(f"{n}{u}" for n, u in parts) != re.sub(r"\s+", "", text.strip()):
        raise ConfigError(f"invalid duration {text!r}: use a number and a unit s, m, h, d or w, as in '90d'")
    return float(sum(int(n) * _UNIT_SECONDS[u] for n, u in parts))


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What the schema says about one field."""

    name: str
    env: str
    is_secret: bool
    type: type
    default: object = field(repr=False)  # a secret's default is a value
    required_in: tuple[str, ...] | None
    kind: str = "platform"
    sensitivity: str = "high"
    rotate_seconds: float | None = None
    description: str = ""
    rotator: str | None = None  # strongroom.rotation: which rotator `strongroom rotation apply --schema` sets
    rotator_options: Mapping[str, Any] = field(default_factory=dict)
    overlap_seconds: float | None = None  # None: the rotation engine's default for the rotator

    def required(self, environment: str) -> bool:
        # required_in wins over a default: a dev-only default must never stand in for a prod secret.
        if self.required_in is not None:
            return environment in self.required_in
        return self.default is _MISSING

    @property
    def has_default(self) -> bool:
        return self.default is not _MISSING


@dataclass(frozen=True, slots=True)
class _Declared:
    """What ``secret()`` and ``setting()`` return: options, resolved into a ``FieldSpec`` by ``Settings``."""

    is_secret: bool
    env: str | None
    default: Any = field(repr=False)
    required_in: tuple[str, ...] | None
    kind: str
    sensitivity: str
    rotate: str | None
    description: str
    rotator: str | None = None
    rotator_options: Mapping[str, Any] = field(default_factory=dict)
    overlap: str | None = None


def secret(
    *,
    sensitivity: str = "high",
    rotate: str | None = None,
    required_in: tuple[str, ...] | None = None,
    kind: str = "platform",
    description: str = "",
    env: str | None = None,
    default: str | None = _MISSING,
    rotator: str | None = None,
    rotator_options: Mapping[str, Any] | None = None,
    overlap: str | None = None,
) -> Secret[str]:
    """Declare a secret field. ``required_in=None`` means required in every environment.

    ``rotate`` is how often it should change; with ``rotator`` (and its ``rotator_options``, and the
    ``overlap`` during which the replaced value stays a candidate) ``strongroom rotation apply --schema``
    makes it a rotation policy of the platform secret in the store (``docs/rotation.md``).

    Typed as the field's value (``Secret[str]``), as ``dataclasses.field()`` is: the declaration stands in
    for the value in the class body, and ``port: int = secret()`` is a type error.
    """
    if sensitivity not in SENSITIVITIES:
        raise ConfigError(f"invalid sensitivity {sensitivity!r}: use one of {', '.join(SENSITIVITIES)}")
    if kind not in KINDS:
        raise ConfigError(f"invalid kind {kind!r}: use one of {', '.join(KINDS)}")
    if rotate is not None:
        parse_duration(rotate)
    if overlap is not None:
        parse_duration(overlap)
    if rotator is not None and rotate is None:
        raise ConfigError(f"rotator {rotator!r} needs rotate= (how often), as in secret(rotate='30d', rotator=...)")
    _check_required_in(required_in)
    declared = _Declared(
        True,
        env,
        default,
        tuple(required_in) if required_in is not None else None,
        kind,
        sensitivity,
        rotate,
        description,
        rotator,
        dict(rotator_options or {}),
        overlap,
    )
    return cast("Secret[str]", declared)


@overload
def setting(
    *,
    default: V,
    env: str | None = None,
    required_in: tuple[str, ...] | None = None,
    description: str = "",
) -> V: ...


@overload
def setting(
    *,
    env: str | None = None,
    required_in: tuple[str, ...] | None = None,
    description: str = "",
) -> Any: ...  # no default to infer from: the annotation gives the type, as with dataclasses.field()


def setting(
    *,
    default: object = _MISSING,
    env: str | None = None,
    required_in: tuple[str, ...] | None = None,
    description: str = "",
) -> object:
    """Declare a plain (non-secret) setting with options; a bare default (``level: str = "info"``) also works.

    With ``default=`` it is typed as the default's type, so ``port: int = setting(default="80")`` is a type
    error.
    """
    _check_required_in(required_in)
    return _Declared(
        False,
        env,
        default,
        tuple(required_in) if required_in is not None else None,
        "platform",
        "low",
        None,
        description,
    )


def _check_required_in(required_in: object) -> None:
    if required_in is not None and (isinstance(required_in, str) or not all(isinstance(e, str) for e in required_in)):  # type: ignore[attr-defined]
        raise ConfigError("required_in must be a tuple of environment names, as in required_in=('prod',)")


_PLAIN_TYPES: tuple[type, ...] = (str, int, float, bool)


class Settings:
    """Base class of a declared schema. Subclass it, annotate fields, then call ``load()``."""

    environments: ClassVar[tuple[str, ...]] = DEFAULT_ENVIRONMENTS
    __fields__: ClassVar[dict[str, FieldSpec]] = {}
    _environment: str
    _report: list[Any]
    _owned_sources: list[Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__fields__ = _collect(cls)

    @classmethod
    def fields(cls) -> dict[str, FieldSpec]:
        return dict(cls.__fields__)

    @classmethod
    def load(
        cls,
        environment: str | None = None,
        *,
        sources: Sequence[Source] | None = None,
        ttl_seconds: float | None = None,
        max_stale_seconds: float | None = None,
        overlap_seconds: float | None = None,
        clock: Clock | None = None,
    ) -> Self:
        """Resolve, validate and return an instance of this class; raises one ``ConfigError`` listing every
        problem. Unset options take ``strongroom.config.load``'s defaults."""
        from strongroom.config import loader

        return loader.load(
            cls,
            environment=environment,
            sources=sources,
            ttl_seconds=loader.DEFAULT_TTL_SECONDS if ttl_seconds is None else ttl_seconds,
            max_stale_seconds=loader.DEFAULT_MAX_STALE_SECONDS if max_stale_seconds is None else max_stale_seconds,
            overlap_seconds=overlap_seconds,
            clock=clock or time.time,
        )

    @property
    def environment(self) -> str:
        return self._environment

    def close(self) -> None:
        """Close the sources ``load()`` opened (the store's database pool). Secrets stop refreshing after."""
        for source in getattr(self, "_owned_sources", ()):
            close = getattr(source, "close", None)
            if callable(close):
                close()

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name, None)!r}" for name in self.__fields__)
        return f"{type(self).__name__}({shown})"


def _own_hints(cls: type) -> dict[str, Any]:
    """The annotations written in ``cls`` itself, evaluated in its module (as typing.get_type_hints does)."""
    module = sys.modules.get(cls.__module__)
    namespace = {"Secret": Secret, **(vars(module) if module else {})}
    return {
        name: eval(written, namespace, dict(vars(cls))) if isinstance(written, str) else written  # noqa: S307
        for name, written in inspect.get_annotations(cls).items()
    }


def _collect(cls: type) -> dict[str, FieldSpec]:
    try:
        hints = _own_hints(cls)
    except Exception as exc:
        raise ConfigError(f"schema {cls.__name__}: cannot read its annotations ({exc})") from None
    # Fields of schema bases keep the options they were declared with; this class's own annotations follow.
    specs: dict[str, FieldSpec] = {}
    for base in reversed(cls.__mro__[1:]):
        if isinstance(base, type) and issubclass(base, Settings) and base is not Settings:
            specs.update(base.__fields__)
    problems: list[str] = []
    for name, hint in hints.items():
        if name.startswith("_") or typing.get_origin(hint) is typing.ClassVar or name == "environments":
            continue
        if name in _RESERVED:
            problems.append(
                f"{name}: reserved by Settings ({', '.join(sorted(_RESERVED))}); "
                "name the field otherwise and map it with env="
            )
            continue
        is_secret, value_type = _classify(hint)
        if value_type is None:
            problems.append(f"{name}: unsupported type {hint!r} (use Secret[str], str, int, float or bool)")
            continue
        declared = cls.__dict__.get(name, _MISSING)
        if not isinstance(declared, _Declared):
            declared = _Declared(is_secret, None, declared, None, "platform", "high" if is_secret else "low", None, "")
        elif declared.is_secret != is_secret:
            problems.append(
                f"{name}: declared with {'secret' if declared.is_secret else 'setting'}() "
                f"but annotated {'Secret[str]' if is_secret else value_type.__name__}"
            )
            continue
        unknown = set(declared.required_in or ()) - set(getattr(cls, "environments", DEFAULT_ENVIRONMENTS))
        if unknown:
            problems.append(f"{name}: required_in names unknown environments {sorted(unknown)}")
        specs[name] = FieldSpec(
            name=name,
            env=declared.env or name.upper(),
            is_secret=is_secret,
            type=value_type,
            default=declared.default,
            required_in=declared.required_in,
            kind=declared.kind,
            sensitivity=declared.sensitivity,
            rotate_seconds=parse_duration(declared.rotate) if declared.rotate else None,
            description=declared.description,
            rotator=declared.rotator,
            rotator_options=declared.rotator_options,
            overlap_seconds=parse_duration(declared.overlap) if declared.overlap else None,
        )
        if name in cls.__dict__:
            delattr(cls, name)  # instances hold the loaded values; the declaration must not shadow them
    if problems:
        raise ConfigError(f"schema {cls.__name__} is invalid", problems)
    return specs


_RESERVED = frozenset({"environment", "environments", "fields", "load", "sources"})


def _classify(hint: Any) -> tuple[bool, type | None]:
    args = typing.get_args(hint)
    if (
        typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None))
        and type(None) in args
        and len(args) == 2
    ):
        hint = next(a for a in args if a is not type(None))
        args = typing.get_args(hint)
    if hint is Secret or typing.get_origin(hint) is Secret:
        inner = args[0] if args else str
        return True, inner if inner in (str,) else None
    if hint in _PLAIN_TYPES:
        return False, hint
    return False, None
