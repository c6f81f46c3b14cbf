"""Signing keys: kept in the vault, rotated with an overlap, published as a JWKS, never leaked.

ACCEPTANCE "signing-key rotation": a token issued before a rotation verifies through the overlap
(the successor's creation + max_ttl + leeway) and fails after it; a revoked token fails at once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strongroom.audit import Action
from strongroom.errors import AccessDenied, Expired
from strongroom.testing import assert_not_leaked
from strongroom.tokens import TokenService
from strongroom.tokens.jwks import b64url, raw_public_bytes, thumbprint
from strongroom.tokens.signing_keys import KEY_NAME, PURPOSE
from strongroom.vault import Vault

from .conftest import AUDIENCE, ISSUER, FakeClock, count_statements  # noqa: TID252 -- pytest's importlib mode resolves the package

PLATFORM = "_platform"

# RFC 8037 appendix A.3: the JWK thumbprint of the appendix's Ed25519 public key.
RFC8037_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_THUMBPRINT = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def issue(tokens: TokenService, **options: object) -> str:
    settings_: dict[str, object] = {
        "tenant": "acme",
        "subject": "agent-7",
        "audience": AUDIENCE,
        "scopes": ["actions:invoke"],
        "actor": "backend",
        **options,
    }
    return tokens.issue(**settings_).token.reveal()  # type: ignore[arg-type]


def stored_private_keys(vault: Vault) -> dict[int, bytes]:
    """Every stored signing-key version's raw private key, read the audited way (the test is an operator)."""
    found = {}
    for version in vault.versions(PLATFORM, KEY_NAME):
        with vault.use(PLATFORM, KEY_NAME, purpose="test", version=version.version) as secret:
            found[version.version] = secret.reveal()
    return found


def kid_of(raw: bytes) -> str:
    return thumbprint(Ed25519PrivateKey.from_private_bytes(raw).public_key())


def test_thumbprint_matches_rfc_8037() -> None:
    x = base64.urlsafe_b64decode(RFC8037_X + "=")
    assert thumbprint(Ed25519PublicKey.from_public_bytes(x)) == RFC8037_THUMBPRINT


def test_the_first_token_creates_the_key_in_the_vault(tokens: TokenService, vault: Vault) -> None:
    """The key is a critical platform secret of _platform, one 32-byte Ed25519 key per version; kid = thumbprint."""
    assert tokens.jwks() == {"keys": []}
    text = issue(tokens)
    keys = stored_private_keys(vault)
    assert list(keys) == [1]
    assert len(keys[1]) == 32
    info = next(s for s in vault.list(PLATFORM) if s.name == KEY_NAME)
    assert (info.kind, info.sensitivity) == ("platform", "critical")
    assert jwt.get_unverified_header(text)["kid"] == kid_of(keys[1]) == tokens.kids[0]


def test_acceptance_signing_key_rotation(tokens: TokenService, clock: FakeClock, vault: Vault) -> None:
    """ACCEPTANCE: an old token verifies through the overlap and fails after it; a revoked one fails at once."""
    before = issue(tokens, ttl_seconds=tokens.max_ttl_seconds)
    doomed = tokens.issue(
        tenant="acme", subject="agent-9", audience=AUDIENCE, scopes=["actions:invoke"], actor="backend"
    )
    old_kid = tokens.kids[0]
    clock.advance(10)
    rotated_at = clock.now
    new_kid = tokens.rotate("ops")
    assert new_kid != old_kid
    assert tokens.kids == [new_kid, old_kid]
    after = issue(tokens)
    assert jwt.get_unverified_header(after)["kid"] == new_kid
    tokens.revoke(doomed.jti, tenant="acme", expires_at=doomed.expires_at, actor="ops")
    with pytest.raises(AccessDenied, match="revoked"):
        tokens.verify(doomed.token.reveal(), audience=AUDIENCE)
    tokens.verify(before, audience=AUDIENCE)  # during the overlap
    overlap_end = rotated_at + tokens.max_ttl_seconds + tokens.leeway_seconds
    clock.now = overlap_end - 1
    assert tokens.kids == [new_kid, old_kid]
    with pytest.raises(Expired):  # its own expiry (+ leeway) comes first: the overlap never cuts a token short
        tokens.verify(before, audience=AUDIENCE)
    clock.now = overlap_end
    assert tokens.kids == [new_kid]
    with pytest.raises(AccessDenied, match="retired"):
        tokens.verify(before, audience=AUDIENCE)
    rotations = [e for e in vault.audit_events(tenant=PLATFORM) if e.action == Action.TOKEN_KEY_ROTATE]
    assert [e.detail for e in rotations] == [f"kid {old_kid}", f"kid {new_kid}"]


def test_a_token_signed_just_before_rotation_lives_its_full_ttl(tokens: TokenService, clock: FakeClock) -> None:
    """Issued at the last moment with the old key and the longest TTL, it verifies until its own expiry."""
    text = issue(tokens, ttl_seconds=tokens.max_ttl_seconds)
    tokens.rotate("ops")
    clock.advance(tokens.max_ttl_seconds + tokens.leeway_seconds - 1)
    assert tokens.verify(text, audience=AUDIENCE).subject == "agent-7"


def test_jwks_holds_exactly_the_keys_in_their_windows(tokens: TokenService, clock: FakeClock, vault: Vault) -> None:
    """Each JWK is the public half of a stored version inside its window, newest first, with no private part."""
    issue(tokens)
    for _ in range(2):
        clock.advance(600)
        tokens.rotate("ops")
    keys = stored_private_keys(vault)
    expected = {v: kid_of(raw) for v, raw in keys.items()}
    document = tokens.jwks()
    assert [k["kid"] for k in document["keys"]] == [expected[3], expected[2], expected[1]]
    for jwk in document["keys"]:
        assert set(jwk) == {"kty", "crv", "x", "kid", "use", "alg"}
        assert (jwk["kty"], jwk["crv"], jwk["use"], jwk["alg"]) == ("OKP", "Ed25519", "sig", "EdDSA")
        version = next(v for v, kid in expected.items() if kid == jwk["kid"])
        public = Ed25519PrivateKey.from_private_bytes(keys[version]).public_key()
        assert jwk["x"] == b64url(raw_public_bytes(public))
        canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": jwk["x"]}, separators=(",", ":"))
        assert jwk["kid"] == b64url(hashlib.sha256(canonical.encode()).digest())  # RFC 7638, independently
    # v1's successor (v2) was created 600 s after it; v1 leaves the set at v2 + max_ttl + leeway.
    v2_created = next(v.created_at for v in vault.versions(PLATFORM, KEY_NAME) if v.version == 2)
    clock.now = v2_created + tokens.max_ttl_seconds + tokens.leeway_seconds
    assert [k["kid"] for k in tokens.jwks()["keys"]] == [expected[3], expected[2]]
    clock.advance(600)
    assert [k["kid"] for k in tokens.jwks()["keys"]] == [expected[3]]


def test_a_token_verifies_with_the_jwks_alone(tokens: TokenService) -> None:
    """PyJWT's own PyJWK / PyJWKSet, given only the published JSON, verify our token (real clock: the fake one
    starts at the real time)."""
    text = issue(tokens)
    published = json.loads(json.dumps(tokens.jwks()))
    key_set = jwt.PyJWKSet.from_dict(published)
    kid = jwt.get_unverified_header(text)["kid"]
    jwk = jwt.PyJWK(next(k for k in published["keys"] if k["kid"] == kid))
    assert key_set[kid].key_id == jwk.key_id == kid
    claims = jwt.decode(text, jwk.key, algorithms=["EdDSA"], audience=AUDIENCE, issuer=ISSUER)
    assert (claims["tenant"], claims["sub"], claims["scope"]) == ("acme", "agent-7", "actions:invoke")


def test_the_signing_key_never_leaks(
    tokens: TokenService, vault: Vault, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """No repr, log line (DEBUG, SQL included), audit row, JWKS or token carries a private key in any encoding."""
    caplog.set_level(logging.DEBUG)
    issued = tokens.issue(
        tenant="acme", subject="agent-7", audience=AUDIENCE, scopes=["actions:invoke"], actor="backend"
    )
    tokens.rotate("ops")
    claims = tokens.verify(issued.token.reveal(), audience=AUDIENCE)
    forms = []
    for raw in stored_private_keys(vault).values():
        forms += [raw.hex(), base64.b64encode(raw).decode(), b64url(raw), raw.decode("latin-1")]
    with pytest.raises(AccessDenied) as refused:
        tokens.verify(issued.token.reveal()[:-3] + "AAA", audience=AUDIENCE)
    things = [
        tokens,
        tokens._keys,
        issued,
        claims,
        tokens.jwks(),
        json.dumps(tokens.jwks()),
        issued.token.reveal(),
        refused.value,
        vault.audit_events(),
        caplog.text,
    ]
    assert_not_leaked(forms, *things)
    uses = [e for e in vault.audit_events(tenant=PLATFORM) if e.action == "secret.use" and e.purpose == PURPOSE]
    assert not uses  # this process made both keys: nothing needed decrypting


def test_another_process_decrypts_the_keys_through_the_audited_path(
    tokens: TokenService,
    open_service_vault: Callable[..., Vault],
    make_tokens: Callable[..., TokenService],
    vault: Vault,
) -> None:
    """A second process loads each key once, via Vault.use(purpose="token-signing"), and keeps it."""
    text = issue(tokens)
    other_vault = open_service_vault()
    other = make_tokens(other_vault)
    for _ in range(3):
        other.verify(text, audience=AUDIENCE)
    issue(other)
    other_vault.flush_audit()  # its use events are queued in that process
    uses = [e for e in vault.audit_events(tenant=PLATFORM) if e.action == "secret.use" and e.purpose == PURPOSE]
    assert [(e.secret_name, e.version) for e in uses] == [(KEY_NAME, 1)]


def test_a_rotation_in_another_process_is_picked_up(
    tokens: TokenService, open_service_vault: Callable[..., Vault], make_tokens: Callable[..., TokenService]
) -> None:
    """Its new key signs here from the next issue on, and its tokens verify here at once (unknown kid: re-read)."""
    issue(tokens)
    other = make_tokens(open_service_vault())
    new_kid = other.rotate("ops")
    theirs = issue(other)
    assert tokens.verify(theirs, audience=AUDIENCE).kid == new_kid
    assert jwt.get_unverified_header(issue(tokens))["kid"] == new_kid


def test_rotate_if_due(
    tokens: TokenService, clock: FakeClock, make_tokens: Callable[..., TokenService], vault: Vault
) -> None:
    """No key: rotate. Younger than rotation_seconds: nothing. Then: rotate (once, even with two services)."""
    first = tokens.rotate_if_due("ops")
    assert first is not None
    assert tokens.kids == [first]
    clock.advance(86400 - 1)
    assert tokens.rotate_if_due("ops") is None
    clock.advance(1)
    second = tokens.rotate_if_due("ops")
    assert second is not None
    assert tokens.kids == [second, first]
    assert make_tokens(vault).rotate_if_due() is None


def test_unknown_kids_cost_at_most_one_read_a_second(tokens: TokenService, vault: Vault, clock: FakeClock) -> None:
    """A stream of tokens naming made-up kids re-reads the key list once a second, not once a token."""
    _, payload, signature = issue(tokens).split(".")

    def forged(n: int) -> str:
        kid = b64url(hashlib.sha256(str(n).encode()).digest())
        return f"{b64url(json.dumps({'alg': 'EdDSA', 'kid': kid, 'typ': 'JWT'}).encode())}.{payload}.{signature}"

    with count_statements(vault) as within_a_second:
        for n in range(20):
            with pytest.raises(AccessDenied, match="unknown or retired"):
                tokens.verify(forged(n), audience=AUDIENCE)
    assert 0 < len(within_a_second) <= 4  # one version-list read (a few statements), not twenty
    clock.advance(1)
    with count_statements(vault) as a_second_later, pytest.raises(AccessDenied):
        tokens.verify(forged(99), audience=AUDIENCE)
    assert a_second_later


_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n\x00é"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_of_a_token_fails_verification(tokens: TokenService, data: st.DataObject) -> None:
    """Replacing, inserting or deleting any character anywhere, or truncating, never yields a valid token."""
    text = _token_for_mutation(tokens)
    kind = data.draw(st.sampled_from(["replace", "insert", "delete", "truncate"]))
    position = data.draw(st.integers(0, len(text) - 1))
    if kind == "replace":
        char = data.draw(st.sampled_from(_ALPHABET).filter(lambda c: c != text[position]))
        mutated = text[:position] + char + text[position + 1 :]
    elif kind == "insert":
        mutated = text[:position] + data.draw(st.sampled_from(_ALPHABET)) + text[position:]
    elif kind == "delete":
        mutated = text[:position] + text[position + 1 :]
    else:
        mutated = text[:position]
    assert mutated != text
    with pytest.raises(AccessDenied) as caught:
        tokens.verify(mutated, audience=AUDIENCE)
    assert_not_leaked([text, mutated] if len(mutated) > 40 else [text], caught.value)


_cached: dict[int, str] = {}


def _token_for_mutation(tokens: TokenService) -> str:
    """One token per service (hypothesis reruns the body with the same fixture)."""
    if id(tokens) not in _cached:
        _cached.clear()
        _cached[id(tokens)] = issue(tokens)
    return _cached[id(tokens)]
