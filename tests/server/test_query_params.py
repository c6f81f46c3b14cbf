"""Declared query parameters: a GPT sends ``?q=`` and paging; only what the operation declares reaches the
upstream, anything else is refused naming it, and the credential's query parameter is the broker's alone."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate

from strongroom.broker import connector_from_dict, connector_to_dict
from strongroom.errors import InvalidInput
from strongroom.testing import assert_not_leaked

SEARCH_QUERY = [
    {"name": "q", "type": "string", "required": True, "description": "What to search for."},
    {"name": "page", "type": "integer"},
    {"name": "exact", "type": "boolean"},
]


def _search(base_url: str, **credential: Any) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "description": "Search the echo upstream.",
        "allow_private_network": True,
        "credential": credential or {"kind": "query", "name": "api_key", "secret": "search_key"},
        "operations": [
            {"id": "search", "method": "GET", "path": "/anything/search", "summary": "Search", "query": SEARCH_QUERY},
            {"id": "plain", "method": "GET", "path": "/anything/plain", "summary": "No query declared"},
            {"id": "none", "method": "GET", "path": "/anything/none", "summary": "No query at all", "query": []},
        ],
    }


@pytest.fixture
def search(service: Any, make_canary: Any) -> Any:
    """A's own connector ``search`` (the operator defines it: it reaches the loopback upstream), its credential
    in the query parameter ``api_key``, and an agent token."""
    s = service
    s.value = make_canary("search")
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/search", json=_search(s.upstream.url), headers=s.auth(s.admin)
    )
    assert put.status_code == 200, put.text
    body = {"value": s.value, "destinations": [{"connector": "search"}]}
    put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/search_key", json=body, headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    return s


def test_declared_query_parameters_reach_the_upstream(search: Any) -> None:
    s = search
    answer = s.client.get("/v1/actions/search/anything/search?q=hello&page=2&exact=true", headers=s.auth(s.a.token))
    assert answer.status_code == 200, answer.text
    seen = dict(s.upstream.seen[-1]["query"])
    assert (seen["q"], seen["page"], seen["exact"]) == ("hello", "2", "true")
    assert seen["api_key"] == s.value  # the broker added the credential...
    assert_not_leaked([s.value], answer.text)  # ...and the agent never sees it


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("q=a&debug=1", "'debug'"),  # undeclared: named, with what the operation takes
        ("page=2", "'q'"),  # a required one missing
        ("q=a&page=two", "integer"),
        ("q=a&exact=yes", "true or false"),
        ("q=a&api_key=mine", "'api_key'"),  # the credential's parameter: never the caller's
    ],
)
def test_an_undeclared_missing_or_mistyped_parameter_is_refused_naming_it(search: Any, query: str, named: str) -> None:
    s = search
    before = len(s.upstream.seen)
    answer = s.client.get(f"/v1/actions/search/anything/search?{query}", headers=s.auth(s.a.token))
    message = s.assert_error(answer, 400, code="invalid_input")["message"]
    assert named in message
    assert len(s.upstream.seen) == before  # nothing went upstream


def test_an_empty_declaration_takes_no_query_and_no_declaration_passes_any(search: Any) -> None:
    """``query = []``: no parameter at all; no ``query`` field: every parameter passes (as before
    operations could declare them), but never the credential's."""
    s = search
    refused = s.client.get("/v1/actions/search/anything/none?q=a", headers=s.auth(s.a.token))
    assert "takes: none" in s.assert_error(refused, 400)["message"]
    assert s.client.get("/v1/actions/search/anything/plain?x=1", headers=s.auth(s.a.token)).status_code == 200
    assert dict(s.upstream.seen[-1]["query"])["x"] == "1"
    s.assert_error(s.client.get("/v1/actions/search/anything/plain?api_key=x", headers=s.auth(s.a.token)), 400)


def test_the_gpt_document_declares_the_query_parameters(search: Any) -> None:
    s = search
    document = s.client.get(f"/v1/tenants/{s.a.name}/gpt/openapi.json", headers=s.auth(s.a.key)).json()
    validate(document)
    parameters = document["paths"]["/v1/actions/search/anything/search"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"], p["schema"]["type"]) for p in parameters] == [
        ("q", "query", True, "string"),
        ("page", "query", False, "integer"),
        ("exact", "query", False, "boolean"),
    ]
    assert parameters[0]["description"] == "What to search for."
    assert "parameters" not in document["paths"]["/v1/actions/search/anything/plain"]["get"]


def test_query_parameters_round_trip_and_bad_ones_are_named() -> None:
    connector = connector_from_dict({**_search("https://api.example.com"), "name": "search"}, where="test")
    assert connector_from_dict(connector_to_dict(connector), where="again") == connector
    assert connector_to_dict(connector)["operations"][0]["query"][1] == {
        "name": "page",
        "type": "integer",
        "required": False,
    }
    bad = _search("https://api.example.com")
    bad["operations"][0]["query"] = [
        {"name": "api_key"},  # the credential's
        {"name": "q", "type": "date"},
        {"name": "q", "colour": "red"},
    ]
    with pytest.raises(InvalidInput) as raised:
        connector_from_dict({**bad, "name": "search"}, where="test")
    message = str(raised.value)
    assert "'type' must be one of string, integer, number, boolean" in message
    assert "unknown field 'colour'" in message
    twice = _search("https://api.example.com")
    for spelling in ("api_key", "API_KEY", "Api_Key"):  # the broker refuses every case of it at call time
        twice["operations"][0]["query"] = [{"name": spelling}]
        with pytest.raises(InvalidInput, match="'api_key' carries the credential"):
            connector_from_dict({**twice, "name": "search"}, where="test")
    twice["operations"][0]["query"] = [{"name": "q"}, {"name": "q"}]
    with pytest.raises(InvalidInput, match="'q' appears twice"):
        connector_from_dict({**twice, "name": "search"}, where="test")


def test_query_parameters_load_from_toml(tmp_path: Any) -> None:
    from strongroom.broker import load_connectors

    path = tmp_path / "c.toml"
    path.write_text(
        "\n".join(
            [
                "[[connector]]",
                'name = "crm"',
                'base_url = "https://api.example.com"',
                'description = "A CRM."',
                "[connector.credential]",
                'kind = "bearer"',
                'secret = "crm_key"',
                "[[connector.operation]]",
                'id = "search"',
                'method = "GET"',
                'path = "/contacts"',
                'summary = "Search contacts"',
                "[[connector.operation.query]]",
                'name = "q"',
                "required = true",
                "[[connector.operation.query]]",
                'name = "limit"',
                'type = "integer"',
            ]
        ),
        encoding="utf-8",
    )
    (crm,) = load_connectors(path)
    query = crm.operations[0].query
    assert query is not None
    assert [(q.name, q.type, q.required) for q in query] == [("q", "string", True), ("limit", "integer", False)]
