"""Validation of the identifiers users choose: tenant names, secret names, environments."""

from __future__ import annotations

import re

from strongroom.errors import InvalidInput
from strongroom.vocabulary import is_reserved_tenant_name

NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,128}")
ENVIRONMENT_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def check_name(what: str, name: object) -> str:
    """Return ``name`` if it is a valid identifier, else raise ``InvalidInput`` naming ``what``."""
    if not isinstance(name, str) or NAME_PATTERN.fullmatch(name) is None:
        shown = repr(name)[:40] if isinstance(name, str) else type(name).__name__
        raise InvalidInput(f"invalid {what} {shown}: use 1-128 characters from A-Z a-z 0-9 _ . -")
    return name


def check_new_tenant_name(name: object, *, allowed: frozenset[str] = frozenset()) -> str:
    """``name`` if a tenant may be created under it: a valid name, not of a form strongroom uses itself
    (``vocabulary.is_reserved_tenant_name``) unless it is one of ``allowed`` (the vault's own ``_platform``)."""
    checked = check_name("tenant name", name)
    if is_reserved_tenant_name(checked) and checked not in allowed:
        raise InvalidInput(f"tenant name {checked[:40]!r} is reserved: choose one not starting with _ or -")
    return checked


def check_environment(environment: object) -> str:
    if not isinstance(environment, str) or ENVIRONMENT_PATTERN.fullmatch(environment) is None:
        shown = repr(environment)[:40] if isinstance(environment, str) else type(environment).__name__
        raise InvalidInput(f"invalid environment {shown}: use a lower-case name such as dev, preview or prod")
    return environment
