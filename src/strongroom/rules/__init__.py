"""Detector rules for provider credentials, in one place: used by the scanner and the redactor.

The provider rules come first; the one generic rule (a high-entropy value under a secret-named label) is
last, so that a value both kinds find is attributed to its provider.
"""

from __future__ import annotations

from strongroom.rules.api_key_format import RULE as _STRONGROOM_API_KEY
from strongroom.rules.base import Rule, shannon_entropy
from strongroom.rules.cloud_code import RULES as _CLOUD_CODE
from strongroom.rules.generic import RULES as _GENERIC
from strongroom.rules.providers_http import RULES as _HTTP
from strongroom.rules.providers_keyed import RULES as _KEYED
from strongroom.rules.providers_prefixed import RULES as _PREFIXED
from strongroom.rules.services import RULES as _SERVICES
from strongroom.rules.share_link_format import RULE as _STRONGROOM_SHARE_LINK

PROVIDER_RULES: tuple[Rule, ...] = (
    *_CLOUD_CODE,
    *_SERVICES,
    *_PREFIXED,
    *_KEYED,
    *_HTTP,
    _STRONGROOM_API_KEY,
    _STRONGROOM_SHARE_LINK,
)
RULES: tuple[Rule, ...] = (*PROVIDER_RULES, *_GENERIC)

__all__ = ["PROVIDER_RULES", "RULES", "Rule", "shannon_entropy"]
