"""Finding 5: refusals were not audited (403 and 429 left no trace), and a tenant could not see the failed
attempts aimed at its own keys.

Afterwards every 401, 403 and 429 of the service is an audit event naming the actor and the route template
(never a path, which may hold a link token), never the credential; a flood of refusals becomes counter
events (``"<n> refusals since <time>; ..."``) instead of one event each, and nothing counted is lost (the
counts are written when the app shuts down); a failure aimed at a known key id is in that key's tenant's
chain, where the tenant's ``GET /v1/audit`` shows it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from fastapi.testclient import TestClient

from strongroom.bootstrap import build_app
from strongroom.rules.api_key_format import checksum, random_base62
from strongroom.store.records import AuditRecord
from strongroom.testing import assert_not_leaked
from strongroom.vocabulary import NO_TENANT, Action, Outcome

PUBLIC_URL = "http://testserver"
COUNTER = re.compile(r"^(\d+) refusals since ")


def _forged_key(key_id: str) -> str:
    """A well-formed key (right shape and checksum) for ``key_id`` that is not the real one."""
    body = f"srk_{key_id}_{random_base62(32)}"
    return body + checksum(body)


def _refusals(events: Iterable[AuditRecord]) -> int:
    """How many refusals ``events`` stand for: one each, or the count a counter event carries."""
    total = 0
    for event in events:
        counted = COUNTER.match(event.detail or "")
        total += int(counted.group(1)) if counted else 1
    return total


def _events(s: Any, action: str, tenant: str | None = None) -> list[AuditRecord]:
    s.vault.flush_audit()
    return s.vault.audit_events(action=action, tenant=tenant)


def test_every_401_403_and_429_is_an_audit_event(service: Any) -> None:
    """Each kind of refusal leaves an event naming the actor and the route, and none holds a credential."""
    s = service
    forged = [_forged_key(s.a.key_id) for _ in range(21)]
    s.assert_error(s.client.get("/v1/audit"), 401)  # no credential
    for key in forged[:20]:
        s.assert_error(s.client.get("/v1/audit", headers=s.auth(key)), 401)
    s.assert_error(s.client.get("/v1/audit", headers=s.auth(forged[20])), 429)
    s.assert_error(s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.b.key)), 403)
    narrow = s.client.post("/v1/tokens", json={"scopes": ["audit:read"]}, headers=s.auth(s.b.key)).json()
    s.assert_error(s.client.get("/v1/actions/echo/anything", headers=s.auth(narrow["access_token"])), 403)

    failed = _events(s, Action.AUTH_FAIL)
    assert {e.outcome for e in failed} == {Outcome.DENIED}
    assert {e.actor for e in failed} >= {"addr:testclient", f"key:{s.a.key_id}"}
    assert _refusals(failed) >= 1  # the flood of 20 is counted (see the flood test); the first is written now
    limited = _events(s, Action.AUTH_LIMITED)
    assert [(e.outcome, e.actor) for e in limited] == [(Outcome.LIMITED, f"key:{s.a.key_id}")]
    denied = _events(s, Action.AUTH_DENIED)
    assert len(denied) == 2, denied
    by_actor = {e.actor: e for e in denied}
    scope_denied = by_actor[f"key:{s.b.key_id}"]
    assert scope_denied.tenant == s.b.name  # in the caller's own chain
    assert scope_denied.detail is not None
    assert "GET /v1/tenants/{tenant}/secrets" in scope_denied.detail
    assert s.a.name in scope_denied.detail
    action_denied = by_actor[f"token:key:{s.b.key_id}"]  # the token's subject: the key that asked for it
    assert action_denied.detail is not None
    assert "GET /v1/actions/{connector}/{path}" in action_denied.detail
    assert "actions:invoke" in action_denied.detail
    assert_not_leaked([*forged, s.b.key, narrow["access_token"]], *[repr(e) for e in failed + limited + denied])


def test_a_flood_of_refusals_becomes_counter_events_and_none_is_lost(service: Any) -> None:
    """50 forged keys and 30 scope refusals on a fresh app: a handful of events whose counts add up to every
    refusal, written by the time the app has shut down."""
    s = service
    app = build_app(s.vault, public_url=PUBLIC_URL)
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        answers = [client.get("/v1/audit", headers=s.auth(_forged_key(s.a.key_id))).status_code for _ in range(50)]
        denied = [client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.b.key)).status_code for _ in range(30)]
    assert answers == [401] * 20 + [429] * 30
    assert denied == [403] * 30
    for action, expected in ((Action.AUTH_FAIL, 20), (Action.AUTH_LIMITED, 30), (Action.AUTH_DENIED, 30)):
        events = _events(s, action)
        assert len(events) <= 2, (action, [e.detail for e in events])
        assert _refusals(events) == expected, (action, [e.detail for e in events])


def test_counts_are_written_when_their_interval_ends(service: Any, clock: Any) -> None:
    """A refusal after the interval writes the count of the one before and starts a new one: on the
    refusals' own clock, so the test moves time instead of waiting for it."""
    from strongroom.server.refusals import RefusalAudit

    s = service
    app = build_app(s.vault, public_url=PUBLIC_URL)
    app.state.strongroom.refusals = RefusalAudit(s.vault, interval_seconds=60, clock=clock)
    with TestClient(app, base_url=PUBLIC_URL, raise_server_exceptions=False) as client:
        for _ in range(5):
            client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.b.key))
        assert len(_events(s, Action.AUTH_DENIED)) == 1  # the first now, four counted
        clock.advance(61)
        client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(s.b.key))
        events = _events(s, Action.AUTH_DENIED)
        assert len(events) == 3, [e.detail for e in events]
        assert sorted(_refusals([e]) for e in events) == [1, 1, 4]


def test_a_tenant_sees_the_failures_aimed_at_its_own_key_ids(service: Any) -> None:
    """A forged key with tenant A's public key id shows in A's audit (A's key, audit:read), not in B's; a
    key id nobody has goes to the environment-wide chain, which no tenant sees."""
    s = service
    unknown = random_base62(8)
    s.assert_error(s.client.get("/v1/audit", headers=s.auth(_forged_key(s.a.key_id))), 401)
    s.assert_error(s.client.get("/v1/audit", headers=s.auth(_forged_key(unknown))), 401)
    seen_by_a = s.client.get("/v1/audit", params={"action": Action.AUTH_FAIL}, headers=s.auth(s.a.key)).json()
    assert [(e["actor"], e["tenant"]) for e in seen_by_a] == [(f"key:{s.a.key_id}", s.a.name)]
    seen_by_b = s.client.get("/v1/audit", params={"action": Action.AUTH_FAIL}, headers=s.auth(s.b.key)).json()
    assert seen_by_b == []
    everywhere = s.client.get("/v1/audit", params={"action": Action.AUTH_FAIL}, headers=s.auth(s.admin)).json()
    assert {(e["actor"], e["tenant"]) for e in everywhere} == {
        (f"key:{s.a.key_id}", s.a.name),
        (f"key:{unknown}", NO_TENANT),
    }


def test_a_tenant_sees_its_own_expired_token_refused(service_with_clock: Any, clock: Any) -> None:
    """A genuine token of A presented after its expiry: the 401 is in A's chain, named by its subject."""
    s = service_with_clock
    issued = s.client.post(
        "/v1/tokens",
        json={"scopes": ["audit:read"], "subject": "agent-late", "ttl_seconds": 60},
        headers=s.auth(s.a.key),
    ).json()
    clock.advance(120)
    s.assert_error(s.client.get("/v1/audit", headers=s.auth(issued["access_token"])), 401)
    seen_by_a = s.client.get("/v1/audit", params={"action": Action.AUTH_FAIL}, headers=s.auth(s.a.key)).json()
    assert len(seen_by_a) == 1, seen_by_a
    assert seen_by_a[0]["tenant"] == s.a.name
    assert "Expired" in seen_by_a[0]["detail"]
    assert seen_by_a[0]["actor"] == "token:agent-late"
    assert issued["access_token"] not in str(seen_by_a)
