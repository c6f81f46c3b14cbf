"""Wrong keys refused before anything is written: each key version a database uses has a key check value.

A check value (``strongroom.crypto.keys.make_key_check``) is the provider's own wrap of 32 zero bytes
under one key version, bound to the environment, key id and version; it is stored in ``strongroom_meta``
under ``kcv1/<digest>`` (``check_value_key``), base64. Checking is the provider's own unwrap of it, so a key
file whose material was changed under the same key id is told apart from the right one before it wraps
anything. A mismatch is ``WrongKeyError``: never ``TamperedError``, never audited as tampering.

``KeyCheck.verify`` runs at ``Vault.open`` (and before a write that wraps a new data key, when the current
version is not yet verified in this process), for the provider's current version and every version this
environment's data keys are wrapped under:

- a stored check value must unwrap;
- a version without one (a database from before check values, or a version this database never used) that
  wraps data keys is verified by unwrapping one of them for real (up to ``SAMPLE``: one altered row must not
  lock the database); the current version then gets its check value;
- an unused current version without one gets its check value (written on first use: init, first open,
  rotate). Only the current version can be given one: a provider wraps under its current version only.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable

from strongroom.crypto import KeyProvider
from strongroom.crypto.envelope import length_prefixed
from strongroom.crypto.keys import key_check_matches, make_key_check, provider_holds
from strongroom.errors import KeyProviderError, TamperedError, WrongKeyError
from strongroom.store import DataKeyRecord, TenantRecord, Tx
from strongroom.vault.keyring import Keyring
from strongroom.vocabulary import MASTER_KEY_ENV

SAMPLE = 3
"""How many data keys a version without a check value is tried on before the key is called wrong."""

_META_MAX = 256  # strongroom_meta.value


def check_value_key(environment: str, kek_id: str, kek_version: int) -> str:
    """The ``strongroom_meta`` key of a check value (a digest: key ids may be longer than the column)."""
    digest = hashlib.sha256(length_prefixed(environment, kek_id, str(kek_version))).hexdigest()[:40]
    return f"kcv1/{digest}"


def wrong_key_message(
    environment: str, expected: list[tuple[str, int]], provider_key_id: str, provider_version: int
) -> str:
    """The one message a wrong key gets: the key ids and versions the database expects, the provider's, the
    fix. Lines fit 80 columns after the CLI's ``error: `` (a local key id is 22 characters)."""
    expects = ", ".join(f"{kid} version {version}" for kid, version in expected[:3])
    same = [(provider_key_id, provider_version)] == expected
    return (
        "wrong key for this database.\n"
        f"environment: {environment!r}\n"
        f"database expects key: {expects}\n"
        f"key provider holds:   {provider_key_id} version {provider_version}"
        + (" (other key material)\n" if same else "\n")
        + "Nothing was written with it.\n"
        f"Fix: use the key file (or {MASTER_KEY_ENV}) this database was created\n"
        "with (wrong key file or environment?)."
    )


class KeyCheck:
    """The check values of one environment's database, and which versions this process has verified."""

    def __init__(
        self,
        provider: KeyProvider,
        environment: str,
        unwrap: Callable[[DataKeyRecord, TenantRecord], bytes],
        keyring: Keyring,
    ) -> None:
        self._keys = provider
        self._environment = environment
        self._unwrap = unwrap
        self._keyring = keyring
        self._verified: set[tuple[str, int]] = set()

    def current_verified(self) -> bool:
        """Whether the version new data keys are wrapped under was verified against this database."""
        return (self._keys.key_id, self._keys.current_version()) in self._verified

    def verify(self, tx: Tx) -> list[tuple[str, str]]:
        """Raise ``WrongKeyError`` unless the provider's keys are this database's; return the check values to
        store (``store`` them in a write transaction). Reads only."""
        key_id, current = self._keys.key_id, self._keys.current_version()
        used = tx.kek_versions(self._environment)
        strangers = sorted({pair for pair in used if pair[0] != key_id})
        if strangers:
            raise WrongKeyError(wrong_key_message(self._environment, strangers, key_id, current))
        to_store: list[tuple[str, str]] = []
        for version in sorted({v for _, v in used} | {current}):
            if (key_id, version) in self._verified or not provider_holds(self._keys, version):
                continue  # a version the provider lacks fails on use, naming the versions it has
            stored = tx.meta_value(check_value_key(self._environment, key_id, version))
            if stored is not None:
                self._check(version, stored)
            elif (key_id, version) in used and not self._unwraps_a_key(tx, key_id, version):
                raise WrongKeyError(wrong_key_message(self._environment, [(key_id, version)], key_id, version))
            elif version == current:
                to_store.append(self._make())
                continue  # verified once stored
            self._verified.add((key_id, version))
        return to_store

    def verify_current(self, tx: Tx) -> list[tuple[str, str]]:
        """Only the provider's current version, against its own check value (made if missing): for a provider
        the root keys are being migrated to, whose key id this database does not use yet."""
        stored = tx.meta_value(check_value_key(self._environment, self._keys.key_id, self._keys.current_version()))
        if stored is None:
            return [self._make()]
        self._check(self._keys.current_version(), stored)
        return []

    def store(self, tx: Tx, values: list[tuple[str, str]]) -> None:
        """Write check values made by ``verify``; one a racing process stored first is checked instead."""
        key_id, current = self._keys.key_id, self._keys.current_version()
        for key, value in values:
            if key != check_value_key(self._environment, key_id, current):
                continue  # the primary moved since verify(): the next check makes the new one
            if not tx.insert_meta(key, value):
                stored = tx.meta_value(key)
                if stored is not None:
                    self._check(current, stored)
            self._verified.add((key_id, current))

    def _make(self) -> tuple[str, str]:
        version, value = make_key_check(self._keys, self._environment)
        text = base64.b64encode(value).decode()
        if len(text) > _META_MAX:
            raise KeyProviderError(
                f"key {self._keys.key_id}: its check value ({len(text)} characters) does not fit the database"
            )
        return check_value_key(self._environment, self._keys.key_id, version), text

    def _check(self, version: int, stored: str) -> None:
        key_id = self._keys.key_id
        try:
            value = base64.b64decode(stored, validate=True)
        except (binascii.Error, ValueError):
            value = b""
        if not key_check_matches(self._keys, self._environment, version, value):
            raise WrongKeyError(wrong_key_message(self._environment, [(key_id, version)], key_id, version))
        self._verified.add((key_id, version))

    def _unwraps_a_key(self, tx: Tx, key_id: str, version: int) -> bool:
        for root in tx.root_keys(self._environment):
            if root.wrapped is not None and (root.provider_id, root.provider_version) == (key_id, version):
                try:
                    self._keyring.unwrap_root(root)
                except TamperedError:
                    continue
                return True
        for dek, tenant in tx.data_keys_under(self._environment, key_id, version, limit=SAMPLE):
            try:
                self._unwrap(dek, tenant)
            except TamperedError:
                continue
            return True
        return False
