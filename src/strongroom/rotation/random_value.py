"""The ``random`` rotator: a new value from the operating system's CSPRNG (``secrets``), for signing
secrets and internal service tokens that nothing outside strongroom has to accept.

Options: ``length`` (characters, default 48), ``alphabet`` (``urlsafe`` default, ``hex``, ``alnum``, or the
characters themselves, at least 16 distinct), ``prefix`` (prepended, e.g. ``svc_``).
"""

from __future__ import annotations

import math
import secrets
import string
from collections.abc import Mapping
from typing import Any, ClassVar

from strongroom.errors import InvalidInput
from strongroom.rotation.rotator import BaseRotator, RotationContext, option

__all__ = ["RandomRotator"]

ALPHABETS = {
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "hex": "0123456789abcdef",
    "alnum": string.ascii_letters + string.digits,
}
MIN_BITS = 128


class RandomRotator(BaseRotator):
    name: ClassVar[str] = "random"

    def check(self, options: Mapping[str, Any]) -> None:
        self._alphabet_and_length(options)
        option(self.name, options, "prefix", str, "")

    def create(self, ctx: RotationContext) -> str:
        alphabet, length = self._alphabet_and_length(ctx.options)
        prefix: str = option(self.name, ctx.options, "prefix", str, "")
        return prefix + "".join(secrets.choice(alphabet) for _ in range(length))

    def _alphabet_and_length(self, options: Mapping[str, Any]) -> tuple[str, int]:
        spec = option(self.name, options, "alphabet", str, "urlsafe")
        alphabet = ALPHABETS.get(spec, spec)
        if len(set(alphabet)) < 16:
            raise InvalidInput(
                f"rotator 'random': alphabet {spec[:20]!r} has under 16 distinct characters: "
                f"use {', '.join(ALPHABETS)} or give at least 16 characters"
            )
        length = option(self.name, options, "length", int, 48)
        bits = int(length * math.log2(len(set(alphabet))))
        if not 1 <= length <= 4096 or bits < MIN_BITS:
            raise InvalidInput(
                f"rotator 'random': length {length} gives {bits} bits: "
                f"use a length of 1-4096 giving at least {MIN_BITS} bits"
            )
        return alphabet, length
