"""ACCEPTANCE 2: tenant B can do nothing to tenant A, through any route of the API.

The routes come from ``app.openapi()["paths"]``, every method of every path, so a route added later is
covered without touching this file. Each is called with tenant B's full-scope API key and with B's
full-scope agent token, path and query parameters filled with tenant A's values (A's name, A's secret,
A's key id, A's own connector and the operator's ``echo`` connector whose credential only A holds) and a
body that would be valid for A. Every answer must be 403 or 404: never 2xx, never 5xx, and never 401 either,
because B's key and token are valid credentials (401 means "who are you?"; the question here is "may you?").
Afterwards nothing of A's has changed and the upstream was never called.

Exceptions, listed here on purpose:

- ``PUBLIC``: public by design (health, readiness, the JWKS, a GPT document link, and redeeming a one-time
  share link: an unguessable link is its own credential; FastAPI's ``/openapi.json`` and docs pages are not in the
  document but are checked as public too);
- ``SELF_SCOPED``: ``POST /v1/tokens`` names no tenant: it issues a token for the caller's own tenant.
  B's key gets 201 and a token whose ``tenant`` claim is B; B's token gets 400 (the code: tokens are issued
  to API keys only, a valid token is not "unauthenticated", so not 401);
- ``KNOWN_BUGS``: routes that let B act on A today; each has a strict xfail test below, and is skipped in
  the sweep so the sweep still checks every other route.

The sweep runs with every credential kind B can hold: its full-scope key and token, then a key and a
token for each single scope (a token never for a key-only scope), and every 403 among the answers must
be an ``auth.denied`` audit event in B's history naming B's credential and the route. The operator's
key is swept too: it may act on A, but a revoked one is refused (401) on every route, each refusal
audited.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from collections import Counter
from typing import Any

import pytest

from strongroom.server.refusals import RefusalAudit
from strongroom.tokens import ApiKeys
from strongroom.vocabulary import KEY_ONLY_SCOPES, SCOPES, Action, Scope

PUBLIC = {
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/v1/shares/{token}"),
    ("get", "/v1/gpt/documents/{document}"),
}  # a one-time link, a GPT document link: the link itself is the credential
PUBLIC_OUTSIDE_DOCUMENT = ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"]
SELF_SCOPED = {("post", "/v1/tokens"): {"api_key": {201}, "token": {400}}}
KNOWN_BUGS: dict[tuple[str, str], str] = {}  # none left: revocation by another tenant's token is refused
A_SECRET = "a_private_key"  # noqa: S105 -- a secret's name, not a value
A_CONNECTOR = "a-private"


def _a_connector(secret: str = A_SECRET) -> dict[str, Any]:
    return {
        "base_url": "https://a-private.example.invalid",
        "description": "Tenant A's own upstream.",
        "credential": {"kind": "bearer", "secret": secret},
        "operations": [{"id": "anything", "method": "GET", "path": "/anything", "summary": "A's call"}],
    }


@pytest.fixture
def world(service_on_store: Any, make_canary: Any) -> Any:
    """Tenant A with secrets (the echo credential and one of its own), its own connector; B holds nothing."""
    s = service_on_store
    s.echo_value, s.own_value = make_canary("a-echo"), make_canary("a-own")
    for name, value in (("echo_api_key", s.echo_value), (A_SECRET, s.own_value)):
        put = s.client.put(f"/v1/tenants/{s.a.name}/secrets/{name}", json={"value": value}, headers=s.auth(s.a.key))
        assert put.status_code == 200, put.text
    made = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/{A_CONNECTOR}", json=_a_connector(), headers=s.auth(s.a.key)
    )
    assert made.status_code == 200, made.text
    return s


def _snapshot(s: Any) -> dict[str, Any]:
    """Everything of A's, read from the vault itself (not through the API under test)."""
    vault, a = s.vault, s.a.name
    with vault._store.read() as tx:
        record = tx.tenant(vault.environment, a)
        connectors = sorted((c.name, c.definition) for c in tx.connectors(record.id))
    values = {}
    for info in vault.list(a):
        with vault.use(a, info.name, purpose="test:snapshot") as secret:
            values[info.name] = secret.reveal()
    return {
        "tenants": sorted(t.name for t in vault.list_tenants()),
        "secrets": [
            (i.name, i.version, i.deleted_at, i.kind, i.sensitivity, i.description)
            for i in vault.list(a, include_deleted=True)
        ],
        "versions": {i.name: [(v.version, v.current) for v in vault.versions(a, i.name)] for i in vault.list(a)},
        "values": values,
        "keys": [(k.id, k.name, sorted(k.scopes), k.revoked_at, k.expires_at) for k in ApiKeys(vault).list(a)],
        "connectors": connectors,
    }


def _a_still_works(s: Any) -> None:
    for credential in (s.a.key, s.a.token):
        answer = s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(credential))
        assert answer.status_code == 200, answer.text
        assert A_CONNECTOR in {c["name"] for c in answer.json()}


def _param_values(s: Any, route: str, name: str) -> list[str]:
    """Tenant A's values for a path parameter: every parameter name the API uses must be known here."""
    known: dict[str, list[str]] = {
        "tenant": [s.a.name],
        "key_id": [s.a.key_id],
        "link_id": [s.a.key_id],  # not a link: B is refused before any lookup; the operator gets 404
        "connector": [A_CONNECTOR, "echo"],
        "path": ["anything"],
    }
    if name == "name":
        if "/secrets/" in route:
            return [A_SECRET, "echo_api_key"]
        if "/connectors/" in route:
            return [A_CONNECTOR]
    if name not in known:
        pytest.fail(f"route {route}: path parameter {name!r} has no tenant-A value in test_isolation.py: add one")
    return known[name]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _example(document: dict[str, Any], schema: dict[str, Any]) -> Any:  # noqa: PLR0911 -- one return per type
    """A small value valid against ``schema`` (for bodies of routes this file has no explicit body for)."""
    schema = _resolve(document, schema)
    for combined in ("anyOf", "oneOf", "allOf"):
        if combined in schema:
            options = [o for o in schema[combined] if _resolve(document, o).get("type") != "null"]
            return _example(document, options[0])
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _example(document, props[k]) for k in schema.get("required", [])}
    if kind == "array":
        return [_example(document, schema.get("items", {}))] * max(1, schema.get("minItems", 1))
    if kind == "string":
        pattern = schema.get("pattern")
        for candidate in ("x", "tenant-a", "low", "tenant", "abc"):
            if pattern is None or re.search(pattern, candidate):
                return candidate
        pytest.fail(f"no example string for pattern {pattern!r}: add the route's body in test_isolation.py")
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "x"


def _bodies(s: Any, document: dict[str, Any], method: str, route: str, operation: dict[str, Any]) -> list[Any]:
    """Bodies that would be valid if B were A (so a refusal is about who asks, never a 422 about the body)."""
    explicit: dict[tuple[str, str], Any] = {
        ("post", "/v1/tenants"): {"name": s.a.name},
        ("post", "/v1/tenants/{tenant}/api-keys"): {"name": "intruder", "scopes": ["secrets:write"]},
        ("put", "/v1/tenants/{tenant}/secrets/{name}"): {"value": "overwritten-by-tenant-b-" + s.a.jti},
        ("post", "/v1/tokens"): {"scopes": ["actions:invoke"]},
        ("post", "/v1/tokens/revoke"): {"token": s.a.token},
        ("put", "/v1/tenants/{tenant}/connectors/{name}"): _a_connector("echo_api_key"),
    }
    if (method, route) in explicit:
        return [explicit[(method, route)]]
    if route.startswith("/v1/actions/"):
        return [None] if method == "get" else [{"from": "tenant-b"}]
    body = operation.get("requestBody")
    if body is None:
        return [None]
    schema = body.get("content", {}).get("application/json", {}).get("schema", {})
    return [_example(document, schema)]


def _query(s: Any, operation: dict[str, Any]) -> dict[str, str]:
    """Query parameters that point at A (a tenant filter, a secret name); the rest keep their defaults."""
    values = {"tenant": s.a.name, "secret": "echo_api_key"}
    return {
        p["name"]: values[p["name"]]
        for p in operation.get("parameters", [])
        if p.get("in") == "query" and p["name"] in values
    }


def _requests(s: Any) -> list[tuple[str, str, str, dict[str, str], Any]]:
    """(method, route, url, query, body) for every operation of the document, in every filling."""
    document = s.app.openapi()
    found = []
    for route, operations in document["paths"].items():
        for method, operation in operations.items():
            if (method, route) in PUBLIC or (method, route) in KNOWN_BUGS:
                continue
            names = re.findall(r"\{(\w+)(?::\w+)?\}", route)
            choices = [_param_values(s, route, n) for n in names]
            for combination, body in itertools.product(
                itertools.product(*choices), _bodies(s, document, method, route, operation)
            ):
                url = route
                for n, value in zip(names, combination, strict=True):
                    url = re.sub(r"\{" + n + r"(?::\w+)?\}", value, url)
                found.append((method, route, url, _query(s, operation), body))
    return found


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


@pytest.mark.parametrize("kind", ["api_key", "token"])
def test_tenant_b_is_refused_on_every_route_of_tenant_a(world: Any, kind: str) -> None:
    """Every route, every method, with B's key or token on A's values: 403/404 only, and A is unchanged."""
    s = world
    before = _snapshot(s)
    credential = s.b.key if kind == "api_key" else s.b.token
    calls = _requests(s)
    assert len({(m, r) for m, r, *_ in calls}) >= 20, "the sweep lost routes: is the document complete?"
    problems = []
    for method, route, url, query, body in calls:
        answer = s.client.request(method.upper(), url, params=query, json=body, headers=s.auth(credential))
        expected = SELF_SCOPED.get((method, route), {}).get(kind, {403, 404})
        if answer.status_code not in expected:
            problems.append(f"{method.upper()} {url} {query or ''} -> {answer.status_code} {answer.text[:200]}")
            continue
        if answer.status_code >= 400:
            s.assert_error(answer, *expected)
        if (method, route) == ("post", "/v1/tokens") and answer.status_code == 201:
            assert _claims(answer.json()["access_token"])["tenant"] == s.b.name
    assert not problems, "tenant B got through or broke something:\n" + "\n".join(problems)
    assert _snapshot(s) == before
    assert s.upstream.seen == [], "a call of B's reached the upstream"
    _a_still_works(s)


def test_public_routes_are_the_listed_ones_and_answer_without_credentials(service: Any) -> None:
    """The routes exempt from the sweep answer without credentials; every other route of the document says 401."""
    s = service
    document = s.app.openapi()
    for method, route in sorted(PUBLIC):
        assert route in document["paths"]
        assert method in document["paths"][route]
        answer = s.client.request(method.upper(), re.sub(r"\{(\w+)\}", "srs_unknown", route))
        assert answer.status_code == (404 if "{" in route else 200), answer.text  # an unknown link: 404
    for route in PUBLIC_OUTSIDE_DOCUMENT:
        assert route not in document["paths"]
        assert s.client.get(route).status_code in (200, 404)
    for route, operations in document["paths"].items():
        for method in operations:
            if (method, route) in PUBLIC:
                continue
            url = re.sub(r"\{(\w+)(?::\w+)?\}", "x", route)
            answer = s.client.request(method.upper(), url, json={})
            s.assert_error(answer, 401, code="unauthenticated")


def test_tenant_b_cannot_reach_a_key_or_secret_through_its_own_tenant_path(world: Any) -> None:
    """B naming its own tenant but A's key id or secret name finds nothing: 404, and A's key still works."""
    s = world
    revoke = s.client.delete(f"/v1/tenants/{s.b.name}/api-keys/{s.a.key_id}", headers=s.auth(s.b.key))
    s.assert_error(revoke, 404, code="not_found")
    for name in (A_SECRET, "echo_api_key"):
        read = s.client.get(f"/v1/tenants/{s.b.name}/secrets/{name}", headers=s.auth(s.b.key))
        s.assert_error(read, 404, code="not_found")
        gone = s.client.delete(f"/v1/tenants/{s.b.name}/secrets/{name}", headers=s.auth(s.b.key))
        s.assert_error(gone, 404, code="not_found")
    listed = s.client.get(f"/v1/tenants/{s.b.name}/connectors", headers=s.auth(s.b.key))
    assert listed.status_code == 200
    assert A_CONNECTOR not in {c["name"] for c in listed.json()}
    audit = s.client.get("/v1/audit", headers=s.auth(s.b.key))
    assert audit.status_code == 200
    assert {e["tenant"] for e in audit.json()} <= {s.b.name}
    _a_still_works(s)


def test_tenant_b_cannot_revoke_tenant_a_token(world: Any) -> None:
    """B revoking A's token by presenting it is refused (403/404) and A's token keeps working."""
    s = world
    answer = s.client.post("/v1/tokens/revoke", json={"token": s.a.token}, headers=s.auth(s.b.key))
    _a_still_works(s)
    s.assert_error(answer, 403, 404)


def test_a_tenant_key_cannot_revoke_the_operator_key(world: Any) -> None:
    """A's key naming the admin key's id under its own tenant finds nothing (404); the admin key keeps working."""
    s = world
    [admin_key] = [k for k in ApiKeys(s.vault).list(None) if k.name == "test-admin"]
    answer = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{admin_key.id}", headers=s.auth(s.a.key))
    s.assert_error(answer, 404, code="not_found")
    assert s.client.get("/v1/tenants", headers=s.auth(s.admin)).status_code == 200


@pytest.mark.slow
def test_a_deleted_tenant_token_does_not_open_a_new_tenant_of_the_same_name(world: Any, make_canary: Any) -> None:
    """After tenant C is deleted and a new tenant C created, C's old token is refused (401/403) by the new one."""
    s = world
    old = s.new_tenant("tenant-c")
    assert s.client.delete("/v1/tenants/tenant-c", headers=s.auth(s.admin)).status_code == 204
    assert s.client.post("/v1/tenants", json={"name": "tenant-c"}, headers=s.auth(s.admin)).status_code == 201
    s.assert_error(s.client.get("/v1/tenants/tenant-c/secrets", headers=s.auth(old.key)), 401)  # keys die with it
    write = s.client.put(
        "/v1/tenants/tenant-c/secrets/planted", json={"value": make_canary("planted")}, headers=s.auth(old.token)
    )
    s.assert_error(write, 401, 403)


def _single_scope_credentials(s: Any) -> list[tuple[str, str, str]]:
    """(label, credential, its audit actor): a key of B's for each scope, and a token for each a token may carry."""
    found = []
    for scope in sorted(SCOPES):
        if scope == Scope.GPT_DOCUMENT:  # only the document-link route makes a key holding it
            link = s.client.post(f"/v1/tenants/{s.b.name}/gpt/document-links", json={}, headers=s.auth(s.b.key)).json()
            key, key_id = link["url"].rsplit("/", 1)[1].removesuffix(".json"), link["id"]
        else:
            key, key_id = s.new_key(s.b.name, [scope])
        found.append((f"key {scope}", key, f"key:{key_id}"))
        if scope in KEY_ONLY_SCOPES or scope == Scope.GPT_DOCUMENT:  # no key mints a token carrying these
            continue
        minter, _ = s.new_key(s.b.name, sorted({scope, "tokens:issue"}))
        subject = "b-agent-" + scope.replace(":", "-")
        issued = s.client.post("/v1/tokens", json={"scopes": [scope], "subject": subject}, headers=s.auth(minter))
        assert issued.status_code == 201, issued.text
        found.append((f"token {scope}", issued.json()["access_token"], f"token:{subject}"))
    return found


def _audited_routes(s: Any, tenant: str, action: str, who: str) -> Counter[str]:
    """How many refusals of ``who`` the audit log holds, by route (``METHOD /template``)."""
    s.app.state.strongroom.refusals.flush()
    s.vault.flush_audit()
    events = s.vault.audit_events(tenant=tenant, action=action, actor=who)
    return Counter((e.detail or "").split(": ", 1)[0] for e in events)


@pytest.mark.slow
def test_every_single_scope_credential_of_b_is_refused_on_a_and_each_refusal_is_audited(world: Any) -> None:
    """B's key and token for each scope, on every route with A's values: 403/404 only, never a write to A;
    each 403 is one ``auth.denied`` event of that credential for that route, in B's own history."""
    s = world
    s.app.state.strongroom.refusals = RefusalAudit(s.vault, interval_seconds=0)  # one event per refusal
    before = _snapshot(s)
    calls = _requests(s)
    problems = []
    refusals = 0
    for label, credential, who in _single_scope_credentials(s):
        denied: Counter[str] = Counter()
        for method, route, url, query, body in calls:
            answer = s.client.request(method.upper(), url, params=query, json=body, headers=s.auth(credential))
            # POST /v1/tokens issues for the caller's own tenant: 201 with tokens:issue, 400 for scopes it lacks.
            expected = {201, 400, 403} if (method, route) == ("post", "/v1/tokens") else {403, 404}
            if answer.status_code not in expected:
                problems.append(f"{label}: {method.upper()} {url} -> {answer.status_code} {answer.text[:160]}")
            elif answer.status_code == 403:
                denied[f"{method.upper()} {route}"] += 1
        refusals += denied.total()
        audited = _audited_routes(s, s.b.name, Action.AUTH_DENIED, who)
        if audited != denied:
            problems.append(f"{label}: 403s {dict(denied)} but audited {dict(audited)}")
    assert not problems, "\n".join(problems)
    assert refusals > 300, refusals  # 20 credentials, each refused on most of some 40 calls
    assert _snapshot(s) == before
    assert s.upstream.seen == [], "a call of B's reached the upstream"
    _a_still_works(s)


@pytest.mark.slow
def test_the_operator_reaches_every_route_and_a_revoked_operator_key_is_refused_and_audited(world: Any) -> None:
    """The admin key is never 401/403/5xx on A's routes (actions answer 400: they run for a tenant); once
    revoked (another admin key remains), it is 401 on every route, and every refusal is an audit event."""
    s = world
    s.app.state.strongroom.refusals = RefusalAudit(s.vault, interval_seconds=0)
    spare = s.client.post("/v1/admin-keys", json={"name": "spare"}, headers=s.auth(s.admin))
    assert spare.status_code == 201, spare.text
    reads = [c for c in _requests(s) if c[0] == "get"]  # reads only: the operator's writes would change A
    for method, _route, url, query, body in reads:
        answer = s.client.request(method.upper(), url, params=query, json=body, headers=s.auth(s.admin))
        assert answer.status_code not in (401, 403), (url, answer.text[:200])
        assert answer.status_code < 500, (url, answer.text[:200])
    [mine] = [k for k in ApiKeys(s.vault).list(None) if k.name == "test-admin"]
    revoked = s.client.delete(f"/v1/admin-keys/{mine.id}", headers=s.auth(spare.json()["key"]))
    assert revoked.status_code == 204, revoked.text
    before = len(s.vault.audit_events(action=Action.AUTH_FAIL))
    refused = 0
    for method, _route, url, query, body in _requests(s)[:40]:  # under the door's 20 failures a minute per key id
        if refused == 20:
            break
        answer = s.client.request(method.upper(), url, params=query, json=body, headers=s.auth(s.admin))
        s.assert_error(answer, 401, code="unauthenticated")
        refused += 1
    s.app.state.strongroom.refusals.flush()
    s.vault.flush_audit()
    failures = s.vault.audit_events(action=Action.AUTH_FAIL)[before:]
    assert len(failures) == refused, [(e.actor, e.detail) for e in failures]
    assert {e.actor for e in failures} == {f"key:{mine.id}"}
