"""The config-layer schema of the "config" way: one secret, read from the environment variable ``LEAK_VALUE``."""

from __future__ import annotations

from strongroom import Secret
from strongroom.config import Settings, secret


class LeakSettings(Settings):
    leak_value: Secret[str] = secret()
