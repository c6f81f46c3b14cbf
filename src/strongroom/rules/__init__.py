"""Detector rules for provider credentials, in one place: used by the scanner and (later) the redactor."""

from __future__ import annotations

from strongroom.rules.base import Rule, shannon_entropy
from strongroom.rules.cloud_code import RULES as _CLOUD_CODE
from strongroom.rules.services import RULES as _SERVICES

RULES: tuple[Rule, ...] = (*_CLOUD_CODE, *_SERVICES)

__all__ = ["RULES", "Rule", "shannon_entropy"]
