"""A stand-in for the internal service that ``SERVICE_TOKEN`` authenticates to, and the rotator for its tokens.

The service accepts a set of bearer tokens: ``GET /check`` answers 200 for an accepted token, 401 otherwise.
Its admin side adds and revokes tokens (``POST /tokens`` and ``DELETE /tokens``, the token in the body, never
in the URL, so it stays out of access logs). A real provider would guard the admin side with its own
credential; this one listens on loopback only.

``TokenServiceRotator`` rotates ``SERVICE_TOKEN`` the way strongroom rotates any provider credential:
``create`` a token, ``set`` it (the service now accepts both), ``test`` it, and after the overlap ``retire``
the previous one (revoked: the service refuses it from then on). It is registered as the rotator
``token-service`` through the entry-point group ``strongroom.rotators`` (README.md, "The drill").
Its one option, ``url_env``, names the environment variable holding the service's URL.

    python token_service.py 8900      # serve on 127.0.0.1:8900, accepting $SERVICE_TOKEN if set
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from strongroom.errors import InvalidInput, RotationError
from strongroom.rotation import BaseRotator, RotationContext
from strongroom.secret import Secret


class TokenService(ThreadingHTTPServer):
    """The provider: a set of accepted tokens behind HTTP on 127.0.0.1."""

    daemon_threads = True

    def __init__(self, port: int = 0, accepted: tuple[str, ...] = ()) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.accepted = set(accepted)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: TokenService

    def do_GET(self) -> None:
        if self.path != "/check":
            self._answer(404)
            return
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        with self.server.lock:
            ok = bool(token) and token in self.server.accepted
        self._answer(200 if ok else 401)

    def do_POST(self) -> None:
        self._admin(add=True)

    def do_DELETE(self) -> None:
        self._admin(add=False)

    def _admin(self, *, add: bool) -> None:
        if self.path != "/tokens":
            self._answer(404)
            return
        token = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        if not token:
            self._answer(400)
            return
        with self.server.lock:
            if add:
                self.server.accepted.add(token)
            else:
                self.server.accepted.discard(token)
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class TokenServiceRotator(BaseRotator):
    """Rotates a token of the token service: no restart, no failed call, the old one revoked after the overlap."""

    name: ClassVar[str] = "token-service"

    def check(self, options: Mapping[str, Any]) -> None:
        variable = options.get("url_env", "TOKEN_SERVICE_URL")
        if not isinstance(variable, str) or not variable:
            raise InvalidInput("rotator 'token-service': option url_env must name an environment variable")

    def create(self, ctx: RotationContext) -> str:
        return "svc_" + secrets.token_urlsafe(32)

    def set(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "POST", "/tokens", body=pending.reveal(), want=204)

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "GET", "/check", bearer=pending.reveal(), want=200)

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._call(ctx, "DELETE", "/tokens", body=pending.reveal(), want=204)

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        self._call(ctx, "DELETE", "/tokens", body=previous.reveal(), want=204)

    def _call(
        self, ctx: RotationContext, method: str, path: str, *, want: int, body: Any = None, bearer: Any = None
    ) -> None:
        variable = str(ctx.options.get("url_env", "TOKEN_SERVICE_URL"))
        base = os.environ.get(variable)
        if not base:
            raise RotationError(f"{ctx.describe()}: ${variable} (the token service's URL) is not set")
        data = body.encode() if isinstance(body, str) else None
        headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
        request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 -- the configured service
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:  # never the exception's text: keep the message free of what was sent
            raise RotationError(f"{ctx.describe()}: the token service did not answer ({type(exc).__name__})") from None
        if status != want:
            raise RotationError(f"{ctx.describe()}: the token service answered HTTP {status}")


def main(argv: list[str]) -> int:
    port = int(argv[0]) if argv else 8900
    seed = os.environ.get("SERVICE_TOKEN")
    service = TokenService(port, (seed,) if seed else ())
    print(f"token service on {service.url}", flush=True)
    service.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
