"""Key providers: where the key-encryption keys (KEKs) live that wrap each tenant's data keys.

The envelope primitives (``encrypt``, ``decrypt``, ``new_key``, ``Binding``, ``DataKeyCache``,
``wrap_context``) are in ``strongroom.crypto.hazmat``, apart from this safe surface: ``Vault`` is the
supported way to encrypt and decrypt.
"""

from strongroom.crypto.providers import KeyProvider
from strongroom.crypto.providers.local import MASTER_KEY_ENV, MASTER_KEY_ID_ENV, LocalKeyProvider

__all__ = ["MASTER_KEY_ENV", "MASTER_KEY_ID_ENV", "KeyProvider", "LocalKeyProvider"]
