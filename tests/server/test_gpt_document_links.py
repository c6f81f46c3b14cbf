"""GPT document links: "Import from URL" works without a header; revocable; the key never logged or audited."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from strongroom.server import access_log
from strongroom.testing import assert_not_leaked

LINKS = "/v1/tenants/{}/gpt/document-links"
GPT_DOC = "/v1/tenants/{}/gpt/openapi.json"


@pytest.fixture
def held(service: Any, make_canary: Any) -> Any:
    """A holds the echo credential: its document has the echo operations."""
    s = service
    s.value = make_canary("echo")
    put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": s.value}, headers=s.auth(s.a.key))
    assert put.status_code == 200, put.text
    return s


def _create(s: Any, credential: str, tenant: str | None = None, **body: Any) -> Any:
    return s.client.post(LINKS.format(tenant or s.a.name), json=body or None, headers=s.auth(credential))


def _path(url: str) -> str:
    return urlsplit(url).path


def test_a_document_link_serves_the_document_without_a_header(held: Any) -> None:
    """The link's URL answers the same document as the authenticated route, to a client sending no header."""
    s = held
    made = _create(s, s.a.key, name="my-gpt")
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"].startswith("http://testserver/v1/gpt/documents/")
    assert link["url"].endswith(".json")
    assert link["name"] == "gpt-document:my-gpt"
    assert link["created_at"].endswith("Z")
    fetched = s.client.get(_path(link["url"]))  # no Authorization header
    assert fetched.status_code == 200, fetched.text
    document = fetched.json()
    validate(document)
    assert document == s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key)).json()
    assert "/v1/actions/echo/anything" in document["paths"]
    assert_not_leaked([s.value], fetched.text)
    assert s.upstream.url not in fetched.text  # no upstream host: the GPT calls the broker only


def test_a_revoked_link_is_refused_and_listings_never_show_the_url(held: Any) -> None:
    s = held
    link = _create(s, s.a.key).json()
    listed = s.client.get(LINKS.format(s.a.name), headers=s.auth(s.a.key))
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json()] == [link["id"]]
    secret_part = _path(link["url"]).rsplit("/", 1)[1].removesuffix(".json")
    assert secret_part not in listed.text
    assert "url" not in listed.json()[0]
    gone = s.client.delete(f"{LINKS.format(s.a.name)}/{link['id']}", headers=s.auth(s.a.key))
    assert gone.status_code == 204, gone.text
    error = s.assert_error(s.client.get(_path(link["url"])), 404)
    assert secret_part not in error["message"]
    assert s.client.get(LINKS.format(s.a.name), headers=s.auth(s.a.key)).json()[0]["revoked_at"].endswith("Z")


def test_the_link_key_opens_nothing_else_and_revoking_reaches_only_links(held: Any) -> None:
    """The link's key fetches the document only; DELETE on a link id never revokes another kind of key;
    B neither lists nor revokes A's links; an agent token cannot create one (a link outlives it)."""
    s = held
    link = _create(s, s.a.key).json()
    key = _path(link["url"]).rsplit("/", 1)[1].removesuffix(".json")
    for route in (f"/v1/tenants/{s.a.name}/connectors", GPT_DOC.format(s.a.name), f"/v1/tenants/{s.a.name}/secrets"):
        s.assert_error(s.client.get(route, headers=s.auth(key)), 403)
    s.assert_error(s.client.get("/v1/actions/echo/anything", headers=s.auth(key)), 403)
    s.assert_error(s.client.delete(f"{LINKS.format(s.a.name)}/{s.a.key_id}", headers=s.auth(s.a.key)), 404)
    assert s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key)).status_code == 200  # A's key lives
    s.assert_error(s.client.get(LINKS.format(s.a.name), headers=s.auth(s.b.key)), 403)
    s.assert_error(s.client.delete(f"{LINKS.format(s.a.name)}/{link['id']}", headers=s.auth(s.b.key)), 403)
    s.assert_error(s.client.delete(f"{LINKS.format(s.b.name)}/{link['id']}", headers=s.auth(s.b.key)), 404)
    message = s.assert_error(_create(s, s.a.token), 403)["message"]
    assert "keys:manage" in message
    reader, _ = s.new_key(s.a.name, ["connectors:read"])  # a key without gpt:document is no link
    s.assert_error(s.client.get(f"/v1/gpt/documents/{reader}.json"), 403)


def test_links_are_made_listed_and_revoked_only_as_keys_are(held: Any) -> None:
    """A link outlives whoever made it, so it takes keys:manage, which no agent token holds: a reader's key
    or the tenant's agent token neither makes, lists nor revokes one."""
    s = held
    link = _create(s, s.a.key).json()
    reader, _ = s.new_key(s.a.name, ["connectors:read"])
    for credential in (reader, s.a.token):
        s.assert_error(_create(s, credential), 403)
        s.assert_error(s.client.get(LINKS.format(s.a.name), headers=s.auth(credential)), 403)
        s.assert_error(s.client.delete(f"{LINKS.format(s.a.name)}/{link['id']}", headers=s.auth(credential)), 403)
    assert s.client.get(_path(link["url"])).status_code == 200  # still served: nothing was revoked


def test_only_a_links_own_key_opens_a_link_url(held: Any) -> None:
    """gpt:document is made only by the link route (POST /api-keys refuses it, naming the route), and a key
    holding it beside anything else never opens a link's URL: a strong key must never end up in a URL."""
    s = held
    refused = s.client.post(
        f"/v1/tenants/{s.a.name}/api-keys",
        json={"name": "doc", "scopes": ["gpt:document"]},
        headers=s.auth(s.admin),
    )
    assert "gpt/document-links" in s.assert_error(refused, 400)["message"]
    api_keys = s.app.state.strongroom.api_keys
    strong, _ = api_keys.create(tenant=s.a.name, name="strong", scopes=["gpt:document", "tokens:issue"], actor="t")
    s.assert_error(s.client.get(f"/v1/gpt/documents/{strong.reveal()}.json"), 403)


def test_the_link_key_is_in_no_audit_event_and_no_access_log_line(held: Any, caplog: Any) -> None:
    s = held
    link = _create(s, s.a.key).json()
    key = _path(link["url"]).rsplit("/", 1)[1].removesuffix(".json")
    assert s.client.get(_path(link["url"])).status_code == 200
    s.client.delete(f"{LINKS.format(s.a.name)}/{link['id']}", headers=s.auth(s.a.key))
    assert s.client.get(_path(link["url"])).status_code == 404
    events = s.client.get("/v1/audit", params={"limit": 1000}, headers=s.auth(s.admin))
    assert events.status_code == 200
    actions = {e["action"] for e in events.json()}
    assert {"api_key.create", "api_key.revoke"} <= actions
    assert key not in json.dumps(events.json())
    assert key[len("srk_") + 8 :] not in json.dumps(events.json())
    # The access log line uvicorn writes for the fetch, through the filter `strongroom serve` installs.
    logger = logging.getLogger(access_log.ACCESS_LOGGER)
    added = access_log.install()
    try:
        with caplog.at_level(logging.INFO, logger=access_log.ACCESS_LOGGER):
            logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", _path(link["url"]), "1.1", 200)
    finally:
        logger.removeFilter(added)
    assert "/v1/gpt/documents/{token}" in caplog.text
    assert key not in caplog.text


def test_a_loopback_public_url_is_replaced_and_flagged(held: Any) -> None:
    """A service left on its default public URL (loopback: no GPT reaches it) documents the URL the request
    came to instead, and says to set --public-url; a real public URL is used as is, with no warning."""
    s = held
    document = s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key)).json()
    assert document["servers"] == [{"url": "http://testserver"}]
    assert "x-strongroom-warning" not in document["info"]
    state = s.app.state.strongroom
    state.public_url = "http://127.0.0.1:8200"
    try:
        document = s.client.get(GPT_DOC.format(s.a.name), headers=s.auth(s.a.key)).json()
        link = _create(s, s.a.key).json()
    finally:
        state.public_url = "http://testserver"
    validate(document)
    assert document["servers"][0]["url"] == "http://testserver"
    assert "--public-url" in document["info"]["x-strongroom-warning"]
    assert "--public-url" in document["servers"][0]["description"]
    assert link["url"].startswith("http://testserver/")
    assert "--public-url" in link["warning"]


def test_a_link_serves_its_own_tenants_document_only(held: Any, make_canary: Any) -> None:
    """B's enabled connector and B's value are in B's document, never in the one A's link serves."""
    s = held
    value = make_canary("b")
    put = s.client.put(f"/v1/tenants/{s.b.name}/secrets/echo_api_key", json={"value": value}, headers=s.auth(s.b.key))
    assert put.status_code == 200, put.text
    b_own = {
        "base_url": "https://b-only.example",
        "description": "B's own API.",
        "credential": {"kind": "bearer", "secret": "b_key"},
        "operations": [{"id": "b_only_read", "method": "GET", "path": "/b-only", "summary": "B only"}],
    }
    assert (
        s.client.put(f"/v1/tenants/{s.b.name}/connectors/b-only", json=b_own, headers=s.auth(s.b.key)).status_code
        == 200
    )
    body = {"value": make_canary("b2"), "destinations": [{"connector": "b-only"}]}
    assert s.client.put(f"/v1/tenants/{s.b.name}/secrets/b_key", json=body, headers=s.auth(s.b.key)).status_code == 200
    b_document = s.client.get(GPT_DOC.format(s.b.name), headers=s.auth(s.b.key)).json()
    assert "/v1/actions/b-only/b-only" in b_document["paths"]
    fetched = s.client.get(_path(_create(s, s.a.key).json()["url"]))
    assert fetched.status_code == 200
    assert "b-only" not in fetched.text
    assert s.b.name not in fetched.text
    assert_not_leaked([value, s.value], fetched.text)
