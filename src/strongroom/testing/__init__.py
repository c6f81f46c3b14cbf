"""Helpers for tests, strongroom's and its users': prove a secret value did not leak.

``strongroom.testing.samples`` (imported on its own, it loads the rule set) makes fake credentials in
every format the scanner and the redactor detect, to test that a log pipeline masks them.
"""

from __future__ import annotations

import typing as _typing

if _typing.TYPE_CHECKING:
    from collections.abc import Iterable


def leak_texts(thing: object) -> list[str]:
    """Every text ``thing`` can show: ``str``, ``repr``, and for an exception, each link of its chain.

    Suppressed contexts (``raise … from None``) are walked too: they are hidden from tracebacks but still
    attached, and error reporters that walk ``__context__`` will send them.
    """
    texts = [str(thing), repr(thing)]
    linked = thing if isinstance(thing, BaseException) else None
    seen: set[int] = set()
    while linked is not None and id(linked) not in seen:
        seen.add(id(linked))
        texts.append(repr(linked.args) + repr(vars(linked)) + repr(getattr(linked, "object", "")))
        linked = linked.__cause__ or linked.__context__
    return texts


def assert_not_leaked(values: Iterable[str], *things: object) -> None:
    """Fail if any of ``values`` appears in the text of any of ``things`` (exception chains included)."""
    values = list(values)
    for thing in things:
        for text in leak_texts(thing):
            for value in values:
                if value in text:
                    raise AssertionError(f"a secret value leaked via {type(thing).__name__}")


__all__ = ["assert_not_leaked", "leak_texts"]
