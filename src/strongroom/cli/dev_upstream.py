"""``strongroom dev-upstream``: a loopback echo server to broker calls to, for the quickstart and for trying
connectors offline.

Every request is answered 200 with a JSON echo of what arrived: method, path, query, headers and body. Sent
through the broker, the echo holds the credential the broker added, so the answer the agent gets shows the
broker removing it (``[REDACTED:...]``). It binds 127.0.0.1 only (a connector reaches it with
``allow_private_network = true``) and logs one line per request: the method and path, never the query or a
header, where a credential travels.
"""

from __future__ import annotations

import errno
import json
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import typer

from strongroom.cli import common
from strongroom.errors import InvalidInput, StrongroomError

DEFAULT_PORT = 8201
MAX_BODY_BYTES = 1 << 20  # the broker's own request limit: anything larger is not a demo


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "strongroom-dev-upstream"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default line holds the query string: _handle logs without it

    def _handle(self) -> None:
        split = urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self._answer(413, {"error": f"the body must be 0 to {MAX_BODY_BYTES} bytes with a Content-Length"})
            return
        body = self.rfile.read(length).decode("utf-8", "replace")
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        echo = {
            "method": self.command,
            "path": split.path,
            "query": parse_qs(split.query, keep_blank_values=True),
            "headers": headers,
            "body": body,
        }
        common.err.print(common.printable(f"dev-upstream: {self.command} {split.path}"))  # anyone's text
        self._answer(200, echo)

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, indent=2).encode() + b"\n"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle  # noqa: N815


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def dev_upstream(
    port: int = typer.Option(DEFAULT_PORT, help="Port to listen on, on 127.0.0.1 only."),
) -> None:
    """Serve a loopback echo upstream for the quickstart: answers every request with what it received."""
    if not 1 <= port <= 65535:
        raise InvalidInput(f"--port must be 1 to 65535, not {port}")
    try:
        server = ThreadingHTTPServer(("127.0.0.1", port), _Echo)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise StrongroomError(f"port {port} is in use: choose another with --port") from None
        raise StrongroomError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}): try another --port") from None
    server.daemon_threads = True
    for stop in (signal.SIGINT, signal.SIGTERM):  # SIGINT too: a shell starts background jobs ignoring it
        signal.signal(stop, _stop)
    common.out.print(f"dev-upstream echoing requests on http://127.0.0.1:{port} (Ctrl-C stops it)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        common.err.print("dev-upstream stopped")
    finally:
        server.server_close()
