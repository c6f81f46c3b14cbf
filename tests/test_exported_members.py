"""Each public package exports exactly its documented names (after httpx's ``tests/test_exported_members.py``).

The rule, applied to every package below:

1. ``__all__`` is exactly the documented set, without duplicates;
2. every name in ``__all__`` resolves (lazily loaded ones included);
3. the package shows nothing public-looking beyond ``__all__``: every name in its namespace and in
   ``dir()`` that does not start with ``_`` is in ``__all__``, unless it is one of the package's own
   submodules (``strongroom.crypto.providers``) or the ``annotations`` feature object that
   ``from __future__ import annotations`` binds. A helper imported for the package's own use (``Any``,
   ``Iterable``, ``os``) must be imported under a private name or under ``TYPE_CHECKING``;
4. a name resolved lazily by the module's ``__getattr__`` (listed in its ``_LAZY``) is in ``__all__``.
"""

from __future__ import annotations
import __future__

import importlib
import types

import pytest

PUBLIC: dict[str, set[str]] = {
    "strongroom": {
        "AccessDenied",
        "AuditError",
        "ConfigError",
        "Conflict",
        "Expired",
        "InvalidInput",
        "KeyProviderError",
        "NotFound",
        "RotationError",
        "Secret",
        "SecretInfo",
        "StoreError",
        "StrongroomError",
        "TamperedError",
        "TenantInfo",
        "Vault",
        "VersionInfo",
        "__version__",
    },
    "strongroom.rotation": {
        "ENTRY_POINT_GROUP",
        "BaseRotator",
        "PolicySpec",
        "RotationContext",
        "RotationResult",
        "Rotations",
        "Rotator",
        "Rotators",
        "load_policy_file",
    },
    "strongroom.config": {
        "DEFAULT_ENVIRONMENTS",
        "ConfigError",
        "FieldReport",
        "FieldSpec",
        "Found",
        "LiveSecret",
        "Settings",
        "Source",
        "SourceKey",
        "StrongroomSettingsSource",
        "default_sources",
        "load",
        "looks_like_placeholder",
        "parse_duration",
        "report",
        "secret",
        "setting",
    },
    "strongroom.redact": {
        "MASK",
        "RedactingFilter",
        "RedactingWriter",
        "Redactor",
        "default",
        "encodings",
        "format_exception",
        "install",
        "redact",
        "redact_data",
        "register",
        "sentry_before_send",
        "structlog_processor",
        "uninstall",
    },
    "strongroom.scan": {"Finding", "Scanner"},
    "strongroom.testing": {"assert_not_leaked", "leak_texts"},
    "strongroom.crypto": {"MASTER_KEY_ENV", "MASTER_KEY_ID_ENV", "KeyProvider", "LocalKeyProvider"},
    # The envelope primitives, set apart from strongroom.crypto on purpose (see its docstring).
    "strongroom.crypto.hazmat": {"Binding", "DataKeyCache", "decrypt", "encrypt", "new_key", "wrap_context"},
}

# Dunder names a package may export on purpose.
PUBLIC_DUNDERS = {"__version__"}


def public_looking(module: types.ModuleType, names: set[str]) -> set[str]:
    """The names of ``names`` that look public in ``module``: the set rule 3 compares with ``__all__``."""
    shown = set()
    for name in names:
        if name.startswith("_"):
            continue
        value = getattr(module, name, None)
        if isinstance(value, types.ModuleType) and value.__name__.startswith(f"{module.__name__}."):
            continue  # a submodule: reachable by import, not exported
        if isinstance(value, __future__._Feature):
            continue  # `from __future__ import annotations`
        shown.add(name)
    return shown


def _params() -> list[object]:
    return [pytest.param(name, id=name) for name in PUBLIC]


@pytest.mark.parametrize("package", _params())
def test_all_is_exactly_the_documented_names(package: str) -> None:
    """__all__ lists the documented public names, no more, no fewer, none twice."""
    module = importlib.import_module(package)
    assert set(module.__all__) == PUBLIC[package]
    assert len(module.__all__) == len(set(module.__all__))


@pytest.mark.parametrize("package", _params())
def test_every_exported_name_resolves(package: str) -> None:
    """Each name in __all__ is an attribute of the package, lazily loaded ones included."""
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("package", _params())
def test_nothing_public_looking_beyond_all(package: str) -> None:
    """Neither the namespace nor dir() shows a public-looking name that __all__ does not list."""
    module = importlib.import_module(package)
    for name in module.__all__:  # load the lazy names first, so whatever they bind is seen too
        getattr(module, name)
    exported = set(module.__all__) - PUBLIC_DUNDERS
    assert public_looking(module, set(vars(module))) <= exported
    assert public_looking(module, set(dir(module))) == exported


@pytest.mark.parametrize("package", _params())
def test_lazy_names_are_exported(package: str) -> None:
    """Every name the module's __getattr__ resolves on first access is in __all__."""
    module = importlib.import_module(package)
    lazy = set(getattr(module, "_LAZY", ()))
    assert lazy <= set(module.__all__)
    assert lazy.isdisjoint(vars(module)), "a lazy name is bound eagerly too"


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A lazy package still refuses names it does not have."""
    for package in ("strongroom", "strongroom.config"):
        module = importlib.import_module(package)
        with pytest.raises(AttributeError):
            module.not_a_public_name  # noqa: B018 -- the access is the test


def test_the_rule_catches_a_stray_name() -> None:
    """A helper imported under a public name, a module or a lazy name are caught; submodules are not."""
    package = types.ModuleType("pkg")
    package.__all__ = ["Thing"]  # type: ignore[attr-defined]
    package.Thing = object  # type: ignore[attr-defined]
    package.Any = object  # type: ignore[attr-defined]  # as `from typing import Any` would bind it
    package.os = types.ModuleType("os")  # type: ignore[attr-defined]
    package.sub = types.ModuleType("pkg.sub")  # type: ignore[attr-defined]
    package.annotations = __future__.annotations  # type: ignore[attr-defined]
    assert public_looking(package, set(vars(package))) == {"Thing", "Any", "os"}


def test_errors_form_one_hierarchy() -> None:
    """Every error any public package exports derives from StrongroomError."""
    import strongroom

    for package in PUBLIC:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, Exception):
                assert issubclass(obj, strongroom.StrongroomError), f"{package}.{name}"
