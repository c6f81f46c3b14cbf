"""Azure Key Vault secrets: one secret per field, named ``{prefix}{environment}-{field}``.

With the default prefix, field ``database_url`` of environment ``prod`` is the secret
``strongroom-prod-database-url``: Key Vault names allow only ``[0-9a-zA-Z-]``, so ``_``, ``.`` and any other
character become ``-``. A read gets the current version; its version id and creation time are reported.
Key Vault has no "previous" stage, so ``previous`` is not filled in (see ``docs/config-cloud.md``). Errors
name the vault, the secret and the azure-core exception with its HTTP status, never a value or a response
body.

azure-keyvault-secrets (and azure-identity, for ``DefaultAzureCredential`` when no credential is given) are
imported on first use (extra ``strongroom[azure]``), so ``import strongroom.config`` stays cheap.
"""

from __future__ import annotations

import re
from typing import Any

from strongroom.config.sources import Found, SourceKey
from strongroom.config.sources.remote import RemoteSource, failure, import_optional
from strongroom.errors import ConfigError

INSTALL_HINT = "Azure Key Vault source needs: pip install 'strongroom[azure]'"
NOT_ALLOWED = re.compile(r"[^0-9A-Za-z-]")


class AzureKeyVaultSource(RemoteSource):
    """Values of Key Vault secrets ``{prefix}{environment}-{name}`` (``_`` and ``.`` as ``-``); ``dynamic``."""

    dynamic = True
    environment_scoped = True  # the environment is part of every secret's name

    def __init__(
        self,
        vault_url: str,
        *,
        credential: Any = None,
        prefix: str = "strongroom-",
        client: Any = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        """``credential``: an azure-core ``TokenCredential``; default ``DefaultAzureCredential()`` on first use.

        ``client``: a ready ``azure.keyvault.secrets.SecretClient`` (its own transport, retry and timeouts then
        apply). Otherwise each request may take ``timeout_seconds`` to connect and as long to read; no retry.
        """
        super().__init__(client)
        self.vault_url = vault_url
        self.prefix = prefix
        self._credential = credential
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        return f"AzureKeyVaultSource(vault_url={self.vault_url!r}, prefix={self.prefix!r})"

    @property
    def name(self) -> str:
        return "azure"

    def secret_name(self, key: SourceKey) -> str:
        return NOT_ALLOWED.sub("-", f"{self.prefix}{key.environment}-{key.name}")

    def _connect(self) -> tuple[Any, tuple[Any, ...]]:
        # azure-identity only when DefaultAzureCredential is needed; a missing one is the same install hint
        identity = ("azure.identity",) if self._client is None and self._credential is None else ()
        modules = import_optional(("azure.core.exceptions", "azure.keyvault.secrets", *identity), INSTALL_HINT)
        exceptions, secrets = modules[:2]
        # (HTTP errors, network errors: lower sources are tried, anything else from azure-core)
        errors = (
            exceptions.HttpResponseError,
            (exceptions.ServiceRequestError, exceptions.ServiceResponseError),
            exceptions.AzureError,
        )
        if self._client is not None:
            return self._client, errors
        credential = self._credential if self._credential is not None else modules[2].DefaultAzureCredential()
        return secrets.SecretClient(
            self.vault_url, credential, retry_total=0, connection_timeout=self._timeout, read_timeout=self._timeout
        ), errors

    def get(self, key: SourceKey) -> Found | None:
        client, (http_error, network, azure_error) = self._setup()
        name = self.secret_name(key)
        what = f"Azure Key Vault {self.vault_url} secret {name}"
        self._check_down(what)
        unavailable = False
        try:
            secret = client.get_secret(name)
        except http_error as exc:
            status = exc.status_code if isinstance(exc.status_code, int) else 0
            if status == 404:
                return None  # absent, or deleted (soft-deleted secrets answer 404 too)
            if status:
                code = f"{type(exc).__name__} (HTTP {status})"
                unavailable = status >= 500 or status == 429
            else:  # no response: the credential could not get a token (no identity set up here, CLI not logged in)
                code = f"{type(exc).__name__} (no token from the credential)"
                unavailable = True
        except network as exc:
            code = f"{type(exc).__name__} at {self.vault_url}"
            unavailable = True
            self._trip(code)
        except azure_error as exc:
            code = type(exc).__name__
        except ValueError as exc:  # the SDK's own checks, e.g. a challenge resource that does not match the URL
            code = type(exc).__name__
        else:
            value = secret.value
            if not isinstance(value, str):
                raise ConfigError(f"{what}: the secret has no value")
            properties = secret.properties
            created = properties.created_on
            return Found(
                value,
                f"azure:{name}",
                version=properties.version,
                updated_at=created.timestamp() if created is not None else None,
            )
        raise failure(what, code, unavailable=unavailable)
