"""Envelope encryption: AES-256-GCM data keys per tenant, wrapped by a key provider's KEK."""

from strongroom.crypto.envelope import Binding, decrypt, encrypt, new_key
from strongroom.crypto.keys import DataKeyCache, wrap_context
from strongroom.crypto.providers import KeyProvider
from strongroom.crypto.providers.local import MASTER_KEY_ENV, LocalKeyProvider

__all__ = [
    "MASTER_KEY_ENV",
    "Binding",
    "DataKeyCache",
    "KeyProvider",
    "LocalKeyProvider",
    "decrypt",
    "encrypt",
    "new_key",
    "wrap_context",
]
