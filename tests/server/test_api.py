"""The HTTP API's contract: tenants, API keys, write-only secrets, preconditions, bad input, authentication.

Every refusal checked here is also checked for its shape: ``{"error": {"code", "message"}}``, nothing else,
no stack trace (``Service.assert_error``).
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import pytest

from strongroom.rules.api_key_format import checksum, random_base62
from strongroom.testing import assert_not_leaked

ONE_MIB = 1 << 20


def _texts(answer: Any) -> list[str]:
    """What an HTTP answer shows: its body (raw and decoded) and every header."""
    return [answer.content.decode("utf-8", "replace"), answer.text, repr(answer.headers.multi_items())]


# -- tenants ------------------------------------------------------------------------------------------------


def test_tenants_are_created_listed_and_deleted_by_the_admin_only(service: Any) -> None:
    """Only the admin key creates, lists and deletes tenants; a tenant key or token gets 403."""
    s = service
    created = s.client.post("/v1/tenants", json={"name": "tenant-c"}, headers=s.auth(s.admin))
    assert created.status_code == 201
    assert created.json()["name"] == "tenant-c"
    assert set(created.json()) == {"name", "id", "environment", "created_at"}
    listed = s.client.get("/v1/tenants", headers=s.auth(s.admin))
    assert listed.status_code == 200
    assert {"tenant-a", "tenant-b", "tenant-c"} <= {t["name"] for t in listed.json()}
    for credential in (s.a.key, s.a.token):
        s.assert_error(
            s.client.post("/v1/tenants", json={"name": "tenant-d"}, headers=s.auth(credential)), 403, code="forbidden"
        )
        s.assert_error(s.client.get("/v1/tenants", headers=s.auth(credential)), 403, code="forbidden")
        s.assert_error(s.client.delete("/v1/tenants/tenant-c", headers=s.auth(credential)), 403, code="forbidden")
    assert s.client.delete("/v1/tenants/tenant-c", headers=s.auth(s.admin)).status_code == 204
    assert "tenant-c" not in {t["name"] for t in s.client.get("/v1/tenants", headers=s.auth(s.admin)).json()}
    s.assert_error(s.client.delete("/v1/tenants/tenant-c", headers=s.auth(s.admin)), 404, code="not_found")


def test_creating_an_existing_tenant_is_a_409(service: Any) -> None:
    """A second tenant of the same name is a conflict, not a 500."""
    s = service
    s.assert_error(s.client.post("/v1/tenants", json={"name": s.a.name}, headers=s.auth(s.admin)), 409, code="conflict")


def test_unknown_tenant_is_404_on_every_tenant_route(service: Any) -> None:
    """The admin naming a tenant that does not exist gets 404 from each tenant route, never 500."""
    s = service
    admin = s.auth(s.admin)
    for method, url, body in [
        ("GET", "/v1/tenants/nobody/secrets", None),
        ("GET", "/v1/tenants/nobody/secrets/x", None),
        ("PUT", "/v1/tenants/nobody/secrets/x", {"value": "a-value-for-nobody"}),
        ("DELETE", "/v1/tenants/nobody/secrets/x", None),
        ("GET", "/v1/tenants/nobody/api-keys", None),
        ("POST", "/v1/tenants/nobody/api-keys", {"name": "k", "scopes": ["secrets:write"]}),
        ("GET", "/v1/tenants/nobody/connectors", None),
        ("GET", "/v1/tenants/nobody/gpt/openapi.json", None),
        ("DELETE", "/v1/tenants/nobody", None),
    ]:
        s.assert_error(s.client.request(method, url, json=body, headers=admin), 404, code="not_found")


# -- API keys -----------------------------------------------------------------------------------------------


def test_api_key_is_shown_once_and_listings_show_metadata_only(service: Any) -> None:
    """Creating a key returns it once; the listing has its id, prefix and scopes but never the key."""
    s = service
    made = s.client.post(
        f"/v1/tenants/{s.a.name}/api-keys", json={"name": "reader", "scopes": ["audit:read"]}, headers=s.auth(s.admin)
    )
    assert made.status_code == 201
    created = made.json()
    key = created["key"]
    assert key.startswith(created["prefix"] + "_")
    assert created["prefix"] == "srk_" + created["id"]
    assert created["scopes"] == ["audit:read"]
    assert created["tenant"] == s.a.name
    for credential in (s.admin, s.a.key):  # keys:manage (a token never carries it)
        listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(credential))
        assert listed.status_code == 200
        rows = {row["id"]: row for row in listed.json()}
        assert created["id"] in rows
        assert "key" not in rows[created["id"]]
        assert rows[created["id"]]["scopes"] == ["audit:read"]
        assert_not_leaked([key, s.a.key], *_texts(listed))
    used = s.client.get("/v1/audit", headers=s.auth(key))
    assert used.status_code == 200


def test_revoked_api_key_is_refused_at_once(service: Any) -> None:
    """Revoking a key takes effect on the very next request: 401, audited as a failed authentication."""
    s = service
    made = s.client.post(
        f"/v1/tenants/{s.a.name}/api-keys", json={"name": "short", "scopes": ["audit:read"]}, headers=s.auth(s.admin)
    ).json()
    assert s.client.get("/v1/audit", headers=s.auth(made["key"])).status_code == 200
    revoked = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{made['id']}", headers=s.auth(s.a.key))
    assert revoked.status_code == 204
    error = s.assert_error(s.client.get("/v1/audit", headers=s.auth(made["key"])), 401, code="unauthenticated")
    assert "revoked" in error["message"]
    listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(s.admin)).json()
    assert next(r for r in listed if r["id"] == made["id"])["revoked_at"] is not None


def test_api_key_scopes_are_checked(service: Any) -> None:
    """Unknown scopes and ``admin`` on a tenant key are refused with 400 naming the problem."""
    s = service
    for scopes in (["no-such-scope"], ["admin"]):
        answer = s.client.post(
            f"/v1/tenants/{s.a.name}/api-keys", json={"name": "k", "scopes": scopes}, headers=s.auth(s.admin)
        )
        s.assert_error(answer, 400, code="invalid_input")


# -- secrets: write-only ------------------------------------------------------------------------------------


def _fill(route: str, values: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], route)


def test_secret_value_never_appears_in_any_get_route(service: Any, canary_credential: str) -> None:
    """A canary written as a secret is in no answer of any GET route, for the admin, A's key or A's token."""
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key",
        json={"value": canary_credential, "description": "the echo credential"},
        headers=s.auth(s.a.key),
    )
    assert put.status_code == 200
    assert_not_leaked([canary_credential], *_texts(put))
    values = {
        "tenant": s.a.name,
        "name": "echo_api_key",
        "key_id": s.a.key_id,
        "connector": "echo",
        "path": "anything",
        "token": "srs_unknown",
        "document": "srk_unknown.json",
    }
    document = s.app.openapi()
    gets = [route for route, operations in document["paths"].items() if "get" in operations]
    assert "/v1/tenants/{tenant}/secrets/{name}" in gets
    answers = []
    for credential in (s.admin, s.a.key, s.a.token):
        for route in gets:
            for query in ({}, {"include_deleted": "true", "tenant": s.a.name, "secret": "echo_api_key"}):
                answer = s.client.get(_fill(route, values), params=query, headers=s.auth(credential))
                assert answer.status_code < 500, (route, answer.text)
                answers.append(answer)
        for extra in ("/openapi.json", "/docs", "/v1/actions/echo/anything/items/42?q=1"):
            answers.append(s.client.get(extra, headers=s.auth(credential)))
    assert any(a.request.url.path == "/v1/actions/echo/anything" and a.status_code == 200 for a in answers)
    assert canary_credential in s.upstream.seen_text()  # the broker did send it upstream...
    for answer in answers:
        assert_not_leaked([canary_credential], *_texts(answer))  # ...and no answer shows it


def test_put_secret_returns_metadata_and_an_etag(service: Any, make_canary: Any) -> None:
    """PUT answers the new version's metadata (no value) with ``ETag: "<version>"``; GET has the same ETag."""
    s = service
    value = make_canary("etag")
    first = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/db_password",
        json={"value": value, "sensitivity": "high"},
        headers=s.auth(s.a.key),
    )
    assert first.status_code == 200
    assert first.headers["etag"] == '"1"'
    assert first.json()["version"] == 1
    assert "value" not in first.json()
    second = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/db_password", json={"value": value + "2"}, headers=s.auth(s.a.key)
    )
    assert second.headers["etag"] == '"2"'
    detail = s.client.get(f"/v1/tenants/{s.a.name}/secrets/db_password", headers=s.auth(s.a.key))
    assert detail.status_code == 200
    assert detail.headers["etag"] == '"2"'
    assert [v["version"] for v in detail.json()["versions"]] == [1, 2] or sorted(
        v["version"] for v in detail.json()["versions"]
    ) == [1, 2]
    assert_not_leaked([value], *_texts(first), *_texts(second), *_texts(detail))


def test_if_match_with_a_stale_version_is_412_naming_the_current_version(service: Any, make_canary: Any) -> None:
    """If-Match on an old version refuses the write with 412 whose message names the current version."""
    s = service
    url = f"/v1/tenants/{s.a.name}/secrets/api_token"
    for _ in range(3):
        s.client.put(url, json={"value": make_canary("v")}, headers=s.auth(s.a.key))
    stale = s.client.put(url, json={"value": make_canary("late")}, headers={**s.auth(s.a.key), "If-Match": '"2"'})
    error = s.assert_error(stale, 412, code="precondition_failed")
    assert "version 3" in error["message"]
    assert s.client.get(url, headers=s.auth(s.a.key)).json()["version"] == 3
    for tag in ('"3"', "4"):  # quoted or bare
        current = s.client.put(url, json={"value": make_canary("ok")}, headers={**s.auth(s.a.key), "If-Match": tag})
        assert current.status_code == 200, current.text
    assert current.headers["etag"] == '"5"'
    missing = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/never_written",
        json={"value": make_canary("m")},
        headers={**s.auth(s.a.key), "If-Match": '"1"'},
    )
    assert "version 0" in s.assert_error(missing, 412, code="precondition_failed")["message"]


def test_if_none_match_star_creates_only(service: Any, make_canary: Any) -> None:
    """If-None-Match: * writes a secret that does not exist yet and refuses (412) one that does."""
    s = service
    url = f"/v1/tenants/{s.a.name}/secrets/once"
    headers = {**s.auth(s.a.key), "If-None-Match": "*"}
    assert s.client.put(url, json={"value": make_canary("first")}, headers=headers).status_code == 200
    again = s.client.put(url, json={"value": make_canary("second")}, headers=headers)
    assert "version 1" in s.assert_error(again, 412, code="precondition_failed")["message"]
    assert s.client.get(url, headers=s.auth(s.a.key)).json()["version"] == 1


@pytest.mark.parametrize(
    ("header", "value"), [("If-Match", "abc"), ("If-Match", "-1"), ("If-Match", "1" * 12), ("If-None-Match", '"1"')]
)
def test_malformed_preconditions_are_400(service: Any, make_canary: Any, header: str, value: str) -> None:
    """A precondition that is not a version number (If-Match) or '*' (If-None-Match) is 400, nothing written."""
    s = service
    url = f"/v1/tenants/{s.a.name}/secrets/guarded"
    answer = s.client.put(url, json={"value": make_canary("g")}, headers={**s.auth(s.a.key), header: value})
    s.assert_error(answer, 400, code="invalid_input")
    s.assert_error(s.client.get(url, headers=s.auth(s.a.key)), 404)


# -- bad input ----------------------------------------------------------------------------------------------


def _bad_bodies(s: Any) -> list[tuple[str, str, bytes | None, Any]]:
    """(method, url, raw body, json body) pairs that no route accepts."""
    secret_url = f"/v1/tenants/{s.a.name}/secrets/x"
    keys_url = f"/v1/tenants/{s.a.name}/api-keys"
    return [
        ("PUT", secret_url, b'{"value": "unterminated', None),
        ("PUT", secret_url, b"not json at all", None),
        ("PUT", secret_url, b"[1, 2, 3]", None),
        ("PUT", secret_url, None, {"value": 12345}),
        ("PUT", secret_url, None, {"value": "ok-value", "sensitivity": "extreme"}),
        ("PUT", secret_url, None, {"value": "ok-value", "ttl_seconds": "soon"}),
        ("PUT", secret_url, None, {"value": "ok-value", "unexpected": True}),
        ("PUT", secret_url, None, {}),
        ("POST", "/v1/tenants", None, {"name": "bad name with spaces"}),
        ("POST", "/v1/tenants", None, {"name": "t", "plan": "gold"}),
        ("POST", keys_url, None, {"name": "k", "scopes": "secrets:write"}),
        ("POST", keys_url, None, {"name": "k", "scopes": []}),
        ("POST", keys_url, None, {"name": "k", "scopes": ["secrets:write"], "admin": True}),
        ("POST", "/v1/tokens", None, {"scopes": ["actions:invoke"], "ttl_seconds": 99999}),
        ("POST", "/v1/tokens", None, {"scopes": ["actions:invoke"], "tenant": "tenant-b"}),
        ("POST", "/v1/tokens/revoke", None, {"token": "short"}),
        ("POST", "/v1/tokens/revoke", None, {"token": "x" * 20, "tenant_id": "x"}),
        ("POST", "/v1/tokens/revoke", None, {"jti": "not a jti!"}),
        ("POST", f"/v1/tenants/{s.a.name}/shares", None, {"value": "v", "reader": "x"}),
    ]


def test_malformed_json_wrong_types_and_unknown_fields_are_422(service: Any) -> None:
    """Malformed JSON, wrong types and unknown fields (extra=forbid) are 422 with the error shape, nothing stored."""
    s = service
    before = s.vault.list(s.a.name)
    for method, url, raw, body in _bad_bodies(s):
        headers = {**s.auth(s.admin), "Content-Type": "application/json"}
        answer = (
            s.client.request(method, url, content=raw, headers=headers)
            if raw is not None
            else s.client.request(method, url, json=body, headers=headers)
        )
        s.assert_error(answer, 422, code="invalid_request")
    assert s.vault.list(s.a.name) == before


def test_validation_errors_never_echo_the_value_being_written(service: Any, make_canary: Any) -> None:
    """A refused write names the field and the problem, never the value it carried."""
    s = service
    value = make_canary("refused")
    for body in (
        {"value": value, "unexpected": value},
        {"value": value, "sensitivity": value},
        {"value": [value]},
        {"value": value * 2000},
    ):
        answer = s.client.put(f"/v1/tenants/{s.a.name}/secrets/x", json=body, headers=s.auth(s.a.key))
        s.assert_error(answer, 422)
        assert_not_leaked([value], *_texts(answer))
    broken = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/x",
        content=f'{{"value": "{value}", ',
        headers={**s.auth(s.a.key), "Content-Type": "application/json"},
    )
    s.assert_error(broken, 422)
    assert_not_leaked([value], *_texts(broken))


def test_body_over_one_mib_is_413(service: Any) -> None:
    """A declared body over 1 MiB is refused with 413 before it is read, with the error shape."""
    s = service
    body = b'{"value": "' + b"v" * ONE_MIB + b'"}'
    for method, url in (
        ("PUT", f"/v1/tenants/{s.a.name}/secrets/big"),
        ("POST", "/v1/actions/echo/anything"),
        ("POST", "/v1/tenants"),
    ):
        answer = s.client.request(
            method, url, content=body, headers={**s.auth(s.a.key), "Content-Type": "application/json"}
        )
        s.assert_error(answer, 413, code="body_too_large")
    assert s.upstream.seen == []
    just_under = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/big",
        content=b"x" * (ONE_MIB - 1),
        headers={**s.auth(s.a.key), "Content-Type": "application/json"},
    )
    s.assert_error(just_under, 422)  # read and refused as JSON, not as size


def test_chunked_body_over_one_mib_is_413(service: Any) -> None:
    """A body over 1 MiB sent without Content-Length (chunked) is refused with 413 too."""
    s = service

    def chunks() -> Any:
        yield b'{"value": "'
        for _ in range(40):
            yield b"v" * 65536
        yield b'"}'

    answer = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/big",
        content=chunks(),
        headers={**s.auth(s.a.key), "Content-Type": "application/json"},
    )
    assert "content-length" not in {k.lower() for k in answer.request.headers}
    s.assert_error(answer, 413, code="body_too_large")


def test_unknown_routes_and_methods_answer_json_errors(service: Any) -> None:
    """An unknown path is a 404 and a wrong method a 405, both in the error shape."""
    s = service
    s.assert_error(s.client.get("/v1/nothing-here", headers=s.auth(s.admin)), 404, code="not_found")
    s.assert_error(s.client.patch("/v1/tenants", headers=s.auth(s.admin)), 405, code="method_not_allowed")


# -- the broker's input checks --------------------------------------------------------------------------------


def test_cr_lf_in_values_passed_to_the_broker_is_400(service: Any, canary_credential: str) -> None:
    """CR/LF (or another control character) in a query value or the content type is 400; the upstream sees nothing."""
    s = service
    s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    token = s.auth(s.a.token)
    for query in ({"q": "a\r\nX-Injected: 1"}, {"q": "line\nbreak"}, {"q\r\nX-Injected": "1"}, {"q": "nul\x00"}):
        s.assert_error(
            s.client.get("/v1/actions/echo/anything", params=query, headers=token), 400, code="invalid_input"
        )
    for content_type in ("application/json\r\nX-Injected: 1", "text/plain\nX-Injected: 1", "text/plain\x00"):
        answer = s.client.post(
            "/v1/actions/echo/anything", content=b"{}", headers={**token, "Content-Type": content_type}
        )
        s.assert_error(answer, 400, code="invalid_input")
    assert s.upstream.seen == []


@pytest.mark.parametrize(
    "path",
    [
        "/v1/actions/echo/%2e%2e/anything",
        "/v1/actions/echo/anything/%2e%2e",
        "/v1/actions/echo/anything/items/%2e%2e",
        "/v1/actions/echo/anything/items/..%2f..%2fadmin",
        "/v1/actions/echo/anything/items/%2fetc%2fpasswd",
        "/v1/actions/echo/anything/items/%252e%252e",
        "/v1/actions/echo/anything/items/a%5c..%5cb",
        "/v1/actions/echo/anything/items/a\\..\\b",
        "/v1/actions/echo/anything/items/%00",
        "/v1/actions/echo//anything",
        "/v1/actions/echo/anything/items/1/extra",
        "/v1/actions/echo/elsewhere",
        "/v1/actions/echo/",
        "/v1/actions/%2e%2e/anything",
    ],
)
def test_path_traversal_in_action_paths_is_refused(service: Any, canary_credential: str, path: str) -> None:
    """Traversal, encoded slashes, control characters and undeclared paths are 400 or 404, never forwarded."""
    s = service
    s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    answer = s.client.get(path, headers=s.auth(s.a.token))
    s.assert_error(answer, 400, 404)
    assert s.upstream.seen == []
    assert_not_leaked([canary_credential], *_texts(answer))


# -- authentication -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer srk_short",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
    ],
)
def test_missing_or_malformed_credentials_are_401(service: Any, header: str | None) -> None:
    """No credential, another scheme or a malformed one: 401 with WWW-Authenticate, in the error shape."""
    s = service
    headers = {} if header is None else {"Authorization": header}
    answer = s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=headers)
    s.assert_error(answer, 401, code="unauthenticated")
    assert answer.headers["www-authenticate"] == "Bearer"


def test_expired_token_is_401(service_with_clock: Any, clock: Any) -> None:
    """A token past its expiry is refused with 401; the same token worked before."""
    s = service_with_clock
    issued = s.client.post(
        "/v1/tokens", json={"scopes": ["connectors:read"], "ttl_seconds": 60}, headers=s.auth(s.a.key)
    )
    assert issued.status_code == 201
    token = issued.json()["access_token"]
    assert s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(token)).status_code == 200
    clock.advance(61)
    error = s.assert_error(
        s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(token)), 401, code="unauthenticated"
    )
    assert "expired" in error["message"]
    assert_not_leaked([token], error["message"])


def test_revoked_token_is_401_at_once(service: Any) -> None:
    """A token revoked by its tenant's key is refused on the next request."""
    s = service
    issued = s.client.post("/v1/tokens", json={"scopes": ["connectors:read"]}, headers=s.auth(s.a.key)).json()
    assert s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(issued["access_token"])).status_code == 200
    revoked = s.client.post("/v1/tokens/revoke", json={"token": issued["access_token"]}, headers=s.auth(s.a.key))
    assert revoked.status_code == 204
    error = s.assert_error(
        s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(issued["access_token"])),
        401,
        code="unauthenticated",
    )
    assert "revoked" in error["message"]


def test_token_for_another_audience_is_401(service: Any) -> None:
    """A token issued for another audience does not open this service."""
    s = service
    issued = s.client.post(
        "/v1/tokens", json={"scopes": ["connectors:read"], "audience": "https://other.example"}, headers=s.auth(s.a.key)
    )
    assert issued.status_code == 201
    answer = s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(issued.json()["access_token"]))
    assert "audience" in s.assert_error(answer, 401, code="unauthenticated")["message"]


def test_tampered_token_is_401(service: Any) -> None:
    """A token with a changed payload (here: another tenant) fails its signature check."""
    s = service
    header, payload, signature = s.a.token.split(".")
    import base64
    import json

    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["tenant"] = s.b.name
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    answer = s.client.get(f"/v1/tenants/{s.b.name}/connectors", headers=s.auth(f"{header}.{forged}.{signature}"))
    s.assert_error(answer, 401, code="unauthenticated")


def test_a_token_cannot_mint_tokens_and_scopes_cannot_grow(service: Any) -> None:
    """Tokens are issued to tenant API keys only (a token or the admin key: 400), never with scopes the key lacks."""
    s = service
    s.assert_error(s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.a.token)), 400)
    s.assert_error(s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.admin)), 400)
    narrow = s.client.post(
        f"/v1/tenants/{s.a.name}/api-keys", json={"name": "n", "scopes": ["tokens:issue"]}, headers=s.auth(s.admin)
    ).json()["key"]
    s.assert_error(s.client.post("/v1/tokens", json={"scopes": ["secrets:write"]}, headers=s.auth(narrow)), 400)


def test_tenant_b_key_on_tenant_a_is_403(service: Any) -> None:
    """Tenant B's key naming tenant A is refused (403), in the error shape."""
    s = service
    for credential in (s.b.key, s.b.token):
        answer = s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(credential))
        s.assert_error(answer, 403, code="forbidden")


def _forged_key(key_id: str) -> str:
    """A well-formed key (right shape and checksum) for ``key_id`` that is not the real one."""
    body = f"srk_{key_id}_{random_base62(32)}"
    return body + checksum(body)


def test_failed_authentications_are_rate_limited_with_retry_after(service: Any) -> None:
    """After 20 failures for one key id the next failure is 429 with Retry-After; the real key still works."""
    s = service
    forged = [_forged_key(s.a.key_id) for _ in range(21)]
    for key in forged[:20]:
        s.assert_error(s.client.get("/v1/audit", headers=s.auth(key)), 401, code="unauthenticated")
    limited = s.client.get("/v1/audit", headers=s.auth(forged[20]))
    s.assert_error(limited, 429, code="too_many_failures")
    assert int(limited.headers["retry-after"]) > 0
    # Failures are counted, not credentials refused: whoever forges keys with a known public id cannot lock
    # the real key out.
    assert s.client.get("/v1/audit", headers=s.auth(s.a.key)).status_code == 200


@pytest.mark.slow
def test_failed_authentication_is_audited_without_the_credential(service: Any) -> None:
    """Each failed authentication is an ``auth.fail`` event naming the key's public id, never the credential."""
    s = service
    forged = _forged_key(s.a.key_id)
    mistyped = s.b.key[:-1] + ("A" if s.b.key[-1] != "A" else "B")
    bad_token = s.a.token[:-4] + "AAAA"
    for credential in (forged, mistyped, bad_token):
        s.assert_error(s.client.get("/v1/audit", headers={**s.auth(credential), "X-Request-Id": "req-auth-1"}), 401)
    s.vault.flush_audit()
    events = s.vault.audit_events(action="auth.fail")
    assert len(events) == 3
    assert {e.actor for e in events} == {f"key:{s.a.key_id}", f"key:{s.b.key_id}", "key:token"}
    assert {e.outcome for e in events} == {"denied"}
    assert {e.request_id for e in events} == {"req-auth-1"}
    assert_not_leaked([forged, mistyped, bad_token, forged[12:], mistyped[12:]], *[repr(e) for e in events])


def test_a_hostile_request_id_on_a_failed_authentication_harms_nothing(service_on_store: Any, make_canary: Any) -> None:
    """A hostile X-Request-Id (control characters, 300 long) on a failed login is audited cleanly; writes go on."""
    s = service_on_store
    hostile = "req\x00\x01" + "x" * 300
    refused = s.client.get(
        "/v1/audit", headers={"Authorization": "Bearer " + _forged_key(s.a.key_id), "X-Request-Id": hostile}
    )
    s.assert_error(refused, 401)
    later = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/after", json={"value": make_canary("after")}, headers=s.auth(s.a.key)
    )
    assert later.status_code == 200, later.text
    [event] = s.vault.audit_events(action="auth.fail")
    assert event.request_id is None or (len(event.request_id) <= 128 and event.request_id.isprintable())


# -- shares (one-time links) -----------------------------------------------------------------------------------


def test_share_link_is_redeemed_once_and_the_link_is_not_a_listing(service: Any, make_canary: Any) -> None:
    """A share link returns its value once (then 404); the link and value appear in no listing."""
    s = service
    value = make_canary("shared")
    made = s.client.post(f"/v1/tenants/{s.a.name}/shares", json={"value": value}, headers=s.auth(s.a.key))
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"].endswith("/v1/shares/" + link["token"])
    listed = s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.a.key))
    assert_not_leaked([value, link["token"]], *_texts(listed))
    first = s.client.get(f"/v1/shares/{link['token']}")
    assert first.status_code == 200
    assert first.text == value
    assert first.headers["cache-control"] == "no-store"
    s.assert_error(s.client.get(f"/v1/shares/{link['token']}"), 404, code="not_found")
    audit = s.client.get("/v1/audit", headers=s.auth(s.admin))
    assert_not_leaked([value, link["token"]], *_texts(audit))
    s.assert_error(s.client.get("/v1/shares/srs_" + secrets.token_urlsafe(32)), 404)


def test_every_documented_refusal_has_the_error_shape(service: Any) -> None:
    """The OpenAPI document describes the service's refusals as they are: ``{"error": {code, message}}``, 422
    included (FastAPI would document its own validation shape, which this service never sends)."""
    document = service.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in json.dumps(document)
    seen = set()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get("application/json")
                if status.startswith(("4", "5")) and content is not None:
                    assert content["schema"]["required"] == ["error"], (path, method, status)
                    seen.add(status)
    assert {"400", "401", "403", "404", "413", "422", "429", "503"} <= seen
