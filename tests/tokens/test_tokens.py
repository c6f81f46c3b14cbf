"""Agent tokens: issue, verify, refuse (audience, tenant, issuer, tampering, expiry, revocation), JWKS.

Every time is the injected clock's; nothing patches time. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from strongroom.audit import Action
from strongroom.errors import AccessDenied, Expired, InvalidInput, NotFound
from strongroom.testing import assert_not_leaked
from strongroom.tokens import ApiKeys, TokenService
from strongroom.vault import Vault

from .conftest import AUDIENCE, ISSUER, FakeClock  # noqa: TID252 -- pytest's importlib mode resolves the package

SCOPES = ["actions:invoke", "secrets:read-metadata"]


def issue(tokens: TokenService, **options: object) -> tuple[str, str]:
    """A fresh token's text and jti."""
    settings: dict[str, object] = {
        "tenant": "acme",
        "subject": "agent-7",
        "audience": AUDIENCE,
        "scopes": SCOPES,
        "actor": "backend",
        **options,
    }
    issued = tokens.issue(**settings)  # type: ignore[arg-type]
    return issued.token.reveal(), issued.jti


def segments(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    header, payload, signature = token.split(".")
    return (
        json.loads(base64.urlsafe_b64decode(header + "==")),
        json.loads(base64.urlsafe_b64decode(payload + "==")),
        signature,
    )


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_issue_and_verify(tokens: TokenService, clock: FakeClock, vault: Vault) -> None:
    """The claims come back as issued; the header names the EdDSA key; issuing is audited without the token."""
    issued = tokens.issue(tenant="acme", subject="agent-7", audience=AUDIENCE, scopes=SCOPES, actor="backend")
    text = issued.token.reveal()
    claims = tokens.verify(text, audience=AUDIENCE)
    assert (claims.tenant, claims.subject, claims.audience, claims.jti, claims.kid) == (
        "acme",
        "agent-7",
        AUDIENCE,
        issued.jti,
        issued.kid,
    )
    assert claims.scopes == issued.scopes == set(SCOPES)
    assert claims.expires_at == issued.expires_at == clock.now + tokens.default_ttl_seconds
    header, payload, _ = segments(text)
    assert header == {"alg": "EdDSA", "kid": issued.kid, "typ": "JWT"}
    assert set(payload) == {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "tenant", "tid", "scope"}
    assert payload["iss"] == ISSUER
    assert payload["scope"] == "actions:invoke secrets:read-metadata"
    assert text not in repr(issued)
    issues = [e for e in vault.audit_events(tenant="acme") if e.action == Action.TOKEN_ISSUE]
    assert len(issues) == 1
    assert issues[0].actor == "backend"
    assert issued.jti in (issues[0].detail or "")
    assert_not_leaked([text, text.split(".")[2]], issues[0])


def test_tokens_for_another_audience_tenant_or_issuer_are_refused(
    tokens: TokenService, vault: Vault, make_tokens: Callable[..., TokenService]
) -> None:
    text, _ = issue(tokens)
    with pytest.raises(AccessDenied, match="not for audience"):
        tokens.verify(text, audience="https://other.test")
    with pytest.raises(AccessDenied, match="another tenant"):
        tokens.verify(text, audience=AUDIENCE, tenant="globex")
    assert tokens.verify(text, audience=AUDIENCE, tenant="acme").tenant == "acme"
    with pytest.raises(AccessDenied, match="not issued by"):
        make_tokens(vault, issuer="https://elsewhere.test").verify(text, audience=AUDIENCE)


def test_tampered_tokens_are_refused(tokens: TokenService) -> None:
    """A re-signed payload (another tenant, more scopes, later expiry), a stranger's key under our kid,
    alg none, alg confusion (HS256 keyed with the public key), and a dropped signature: all refused."""
    text, _ = issue(tokens)
    header, payload, signature = text.split(".")
    claims = segments(text)[1]
    for change in ({"tenant": "globex"}, {"scope": "admin"}, {"exp": int(claims["exp"]) + 10**6}):  # type: ignore[call-overload]
        forged_payload = b64(json.dumps({**claims, **change}).encode())
        with pytest.raises(AccessDenied, match="signature"):
            tokens.verify(f"{header}.{forged_payload}.{signature}", audience=AUDIENCE)
    kid = segments(text)[0]["kid"]
    stranger = jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    with pytest.raises(AccessDenied, match="signature"):
        tokens.verify(stranger, audience=AUDIENCE)
    unsigned = f"{b64(json.dumps({'alg': 'none', 'kid': kid}).encode())}.{payload}."
    with pytest.raises(AccessDenied, match="malformed"):
        tokens.verify(unsigned, audience=AUDIENCE)
    public_x = tokens.jwks()["keys"][0]["x"]
    confused = jwt.encode(claims, public_x.encode().ljust(32, b"="), algorithm="HS256", headers={"kid": kid})
    with pytest.raises(AccessDenied):
        tokens.verify(confused, audience=AUDIENCE)
    with pytest.raises(AccessDenied, match="malformed"):
        tokens.verify(f"{header}.{payload}", audience=AUDIENCE)


def test_a_non_canonical_signature_encoding_is_refused(tokens: TokenService) -> None:
    """The last base64url character of a 64-byte signature has 4 spare bits: a second string for one signature.

    PyJWT refuses it since 2.10 or so; older releases (``pyjwt>=2.8`` is allowed) did not, so we check ourselves.
    """
    text, _ = issue(tokens)
    head, signature = text.rsplit(".", 1)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    twin = head + "." + signature[:-1] + alphabet[last ^ 0b0001]  # same 64 bytes, another string
    with pytest.raises(AccessDenied, match="not canonical"):
        tokens.verify(twin, audience=AUDIENCE)
    with pytest.raises(AccessDenied, match="malformed"):
        tokens.verify(text + "==", audience=AUDIENCE)


def test_expiry_with_leeway(tokens: TokenService, clock: FakeClock) -> None:
    text, _ = issue(tokens, ttl_seconds=60)
    clock.advance(60 + tokens.leeway_seconds - 1)
    tokens.verify(text, audience=AUDIENCE)
    clock.advance(1)
    with pytest.raises(Expired, match="expired") as caught:
        tokens.verify(text, audience=AUDIENCE)
    assert_not_leaked([text], caught.value)


def test_a_token_from_the_future_is_refused(tokens: TokenService, clock: FakeClock) -> None:
    text, _ = issue(tokens)
    clock.advance(-(tokens.leeway_seconds + 1))
    with pytest.raises(AccessDenied, match="not valid yet"):
        tokens.verify(text, audience=AUDIENCE)


def test_ttl_is_capped(tokens: TokenService) -> None:
    for ttl in (0, -1, tokens.max_ttl_seconds + 1):
        with pytest.raises(InvalidInput, match="ttl_seconds"):
            issue(tokens, ttl_seconds=ttl)
    text, _ = issue(tokens, ttl_seconds=tokens.max_ttl_seconds)
    payload = segments(text)[1]
    assert int(payload["exp"]) - int(payload["iat"]) == tokens.max_ttl_seconds  # type: ignore[call-overload]
    with pytest.raises(InvalidInput, match="default_ttl_seconds"):
        TokenService(tokens._vault, issuer=ISSUER, default_ttl_seconds=7200, max_ttl_seconds=3600)


def test_scopes_and_tenants_are_checked_when_issuing(tokens: TokenService) -> None:
    with pytest.raises(InvalidInput, match=r"unknown scope 'root'"):
        issue(tokens, scopes=["actions:invoke", "root"])
    with pytest.raises(InvalidInput, match="operator keys only"):
        issue(tokens, scopes=["admin"])
    with pytest.raises(NotFound, match="initech"):
        issue(tokens, tenant="initech")
    with pytest.raises(InvalidInput, match="internal"):
        issue(tokens, tenant="_platform")
    with pytest.raises(InvalidInput, match="subject"):
        issue(tokens, subject="agent\n7")


def test_revoked_tokens_fail_at_once_here_and_within_a_second_elsewhere(
    tokens: TokenService,
    open_service_vault: Callable[..., Vault],
    make_tokens: Callable[..., TokenService],
    clock: FakeClock,
    vault: Vault,
) -> None:
    """Revocation is immediate in the revoking process; another process (its own vault and service) sees it
    once its snapshot is revocation_refresh_seconds old. Other tokens are unaffected."""
    other = make_tokens(open_service_vault())
    text, jti = issue(tokens)
    keep, _ = issue(tokens)
    other.verify(text, audience=AUDIENCE)  # the other process has loaded its snapshot now
    claims = tokens.verify(text, audience=AUDIENCE)
    tokens.revoke(jti, tenant="acme", expires_at=claims.expires_at, actor="backend")
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(text, audience=AUDIENCE)
    other.verify(text, audience=AUDIENCE)  # documented: up to revocation_refresh_seconds late
    clock.advance(1.0)
    with pytest.raises(AccessDenied, match="revoked"):
        other.verify(text, audience=AUDIENCE)
    other.verify(keep, audience=AUDIENCE)
    fresh = make_tokens(open_service_vault())  # a process started after the revocation knows at once
    with pytest.raises(AccessDenied, match="revoked"):
        fresh.verify(text, audience=AUDIENCE)
    revokes = [e for e in vault.audit_events(tenant="acme") if e.action == Action.TOKEN_REVOKE]
    assert [(e.actor, e.detail) for e in revokes] == [("backend", f"jti {jti}")]


def test_expired_revocations_are_pruned(tokens: TokenService, clock: FakeClock, vault: Vault) -> None:
    text, jti = issue(tokens, ttl_seconds=60)
    tokens.revoke(jti, tenant="acme", expires_at=tokens.verify(text, audience=AUDIENCE).expires_at, actor="x")
    clock.advance(60 + tokens.leeway_seconds + 1)
    _second, second_jti = issue(tokens)
    tokens.revoke(second_jti, tenant="acme", expires_at=clock.now + 900, actor="x")
    with vault._store.read() as tx:
        assert set(tx.token_revocations(vault.environment, expiring_after=0)) == {
            f"{vault.token_repo.tenant_ids(['acme'])['acme']}:{second_jti}"
        }
    with pytest.raises(InvalidInput, match="jti"):
        tokens.revoke("not a jti!", tenant="acme", expires_at=clock.now, actor="x")
    with pytest.raises(NotFound):
        tokens.revoke(second_jti, tenant="initech", expires_at=clock.now, actor="x")


@pytest.mark.slow
def test_revocations_survive_the_deletion_of_their_tenant(tokens: TokenService, vault: Vault) -> None:
    """Deleting (and re-creating) a tenant does not bring a revoked token back."""
    text, jti = issue(tokens)
    tokens.revoke(jti, tenant="acme", expires_at=tokens.verify(text, audience=AUDIENCE).expires_at, actor="x")
    vault.delete_tenant("acme")
    vault.create_tenant("acme")
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(text, audience=AUDIENCE)


def test_a_token_dies_with_its_tenant_within_a_second_elsewhere(
    tokens: TokenService,
    open_service_vault: Callable[..., Vault],
    make_tokens: Callable[..., TokenService],
    clock: FakeClock,
    vault: Vault,
) -> None:
    """Another process learns a tenant's id on its first token, then re-reads it with its revocation snapshot:
    a token of a deleted tenant fails there within revocation_refresh_seconds, even when the name is reused."""
    other = make_tokens(open_service_vault())
    text, _ = issue(tokens)
    other.verify(text, audience=AUDIENCE)  # first token of acme there: its id is read now
    clock.advance(1.0)
    other.verify(text, audience=AUDIENCE)  # the snapshot is re-read, and carries acme's id from now on
    vault.delete_tenant("acme")
    vault.create_tenant("acme")
    other.verify(text, audience=AUDIENCE)  # documented: up to revocation_refresh_seconds late
    clock.advance(1.0)
    with pytest.raises(AccessDenied, match="no longer exists"):
        other.verify(text, audience=AUDIENCE)
    with pytest.raises(AccessDenied, match="no longer exists"):
        tokens.verify(text, audience=AUDIENCE)


# -- a token names its key and dies with it (issue 12, finding 3) --------------------------------------------


def test_a_token_names_its_key_and_dies_with_it_here_and_within_a_second_elsewhere(
    tokens: TokenService,
    api_keys: ApiKeys,
    open_service_vault: Callable[..., Vault],
    make_tokens: Callable[..., TokenService],
    clock: FakeClock,
) -> None:
    """The ``key`` claim is the minting key's public id; revoking the key fails its tokens at once in a service
    told so, within revocation_refresh_seconds in another, and leaves other keys' tokens alone."""
    _, info = api_keys.create(tenant="acme", name="backend", scopes=["tokens:issue", *SCOPES], actor="ops")
    _, other_info = api_keys.create(tenant="acme", name="other", scopes=SCOPES, actor="ops")
    text = tokens.issue(tenant="acme", subject="a", audience=AUDIENCE, scopes=SCOPES, actor="b", key=info).token
    keep = tokens.issue(tenant="acme", subject="a", audience=AUDIENCE, scopes=SCOPES, actor="b", key=other_info)
    assert segments(text.reveal())[1]["key"] == info.id
    assert tokens.verify(text.reveal(), audience=AUDIENCE).key_id == info.id
    elsewhere = make_tokens(open_service_vault())
    elsewhere.verify(text.reveal(), audience=AUDIENCE)
    api_keys.revoke(info.id, tenant="acme", actor="ops")
    tokens.key_revoked(info.id)
    with pytest.raises(AccessDenied, match=f"API key srk_{info.id}"):
        tokens.verify(text.reveal(), audience=AUDIENCE)
    elsewhere.verify(text.reveal(), audience=AUDIENCE)  # documented: up to revocation_refresh_seconds late
    clock.advance(1.0)
    with pytest.raises(AccessDenied, match="revoked"):
        elsewhere.verify(text.reveal(), audience=AUDIENCE)
    elsewhere.verify(keep.token.reveal(), audience=AUDIENCE)


def test_issuing_with_a_key_checks_it_and_never_outlives_it(
    tokens: TokenService, api_keys: ApiKeys, clock: FakeClock
) -> None:
    """Another tenant's key, a revoked key, scopes the key lacks: refused. A key expiring in 60 s mints a
    token that expires with it."""
    _, short = api_keys.create(tenant="acme", name="short", scopes=SCOPES, ttl_seconds=60, actor="ops")
    _, globex = api_keys.create(tenant="globex", name="g", scopes=SCOPES, actor="ops")
    base = {"subject": "a", "audience": AUDIENCE, "actor": "b"}
    issued = tokens.issue(tenant="acme", scopes=SCOPES, key=short, **base)  # type: ignore[arg-type]
    assert issued.expires_at == clock.now + 60
    with pytest.raises(AccessDenied, match="not a key of tenant"):
        tokens.issue(tenant="acme", scopes=SCOPES, key=globex, **base)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="lacks: audit:read"):
        tokens.issue(tenant="acme", scopes=["audit:read"], key=short, **base)  # type: ignore[arg-type]
    api_keys.revoke(short.id, tenant="acme", actor="ops")
    with pytest.raises(AccessDenied, match="revoked or expired"):
        tokens.issue(tenant="acme", scopes=SCOPES, key=api_keys.get(short.id, tenant="acme"), **base)  # type: ignore[arg-type]


def test_key_only_scopes_are_never_issued(tokens: TokenService) -> None:
    for scope in ("keys:manage", "destinations:write"):
        with pytest.raises(InvalidInput, match=f"cannot carry {scope}: only API keys"):
            issue(tokens, scopes=["actions:invoke", scope])


def test_claims_to_revoke_ignore_the_audience_but_not_the_signature(tokens: TokenService, clock: FakeClock) -> None:
    """A token for another audience yields its claims for revocation; a forged one is refused; an expired
    one has nothing left to revoke (None)."""
    text, jti = issue(tokens, audience="https://other.test", ttl_seconds=60)
    claims = tokens.claims_to_revoke(text)
    assert claims is not None
    assert (claims.jti, claims.audience) == (jti, "https://other.test")
    header, _payload, signature = text.split(".")
    with pytest.raises(AccessDenied, match="signature"):
        tokens.claims_to_revoke(f"{header}.{b64(b'{}')}.{signature}")
    tokens.revoke(jti, tenant="acme", actor="ops")  # by id, expiry unknown
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(text, audience="https://other.test")
    clock.advance(60 + tokens.leeway_seconds)
    assert tokens.claims_to_revoke(text) is None


def test_a_revocation_by_id_reaches_only_the_named_tenants_token(tokens: TokenService) -> None:
    """globex revoking acme's jti (it learnt it somehow) revokes globex's token of that id: acme's lives."""
    text, jti = issue(tokens)
    tokens.revoke(jti, tenant="globex", actor="globex-admin")
    tokens.verify(text, audience=AUDIENCE)
    tokens.revoke(jti, tenant="acme", actor="acme-admin")
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(text, audience=AUDIENCE)


def test_the_verifier_bounds_a_signed_tokens_lifetime(
    tokens: TokenService, vault: Vault, make_tokens: Callable[..., TokenService]
) -> None:
    """A token signed by a service with a longer maximum (same key, same issuer) is refused by one whose
    maximum is shorter; no service may be configured beyond a day."""
    long_lived = make_tokens(vault, max_ttl_seconds=7200)
    text, _ = issue(long_lived, ttl_seconds=7200)
    long_lived.verify(text, audience=AUDIENCE)
    with pytest.raises(AccessDenied, match="lifetime of 7200 s"):
        tokens.verify(text, audience=AUDIENCE)
    with pytest.raises(InvalidInput, match="at most 86400"):
        make_tokens(vault, max_ttl_seconds=86400)
