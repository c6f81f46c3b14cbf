"""A stand-in for the platform's web process, worker or job: it loads the settings and says where each came from.

    strongroom run --schema settings:PlatformSettings -- python app.py
    python -m app          # the same load, with values from the environment, .env.local and .env
    python app.py serve    # a long-running web process with GET /health (what `strongroom drill` polls)

It never prints a secret's value: only its name and the source that supplied it.

In serve mode every request reads the secrets through their live handles (``settings.service_token.reveal()``
each time, never a copy kept from start-up), so a rotation reaches the process within ``SECRETS_TTL_SECONDS``
with no restart. ``/health`` proves the secrets still work: it presents ``SERVICE_TOKEN`` to the token service
(token_service.py) and answers 200 only if the service accepts it, with the process id and start time, so a
drill can tell a restart from a healthy process.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from settings import PlatformSettings

from strongroom.config import ConfigError

log = logging.getLogger("platform_app")
STARTED_AT = time.time()


def load() -> PlatformSettings | None:
    ttl = float(os.environ.get("SECRETS_TTL_SECONDS", "60"))  # how soon a rotated value is read from the store
    try:
        return PlatformSettings.load(ttl_seconds=ttl)  # the environment comes from STRONGROOM_ENV (default: dev)
    except ConfigError as exc:
        print(f"not starting: {exc}", file=sys.stderr)  # names and sources only, never values
        return None


def main() -> int:
    settings = load()
    if settings is None:
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


def health(settings: PlatformSettings, service_token: Callable[[], str]) -> list[str]:
    """The checks that fail: each present secret readable, and the token service accepting SERVICE_TOKEN."""
    failing = []
    for name, spec in PlatformSettings.fields().items():
        handle = getattr(settings, name)
        if spec.is_secret and handle is not None:
            try:
                handle.reveal()
            except ConfigError:
                failing.append(name)
    request = urllib.request.Request(  # noqa: S310 -- the configured service
        settings.token_service_url + "/check", headers={"Authorization": f"Bearer {service_token()}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2):  # noqa: S310
            pass
    except (urllib.error.URLError, OSError):  # refused (HTTP 401) or unreachable
        failing.append("service_token")
    return failing


def serve(settings: PlatformSettings, service_token: Callable[[], str] | None = None) -> int:
    """Serve GET /health on 127.0.0.1:$PORT until killed. ``service_token`` is how a request gets the token:
    the live handle by default."""
    token = service_token or settings.service_token.reveal

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path != "/health":
                self.send_error(404)
                return
            failing = health(settings, token)
            status = 503 if failing else 200
            body = {"status": "failing" if failing else "ok", "failing": failing}
            body |= {"pid": os.getpid(), "started_at": STARTED_AT}
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            log.info("%s %s", self.address_string(), format % args)

    server = ThreadingHTTPServer(("127.0.0.1", settings.port), Handler)
    print(f"serving on http://127.0.0.1:{server.server_address[1]}/health", flush=True)
    server.serve_forever()
    return 0


def serve_main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load()
    if settings is None:
        return 1
    log.info("started in %s (pid %d)", settings.environment, os.getpid())
    return serve(settings)


if __name__ == "__main__":
    sys.exit(serve_main() if sys.argv[1:] == ["serve"] else main())
