"""The tenant vault: the use cases that combine the store, the crypto and the audit log."""

from strongroom.vault.policy import KINDS, SENSITIVITIES, SecretInfo, TenantInfo, VersionInfo
from strongroom.vault.service import Vault

__all__ = ["KINDS", "SENSITIVITIES", "SecretInfo", "TenantInfo", "Vault", "VersionInfo"]
