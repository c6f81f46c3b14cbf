"""The access log without credentials: a filter on ``uvicorn.access`` that masks link tokens.

A GPT document link, ``/v1/gpt/documents/<key>.json``, carries an API key in its path: masked the same way.

A share link, ``/v1/shares/<token>``, is a bearer credential in the path itself, which uvicorn logs in full.
The filter replaces that path segment with ``{token}`` (whatever it holds: a mistyped link is still most
of a real one) and masks any share link token elsewhere in the line (a query string, say) with the rule the
scanner and the redactor share. Other credentials travel in ``Authorization``, which uvicorn never logs; the
redacting filter ``strongroom serve`` installs on every handler masks provider-shaped values besides.
"""

from __future__ import annotations

import logging
import re

from strongroom.rules.share_link_format import SHARE_LINK_REGEX

ACCESS_LOGGER = "uvicorn.access"
# The link paths whose last segment is a credential: a share link's token, a GPT document link's key.
SHARES_PATH = re.compile(r"(/v1/shares/|/v1/gpt/documents/)[^?#\s\"]+")
MASK = "[REDACTED:share-link]"


def mask_links(text: str) -> str:
    """``text`` with every share link path segment and share link token masked."""
    return SHARE_LINK_REGEX.sub(MASK, SHARES_PATH.sub(r"\1{token}", text))


class MaskLinkTokens(logging.Filter):
    """Masks share link tokens in a log record's message and arguments (it never drops a record)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = mask_links(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(mask_links(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: mask_links(v) if isinstance(v, str) else v for k, v in record.args.items()}
        return True


def install() -> MaskLinkTokens:
    """Put the filter on the ``uvicorn.access`` logger (idempotent). A logger's filters outlive uvicorn's
    ``dictConfig``, which replaces handlers only."""
    logger = logging.getLogger(ACCESS_LOGGER)
    for existing in logger.filters:
        if isinstance(existing, MaskLinkTokens):
            return existing
    added = MaskLinkTokens()
    logger.addFilter(added)
    return added
