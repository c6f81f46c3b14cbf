"""HashiCorp Vault (or OpenBao) KV version 2: one secret per field, at ``{prefix}{environment}/{field}``.

With the defaults, field ``database_url`` of environment ``prod`` is read from
``GET /v1/secret/data/strongroom/prod/database_url`` and its value is the data field ``value``
(``vault kv put -mount=secret strongroom/prod/database_url value=...``). The version number and
``created_time`` of the current version are reported; version ``n - 1``, when it is neither deleted nor
destroyed, is the ``previous`` value for the rotation overlap window. Errors name the mount, the path and
the hvac exception, never a value, a token or a response body (see ``docs/config-cloud.md``).

hvac is imported on first use (extra ``strongroom[vault]``), so ``import strongroom.config`` stays cheap.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.config.sources.remote import RemoteSource, failure, import_optional
from strongroom.errors import ConfigError

INSTALL_HINT = "Vault KV source needs: pip install 'strongroom[vault]'"
VALUE_FIELD = "value"
# hvac's exception per HTTP status: these mean "Vault cannot answer now" (429, 500, 501 not initialised,
# 502, 503 sealed or standby); every other status is a problem of the field (403 permission denied, 400 ...).
UNAVAILABLE = ("RateLimitExceeded", "InternalServerError", "VaultNotInitialized", "BadGateway", "VaultDown")
STATUS = {
    "InvalidRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "InvalidPath": 404,
    "RateLimitExceeded": 429,
    "InternalServerError": 500,
    "VaultNotInitialized": 501,
    "BadGateway": 502,
    "VaultDown": 503,
}


class VaultKvSource(RemoteSource):
    """Values of Vault KV v2 secrets ``{mount}/{prefix}{environment}/{name}``; ``dynamic`` (rotation is seen)."""

    dynamic = True
    environment_scoped = True  # the environment is part of every secret's name

    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        mount: str = "secret",
        prefix: str = "strongroom/",
        timeout_seconds: float = 5.0,
        client: Any = None,
    ) -> None:
        """``token``: default ``VAULT_TOKEN`` from the environment, read on first use.

        ``client``: a ready ``hvac.Client`` (its own URL, token and timeout then apply). Each request may take
        ``timeout_seconds`` to connect and as long to read; no retry is made.
        """
        super().__init__(client)
        self.url = url
        self.mount = mount
        self.prefix = prefix
        self._token = token
        self._timeout = timeout_seconds

    def __repr__(self) -> str:
        return f"VaultKvSource(url={self.url!r}, mount={self.mount!r}, prefix={self.prefix!r})"

    @property
    def name(self) -> str:
        return "vault"

    def path(self, key: SourceKey) -> str:
        return f"{self.prefix}{key.environment}/{key.name}"

    def _connect(self) -> tuple[Any, tuple[Any, ...]]:
        hvac, exceptions, requests = import_optional(("hvac", "hvac.exceptions", "requests.exceptions"), INSTALL_HINT)
        # (not found, Vault errors by status, network errors: lower sources are tried, other request errors)
        errors = (
            exceptions.InvalidPath,
            exceptions.VaultError,
            (requests.ConnectionError, requests.Timeout),
            requests.RequestException,
        )
        if self._client is not None:
            return self._client, errors
        token = self._token if self._token is not None else os.environ.get("VAULT_TOKEN")
        if not token:
            raise SourceUnavailable(f"Vault KV at {self.url}: no token (pass token= or set VAULT_TOKEN)")
        return hvac.Client(url=self.url, token=token, timeout=self._timeout), errors

    def _read(self, path: str, version: int | None) -> dict[str, Any] | None:
        """The ``data`` object of the response (``data`` and ``metadata``), ``None`` when Vault has no such version."""
        client, (not_found, vault_error, network, request_error) = self._setup()
        what = f"Vault KV secret {self.mount}/{path}" + (f" (version {version})" if version is not None else "")
        self._check_down(what)
        unavailable = False
        try:
            response = client.secrets.kv.v2.read_secret_version(
                path=path, version=version, mount_point=self.mount, raise_on_deleted_version=True
            )
        except not_found:
            return None  # absent, or this version deleted or destroyed: Vault answers 404 for all three
        except vault_error as exc:
            name = type(exc).__name__
            code = f"{name} (HTTP {STATUS[name]})" if name in STATUS else name
            unavailable = name in UNAVAILABLE
        except network as exc:
            code = f"{type(exc).__name__} at {self.url}"
            unavailable = True
            self._trip(code)
        except request_error as exc:
            code = type(exc).__name__
        else:
            data = response.get("data") if isinstance(response, dict) else None
            if isinstance(data, dict):
                return data
            code = "the response is not a KV version 2 secret (is the mount KV version 1?)"
        raise failure(what, code, unavailable=unavailable)

    @staticmethod
    def _live(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(fields, metadata) of a version that is neither deleted nor destroyed."""
        fields, metadata = data.get("data"), data.get("metadata")
        if not isinstance(fields, dict) or not isinstance(metadata, dict):
            return None
        if metadata.get("destroyed") or metadata.get("deletion_time"):
            return None
        return fields, metadata

    @staticmethod
    def _timestamp(metadata: dict[str, Any]) -> float | None:
        created = metadata.get("created_time")
        if not isinstance(created, str):
            return None
        try:
            return datetime.fromisoformat(created).timestamp()  # RFC 3339, nanoseconds truncated
        except ValueError:
            return None

    def get(self, key: SourceKey) -> Found | None:
        path = self.path(key)
        data = self._read(path, None)
        live = self._live(data) if data is not None else None
        if live is None:
            return None
        fields, metadata = live
        value = fields.get(VALUE_FIELD)
        if not isinstance(value, str):
            problem = "is not a string" if VALUE_FIELD in fields else "is missing"
            raise ConfigError(f"Vault KV secret {self.mount}/{path}: data field {VALUE_FIELD!r} {problem}")
        number = metadata.get("version")
        updated_at = self._timestamp(metadata)
        previous: str | None = None
        if isinstance(number, int) and number > 1:
            old = self._read(path, number - 1)
            old_live = self._live(old) if old is not None else None
            if old_live is not None and isinstance(old_live[0].get(VALUE_FIELD), str):
                previous = old_live[0][VALUE_FIELD]
        return Found(
            value,
            f"vault:{self.mount}/{path}",
            version=str(number) if number is not None else None,
            updated_at=updated_at,
            previous=previous,
            previous_replaced_at=updated_at if previous is not None else None,
        )
