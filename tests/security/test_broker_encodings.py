"""Issue 12, finding 10: the broker masks its credential however the upstream spells it in the echo.

An agent holding a tenant's token calls a connector whose upstream echoes the request's credential back,
encoded: JSON with ``\\/`` or every character as ``\\uXXXX``, HTML entities, percent-escapes of either
case, base64 wrapped at 76 or 64 columns with ``\\n`` or ``\\r\\n``, upper-case hex, UTF-16 (both byte
orders, as bytes in the body), and the credential upper- or lower-cased. The agent's answer must not hold
the credential in that spelling, and a JSON answer must still be JSON.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from _strongroom_server_fixtures import Service, Upstream, build_service, connectors_toml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.broker import Broker, connector_from_dict
from strongroom.vault import Vault
from strongroom.vault.destinations import DestinationPolicy

SECRET = "enc_key"  # noqa: S105 -- the secret's name, not a value
# The tenant's own connector may send the credential only where its policy says (issue 12, finding 1).
PROPERTY_DESTINATIONS = DestinationPolicy.from_data(
    [{"origin": "https://api.example.com", "placements": ["header:X-Api-Key"]}]
)


def _wrapped_base64(credential: str, width: int, eol: str) -> str:
    data = ("X-Api-Key: " + credential + "\n").encode() * 3  # the credential at three byte alignments
    encoded = base64.b64encode(data).decode()
    return eol.join(encoded[i : i + width] for i in range(0, len(encoded), width))


def _b64_cores(credential: str) -> list[str]:
    """The base64 of the credential at each byte alignment, less the edge groups a neighbour changes (at
    least six of its bytes: shorter runs are no longer the credential's own)."""
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + credential.encode()).decode().rstrip("=")
        cores.append(encoded[4 if shift else 0 : -4])
    return [core for core in cores if len(core) >= 8]


def _no_breaks(text: str) -> str:
    return text.replace("\r", "").replace("\n", "")


@dataclass(frozen=True)
class Encoding:
    name: str
    encode: Callable[[str], str | bytes]  # the credential as the upstream spells it
    json: bool  # sent as a JSON string ({"echo": ...}), else as a text body
    leaked: Callable[[str, str], bool]  # (answer text, credential): is it still there, so spelt?


def _spelt(encode: Callable[[str], str]) -> Callable[[str, str], bool]:
    return lambda answer, credential: encode(credential) in answer


ENCODINGS = [
    Encoding("json-slash", lambda c: json.dumps(c)[1:-1].replace("/", "\\/"), True, _spelt(lambda c: c)),
    Encoding(
        "json-u-lower",
        lambda c: "".join(f"\\u{ord(ch):04x}" for ch in c),
        True,
        _spelt(lambda c: "".join(f"\\u{ord(ch):04x}" for ch in c)),
    ),
    Encoding(
        "json-u-upper",
        lambda c: "".join(f"\\u{ord(ch):04X}" for ch in c),
        True,
        _spelt(lambda c: "".join(f"\\u{ord(ch):04X}" for ch in c)),
    ),
    Encoding("html-escape", html.escape, False, _spelt(html.escape)),
    Encoding(
        "html-decimal",
        lambda c: "".join(f"&#{ord(ch)};" for ch in c),
        False,
        _spelt(lambda c: "".join(f"&#{ord(ch)};" for ch in c)),
    ),
    Encoding(
        "html-hex",
        lambda c: "".join(f"&#x{ord(ch):X};" for ch in c),
        False,
        _spelt(lambda c: "".join(f"&#x{ord(ch):X};" for ch in c)),
    ),
    Encoding(
        "percent-lower",
        lambda c: "".join(f"%{b:02x}" for b in c.encode()),
        False,
        lambda answer, c: c in unquote(answer),
    ),
    Encoding(
        "percent-upper",
        lambda c: "".join(f"%{b:02X}" for b in c.encode()),
        False,
        lambda answer, c: c in unquote(answer),
    ),
    *(
        Encoding(
            f"base64-{width}-{'crlf' if eol == chr(13) + chr(10) else 'lf'}",
            lambda c, width=width, eol=eol: _wrapped_base64(c, width, eol),  # type: ignore[misc]
            False,
            lambda answer, c: any(core in _no_breaks(answer) for core in _b64_cores(c)),
        )
        for width in (76, 64)
        for eol in ("\n", "\r\n")
    ),
    Encoding("hex-upper", lambda c: c.encode().hex().upper(), False, _spelt(lambda c: c.encode().hex().upper())),
    Encoding("upper-case", str.upper, True, _spelt(str.upper)),
    Encoding("lower-case", str.lower, True, _spelt(str.lower)),
    Encoding("swapped-case", str.swapcase, False, _spelt(str.swapcase)),
    Encoding(
        "utf-16-le",
        lambda c: ("echo: " + c).encode("utf-16-le"),
        False,
        lambda answer, c: c.encode("utf-16-le").decode("latin-1") in answer,
    ),
    Encoding(
        "utf-16-be",
        lambda c: ("echo: " + c).encode("utf-16-be"),
        False,
        lambda answer, c: c.encode("utf-16-be").decode("latin-1") in answer,
    ),
]
BY_NAME = {encoding.name: encoding for encoding in ENCODINGS}


def _body(encoding: Encoding, credential: str) -> tuple[bytes, str]:
    """What the upstream answers: the credential so spelt, in a JSON document or a text."""
    encoded = encoding.encode(credential)
    if isinstance(encoded, bytes):
        return b"echo:" + encoded + b":end", "application/octet-stream"
    if encoding.json:
        return ('{"echo": "' + encoded + '", "other": ["a", "b"]}').encode(), "application/json"
    return f"you sent:\n{encoded}\nend\n".encode(), "text/plain"


@pytest.fixture
def encoder_port(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> int:
    """An upstream that echoes the credential of ``X-Api-Key`` in the encoding the path names."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body, kind = _body(BY_NAME[self.path.rsplit("/", 1)[-1]], self.headers["X-Api-Key"])
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return start_http_server(Handler)


@pytest.fixture
def encoding_service(sqlite_vault: Vault, upstream: Upstream, tmp_path: Path, encoder_port: int) -> Iterator[Service]:
    path = tmp_path / "connectors.toml"
    extra = [
        "",
        "[[connector]]",
        'name = "encoder"',
        f'base_url = "http://127.0.0.1:{encoder_port}"',
        'description = "An upstream that echoes the credential, encoded."',
        "allow_private_network = true",
        "",
        "[connector.credential]",
        'kind = "header"',
        'name = "X-Api-Key"',
        f'secret = "{SECRET}"',
        "",
        "[[connector.operation]]",
        'id = "echo"',
        'method = "GET"',
        'path = "/echo/{encoding}"',
        'summary = "The credential, encoded"',
        "",
    ]
    path.write_text(connectors_toml(upstream.url) + "\n".join(extra), encoding="utf-8")
    yield from build_service(sqlite_vault, upstream, path)


def _credential() -> str:
    """Letters of both cases, and the characters the encodings escape: `/`, `&`, `<`, `>`, `"`, `'`, `+`."""
    return f"Sk/{secrets.token_urlsafe(18)}&<q>\"'+={secrets.token_hex(6)}Z"


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
@pytest.mark.slow
def test_the_agent_never_gets_the_credential_back_in_any_spelling(
    encoding_service: Service, encoding: Encoding
) -> None:
    s = encoding_service
    credential = _credential()
    stored = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{SECRET}", json={"value": credential}, headers=s.auth(s.a.key)
    )
    assert stored.status_code in (200, 201), stored.text
    answer = s.client.get(f"/v1/actions/encoder/echo/{encoding.name}", headers=s.auth(s.a.token))
    assert answer.status_code == 200, answer.text
    text = answer.content.decode("latin-1")  # bytes as they are (UTF-16 too), one character each
    assert not encoding.leaked(text, credential), text
    assert credential not in text
    assert "[REDACTED:" + SECRET + "]" in text  # found and masked, not lost on the way
    if encoding.json:
        assert answer.json()["other"] == ["a", "b"]  # still the JSON document it was


# -- the property, on the broker itself (any credential, any encoding of the list) ------------------------

_CREDENTIAL_CHARS = string.ascii_letters + string.digits + "/+=&<>\"'-_.~!#$()*,;:?@[]^`{|}"
credentials = st.text(_CREDENTIAL_CHARS, min_size=12, max_size=48).filter(lambda c: c == c.strip())
PROPERTY_CONNECTOR = {
    "name": "encoder",
    "base_url": "https://api.example.com",
    "description": "An upstream that echoes the credential, encoded.",
    "credential": {"kind": "header", "name": "X-Api-Key", "secret": SECRET},
    "operations": [{"id": "echo", "method": "GET", "path": "/echo", "summary": "The credential, encoded"}],
}


async def _public_address(host: str) -> list[str]:
    return ["93.184.215.14"]  # a public address: the SSRF check passes; the mock transport answers


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(credential=credentials, name=st.sampled_from(sorted(BY_NAME)), before=st.text(max_size=8))
@pytest.mark.slow
def test_any_credential_in_any_listed_encoding_is_scrubbed(
    sqlite_vault: Vault, credential: str, name: str, before: str
) -> None:
    """Whatever the credential and whichever listed spelling the upstream echoes it in, the broker's answer
    holds no such spelling of it, and a JSON answer stays JSON."""
    encoding = BY_NAME[name]
    if "t" not in {tenant.name for tenant in sqlite_vault.list_tenants()}:
        sqlite_vault.create_tenant("t")
    sqlite_vault.put("t", SECRET, credential, destinations=PROPERTY_DESTINATIONS)
    sent: list[bytes] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        body, kind = _body(encoding, request.headers["X-Api-Key"])
        sent.append(before.encode() + body)
        return httpx.Response(200, content=sent[-1], headers={"Content-Type": kind})

    async def call() -> bytes:
        async with Broker(sqlite_vault, transport=httpx.MockTransport(upstream), resolve=_public_address) as broker:
            answer = await broker.call(
                tenant="t",
                connector=connector_from_dict(PROPERTY_CONNECTOR, where="test"),
                method="GET",
                path="/echo",
                actor="test",
            )
        return answer.body

    body = asyncio.run(call())
    shown = body.decode("latin-1")
    assert not encoding.leaked(shown, credential), shown
    assert credential not in shown
    try:
        json.loads(sent[0])
    except ValueError:
        return
    assert json.loads(body)["other"] == ["a", "b"]
