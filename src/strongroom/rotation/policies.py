"""Rotation policies as users write them: durations as text, rotator options, a TOML file of many.

A policy is ``every`` (how often), ``overlap`` (how long the replaced version stays a candidate), the
``rotator`` and its ``options``. Options configure; they never hold a credential: an option whose name says
it is one (``password``, ``token``, ``key``, ...) is refused unless it ends in ``_secret`` and names another
secret of the same tenant, which the rotator reads through the vault (audited).

The TOML file (``strongroom rotation apply FILE``)::

    [[secret]]
    tenant = "acme"            # default: the platform's own secrets (_platform)
    name = "orders-db"
    every = "30d"
    overlap = "1h"
    rotator = "postgresql"
    options = { users = "orders_a,orders_b", admin_secret = "pg-admin" }
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from strongroom.config.schema import parse_duration
from strongroom.errors import ConfigError, InvalidInput
from strongroom.vocabulary import PLATFORM_TENANT

__all__ = ["PolicySpec", "check_options", "load_policy_file", "seconds"]

MAX_SECONDS = 10 * 366 * 86400.0
"""The longest period or overlap a policy takes: anything longer is a typo (and would overflow a date)."""
_VALUE_LIKE = re.compile(r"(?i)(pass(word)?|pwd|token|secret|api_?key|private|credential|auth)")
_OPTION_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


def seconds(what: str, value: str | float | int) -> float:
    """A duration given as ``"30d"``/``"12h"`` or as seconds; ``InvalidInput`` naming ``what`` otherwise."""
    if isinstance(value, bool):
        raise InvalidInput(f"{what} must be a duration such as '30d' or a number of seconds")
    if isinstance(value, int | float):
        parsed = float(value)
    else:
        try:
            parsed = parse_duration(str(value))
        except ConfigError as exc:
            raise InvalidInput(f"{what}: {exc}") from None
    if not 0 <= parsed <= MAX_SECONDS:  # also refuses NaN and infinity
        raise InvalidInput(f"{what} must be between 0 and 10 years ({MAX_SECONDS:.0f} seconds)")
    return parsed


def check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options as stored: plain names, scalar or list values, and no credential among them."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        if not isinstance(name, str) or not _OPTION_NAME.fullmatch(name):
            raise InvalidInput(f"rotator option {str(name)[:40]!r}: names are lower-case letters, digits and _")
        if _VALUE_LIKE.search(name) and not name.endswith("_secret"):
            raise InvalidInput(
                f"rotator option {name!r} looks like a credential: options never hold one. Store it as a "
                f"secret and name it with {name.rstrip('_')}_secret=NAME"
            )
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and _carries_credential(text):
                raise InvalidInput(
                    f"rotator option {name!r} holds a URL with a credential in it: options are stored and shown "
                    f"in plain text. Store the credential as a secret and name it with an option *_secret=NAME"
                )
        ok_list = isinstance(value, list) and all(isinstance(v, str | int | float) for v in value)
        if not (isinstance(value, str | int | float | bool) or ok_list):
            raise InvalidInput(f"rotator option {name!r} must be text, a number, true/false or a list of them")
        out[name] = value
    return out


def _carries_credential(text: str) -> bool:
    """A URL with a password in it, or a query parameter named like a credential."""
    if "://" not in text:
        return False
    parts = urlsplit(text.strip())
    try:
        password = parts.password
    except ValueError:
        password = None
    names = [pair.split("=", 1)[0] for pair in parts.query.split("&") if "=" in pair]
    return bool(password) or any(_VALUE_LIKE.search(n) for n in names)


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """One policy, checked for shape (the rotator checks its own options when the policy is set)."""

    name: str
    every: float
    rotator: str
    overlap: float | None = None  # None: the engine's default for the rotator
    tenant: str = PLATFORM_TENANT
    options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Mapping[str, Any], *, where: str = "policy") -> PolicySpec:
        unknown = set(data) - {"tenant", "name", "every", "overlap", "rotator", "options"}
        if unknown:
            raise InvalidInput(
                f"{where}: unknown key(s) {', '.join(sorted(unknown))}; "
                "use tenant, name, every, overlap, rotator, options"
            )
        for key in ("name", "every", "rotator"):
            if key not in data:
                raise InvalidInput(f"{where}: {key!r} is required")
        options = data.get("options", {})
        if not isinstance(options, Mapping):
            raise InvalidInput(f"{where}: options must be a table")
        return cls(
            name=str(data["name"]),
            tenant=str(data.get("tenant", PLATFORM_TENANT)),
            every=seconds(f"{where}: every", data["every"]),
            overlap=None if data.get("overlap") is None else seconds(f"{where}: overlap", data["overlap"]),
            rotator=str(data["rotator"]),
            options=check_options(options),
        )


def load_policy_file(path: Path) -> list[PolicySpec]:
    """Every ``[[secret]]`` of a TOML policy file, each checked; ``InvalidInput`` names the entry and key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"cannot read policy file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"policy file {path} is not valid TOML: {exc}") from None
    entries = data.get("secret")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"policy file {path} has no [[secret]] entries")
    return [PolicySpec.parse(entry, where=f"{path.name} [[secret]] #{i + 1}") for i, entry in enumerate(entries)]
