"""The service's credentials: API keys (``ApiKeys``) and short-lived agent tokens (``TokenService``).

Loaded only when used; names resolve lazily so ``strongroom.rules.api_key_format`` (what a scanner rule
needs) costs no SQLAlchemy or PyJWT import.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from strongroom.rules.api_key_format import API_KEY_PATTERN, api_key_checksum_ok
    from strongroom.tokens.api_keys import ADMIN_SCOPE, SCOPES, ApiKeyInfo, ApiKeys
    from strongroom.tokens.issue import IssuedToken
    from strongroom.tokens.service import TokenService
    from strongroom.tokens.verify import TokenClaims

_WHERE = {
    "ADMIN_SCOPE": "api_keys",
    "SCOPES": "api_keys",
    "ApiKeyInfo": "api_keys",
    "ApiKeys": "api_keys",
    "IssuedToken": "issue",
    "API_KEY_PATTERN": "api_key_format",
    "api_key_checksum_ok": "api_key_format",
    "TokenService": "service",
    "TokenClaims": "verify",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'strongroom.tokens' has no attribute {name!r}")
    return getattr(importlib.import_module(f"strongroom.tokens.{module}"), name)


__all__ = [
    "ADMIN_SCOPE",
    "API_KEY_PATTERN",
    "SCOPES",
    "ApiKeyInfo",
    "ApiKeys",
    "IssuedToken",
    "TokenClaims",
    "TokenService",
    "api_key_checksum_ok",
]
