"""What the vault accepts: secret kinds, sensitivities, value limits, and the metadata it returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from strongroom.clock import iso
from strongroom.errors import InvalidInput
from strongroom.vault.destinations import DestinationPolicy
from strongroom.vocabulary import KINDS, MAX_LABEL_CHARS, MAX_PURPOSE_CHARS, SENSITIVITIES, Kind, Sensitivity

DEFAULT_MAX_VALUE_BYTES = 64 * 1024

__all__ = [
    "DEFAULT_MAX_VALUE_BYTES",
    "KINDS",
    "MAX_LABEL_CHARS",
    "MAX_PURPOSE_CHARS",
    "SENSITIVITIES",
    "Kind",
    "SecretInfo",
    "Sensitivity",
    "TenantInfo",
    "VersionInfo",
    "check_kind",
    "check_label",
    "check_purpose",
    "check_sensitivity",
    "to_bytes",
]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidInput(f"invalid kind {kind!r}: use one of {', '.join(KINDS)}")
    return kind


def check_sensitivity(sensitivity: str) -> str:
    if sensitivity not in SENSITIVITIES:
        raise InvalidInput(f"invalid sensitivity {sensitivity!r}: use one of {', '.join(SENSITIVITIES)}")
    return sensitivity


def check_purpose(purpose: object) -> str:
    if (
        not isinstance(purpose, str)
        or not purpose.strip()
        or len(purpose) > MAX_PURPOSE_CHARS
        or not purpose.isprintable()
    ):
        raise InvalidInput(f"a purpose of 1-{MAX_PURPOSE_CHARS} printable characters is required to use a secret")
    return purpose


def check_text(what: str, value: object, max_chars: int) -> str:
    """Printable text of 1..max_chars characters: what goes into audit rows and token claims.

    ``isprintable`` rejects NUL, control characters and lone surrogates, which no database column takes.
    """
    if not isinstance(value, str) or not value or len(value) > max_chars or not value.isprintable():
        raise InvalidInput(f"{what} must be 1-{max_chars} printable characters")
    return value


def check_label(what: str, value: object) -> None:
    """Actors and request ids go into the audit log: printable text that fits its column, or None."""
    if value is not None:
        check_text(what, value, MAX_LABEL_CHARS)


def to_bytes(name: str, value: str | bytes, max_bytes: int) -> tuple[bytes, str]:
    """The value as bytes and its type; refuses empty and over-large values without showing them."""
    if isinstance(value, str):
        try:
            raw, value_type = value.encode(), "str"
        except UnicodeEncodeError:
            raw = None  # the error holds the value; raise outside the except block so it is not the context
        if raw is None:
            raise InvalidInput(f"value of secret {name!r} is not valid Unicode text (lone surrogate)")
    elif isinstance(value, bytes | bytearray | memoryview):
        raw, value_type = bytes(value), "bytes"
    else:
        raise InvalidInput(f"value of secret {name!r} must be str or bytes, not {type(value).__name__}")
    if not raw:
        raise InvalidInput(f"value of secret {name!r} is empty")
    if len(raw) > max_bytes:
        raise InvalidInput(f"value of secret {name!r} is {len(raw)} bytes, over the limit of {max_bytes}")
    return raw, value_type


class _Info:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        for key, value in out.items():
            if key.endswith(("_at", "_until")):
                out[key] = iso(value)
        return out  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class TenantInfo(_Info):
    name: str
    id: str
    environment: str
    created_at: float


@dataclass(frozen=True, slots=True)
class SecretInfo(_Info):
    """Metadata of a secret. It never holds the value."""

    tenant: str
    name: str
    kind: str
    sensitivity: str
    description: str
    version: int
    created_at: float
    updated_at: float
    deleted_at: float | None
    expires_at: float | None
    destinations: DestinationPolicy | None = None  # where the broker may send it (None: declared connectors)

    def to_dict(self) -> dict[str, Any]:
        out = super(SecretInfo, self).to_dict()
        out["destinations"] = None if self.destinations is None else self.destinations.to_data()
        return out


@dataclass(frozen=True, slots=True)
class VersionInfo(_Info):
    version: int
    current: bool
    created_at: float
    created_by: str
    expires_at: float | None
    stage: str = "current"  # vocabulary.Stage: pending, current, previous or retired
    stage_until: float | None = None  # a previous version: the end of its overlap (a candidate until then)
