"""The public API: exactly the names in strongroom.__all__, all importable."""

from __future__ import annotations

import strongroom

PUBLIC = {
    "AccessDenied",
    "AuditError",
    "ConfigError",
    "Conflict",
    "Expired",
    "InvalidInput",
    "KeyProviderError",
    "NotFound",
    "Secret",
    "SecretInfo",
    "StoreError",
    "StrongroomError",
    "TamperedError",
    "TenantInfo",
    "Vault",
    "VersionInfo",
    "__version__",
}


def test_all_is_exactly_the_public_names() -> None:
    """strongroom.__all__ lists the public names, no more and no fewer."""
    assert set(strongroom.__all__) == PUBLIC
    assert len(strongroom.__all__) == len(PUBLIC)


def test_every_public_name_resolves() -> None:
    """Each name in __all__ is an attribute of the package (lazy ones included)."""
    for name in strongroom.__all__:
        assert getattr(strongroom, name) is not None


def test_errors_form_one_hierarchy() -> None:
    """Every exported error derives from StrongroomError."""
    for name in strongroom.__all__:
        obj = getattr(strongroom, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, strongroom.StrongroomError)
