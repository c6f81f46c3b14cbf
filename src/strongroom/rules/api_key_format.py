"""The shape of a strongroom API key, in the standard library only, so a scanner rule can share it.

    srk_<8 base62: public id>_<32 base62: random><6 base62: CRC32 of everything before it>

The prefix makes a leaked key recognisable; the checksum lets a scanner (and ``ApiKeys.authenticate``)
tell a real key from a look-alike without a database read, so a rule built on it has no false positives
beyond one in 4 billion random strings of the right shape. The checksum is GitHub's scheme (CRC32,
base62 with digits, then upper case, then lower case, left-padded with "0" to 6 characters), but it
covers the whole key before it, prefix and public id included, so a key is not valid under another prefix.

The checksum is no security measure: anyone can compute it. Secrecy comes from the 32 random characters
(about 190 bits from ``secrets``).
"""

from __future__ import annotations

import re
import secrets
import zlib

from strongroom.rules.base import Rule
from strongroom.rules.context import LEAD, TAIL

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
API_KEY_PREFIX = "srk_"
ID_LENGTH = 8
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
API_KEY_LENGTH = len(API_KEY_PREFIX) + ID_LENGTH + 1 + RANDOM_LENGTH + CHECKSUM_LENGTH  # 51

API_KEY_PATTERN = LEAD + r"srk_[0-9A-Za-z]{8}_[0-9A-Za-z]{38}" + TAIL
"""A strongroom API key anywhere in text, bounded so it is not part of a longer token; pair it with
``api_key_checksum_ok`` (keyword ``srk_``)."""

_SHAPE = re.compile(r"srk_([0-9A-Za-z]{8})_[0-9A-Za-z]{38}")
_ID = re.compile(r"(?:srk_)?([0-9A-Za-z]{8})")


def _base62(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    """The 6-character checksum of ``body`` (everything before the checksum)."""
    return _base62(zlib.crc32(body.encode("ascii")), CHECKSUM_LENGTH)


def api_key_checksum_ok(key: str) -> bool:
    """True if ``key`` has the exact shape of a strongroom API key and its checksum matches."""
    if not isinstance(key, str) or len(key) != API_KEY_LENGTH or _SHAPE.fullmatch(key) is None:
        return False
    return checksum(key[:-CHECKSUM_LENGTH]) == key[-CHECKSUM_LENGTH:]


def public_id(key: str) -> str | None:
    """The key's public id if ``key`` has the shape of a key (checksum not checked), else ``None``."""
    if not isinstance(key, str) or len(key) != API_KEY_LENGTH:
        return None
    match = _SHAPE.fullmatch(key)
    return match.group(1) if match else None


def parse_key_id(given: str) -> str | None:
    """A key id as an operator may type it: ``abcd1234`` or its prefix form ``srk_abcd1234``."""
    match = _ID.fullmatch(given) if isinstance(given, str) else None
    return match.group(1) if match else None


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_api_key() -> tuple[str, str]:
    """A fresh key and its public id."""
    key_id = random_base62(ID_LENGTH)
    body = f"{API_KEY_PREFIX}{key_id}_{random_base62(RANDOM_LENGTH)}"
    return body + checksum(body), key_id


__all__ = [
    "API_KEY_LENGTH",
    "API_KEY_PATTERN",
    "API_KEY_PREFIX",
    "RULE",
    "api_key_checksum_ok",
    "checksum",
    "new_api_key",
    "parse_key_id",
    "public_id",
]


RULE = Rule(
    id="strongroom-api-key",
    description="strongroom API key (srk_ + public id + random + CRC32 checksum)",
    pattern=API_KEY_PATTERN,
    keywords=(API_KEY_PREFIX,),
    validate=api_key_checksum_ok,
    severity="critical",
)
"""The scanner's and the redactor's rule for leaked strongroom API keys: no false positives, by checksum."""
