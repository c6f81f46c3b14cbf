"""Google Cloud Secret Manager: one secret per field, with the id ``{prefix}{environment}-{field}``.

With the default prefix, field ``database_url`` of environment ``prod`` in project ``acme`` is
``projects/acme/secrets/strongroom-prod-database_url``; a read accesses its ``latest`` version. Secret ids
allow only ``[A-Za-z0-9_-]``, so any other character of the environment or the field (``.`` in
``eu.prod``) becomes ``-``. The payload's CRC32C is checked when the service sends one. The version number
comes from the returned version name, its ``createTime`` from a metadata read, and version ``n - 1``, when
it is enabled, is the ``previous`` value for the rotation overlap window. Errors name the secret and the
google-api-core exception, never a value or a response body (see ``docs/config-cloud.md``).

google-cloud-secret-manager is imported on first use (extra ``strongroom[gcp]``), and it is used over its
REST transport (no gRPC channel), so ``import strongroom.config`` stays cheap.
"""

from __future__ import annotations

import re
from typing import Any

from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.config.sources.remote import RemoteSource, decode_utf8, failure, import_optional
from strongroom.errors import ConfigError

INSTALL_HINT = "GCP Secret Manager source needs: pip install 'strongroom[gcp]'"
NOT_ALLOWED = re.compile(r"[^A-Za-z0-9_-]")
GONE = (404, 400)  # NotFound; FailedPrecondition (version disabled or destroyed) -- for version n - 1 only


def _crc32c_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # Castagnoli, reflected
        table.append(crc)
    return tuple(table)


CRC32C_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli) of ``data``, as Secret Manager's ``dataCrc32c``; pure Python (secrets are small)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class GcpSecretManagerSource(RemoteSource):
    """Values of Secret Manager secrets ``projects/{project}/secrets/{prefix}{environment}-{name}``; ``dynamic``."""

    dynamic = True
    environment_scoped = True  # the environment is part of every secret's name

    def __init__(
        self,
        project: str,
        *,
        prefix: str = "strongroom-",
        client: Any = None,
        timeout_seconds: float = 5.0,
        api_endpoint: str | None = None,
        credentials: Any = None,
    ) -> None:
        """``client``: a ready ``SecretManagerServiceClient`` (``timeout_seconds`` still applies to each call).

        ``api_endpoint``: host, or URL with scheme (``http://127.0.0.1:8085`` for a test server), of the REST API.
        ``credentials``: google-auth credentials; default ``google.auth.default()`` (ADC) when the client is made.
        Each call may take ``timeout_seconds``; no retry is made.
        """
        super().__init__(client)
        self.project = project
        self.prefix = prefix
        self._timeout = timeout_seconds
        self._api_endpoint = api_endpoint
        self._credentials = credentials

    def __repr__(self) -> str:
        return f"GcpSecretManagerSource(project={self.project!r}, prefix={self.prefix!r})"

    @property
    def name(self) -> str:
        return "gcp"

    def secret_id(self, key: SourceKey) -> str:
        return NOT_ALLOWED.sub("-", f"{self.prefix}{key.environment}-{key.name}")

    def _connect(self) -> tuple[Any, tuple[Any, ...]]:
        api, auth, requests, secretmanager = import_optional(
            (
                "google.api_core.exceptions",
                "google.auth.exceptions",
                "requests.exceptions",
                "google.cloud.secretmanager_v1",
            ),
            INSTALL_HINT,
        )
        # (API errors, network errors: lower sources are tried, credentials that cannot be refreshed)
        errors = (
            api.GoogleAPICallError,
            (requests.ConnectionError, requests.Timeout, auth.TransportError),
            auth.GoogleAuthError,
        )
        if self._client is not None:
            return self._client, errors
        options = {"api_endpoint": self._api_endpoint} if self._api_endpoint else None
        try:
            client = secretmanager.SecretManagerServiceClient(
                credentials=self._credentials, transport="rest", client_options=options
            )
        except auth.DefaultCredentialsError:
            problem = "no credentials (DefaultCredentialsError: set up Application Default Credentials)"
        except auth.GoogleAuthError as exc:
            problem = type(exc).__name__
        else:
            return client, errors
        # raised outside `except`, so no google-auth object rides along as context
        raise SourceUnavailable(f"GCP Secret Manager: cannot create a client: {problem}")

    def _call(self, what: str, method: str, name: str, gone: tuple[int, ...]) -> Any:
        """``client.{method}(name=name)``; ``None`` when the API answers with a status in ``gone``."""
        client, (api_error, network, auth_error) = self._setup()
        self._check_down(what)
        unavailable = False
        try:
            return getattr(client, method)(name=name, retry=None, timeout=self._timeout)
        except api_error as exc:
            status = exc.code if isinstance(exc.code, int) else 0
            if status in gone:
                return None
            code = f"{type(exc).__name__} (HTTP {status})" if status else type(exc).__name__
            unavailable = status >= 500 or status == 429
        except network as exc:
            code = f"{type(exc).__name__} at {self._endpoint(client)}"
            unavailable = True
            self._trip(code)
        except auth_error as exc:
            code = type(exc).__name__
            unavailable = True  # RefreshError: the credentials cannot be used here (expired, metadata server gone)
        raise failure(what, code, unavailable=unavailable)

    @staticmethod
    def _endpoint(client: Any) -> str:
        return str(getattr(getattr(client, "_transport", None), "_host", None) or "the API endpoint")

    def _text(self, what: str, response: Any) -> str:
        payload = response.payload
        data = bytes(payload.data)
        if "data_crc32c" in payload and int(payload.data_crc32c) != crc32c(data):
            raise ConfigError(f"{what}: payload CRC32C mismatch (corrupted in transit)")
        text = decode_utf8(data)
        if text is None:
            raise ConfigError(f"{what}: payload is not UTF-8 text")
        return text

    def get(self, key: SourceKey) -> Found | None:
        secret = f"projects/{self.project}/secrets/{self.secret_id(key)}"
        what = f"GCP Secret Manager secret {secret}"
        # latest: absent secret or no enabled version is NotFound; a latest that is disabled is a problem (400)
        current = self._call(f"{what} (latest)", "access_secret_version", f"{secret}/versions/latest", (404,))
        if current is None:
            return None
        value = self._text(f"{what} (latest)", current)
        number = str(current.name).rsplit("/", 1)[-1]
        updated_at: float | None = None
        previous: str | None = None
        if number.isdigit():
            # secretmanager.versions.get is not in the Secret Accessor role: without it (403) there is no age and,
            # as the overlap window cannot be placed, no previous value either
            meta = self._call(
                f"{what} (version {number})", "get_secret_version", f"{secret}/versions/{number}", (404, 403)
            )
            created = getattr(meta, "create_time", None) if meta is not None else None
            updated_at = created.timestamp() if created is not None else None
            if int(number) > 1 and updated_at is not None:
                old_what = f"{what} (version {int(number) - 1})"
                old = self._call(old_what, "access_secret_version", f"{secret}/versions/{int(number) - 1}", GONE)
                previous = self._text(old_what, old) if old is not None else None
        return Found(
            value,
            f"gcp:{secret}",
            version=number or None,
            updated_at=updated_at,
            previous=previous,
            previous_replaced_at=updated_at if previous is not None else None,
        )
