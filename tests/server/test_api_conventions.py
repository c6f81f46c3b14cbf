"""Conventions of the HTTP API: ISO 8601 UTC times, a missing Content-Type named as the fix, unknown scopes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import pytest

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_every_time_in_an_answer_is_iso_8601_utc(service: Any, make_canary: Any) -> None:
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key",
        json={"value": make_canary("t"), "ttl_seconds": 60, "kind": "ephemeral"},
        headers=s.auth(s.a.key),
    )
    assert put.status_code == 200, put.text
    answers = {
        "tenants": s.client.get("/v1/tenants", headers=s.auth(s.admin)).json()[0],
        "secret": s.client.get(f"/v1/tenants/{s.a.name}/secrets/echo_api_key", headers=s.auth(s.a.key)).json(),
        "keys": s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(s.admin)).json()[0],
        "token": s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.a.key)).json(),
        "audit": s.client.get("/v1/audit", headers=s.auth(s.admin)).json()[0],
    }
    times = {
        "tenants": ["created_at"],
        "secret": ["created_at", "updated_at", "expires_at"],
        "keys": ["created_at"],
        "token": ["expires_at"],
        "audit": ["at"],
    }
    for what, fields in times.items():
        for field in fields:
            assert ISO.fullmatch(answers[what][field]), (what, field, answers[what][field])
    version = answers["secret"]["versions"][0]
    assert ISO.fullmatch(version["created_at"])
    assert ISO.fullmatch(version["expires_at"])
    assert answers["keys"]["revoked_at"] is None
    created = datetime.fromisoformat(answers["secret"]["created_at"])
    assert created.utcoffset() is not None
    assert created.utcoffset().total_seconds() == 0


def test_the_openapi_document_says_date_time(service: Any) -> None:
    schemas = service.client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["TenantOut"]["properties"]["created_at"] == {
        "type": "string",
        "format": "date-time",
        "examples": ["2026-12-03T16:46:47.123456Z"],
        "title": "Created At",
    }
    assert {"type": "string", "format": "date-time", "examples": ["2026-12-03T16:46:47.123456Z"]}.items() <= (
        schemas["AuditOut"]["properties"]["at"].items()
    )


def test_audit_bounds_take_iso_or_seconds(service: Any) -> None:
    s = service
    newest = s.client.get("/v1/audit", params={"limit": 1}, headers=s.auth(s.admin)).json()[0]
    at = newest["at"]
    since_iso = s.client.get("/v1/audit", params={"since": at}, headers=s.auth(s.admin)).json()
    assert newest["id"] in {e["id"] for e in since_iso}
    seconds = datetime.fromisoformat(at).timestamp()
    later = s.client.get("/v1/audit", params={"since": str(seconds + 3600)}, headers=s.auth(s.admin)).json()
    assert later == []
    error = s.assert_error(s.client.get("/v1/audit", params={"since": "yesterday"}, headers=s.auth(s.admin)), 400)
    assert "ISO 8601" in error["message"]


@pytest.mark.slow
def test_a_body_without_content_type_names_the_header_to_send(service: Any) -> None:
    s = service
    for route, body in (("/v1/tokens", b'{"scopes": ["actions:invoke"]}'), ("/v1/tenants", b'{"name": "acme"}')):
        answer = s.client.post(route, content=body, headers=s.auth(s.a.key if route == "/v1/tokens" else s.admin))
        error = s.assert_error(answer, 415, code="unsupported_media_type")
        assert "Content-Type: application/json" in error["message"]
        assert len(error["message"]) <= 80
    with_it = s.client.post(
        "/v1/tokens",
        content=b'{"scopes": ["actions:invoke"]}',
        headers={**s.auth(s.a.key), "Content-Type": "application/json"},
    )
    assert with_it.status_code == 201
    invalid = s.client.post("/v1/tokens", json={"scopes": []}, headers=s.auth(s.a.key))  # JSON, wrong: still 422
    s.assert_error(invalid, 422, code="invalid_request")


def test_an_unknown_scope_is_called_unknown_with_the_valid_ones(service: Any) -> None:
    s = service
    for route, credential in ((f"/v1/tenants/{s.a.name}/api-keys", s.admin), ("/v1/tokens", s.a.key)):
        answer = s.client.post(route, json={"name": "k", "scopes": ["secrets:read"]}, headers=s.auth(credential))
        if route == "/v1/tokens":
            answer = s.client.post(route, json={"scopes": ["secrets:read"]}, headers=s.auth(credential))
        message = s.assert_error(answer, 400, code="invalid_input")["message"]
        assert "unknown scope" in message
        assert "'secrets:read'" in message
        assert "lacks" not in message
        assert "secrets:read-metadata" in message
        assert "actions:invoke" in message
