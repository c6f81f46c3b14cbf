"""Issue 12, finding 7: ``secrets:write`` alone listed and revoked all of a tenant's API keys.

Managing keys needs ``keys:manage``, a scope only API keys hold: an agent token never carries it (nor
``destinations:write``), neither when asked for nor when forged with the platform's own signing key.
"""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PLATFORM = "_platform"
SIGNING_KEY = "strongroom.token-signing-key"  # the platform secret that holds the token-signing keys
KEY_ONLY = ("keys:manage", "destinations:write")


def _works(s: Any, credential: str) -> bool:
    answer = s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(credential))
    return bool(answer.status_code == 200)


def test_a_secrets_write_key_cannot_list_or_revoke_the_tenants_keys(service: Any) -> None:
    """A CI key holding secrets:write (and the read scopes) tries to list the tenant's keys and to revoke
    the tenant's main key: 403 naming keys:manage, and the main key keeps working."""
    s = service
    writer, _ = s.new_key(s.a.name, ["secrets:write", "secrets:read-metadata", "secrets:delete"])
    listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(writer))
    assert "keys:manage" in s.assert_error(listed, 403, code="forbidden")["message"]
    revoked = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{s.a.key_id}", headers=s.auth(writer))
    assert "keys:manage" in s.assert_error(revoked, 403, code="forbidden")["message"]
    assert _works(s, s.a.key)
    manager, _ = s.new_key(s.a.name, ["keys:manage"])
    listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(manager))
    assert listed.status_code == 200, listed.text
    assert s.a.key_id in {k["id"] for k in listed.json()}


def test_an_agent_token_cannot_list_or_revoke_keys(service: Any) -> None:
    """The tenant's agent token, with every scope a token may carry, is refused the key routes."""
    s = service
    listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(s.a.token))
    s.assert_error(listed, 403, code="forbidden")
    revoked = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{s.a.key_id}", headers=s.auth(s.a.token))
    s.assert_error(revoked, 403, code="forbidden")
    assert _works(s, s.a.key)


def test_a_token_cannot_be_minted_with_a_key_only_scope(service: Any) -> None:
    """A key holding keys:manage and destinations:write asks for a token with them: 400 naming the scope
    and the fix; the same key still mints a token with its other scopes."""
    s = service
    for asked in ([KEY_ONLY[0]], [KEY_ONLY[1]], ["actions:invoke", *KEY_ONLY]):
        answer = s.client.post("/v1/tokens", json={"scopes": asked}, headers=s.auth(s.a.key))
        message = s.assert_error(answer, 400, code="invalid_input")["message"]
        assert all(scope in message for scope in asked if scope in KEY_ONLY), message
        assert "only API keys" in message
    fine = s.client.post("/v1/tokens", json={"scopes": ["actions:invoke"]}, headers=s.auth(s.a.key))
    assert fine.status_code == 201, fine.text
    assert set(fine.json()["scope"].split()) == {"actions:invoke"}


def test_a_forged_token_carrying_keys_manage_is_refused(service: Any) -> None:
    """Signed with the platform's real signing key (read the audited way, as a holder of the database and
    key file could) and claiming keys:manage: the verifier refuses it, so it manages no key."""
    s = service
    versions = s.vault.versions(PLATFORM, SIGNING_KEY)
    with s.vault.use(PLATFORM, SIGNING_KEY, purpose="attack test", version=versions[-1].version) as secret:
        private = Ed25519PrivateKey.from_private_bytes(secret.reveal())
    payload = s.a.token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(scope=" ".join(sorted({*claims["scope"].split(), *KEY_ONLY})), jti=secrets.token_urlsafe(16))
    kid = jwt.get_unverified_header(s.a.token)["kid"]
    forged = jwt.encode(claims, private, algorithm="EdDSA", headers={"kid": kid, "typ": "JWT"})
    listed = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(forged))
    assert "keys:manage" in s.assert_error(listed, 401, code="unauthenticated")["message"]
    revoked = s.client.delete(f"/v1/tenants/{s.a.name}/api-keys/{s.a.key_id}", headers=s.auth(forged))
    s.assert_error(revoked, 401, code="unauthenticated")
    assert _works(s, s.a.key)
