"""Error messages of the key providers: one format, so every provider names itself and the fix alike.

A message is the provider as errors may show it (its URI, never its query string: that may hold a PIN or
a token), the problem, then the fix on its own paragraph, in lines of at most 80 columns::

    aws-kms:alias/prod: cannot reach AWS KMS at http://127.0.0.1:4566
    (EndpointConnectionError).
    Fix: check the network, the region and endpoint= of the URI.

A URI or a path is never broken across lines, so one longer than 80 columns stands alone on its line.
"""

from __future__ import annotations

import re
import textwrap

from strongroom.errors import KeyProviderError

WIDTH = 80
_SHOWN_MAX = 200
_USERINFO = re.compile(r"//[^/@?#]*@")


def shown_uri(uri: str) -> str:
    """``uri`` as errors may show it: no query string or fragment (a PIN, a token), no user info in a URL."""
    shown = _USERINFO.sub("//", uri.split("?", 1)[0].split("#", 1)[0])
    return shown if len(shown) <= _SHOWN_MAX else shown[: _SHOWN_MAX - 3] + "..."


def provider_error(shown: str, problem: str, fix: str | None = None) -> KeyProviderError:
    """``KeyProviderError("<shown>: <problem>.\\nFix: <fix>.")``, wrapped at 80 columns.

    ``shown`` names the provider (pass it through :func:`shown_uri` if it may carry a query); ``problem``
    and ``fix`` are plain sentences (a period is added if they lack one), and must never hold a secret.
    """
    paragraphs = [_fill(_sentence(f"{shown}: {problem}"))]
    if fix:
        paragraphs.append(_fill(_sentence(f"Fix: {fix}"), indent="  "))
    return KeyProviderError("\n".join(paragraphs))


def _sentence(text: str) -> str:
    text = text.rstrip()
    return text if text.endswith((".", "?", "!")) else text + "."


def _fill(text: str, *, indent: str = "") -> str:
    return textwrap.fill(text, width=WIDTH, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)


__all__ = ["provider_error", "shown_uri"]
