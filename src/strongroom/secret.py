"""``Secret``: a value that shows itself only through an explicit ``reveal()``.

Everything that turns an object into text (``repr``, ``str``, ``format``, f-strings, ``%s`` in logging,
``json.dumps(default=str)``) sees a mask. Pickling is refused, because a pickle is a byte string that
lands in caches, queues and core dumps. Copies are the same object: a ``Secret`` is immutable.
"""

from __future__ import annotations

import hmac
from typing import Any, Generic, NoReturn, TypeVar

from strongroom.errors import StrongroomError
from strongroom.live_values import LIVE

_note = LIVE.note  # bound once: Secret() is on Vault.use()'s hot path

T = TypeVar("T", str, bytes)

MASK = "****"

_CLOSED: Any = object()


class Secret(Generic[T]):
    """A named secret value. ``reveal()`` is the only way to the plaintext."""

    __slots__ = ("__weakref__", "_name", "_value", "_version")

    def __init__(self, name: str, value: T, version: int | None = None) -> None:
        self._name = name
        self._value: T = value
        self._version = version
        _note(value, name, self)  # so the redactor masks it while this Secret lives, with no call

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> int | None:
        return self._version

    def reveal(self) -> T:
        """Return the plaintext. Grepping for ``reveal(`` lists every place plaintext exists."""
        value = self._value
        if value is _CLOSED:
            raise StrongroomError(f"secret {self._name!r} was used outside the block that opened it")
        return value

    def _close(self) -> None:
        self._value = _CLOSED

    # A Secret is its own `with` block: leaving it closes the Secret, so a value handed out by
    # Vault.use() cannot be kept around and revealed later.
    def __enter__(self) -> Secret[T]:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._value = _CLOSED

    def __repr__(self) -> str:
        return f"Secret({self._name!r}, {MASK})"

    __str__ = __repr__

    def __format__(self, format_spec: str) -> str:
        return format(repr(self), format_spec)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        mine, theirs = self.reveal(), other.reveal()
        if type(mine) is not type(theirs):
            return False
        # surrogatepass: a str holding a lone surrogate must compare, not raise with the value in the error.
        a = mine.encode("utf-8", "surrogatepass") if isinstance(mine, str) else mine
        b = theirs.encode("utf-8", "surrogatepass") if isinstance(theirs, str) else theirs
        return hmac.compare_digest(a, b)

    # Equal values must hash equally, and a hash of the value would leak it to anyone holding a dict.
    __hash__ = None  # type: ignore[assignment]

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError(f"Secret {self._name!r} cannot be pickled: reveal() it explicitly if you must")

    def __copy__(self) -> Secret[T]:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Secret[T]:
        return self

    def __bool__(self) -> bool:
        return True


def _noted_elsewhere(name: str, value: T, version: int | None) -> Secret[T]:
    """A ``Secret`` whose value the caller has already noted in ``live_values`` with an owner of its own
    (``Vault.use()``'s hot path notes each value once per cold load, owned by the vault, instead of once
    per call)."""
    secret: Secret[T] = Secret.__new__(Secret)
    secret._name, secret._value, secret._version = name, value, version
    return secret


__all__ = ["MASK", "Secret"]
