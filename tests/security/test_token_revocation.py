"""Issue 12, finding 3: tokens outlived the key that minted them and could not be revoked by id.

Each test is the attack as a holder of a tenant credential (or the operator cleaning up after one) tries
it over HTTP: a 1-hour token minted from a key that is then revoked, a token revoked by its ``jti``
(by the tenant's key manager, by the operator, by another tenant), a token minted for another audience,
and a token whose signature is valid but whose lifetime is not (signed with the platform's own key, as a
holder of the database and key file could).
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strongroom.errors import AccessDenied
from strongroom.tokens import ApiKeys

PLATFORM = "_platform"
SIGNING_KEY = "strongroom.token-signing-key"  # the platform secret that holds the token-signing keys


def _token(s: Any, key: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    issued = s.client.post("/v1/tokens", json={"scopes": scopes, **extra}, headers=s.auth(key))
    assert issued.status_code == 201, issued.text
    body: dict[str, Any] = issued.json()
    return body


def _write(s: Any, tenant: str, credential: str) -> Any:
    value = "written-by-" + secrets.token_urlsafe(12)
    return s.client.put(f"/v1/tenants/{tenant}/secrets/from-agent", json={"value": value}, headers=s.auth(credential))


def _reads(s: Any, tenant: str, credential: str) -> int:
    status: int = s.client.get(f"/v1/tenants/{tenant}/secrets", headers=s.auth(credential)).status_code
    return status


def _audit(s: Any, action: str) -> list[dict[str, Any]]:
    answer = s.client.get("/v1/audit", params={"action": action, "limit": 1000}, headers=s.auth(s.admin))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()
    return events


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def _forge(s: Any, like: str, **changes: Any) -> str:
    """A token signed with the platform's current signing key (read the audited way, as a holder of the
    database and key file can), with ``like``'s claims changed by ``changes``."""
    versions = s.vault.versions(PLATFORM, SIGNING_KEY)
    with s.vault.use(PLATFORM, SIGNING_KEY, purpose="attack test", version=versions[-1].version) as secret:
        private = Ed25519PrivateKey.from_private_bytes(secret.reveal())
    claims = {**_claims(like), **changes}
    kid = jwt.get_unverified_header(like)["kid"]
    return jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})


# -- a token dies with its key --------------------------------------------------------------------------------


def test_a_token_stops_working_when_the_key_that_minted_it_is_revoked(service: Any) -> None:
    """A leaked backend key mints a 1-hour token; the tenant revokes the key: the token is refused at once,
    writes and reads alike, while tokens of the tenant's other keys keep working."""
    s = service
    key, key_id = s.new_key(s.a.name, ["tokens:issue", "secrets:write", "secrets:read-metadata"])
    token = _token(s, key, ["secrets:write", "secrets:read-metadata"], ttl_seconds=3600)["access_token"]
    assert _write(s, s.a.name, token).status_code in (200, 201)
    revoked = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{key_id}", headers=s.auth(s.a.key))
    assert revoked.status_code == 204, revoked.text
    error = s.assert_error(_write(s, s.a.name, token), 401, code="unauthenticated")
    assert "revoked" in error["message"]
    assert key_id in error["message"]  # names the key, never the token
    assert token not in error["message"]
    assert _reads(s, s.a.name, token) == 401
    assert _reads(s, s.a.name, s.a.token) == 200  # minted by another key: untouched
    assert any(f"srk_{key_id}" in (e["detail"] or "") for e in _audit(s, "api_key.revoke"))


def test_a_key_revoked_by_another_process_kills_its_tokens_within_the_refresh(
    service_with_clock: Any, clock: Any
) -> None:
    """The key is revoked elsewhere (the CLI, another replica: not through this process's token service);
    this process refuses the key's tokens once its revocation snapshot is 1 s old, the same bound as a
    revocation by jti. The injected clock moves; nothing sleeps."""
    s = service_with_clock
    key, key_id = s.new_key(s.a.name, ["tokens:issue", "secrets:write", "secrets:read-metadata"])
    token = _token(s, key, ["secrets:write", "secrets:read-metadata"])["access_token"]
    assert _reads(s, s.a.name, token) == 200
    ApiKeys(s.vault).revoke(key_id, tenant=s.a.name, actor="ops:another-process")
    assert _reads(s, s.a.name, token) == 200  # documented: up to revocation_refresh_seconds (1 s) late
    clock.advance(1.0)
    error = s.assert_error(_write(s, s.a.name, token), 401, code="unauthenticated")
    assert "revoked" in error["message"]
    assert _reads(s, s.a.name, token) == 401
    assert _reads(s, s.a.name, s.a.token) == 200


# -- revocation by jti ----------------------------------------------------------------------------------------


def test_the_tenants_key_manager_revokes_a_token_by_its_jti(service: Any) -> None:
    """POST /v1/tokens/revoke with {"jti"} (as docs/gpt-actions.md says) works for a key holding keys:manage;
    a key that only mints tokens cannot revoke by id; the revocation is audited."""
    s = service
    minted = _token(s, s.a.key, ["secrets:read-metadata"])
    minter, _ = s.new_key(s.a.name, ["tokens:issue"])
    refused = s.client.post("/v1/tokens/revoke", json={"jti": minted["jti"]}, headers=s.auth(minter))
    s.assert_error(refused, 403, code="forbidden")
    assert _reads(s, s.a.name, minted["access_token"]) == 200
    revoked = s.client.post("/v1/tokens/revoke", json={"jti": minted["jti"]}, headers=s.auth(s.a.key))
    assert revoked.status_code == 204, revoked.text
    assert (
        "revoked"
        in s.assert_error(s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(minted["access_token"])), 401)[
            "message"
        ]
    )
    assert any(e["detail"] == f"jti {minted['jti']}" and e["tenant"] == s.a.name for e in _audit(s, "token.revoke"))


def test_another_tenant_cannot_revoke_a_token_by_its_jti(service: Any) -> None:
    """Tenant B, holding keys:manage and A's jti (it is no secret: it is in A's audit log and in the token),
    revokes by id: naming A's tenant is 403, and its own tenant's revocation cannot touch A's token."""
    s = service
    named = s.client.post("/v1/tokens/revoke", json={"jti": s.a.jti, "tenant": s.a.name}, headers=s.auth(s.b.key))
    s.assert_error(named, 403, code="forbidden")
    blind = s.client.post("/v1/tokens/revoke", json={"jti": s.a.jti}, headers=s.auth(s.b.key))
    assert blind.status_code == 204, blind.text  # B revoked "its" token of that id: there is none
    assert _reads(s, s.a.name, s.a.token) == 200
    for body in ({"token": s.a.token}, {"jti": s.a.jti, "tenant": s.a.name}):
        s.assert_error(s.client.post("/v1/tokens/revoke", json=body, headers=s.auth(s.b.token)), 403)
    assert _reads(s, s.a.name, s.a.token) == 200


def test_the_operator_revokes_a_tenants_token_by_jti_or_by_the_token(service: Any) -> None:
    """The admin key revokes any tenant's token: by jti with the tenant named (400 naming "tenant" without
    it), or by presenting the token."""
    s = service
    missing = s.client.post("/v1/tokens/revoke", json={"jti": s.a.jti}, headers=s.auth(s.admin))
    assert "tenant" in s.assert_error(missing, 400, code="invalid_input")["message"]
    by_id = s.client.post("/v1/tokens/revoke", json={"jti": s.a.jti, "tenant": s.a.name}, headers=s.auth(s.admin))
    assert by_id.status_code == 204, by_id.text
    assert _reads(s, s.a.name, s.a.token) == 401
    by_token = s.client.post("/v1/tokens/revoke", json={"token": s.b.token}, headers=s.auth(s.admin))
    assert by_token.status_code == 204, by_token.text
    assert _reads(s, s.b.name, s.b.token) == 401
    details = {(e["tenant"], e["detail"]) for e in _audit(s, "token.revoke")}
    assert {(s.a.name, f"jti {s.a.jti}"), (s.b.name, f"jti {s.b.jti}")} <= details


def test_revoke_wants_exactly_one_of_token_and_jti(service: Any) -> None:
    """Both, neither, or a forged token in the body: 400 naming the problem, nothing revoked."""
    s = service
    for body in ({"token": s.a.token, "jti": s.a.jti}, {}):
        answer = s.client.post("/v1/tokens/revoke", json=body, headers=s.auth(s.a.key))
        assert "jti" in s.assert_error(answer, 400, code="invalid_input")["message"]
    header, payload, signature = s.a.token.split(".")
    # One character in the middle of the signature changed (its last ones may already be "AA", or carry
    # only padding bits): always a different signature, never the real one.
    changed = "B" if signature[10] != "B" else "C"
    forged = f"{header}.{payload}.{signature[:10]}{changed}{signature[11:]}"
    answer = s.client.post("/v1/tokens/revoke", json={"token": forged}, headers=s.auth(s.a.key))
    assert "does not verify" in s.assert_error(answer, 400, code="invalid_input")["message"]
    assert _reads(s, s.a.name, s.a.token) == 200


# -- another audience -----------------------------------------------------------------------------------------


def test_a_token_minted_for_another_audience_is_revocable(service: Any) -> None:
    """A token minted for another service (which this one refuses to accept) could not be revoked before:
    its tenant's key revokes it by presenting it, and a verifier for that audience then refuses it."""
    s = service
    other = "https://other.example"
    minted = _token(s, s.a.key, ["actions:invoke"], audience=other)
    tokens = s.app.state.strongroom.tokens
    assert tokens.verify(minted["access_token"], audience=other).jti == minted["jti"]
    revoked = s.client.post("/v1/tokens/revoke", json={"token": minted["access_token"]}, headers=s.auth(s.a.key))
    assert revoked.status_code == 204, revoked.text
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(minted["access_token"], audience=other)
    assert any(e["detail"] == f"jti {minted['jti']}" for e in _audit(s, "token.revoke"))


# -- the verifier bounds lifetimes ----------------------------------------------------------------------------


def test_a_validly_signed_token_living_longer_than_the_maximum_is_refused(service: Any) -> None:
    """Signed with the platform's real signing key, a token claiming 30 days (the maximum is an hour) is
    refused: the lifetime bound holds whoever signed the token."""
    s = service
    now = int(time.time())
    forged = _forge(s, s.a.token, iat=now, nbf=now, exp=now + 30 * 86400, jti=secrets.token_urlsafe(16))
    error = s.assert_error(
        s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(forged)), 401, code="unauthenticated"
    )
    assert "lifetime" in error["message"]
    assert forged not in error["message"]
    # The forging itself is sound: the same claims with an hour's lifetime are accepted.
    fair = _forge(s, s.a.token, iat=now, nbf=now, exp=now + 3600, jti=secrets.token_urlsafe(16))
    assert _reads(s, s.a.name, fair) == 200
