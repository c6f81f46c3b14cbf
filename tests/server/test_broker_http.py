"""ACCEPTANCE 3 over HTTP: an agent calls an upstream through the broker with a credential it never sees.

Tenant A stores a canary as the ``echo`` connector's credential; A's agent token calls
``/v1/actions/echo/...``; the loopback upstream (tests/server/conftest.py) records what it received.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from strongroom.testing import assert_not_leaked

ECHO_TIMEOUT_SECONDS = 1.5  # the echo connector's timeout_seconds (conftest.py)


def _texts(answer: Any) -> list[str]:
    return [answer.content.decode("utf-8", "replace"), answer.text, repr(answer.headers.multi_items())]


@pytest.fixture
def agent(service: Any, canary_credential: str) -> Any:
    """A's credential stored (write-only, over HTTP) and an agent token that may only invoke actions."""
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key",
        json={"value": canary_credential, "sensitivity": "critical"},
        headers=s.auth(s.a.key),
    )
    assert put.status_code == 200, put.text
    issued = s.client.post(
        "/v1/tokens", json={"scopes": ["actions:invoke"], "subject": "agent-session-1"}, headers=s.auth(s.a.key)
    )
    assert issued.status_code == 201, issued.text
    s.credential = canary_credential
    s.agent = s.auth(issued.json()["access_token"])
    s.agent_token = issued.json()["access_token"]
    return s


def test_upstream_gets_the_credential_and_the_agent_never_sees_it(agent: Any) -> None:
    """The upstream receives the credential in X-Api-Key; the agent's answer (body and headers) has no trace of it."""
    s = agent
    answer = s.client.get("/v1/actions/echo/anything?q=1", headers={**s.agent, "Cookie": "session=agent-cookie"})
    assert answer.status_code == 200, answer.text
    [seen] = s.upstream.seen
    assert (seen["method"], seen["path"], [tuple(p) for p in seen["query"]]) == ("GET", "/anything", [("q", "1")])
    sent = {k.lower(): v for k, v in seen["headers"]}
    assert sent["x-api-key"] == s.credential
    assert "cookie" not in sent
    assert "authorization" not in sent
    assert s.agent_token not in s.upstream.seen_text()
    assert_not_leaked([s.credential], *_texts(answer))
    echoed = {k.lower(): v for k, v in answer.json()["headers"]}
    assert echoed["x-api-key"].startswith("[REDACTED"), echoed["x-api-key"]
    assert answer.json()["path"] == "/anything"
    assert float(answer.headers["x-strongroom-latency-ms"]) >= 0


def test_post_body_and_path_placeholders_reach_the_upstream(agent: Any) -> None:
    """A POST body is forwarded as sent; a placeholder takes one segment; the credential is still masked."""
    s = agent
    posted = s.client.post("/v1/actions/echo/anything", json={"note": "hello", "echo": s.credential}, headers=s.agent)
    assert posted.status_code == 200
    assert json.loads(s.upstream.seen[-1]["body"]) == {"note": "hello", "echo": s.credential}
    assert_not_leaked([s.credential], *_texts(posted))
    item = s.client.get("/v1/actions/echo/anything/items/a%20b", headers=s.agent)
    assert item.status_code == 200
    assert s.upstream.seen[-1]["path"] == "/anything/items/a%20b"


@pytest.mark.slow
def test_a_hanging_upstream_is_504_within_the_connector_timeout(agent: Any) -> None:
    """An upstream that never answers gives the agent a 504 JSON error once the connector's timeout passes."""
    s = agent
    answer = s.client.get("/v1/actions/echo/hang", headers=s.agent)
    error = s.assert_error(answer, 504, code="upstream_error")
    # The connector's timeout, not a clock reading: /hang gives up after 10 s by closing the connection, which
    # would be a 502 naming the close, so a 504 "timed out after 1.5 s" is the broker's own timeout firing.
    assert f"timed out after {ECHO_TIMEOUT_SECONDS:g} s" in error["message"]
    assert s.upstream.seen[-1]["path"] == "/hang"
    assert_not_leaked([s.credential], *_texts(answer))


@pytest.mark.parametrize("status", [500, 502, 503])
def test_an_upstream_5xx_is_passed_through_with_the_credential_masked(agent: Any, status: int) -> None:
    """An upstream's 5xx reaches the agent as that status; the credential it echoed in the body is masked."""
    s = agent
    answer = s.client.get(f"/v1/actions/echo/status/{status}", headers=s.agent)
    assert answer.status_code == status
    assert answer.text.startswith("upstream failed; you sent [REDACTED")
    assert_not_leaked([s.credential], *_texts(answer))


@pytest.mark.parametrize("route", ["garbage", "close"])
def test_garbage_or_a_closed_connection_is_502(agent: Any, route: str) -> None:
    """Bytes that are not HTTP, or a connection closed without an answer: 502 JSON error."""
    s = agent
    answer = s.client.get(f"/v1/actions/echo/{route}", headers=s.agent)
    s.assert_error(answer, 502, code="upstream_error")
    assert len(s.upstream.seen) == 1
    assert_not_leaked([s.credential], *_texts(answer))


def test_an_answer_over_100000_bytes_is_502_upstream_response_too_large(agent: Any) -> None:
    """100,000 bytes pass; one more (or a body past the connector's cap) is 502 ``upstream_response_too_large``."""
    s = agent
    fits = s.client.get("/v1/actions/echo/huge?size=100000", headers=s.agent)
    assert fits.status_code == 200
    assert len(fits.content) == 100_000
    for size in (100_001, 2_000_000):  # over the GPT limit; over the connector's max_response_bytes (1,000,000)
        answer = s.client.get(f"/v1/actions/echo/huge?size={size}", headers=s.agent)
        s.assert_error(answer, 502, code="upstream_response_too_large")


def test_the_call_is_audited_as_a_secret_use_and_a_broker_call(agent: Any) -> None:
    """Audit: ``secret.use`` with purpose ``broker:echo`` and a ``broker.call`` naming the operation and status."""
    s = agent
    assert (
        s.client.get("/v1/actions/echo/anything?q=1", headers={**s.agent, "X-Request-Id": "req-42"}).status_code == 200
    )
    s.vault.flush_audit()
    uses = s.vault.audit_events(tenant=s.a.name, action="secret.use")
    assert [(e.secret_name, e.purpose, e.outcome) for e in uses] == [("echo_api_key", "broker:echo", "ok")]
    assert uses[0].actor == "token:agent-session-1"
    assert uses[0].request_id == "req-42"
    [call] = s.vault.audit_events(tenant=s.a.name, action="broker.call")
    assert call.purpose == "broker:echo"
    assert call.outcome == "ok"
    assert call.request_id == "req-42"
    assert "echo.anything GET -> 200" in (call.detail or "")
    over_http = s.client.get("/v1/audit", params={"action": "broker.call"}, headers=s.auth(s.admin)).json()
    assert [e["detail"] for e in over_http] == [call.detail]
    assert_not_leaked([s.credential], *[repr(e) for e in s.vault.audit_events()])


@pytest.mark.slow
def test_a_failed_upstream_call_is_audited_with_its_outcome(agent: Any) -> None:
    """A call the upstream fails is still one ``broker.call`` event, outcome error, naming the 502."""
    s = agent
    s.client.get("/v1/actions/echo/garbage", headers=s.agent)
    [call] = s.vault.audit_events(tenant=s.a.name, action="broker.call")
    assert call.outcome == "error"
    assert "UpstreamError 502" in (call.detail or "")


def test_callers_without_the_scope_or_without_a_tenant_are_refused(agent: Any) -> None:
    """A token without actions:invoke is 403; the admin key is 400 (actions run for a tenant); nothing is sent."""
    s = agent
    narrow = s.client.post("/v1/tokens", json={"scopes": ["connectors:read"]}, headers=s.auth(s.a.key))
    s.assert_error(
        s.client.get("/v1/actions/echo/anything", headers=s.auth(narrow.json()["access_token"])), 403, code="forbidden"
    )
    s.assert_error(s.client.get("/v1/actions/echo/anything", headers=s.auth(s.admin)), 400, code="invalid_input")
    assert s.upstream.seen == []


def test_a_connector_whose_credential_the_tenant_lacks_is_404(agent: Any) -> None:
    """``other`` needs a secret A does not hold, and B holds no echo credential: 404, the upstream sees nothing."""
    s = agent
    s.assert_error(s.client.get("/v1/actions/other/anything", headers=s.agent), 404, code="not_found")
    s.assert_error(s.client.get("/v1/actions/echo/anything", headers=s.auth(s.b.token)), 404, code="not_found")
    s.assert_error(s.client.get("/v1/actions/nope/anything", headers=s.agent), 404, code="not_found")
    assert s.upstream.seen == []


def test_undeclared_methods_are_404(agent: Any) -> None:
    """Only the connector's declared operations can be called: DELETE /anything is not one."""
    s = agent
    s.assert_error(s.client.delete("/v1/actions/echo/anything", headers=s.agent), 404, code="not_found")
    s.assert_error(
        s.client.request("GET", "/v1/actions/echo/anything", content=b"a body", headers=s.agent),
        400,
        code="invalid_input",
    )
    assert s.upstream.seen == []


def test_a_tenant_connector_cannot_reach_private_addresses(agent: Any) -> None:
    """A tenant's own connector may not enable private networks: refused at PUT, or the call never connects."""
    s = agent
    s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/internal_key",
        json={"value": s.credential + "-internal"},
        headers=s.auth(s.a.key),
    )
    definition = {
        "base_url": s.upstream.url,
        "description": "An internal service",
        "allow_private_network": True,
        "credential": {"kind": "bearer", "secret": "internal_key"},
        "operations": [{"id": "peek", "method": "GET", "path": "/anything", "summary": "Peek"}],
    }
    put = s.client.put(f"/v1/tenants/{s.a.name}/connectors/internal", json=definition, headers=s.auth(s.a.key))
    if put.status_code == 200:
        s.client.get("/v1/actions/internal/anything", headers=s.agent)
    assert s.upstream.seen == [], "a tenant-defined connector reached a loopback address"
    assert put.status_code == 400


def test_a_tenant_connector_without_private_network_cannot_reach_loopback(agent: Any) -> None:
    """A tenant's connector to an https loopback address is refused by the SSRF check (403), nothing connects."""
    s = agent
    definition = {
        "base_url": f"https://localhost:{s.upstream.port}",
        "description": "Loopback by name",
        "credential": {"kind": "header", "name": "X-Api-Key", "secret": "echo_api_key"},
        "operations": [{"id": "peek", "method": "GET", "path": "/anything", "summary": "Peek"}],
    }
    put = s.client.put(f"/v1/tenants/{s.a.name}/connectors/sneaky", json=definition, headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    # The secret's policy lets it go there, so what refuses the call is the SSRF check, not the policy.
    allowed = [{"origin": f"https://localhost:{s.upstream.port}", "placements": ["header:X-Api-Key"]}]
    policy = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key/destinations",
        json={"destinations": allowed},
        headers=s.auth(s.a.key),
    )
    assert policy.status_code == 200, policy.text
    answer = s.client.get("/v1/actions/sneaky/anything", headers=s.agent)
    error = s.assert_error(answer, 403, 502)
    assert "may not be sent" not in error["message"], error
    assert s.upstream.seen == []
    assert_not_leaked([s.credential], *_texts(answer))


# -- the action endpoint's own edges (it is plain ASGI, ahead of FastAPI's routing) ------------------------


def test_methods_the_endpoint_does_not_serve_are_405_with_allow(agent: Any) -> None:
    s = agent
    for method in ("HEAD", "OPTIONS", "TRACE"):
        answer = s.client.request(method, "/v1/actions/echo/anything", headers=s.agent)
        assert answer.status_code == 405, (method, answer.status_code)
        assert answer.headers["allow"] == "GET, POST, PUT, PATCH, DELETE"
        if method != "HEAD":
            assert answer.json()["error"]["code"] == "method_not_allowed"
    assert s.upstream.seen == []


def test_a_path_without_an_operation_part_is_404(agent: Any) -> None:
    s = agent
    for path in ("/v1/actions/echo", "/v1/actions/", "/v1/actions//anything"):
        s.assert_error(s.client.get(path, headers=s.agent), 404, code="not_found")
    assert s.upstream.seen == []


def test_a_chunked_body_over_the_limit_is_413_on_the_action_endpoint(agent: Any) -> None:
    s = agent

    def chunks() -> Any:
        for _ in range(20):
            yield b"v" * 65536

    answer = s.client.post("/v1/actions/echo/anything", content=chunks(), headers=s.agent)
    s.assert_error(answer, 413, code="body_too_large")
    assert s.upstream.seen == []


def test_an_unexpected_failure_is_a_bare_500_naming_nothing(
    agent: Any, make_canary: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug inside the endpoint answers 500 in the error shape: no message, no trace, no credential."""
    s = agent
    canary = make_canary()

    async def broken(**_kwargs: Any) -> Any:
        raise RuntimeError(f"bug holding {canary} and {s.credential}")

    monkeypatch.setattr(s.app.state.strongroom.broker, "call", broken)
    answer = s.client.get("/v1/actions/echo/anything", headers=s.agent)
    s.assert_error(answer, 500, code="internal_error")
    assert answer.json()["error"]["message"] == "internal error"
    assert_not_leaked([canary, s.credential, "RuntimeError", "Traceback"], *_texts(answer))


def test_the_openapi_document_describes_the_endpoint_and_its_errors(agent: Any) -> None:
    s = agent
    item = s.client.get("/openapi.json").json()["paths"]["/v1/actions/{connector}/{path}"]
    assert sorted(item) == ["delete", "get", "patch", "post", "put"]
    assert {op["operationId"] for op in item.values()} == {f"call_action_{m}" for m in item}
    for operation in item.values():
        assert {"400", "401", "403", "404", "413", "429", "502", "504"} <= set(operation["responses"])
        schema = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert schema["required"] == ["error"]
