"""The secret values alive in this process: what the redactor must mask, gathered without any call.

Every ``Secret`` notes its value here when it is made (loaded from the vault or the config layer), so a
redactor installed later still knows every value in memory. A value is held while any ``Secret``
carrying it is alive (each owner is held by a weak reference that removes itself when the owner dies),
or for the life of the process for values pinned by ``strongroom.redact.register``. The redactor
rebuilds its automaton when ``generation`` moves.

Each value carries its **owner**: the tenant whose vault row it came from, or ``None`` for the platform
(config-layer values, platform secrets, values pinned by ``register``, and any ``Secret`` made directly).
The service's last-line redaction of a response masks only the values of the caller's own tenant and
the platform's, so a tenant can never learn from a mask that another tenant's value is in use. The same
value held by two tenants is two entries, each with its own name.

This module is a leaf on purpose: ``Secret`` (a leaf) must reach it, and it must cost almost nothing on
``Vault.use()``'s hot path: one dict lookup and one weak reference per new ``Secret`` (about 0.2 µs).
"""

from __future__ import annotations

import threading
import warnings
import weakref

from strongroom.vocabulary import INTERNAL_TENANTS

MIN_CHARS = 3  # shorter values would mask ordinary text everywhere; they are refused with a warning

Value = str | bytes
Owner = str | None  # a tenant's name; None: the platform (config layer, `_platform`, `register`)


class _Ref(weakref.ref):  # type: ignore[type-arg]
    __slots__ = ("key",)
    key: int


class _Owners:
    """The weak references to the objects carrying one value; each removes itself when its owner dies.

    Keyed by the owner's id (a ``Secret`` is unhashable: a hash of it would leak its value), so noting the
    same owner again (a ``Vault`` on each cold load) adds nothing.
    """

    __slots__ = ("gone", "refs")

    def __init__(self) -> None:
        self.refs: dict[int, _Ref] = {}
        self.gone = self._gone  # bound once: a callback per note() would cost a method object each time

    def _gone(self, ref: _Ref) -> None:
        if self.refs.get(ref.key) is ref:
            del self.refs[ref.key]

    def add(self, owner: object) -> None:
        key = id(owner)
        held = self.refs.get(key)
        if held is not None and held() is owner:
            return
        ref = _Ref(owner, self.gone)
        ref.key = key
        self.refs[key] = ref


class LiveValues:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (value, owner tenant) -> (name, the Secrets carrying it, or None when pinned for the process's life)
        self._entries: dict[tuple[Value, Owner], tuple[str, _Owners | None]] = {}
        self.generation = 0
        self._warned = False

    def note(self, value: Value, name: str, owner: object, tenant: str | None = None) -> None:
        """Remember ``value`` while ``owner`` lives (called by ``Secret.__init__``); ``tenant``: the tenant whose
        vault row it came from (``None``, or an internal tenant such as ``_platform``: the platform's)."""
        if tenant is not None and tenant in INTERNAL_TENANTS:
            tenant = None
        key = (value, tenant)
        entry = self._entries.get(key)
        if entry is not None:
            owners = entry[1]
            if owners is None:
                return
            owners.add(owner)
            if self._entries.get(key) is entry:
                return
            # snapshot() dropped the entry between our lookup and add: register it afresh below.
        if not self._long_enough(value, name):
            return
        with self._lock:
            current = self._entries.get(key)
            if current is not None:
                if current[1] is not None:
                    current[1].add(owner)
                return
            owners = _Owners()
            owners.add(owner)
            self._entries[key] = (name, owners)
            self.generation += 1

    def pin(self, value: Value, name: str) -> bool:
        """Remember ``value`` for the life of the process; False (and a warning) if it is too short."""
        if not self._long_enough(value, name):
            return False
        with self._lock:
            new = (value, None) not in self._entries
            self._entries[value, None] = (name, None)
            if new:
                self.generation += 1
        return True

    def snapshot(self) -> tuple[int, list[tuple[Value, str, Owner]]]:
        """(generation, live values with their names and owners); values no live Secret carries are dropped."""
        with self._lock:
            dead = [k for k, (_, owners) in self._entries.items() if owners is not None and not owners.refs]
            for key in dead:
                del self._entries[key]
            return self.generation, [(v, name, tenant) for (v, tenant), (name, _) in self._entries.items()]

    def clear(self) -> None:
        """Forget the values pinned for the life of the process (a reset for tests and embedding applications).

        Values a live ``Secret`` still carries stay: they are still in memory, so they must stay masked (a
        config handle notes its value again only when the value changes).
        """
        with self._lock:
            for key in [k for k, (_, owners) in self._entries.items() if owners is None or not owners.refs]:
                del self._entries[key]
            self.generation += 1

    def __len__(self) -> int:
        return len(self._entries)

    def _long_enough(self, value: Value, name: str) -> bool:
        if len(value) >= MIN_CHARS:
            return True
        if value and not self._warned:  # an empty value hides nothing: no warning
            self._warned = True
            warnings.warn(
                f"secret {name!r} is shorter than {MIN_CHARS} characters: too short to mask safely, "
                "so it is not redacted (this warning is shown once)",
                RuntimeWarning,
                stacklevel=3,
            )
        return False


LIVE = LiveValues()
