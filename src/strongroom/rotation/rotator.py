"""The rotator contract: what a rotator does at each step of a rotation, and what it is given.

A rotation is ``create`` → ``set`` → ``test`` → ``finish`` → (after the overlap) ``retire``; the engine
(``strongroom.rotation.engine``) records each step before and after it runs, so a step may run again after a
crash: **every method must be idempotent** (setting the same password twice, revoking a revoked key).
``finish`` is the engine's own (it moves the stages in the vault); the rotator does the rest:

- ``create(ctx)``: make the new credential's value (it is stored encrypted as the ``pending`` version);
- ``set(ctx, pending)``: apply it at the provider (``ALTER ROLE``, ``ACL SETUSER``, an API call);
- ``test(ctx, pending)``: prove it works against the provider; raise ``RotationError`` if not;
- ``undo(ctx, pending)``: after a failed test, put the provider back so the current credential works;
- ``retire(ctx, previous)``: revoke the replaced credential at the provider, where it can.

A rotator never logs, prints or puts a credential in an exception: raise ``RotationError`` with a message
that names the secret, the step and what the provider said, nothing else (the engine records only the
type of any other exception, since a driver's message can quote what it was sent).

Users add rotators as entry points in the group ``strongroom.rotators``: the name is the rotator's name,
the object a class (or factory) that takes no arguments (``docs/rotation.md``, "Writing your own").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from strongroom.clock import Clock
from strongroom.errors import InvalidInput

if TYPE_CHECKING:
    from strongroom.secret import Secret
    from strongroom.vault import Vault

__all__ = ["BaseRotator", "RotationContext", "Rotator", "option", "require_options"]

Value = str | bytes


@dataclass(frozen=True, slots=True)
class RotationContext:
    """What a rotator step is given: which secret, its rotator options, and narrow reads of the vault.

    ``current()`` is the secret's current version (``None`` for a first rotation); ``secret(name)`` another
    secret of the same tenant that the options name (an admin credential, a webhook's signing secret). Each
    read is a ``Vault.use()`` with purpose ``rotation:<step>``, so the audit shows what the rotation read.
    The ``Secret`` each returns is its own ``with`` block. ``vault`` is the rotating vault itself, for
    strongroom's own rotators (API keys, token-signing keys), whose provider is the vault.
    """

    tenant: str
    name: str
    rotator: str
    options: Mapping[str, Any]
    rotation_id: str
    step: str
    clock: Clock
    _current: Callable[[], Secret[Any] | None] = field(repr=False, compare=False)
    _secret: Callable[[str], Secret[Any]] = field(repr=False, compare=False)
    vault: Vault | None = field(default=None, repr=False, compare=False)

    def current(self) -> Secret[Any] | None:
        return self._current()

    def secret(self, name: str) -> Secret[Any]:
        return self._secret(name)

    def describe(self) -> str:
        """``secret 'db' of tenant 'acme' (rotator postgresql, step set)``: for error messages."""
        return f"secret {self.name!r} of tenant {self.tenant!r} (rotator {self.rotator}, step {self.step})"


@runtime_checkable
class Rotator(Protocol):
    """A rotator. Subclass ``BaseRotator`` for the no-op defaults of ``set``, ``undo`` and ``retire``."""

    name: ClassVar[str]

    def check(self, options: Mapping[str, Any]) -> None:
        """Refuse, with ``InvalidInput`` naming the option and the fix, options this rotator cannot use."""

    def create(self, ctx: RotationContext) -> Value: ...

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None: ...

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None: ...

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None: ...

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None: ...


class BaseRotator:
    """Defaults for a rotator whose credential needs no provider call to apply, undo or revoke."""

    name: ClassVar[str] = ""

    def check(self, options: Mapping[str, Any]) -> None:
        return None

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        return None

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        return None

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        return None

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        return None


def require_options(rotator: str, options: Mapping[str, Any], *names: str) -> None:
    """``InvalidInput`` listing every option of ``names`` that ``options`` lacks, with how to set one."""
    missing = [n for n in names if options.get(n) in (None, "")]
    if missing:
        raise InvalidInput(
            f"rotator {rotator!r} needs the option(s) {', '.join(missing)}: set them with "
            f"`strongroom rotation set NAME --rotator {rotator} --option {missing[0]}=...`"
        )


def option(rotator: str, options: Mapping[str, Any], name: str, kind: type[Any], default: Any = None) -> Any:
    """One option of the right type (``default`` when absent), or ``InvalidInput`` naming it."""
    value = options.get(name, default)
    if value is None:
        return None
    if kind is int and isinstance(value, str) and value.isdigit():
        value = int(value)
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        value = value.lower() == "true"
    if kind is list and isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidInput(f"rotator {rotator!r}: option {name!r} must be {kind.__name__}, not {type(value).__name__}")
    return value
