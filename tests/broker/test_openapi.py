"""The GPT Actions document: valid OpenAPI 3.1, unique operation ids, the broker's routes, GPT's limits."""

from __future__ import annotations

import json
from typing import Any

import pytest
from openapi_spec_validator import validate

from strongroom.broker import Connector, CredentialPlacement, Operation, gpt_actions_document
from strongroom.errors import InvalidInput

CRM = Connector(
    name="crm-api",
    base_url="https://api.crm.example/base",
    description="CRM",
    credential=CredentialPlacement("bearer", "crm_token"),
    operations=(
        Operation("get_contact", "GET", "/v3/contacts/{contact_id}", "Get a contact", description="x" * 1000),
        Operation("update_contact", "PATCH", "/v3/contacts/{contact_id}", "Update a contact"),
        Operation("search", "GET", "/v3/contacts/search", "Search contacts", consequential=True),
        Operation("delete_contact", "DELETE", "/v3/contacts/{contact_id}", "Delete a contact", consequential=False),
        Operation("root", "GET", "/", "Ping"),
    ),
)
# "crm-api" + "get_contact" and "crm" + "api_get_contact" sanitise to the same id.
COLLIDER = Connector(
    name="crm",
    base_url="https://other.example",
    description="Other",
    credential=CredentialPlacement("header", "other_key", name="X-Api-Key"),
    operations=(Operation("api_get_contact", "GET", "/files/{name}.json", "A file"),),
)


@pytest.fixture
def document() -> dict[str, Any]:
    return gpt_actions_document([CRM, COLLIDER], server_url="https://broker.example/", tenant="acme")


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in document["paths"].items() for method, op in item.items()]


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(json.loads(json.dumps(document)))
    assert document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "https://broker.example"}]


def test_operation_ids_are_unique_and_sanitised(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)) == 6
    assert "crm_api_get_contact" in ids
    assert "crm_api_get_contact_2" in ids
    assert all(i.replace("_", "").isalnum() for i in ids)


def test_routes_are_the_brokers_with_declared_path_parameters(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert set(paths["/v1/actions/crm-api/v3/contacts/{contact_id}"]) == {"get", "patch", "delete"}
    assert "/v1/actions/crm-api" in paths  # the root operation
    get = paths["/v1/actions/crm-api/v3/contacts/{contact_id}"]["get"]
    assert get["parameters"] == [
        {
            "name": "contact_id",
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": "The contact id (one path segment).",
        }
    ]
    assert "requestBody" not in get
    patch = paths["/v1/actions/crm-api/v3/contacts/{contact_id}"]["patch"]
    assert patch["requestBody"]["content"]["application/json"]["schema"]["type"] == "object"
    assert paths["/v1/actions/crm/files/{name}.json"]["get"]["parameters"][0]["name"] == "name"
    assert "api.crm.example" not in json.dumps(document)  # the upstream host is the broker's business


def test_consequential_flags(document: dict[str, Any]) -> None:
    flags = {op["operationId"]: op["x-openai-isConsequential"] for _, _, op in _operations(document)}
    assert flags["crm_api_get_contact"] is False
    assert flags["crm_api_update_contact"] is True
    assert flags["crm_api_search"] is True
    assert flags["crm_api_delete_contact"] is False


def test_bearer_security_and_short_descriptions(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert document["security"] == [{"bearerAuth": []}]
    for _, _, op in _operations(document):
        assert len(op["description"]) < 300
        assert len(op["summary"]) < 300
    info = document["info"]["description"]
    assert len(info) < 300
    assert "acme" in info
    assert "refused (502)" in info
    assert "truncated" not in info


@pytest.mark.parametrize(
    "options", [{"server_url": "ftp://x"}, {"server_url": "https://b.example/?q=1"}, {"tenant": "no spaces allowed"}]
)
def test_bad_arguments_are_refused(options: dict[str, str]) -> None:
    arguments = {"server_url": "https://broker.example", "tenant": "acme", **options}
    with pytest.raises(InvalidInput):
        gpt_actions_document([CRM], **arguments)


def test_connector_names_must_be_unique() -> None:
    with pytest.raises(InvalidInput, match="same name"):
        gpt_actions_document([CRM, CRM], server_url="https://broker.example", tenant="acme")
