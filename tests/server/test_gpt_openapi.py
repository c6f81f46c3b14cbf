"""ACCEPTANCE 4: the GPT Actions document of a tenant, and the service's own OpenAPI document."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from openapi_spec_validator import validate

from strongroom.testing import assert_not_leaked

GPT_DOC = "/v1/tenants/{}/gpt/openapi.json"


def _operation_ids(document: dict[str, Any]) -> list[str]:
    return [
        op["operationId"]
        for ops in document["paths"].values()
        for op in ops.values()
        if isinstance(op, dict) and "operationId" in op
    ]


def _own_connector(secret: str) -> dict[str, Any]:
    return {
        "base_url": "https://api.tenant-a.example",
        "description": "Tenant A's CRM.",
        "credential": {"kind": "bearer", "secret": secret},
        "operations": [
            {"id": "anything", "method": "GET", "path": "/contacts/{contact_id}", "summary": "Read a contact"},
            {"id": "create", "method": "POST", "path": "/contacts", "summary": "Create a contact"},
        ],
    }


@pytest.fixture
def documented(service: Any, make_canary: Any) -> Any:
    """A holds the echo credential and its own CRM's (which it may send to the CRM); it also declared a
    connector whose credential it lacks."""
    s = service
    s.values = [make_canary("echo"), make_canary("crm")]
    crm_only = [{"origin": "https://api.tenant-a.example", "placements": ["bearer"]}]
    for name, value in zip(("echo_api_key", "crm_key"), s.values, strict=True):
        body = {"value": value, **({"destinations": crm_only} if name == "crm_key" else {})}
        assert (
            s.client.put(f"/v1/tenants/{s.a.name}/secrets/{name}", json=body, headers=s.auth(s.a.key)).status_code
            == 200
        )
    for name, secret in (("crm", "crm_key"), ("unused", "missing_key")):
        put = s.client.put(
            f"/v1/tenants/{s.a.name}/connectors/{name}", json=_own_connector(secret), headers=s.auth(s.a.key)
        )
        assert put.status_code == 200, put.text
    return s


def test_gpt_document_lists_only_connectors_whose_credential_the_tenant_holds(documented: Any) -> None:
    """A's document has echo and crm operations (credentials held), not ``other`` or ``unused`` (not held)
    nor ``mine`` (held, but its policy does not let it go there)."""
    s = documented
    mine = {**_own_connector("echo_api_key"), "base_url": "https://mine.tenant-a.example"}
    assert (
        s.client.put(f"/v1/tenants/{s.a.name}/connectors/mine", json=mine, headers=s.auth(s.a.key)).status_code == 200
    )
    answer = s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key))
    assert answer.status_code == 200
    document = answer.json()
    connectors = {path.split("/")[3] for path in document["paths"]}
    assert connectors == {"echo", "crm"}
    assert "/v1/actions/crm/contacts/{contact_id}" in document["paths"]
    assert set(document["paths"]["/v1/actions/echo/anything"]) == {"get", "post"}
    assert document["servers"] == [{"url": "http://testserver"}]
    assert document["security"] == [{"bearerAuth": []}]


def test_gpt_document_validates_and_has_unique_operation_ids(documented: Any) -> None:
    """The document is valid OpenAPI (openapi_spec_validator) and no two operations share an operationId."""
    s = documented
    s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/other_api_key", json={"value": s.values[0] + "o"}, headers=s.auth(s.a.key)
    )  # ``other`` also has an operation ``anything``
    document = s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key)).json()
    assert {path.split("/")[3] for path in document["paths"]} == {"echo", "crm", "other"}
    validate(document)
    ids = _operation_ids(document)
    assert len(ids) == sum(len(ops) for ops in document["paths"].values())
    assert [i for i, n in Counter(ids).items() if n > 1] == []


def test_gpt_document_holds_no_upstream_host_and_no_credential(documented: Any) -> None:
    """The GPT talks to the broker only: no upstream URL, no credential, no secret value in the document."""
    s = documented
    answer = s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key))
    text = json.dumps(answer.json())
    assert s.upstream.url not in text
    assert "api.tenant-a.example" not in text
    assert_not_leaked(s.values, text, answer.text)


def test_gpt_document_of_a_tenant_without_credentials_is_empty_and_valid(documented: Any) -> None:
    """B holds nothing: its document has no paths, still validates, and never shows A's connectors."""
    s = documented
    answer = s.client.get(GPT_DOC.format(s.b.name), headers=s.auth(s.b.key))
    assert answer.status_code == 200
    assert answer.json()["paths"] == {}
    validate(answer.json())


def test_gpt_document_needs_connectors_read_for_that_tenant(documented: Any) -> None:
    """A token with connectors:read fetches it; B's key, or a token without the scope, gets 403."""
    s = documented
    reader = s.client.post("/v1/tokens", json={"scopes": ["connectors:read"]}, headers=s.auth(s.a.key)).json()
    assert s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(reader["access_token"])).status_code == 200
    invoker = s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.a.key)).json()
    s.assert_error(s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(invoker["access_token"])), 403)
    s.assert_error(s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.b.key)), 403)


@pytest.mark.slow
def test_the_service_openapi_document_validates_with_unique_operation_ids(service: Any) -> None:
    """/openapi.json (the whole API) is valid OpenAPI with unique operationIds."""
    s = service
    document = s.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    duplicates = [i for i, n in Counter(_operation_ids(document)).items() if n > 1]
    validate(document)
    assert duplicates == []


@pytest.mark.slow
def test_the_service_openapi_document_is_otherwise_valid(service: Any) -> None:
    """Apart from the duplicated operationIds of the action route, /openapi.json is valid OpenAPI."""
    s = service
    document = s.client.get("/openapi.json").json()
    for method, operation in document["paths"]["/v1/actions/{connector}/{path}"].items():
        operation["operationId"] = f"call_action_{method}"
    validate(document)
