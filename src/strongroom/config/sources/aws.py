"""AWS Secrets Manager: one secret per field, named ``{prefix}{environment}/{field}``.

With the default prefix, field ``database_url`` of environment ``prod`` is the secret
``strongroom/prod/database_url``. A read takes the ``AWSCURRENT`` version (``SecretString``, or
``SecretBinary`` as UTF-8) and, when the secret has one, the ``AWSPREVIOUS`` version as ``previous``,
so ``candidates()`` keeps accepting the replaced value during the rotation overlap window. Errors name
the secret id and the AWS error code, never a value or a response body (see ``docs/config-aws.md``).

boto3 is imported on first use (extra ``strongroom[aws]``), so ``import strongroom.config`` stays cheap.
"""

from __future__ import annotations

from typing import Any

from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.config.sources.remote import RemoteSource, decode_utf8, failure, import_optional
from strongroom.errors import ConfigError

INSTALL_HINT = "AWS Secrets Manager source needs: pip install 'strongroom[aws]'"
NOT_FOUND = "ResourceNotFoundException"
MAX_ATTEMPTS = 2  # botocore "standard" retries: the first try and one retry


class AwsSecretsManagerSource(RemoteSource):
    """Values of AWS Secrets Manager secrets ``{prefix}{environment}/{name}``; ``dynamic`` (rotation is seen)."""

    dynamic = True
    environment_scoped = True

    def __init__(
        self,
        prefix: str = "strongroom/",
        *,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
        timeout_seconds: float = 5.0,
    ) -> None:
        """``client``: a ready boto3 ``secretsmanager`` client (its own timeouts then apply, not ``timeout_seconds``).

        Each attempt may take ``timeout_seconds`` to connect and as long to read; one retry is made.
        """
        super().__init__(client)
        self.prefix = prefix
        self._region = region
        self._endpoint_url = endpoint_url
        self._timeout = timeout_seconds

    @property
    def name(self) -> str:
        return "aws"

    def secret_id(self, key: SourceKey) -> str:
        return f"{self.prefix}{key.environment}/{key.name}"

    def _connect(self) -> tuple[Any, tuple[Any, ...]]:
        exceptions, config, boto3 = import_optional(("botocore.exceptions", "botocore.config", "boto3"), INSTALL_HINT)
        # (client errors, network errors: lower sources are tried, "not set up here", anything else)
        errors = (
            exceptions.ClientError,
            (exceptions.ConnectionError, exceptions.HTTPClientError),
            (exceptions.NoCredentialsError, exceptions.NoRegionError),
            exceptions.BotoCoreError,
        )
        if self._client is not None:
            return self._client, errors
        try:
            client = boto3.session.Session().client(
                "secretsmanager",
                region_name=self._region,
                endpoint_url=self._endpoint_url,
                config=config.Config(
                    connect_timeout=self._timeout,
                    read_timeout=self._timeout,
                    retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                ),
            )
        except exceptions.BotoCoreError as exc:
            problem = type(exc).__name__
        else:
            return client, errors
        # raised outside `except`, so no botocore object rides along as context
        hint = " (pass region= or set AWS_DEFAULT_REGION)" if problem == "NoRegionError" else ""
        raise SourceUnavailable(f"AWS Secrets Manager: cannot create a client: {problem}{hint}")

    def _fetch(self, secret_id: str, stage: str) -> dict[str, Any] | None:
        client, (client_error, network, not_set_up, botocore_error) = self._setup()
        what = f"AWS Secrets Manager secret {secret_id} ({stage})"
        self._check_down(what)
        unavailable = False
        try:
            response: dict[str, Any] = client.get_secret_value(SecretId=secret_id, VersionStage=stage)
            return response
        except client_error as exc:
            error = getattr(exc, "response", {})
            code = str(error.get("Error", {}).get("Code") or "ClientError")
            status = error.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            unavailable = status >= 500 or "Throttl" in code
        except network as exc:
            code = f"{type(exc).__name__} at {client.meta.endpoint_url}"
            unavailable = True
            self._trip(code)
        except not_set_up as exc:
            code, unavailable = type(exc).__name__, True
        except botocore_error as exc:
            code = type(exc).__name__
        if code == NOT_FOUND:
            return None
        raise failure(what, code, unavailable=unavailable)

    def _value(self, secret_id: str, response: dict[str, Any]) -> str:
        if "SecretString" in response:
            return str(response["SecretString"])
        raw = response.get("SecretBinary")
        text = decode_utf8(bytes(raw)) if isinstance(raw, bytes | bytearray) else None
        if text is None:
            raise ConfigError(f"AWS Secrets Manager secret {secret_id}: SecretBinary is not UTF-8 text")
        return text

    def get(self, key: SourceKey) -> Found | None:
        secret_id = self.secret_id(key)
        current = self._fetch(secret_id, "AWSCURRENT")
        if current is None:
            return None
        value, version = self._value(secret_id, current), current.get("VersionId")
        created = current.get("CreatedDate")
        updated_at = created.timestamp() if created is not None else None
        previous: str | None = None
        old = self._fetch(secret_id, "AWSPREVIOUS")
        if old is not None and old.get("VersionId") != version:  # same id: rotated again between the two reads
            previous = self._value(secret_id, old)
        return Found(
            value,
            f"aws:{secret_id}",
            version=version,
            updated_at=updated_at,
            previous=previous,
            previous_replaced_at=updated_at if previous is not None else None,
        )
