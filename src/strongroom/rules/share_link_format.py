"""The shape of a strongroom one-time share link token, in the standard library only, so the scanner's and
the redactor's rule and the service's access-log filter share it.

    srs_<43 base64url characters: 32 random bytes from ``secrets.token_urlsafe``>

The link ``<public url>/v1/shares/<token>`` is itself the credential (whoever holds it redeems the value
once), so it must never reach a log: ``strongroom.tokens.shares`` makes the tokens, the service's access
log masks the path (``strongroom.server.access_log``), and this rule finds one anywhere else.
"""

from __future__ import annotations

import re

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD, TAIL

SHARE_LINK_PREFIX = "srs_"
RANDOM_LENGTH = 43  # base64url of 32 bytes, unpadded
SHARE_LINK_PATTERN = LEAD + r"srs_[A-Za-z0-9_-]{43}" + TAIL
"""A share link token anywhere in text, not part of a longer token (keyword ``srs_``)."""
SHARE_LINK_REGEX = re.compile(SHARE_LINK_PATTERN)

RULE = Rule(
    id="strongroom-share-link",
    description="strongroom one-time share link token (srs_ + 43 base64url characters)",
    pattern=SHARE_LINK_PATTERN,
    keywords=(SHARE_LINK_PREFIX,),
    entropy=3.5,
    severity="high",
)
"""The scanner's and the redactor's rule for a leaked share link (a bearer credential until redeemed)."""

__all__ = ["RANDOM_LENGTH", "RULE", "SHARE_LINK_PATTERN", "SHARE_LINK_PREFIX", "SHARE_LINK_REGEX"]
