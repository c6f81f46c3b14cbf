"""ACCEPTANCE: the broker's response to the agent contains no trace of the credential, and the upstream saw it.

For every placement (bearer, header, basic with and without a username, query) a real loopback upstream
echoes what it received: in its body (raw, JSON, base64 and hex of every header, the decoded basic pair, the
URL with its query) and in its response headers (raw, base64, a cookie). The credential is made at test time.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from strongroom.broker import Broker, BrokerResponse, Connector, CredentialPlacement
from strongroom.redact import encodings
from strongroom.testing import assert_not_leaked

PLACEMENTS = {
    "bearer": CredentialPlacement("bearer", "api_token"),
    "header": CredentialPlacement("header", "api_token", name="X-Api-Key"),
    "basic": CredentialPlacement("basic", "api_token", username="svc-user"),
    "basic-no-username": CredentialPlacement("basic", "api_token"),
    "query": CredentialPlacement("query", "api_token", name="api_key"),
}


def _expected_on_the_wire(kind: str, token: str) -> tuple[str, str]:
    return {
        "bearer": ("authorization", f"Bearer {token}"),
        "header": ("x-api-key", token),
        "basic": ("authorization", "Basic " + base64.b64encode(f"svc-user:{token}".encode()).decode()),
        "basic-no-username": ("authorization", "Basic " + base64.b64encode(f"{token}:".encode()).decode()),
        "query": ("api_key", token),
    }[kind]


def _decoded_base64_runs(text: str) -> list[bytes]:
    """Every run of base64 characters in ``text``, decoded at each alignment (what an agent could try)."""
    out: list[bytes] = []
    for run in re.findall(r"[A-Za-z0-9+/_-]{12,}", text):
        for start in range(4):
            chunk = run[start:]
            chunk += "=" * (-len(chunk) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                with contextlib.suppress(binascii.Error, ValueError):
                    out.append(decode(chunk))
    return out


def assert_no_trace(token: str, response: BrokerResponse, *, also: tuple[str, ...] = ()) -> None:
    texts = [response.body.decode("utf-8", "surrogateescape"), repr(response.headers), repr(response)]
    for value in (token, *also):
        for form in encodings(value):
            for text in texts:
                assert form not in text, "an encoding of the credential reached the agent"
    for text in texts:
        for decoded in _decoded_base64_runs(text):
            assert token.encode() not in decoded, "a base64 run in the response decodes to the credential"
    assert_not_leaked([token], response)


@pytest.mark.parametrize("kind", list(PLACEMENTS))
def test_agent_sees_no_trace_of_the_credential_and_the_upstream_saw_it(
    kind: str, token: str, upstream: Any, make_connector: Callable[..., Connector], run_broker: Callable[..., Any]
) -> None:
    connector = make_connector(PLACEMENTS[kind])

    async def body(broker: Broker) -> BrokerResponse:
        return await broker.call(
            tenant="acme",
            connector=connector,
            method="POST",
            path="/echo/item-42",
            query=[("q", "find me")],
            body=json.dumps({"note": "hello"}).encode(),
            content_type="application/json",
            actor="agent-7",
            request_id="req-1",
        )

    response = run_broker(body)

    # The upstream saw the credential, where the placement puts it.
    seen = upstream.seen[-1]
    name, value = _expected_on_the_wire(kind, token)
    if kind == "query":
        assert (name, value) in seen["query"]
        assert ("q", "find me") in seen["query"]
    else:
        assert (name, value) in [(n.lower(), v) for n, v in seen["headers"]]
    assert seen["path"] == "/echo/item-42"
    assert seen["body"] == json.dumps({"note": "hello"})

    # The agent sees the upstream's answer, with every trace of the credential masked.
    assert response.status == 200
    echoed = json.loads(response.body)
    assert echoed["method"] == "POST"
    assert "[REDACTED" in response.body.decode()
    assert not any(n.lower() in ("set-cookie", "content-length", "content-encoding") for n, _ in response.headers)
    assert any(n.lower().startswith("x-echo-") and "[REDACTED" in v for n, v in response.headers) or kind == "query"
    pair = {"basic": f"svc-user:{token}", "basic-no-username": f"{token}:"}.get(kind)
    assert_no_trace(token, response, also=(pair,) if pair else ())
    assert not response.truncated
    assert response.latency_ms > 0


def test_a_bytes_credential_is_sent_and_masked(
    broker_vault: Any,
    upstream: Any,
    make_connector: Callable[..., Connector],
    run_broker: Callable[..., Any],
    token: str,
) -> None:
    """A credential stored as bytes (valid UTF-8) is decoded for the header and masked like any other."""
    broker_vault.put("acme", "api_token", token.encode())
    connector = make_connector()
    response = run_broker(
        lambda broker: broker.call(tenant="acme", connector=connector, method="GET", path="/echo/1", actor="agent")
    )
    assert ("Authorization", f"Bearer {token}") in upstream.seen[-1]["headers"]
    assert_no_trace(token, response)
