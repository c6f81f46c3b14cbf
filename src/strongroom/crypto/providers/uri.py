"""``STRONGROOM_KEK``: a key provider chosen by URI, its module imported only when its scheme is used.

| URI | provider |
|---|---|
| ``file:`` or ``file:/path/to/keys.json`` | the key file (default ``$STRONGROOM_HOME/keys/<env>.json``) |
| ``env:`` or ``env:VARIABLE`` | keys in an environment variable (default ``STRONGROOM_MASTER_KEY``) |
| ``pkcs11:token=...;object=...?module-path=...&pin-source=...`` | an HSM through PKCS#11 (RFC 7512) |
| ``aws-kms:alias/name?region=...`` | AWS KMS |
| ``gcp-kms:projects/.../cryptoKeys/name`` | Google Cloud KMS |
| ``azure-keyvault:https://vault.vault.azure.net/keys/name`` | Azure Key Vault |
| ``transit:https://vault:8200/transit/keys/name`` | HashiCorp Vault / OpenBao transit |

Each provider module exposes ``open_provider(uri, *, environment) -> KeyProvider``; its SDK is an extra.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from strongroom.crypto.providers import KeyProvider
from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.vocabulary import KEY_ID_MAX, MASTER_KEY_ENV, MASTER_KEY_ID_ENV

_MODULES = {
    "pkcs11": ("strongroom.crypto.providers.pkcs11", "hsm"),
    "aws-kms": ("strongroom.crypto.providers.aws_kms", "aws"),
    "gcp-kms": ("strongroom.crypto.providers.gcp_kms", "gcp-kms"),
    "azure-keyvault": ("strongroom.crypto.providers.azure_keyvault", "azure-keys"),
    "transit": ("strongroom.crypto.providers.transit", "vault"),
}
SCHEMES = ("file", "env", *_MODULES)


def scheme_of(uri: str) -> str:
    scheme, sep, _ = uri.partition(":")
    if not sep or scheme not in SCHEMES:
        raise provider_error(
            shown_uri(uri),
            "the key provider URI has no known scheme",
            "use one of: " + ", ".join(f"{s}:" for s in SCHEMES),
        )
    return scheme


def provider_from_uri(uri: str, *, environment: str, key_file: Path) -> KeyProvider:
    """The provider ``uri`` names; ``key_file`` is the default path of ``file:``."""
    from strongroom.crypto.providers.local import LocalKeyProvider

    scheme = scheme_of(uri)
    rest = uri[len(scheme) + 1 :]
    if scheme == "file":
        return LocalKeyProvider.from_file(Path(rest) if rest else key_file, expected_environment=environment)
    if scheme == "env":
        variable = rest or MASTER_KEY_ENV
        value = os.environ.get(variable)
        if not value:
            raise provider_error(
                shown_uri(uri),
                f"{variable} is not set",
                f"set {variable}, or name another variable: env:NAME",
            )
        return LocalKeyProvider.from_env(value, key_id=os.environ.get(MASTER_KEY_ID_ENV) or None)
    module_name, extra = _MODULES[scheme]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise provider_error(
            shown_uri(uri),
            f"this key provider needs an extra ({exc.name} is missing)",
            f"pip install 'strongroom[{extra}]'",
        ) from None
    provider: KeyProvider = module.open_provider(uri, environment=environment)
    if len(provider.key_id) > KEY_ID_MAX:  # stored in root_keys.provider_id and data_keys.kek_id
        raise provider_error(
            shown_uri(uri),
            f"its key id is {len(provider.key_id)} characters; the store holds at most {KEY_ID_MAX}",
            "use a shorter key name or alias",
        )
    return provider


__all__ = ["SCHEMES", "provider_from_uri", "scheme_of"]
