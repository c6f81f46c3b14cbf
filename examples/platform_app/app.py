"""A stand-in for the platform's web process, worker or job: it loads the settings and says where each came from.

    strongroom run --schema settings:PlatformSettings -- python app.py
    python -m app          # the same load, with values from the environment, .env.local and .env

It never prints a secret's value: only its name and the source that supplied it.
"""

from __future__ import annotations

import sys

from settings import PlatformSettings

from strongroom.config import ConfigError


def main() -> int:
    try:
        settings = PlatformSettings.load()  # the environment comes from STRONGROOM_ENV (default: dev)
    except ConfigError as exc:
        print(f"not starting: {exc}", file=sys.stderr)  # names and sources only, never values
        return 1
    fields = PlatformSettings.fields()
    secrets = [name for name, spec in fields.items() if spec.is_secret]
    present = [name for name in secrets if getattr(settings, name) is not None]
    print(f"started in {settings.environment} with {len(present)} secrets")
    for name in secrets:
        handle = getattr(settings, name)
        where = handle.source if handle is not None else f"absent (optional in {settings.environment})"
        print(f"  {name:<28} {fields[name].env:<24} {where}")
    print(f"log_level={settings.log_level} port={settings.port}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
