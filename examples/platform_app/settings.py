"""The platform's settings, declared once: every secret the app needs, and its plain settings.

One secret per category of platform credential: the database, the JWT signing key, the LLM provider, the
email and SMS providers, service-to-service calls, inbound webhooks and object storage. Each field's
environment variable is its name upper-cased (``DATABASE_URL``) unless it says otherwise (``env=...``).

``required_in=None`` (the default) means required in every environment; the third-party credentials are only
required in ``preview`` and ``prod``, so a developer can start the app locally without them.
"""

from __future__ import annotations

import os

from strongroom import Secret
from strongroom.config import Settings, secret, setting

PREVIEW_AND_PROD = ("preview", "prod")

# How long a replaced credential stays valid after a rotation: longer than the app's SECRETS_TTL_SECONDS, so
# every process reads the new value before the old one is revoked. A drill in CI shortens both.
ROTATION_OVERLAP = os.environ.get("ROTATION_OVERLAP", "10m")


class PlatformSettings(Settings):
    # Data stores
    database_url: Secret[str] = secret(
        sensitivity="critical",
        rotate="90d",
        description="PostgreSQL URL of the application role (the password is the secret part)",
    )
    object_storage_secret_key: Secret[str] = secret(
        sensitivity="critical",
        rotate="90d",
        required_in=PREVIEW_AND_PROD,
        env="S3_SECRET_ACCESS_KEY",
        description="Object storage / warehouse export credential (S3-compatible secret access key)",
    )

    # Identity
    jwt_signing_key: Secret[str] = secret(
        sensitivity="critical",
        rotate="30d",
        rotator="random",
        rotator_options={"length": 64},
        overlap=ROTATION_OVERLAP,
        description="HMAC key that signs session JWTs; the previous key verifies tokens during rotation",
    )
    service_token: Secret[str] = secret(
        sensitivity="high",
        rotate="30d",
        rotator="token-service",  # token_service.py: registered in the entry-point group strongroom.rotators
        rotator_options={"url_env": "TOKEN_SERVICE_URL"},
        overlap=ROTATION_OVERLAP,
        description="Bearer token the API presents to internal services (service-to-service)",
    )
    webhook_signing_secret: Secret[str] = secret(
        sensitivity="high",
        rotate="90d",
        description="Verifies signatures of inbound webhooks (payments, source control)",
    )

    # Third-party providers
    openai_api_key: Secret[str] = secret(
        sensitivity="high", rotate="30d", required_in=PREVIEW_AND_PROD, description="LLM provider API key"
    )
    email_provider_token: Secret[str] = secret(
        sensitivity="medium",
        rotate="90d",
        required_in=PREVIEW_AND_PROD,
        description="Transactional email provider API token",
    )
    sms_provider_token: Secret[str] = secret(
        sensitivity="medium",
        rotate="90d",
        required_in=("prod",),
        description="SMS provider auth token (one-time codes)",
    )

    # Plain settings: not secret, printed freely
    log_level: str = "info"
    port: int = setting(default=8000, description="Port the app listens on in serve mode (0: any free port)")
    token_service_url: str = setting(
        default="http://127.0.0.1:8900", env="TOKEN_SERVICE_URL", description="The internal token service"
    )
