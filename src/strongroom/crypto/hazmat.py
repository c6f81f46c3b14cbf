"""Hazardous materials: the envelope primitives under the vault. Use ``Vault`` instead.

This module is set apart the way ``cryptography.hazmat`` is: everything here is correct, and every
call is easy to get wrong. ``encrypt``/``decrypt`` take a raw AES-GCM cipher and a ``Binding`` you build
yourself (a wrong binding seals a value to the wrong tenant, name or version); ``new_key`` returns raw
key bytes that nothing wraps, audits or erases; ``DataKeyCache`` holds unwrapped data-key ciphers;
``wrap_context`` must match, byte for byte, the context a key was wrapped with. None of them writes
an audit event. ``Vault`` composes them with a key provider, the store and the audit log, and is the
supported way to encrypt and decrypt a secret; ``strongroom.crypto`` keeps only the key providers.
"""

from strongroom.crypto.envelope import Binding, decrypt, encrypt, new_key
from strongroom.crypto.keys import DataKeyCache, wrap_context

__all__ = ["Binding", "DataKeyCache", "decrypt", "encrypt", "new_key", "wrap_context"]
