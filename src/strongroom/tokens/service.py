"""``TokenService``: short-lived, scoped agent tokens (JWT, EdDSA), their keys, revocation and the JWKS.

An agent never holds an API key: a backend that does (scope ``tokens:issue``) asks for a token bound to
one tenant, one subject (the agent), one audience and a set of scopes, valid for minutes. Anyone holding
the JWKS can verify a token; ``verify`` here adds the revocation checks: the token's own ``jti``, and the
API key that minted it (its ``key`` claim: revoking a key revokes its tokens).

A token never carries a scope of ``KEY_ONLY_SCOPES`` (``keys:manage``, ``destinations:write``): ``issue``
refuses them and ``verify`` refuses a token that has one, whoever signed it; so is a token whose lifetime
(``exp - iat``) is above ``max_ttl_seconds``.

Clocks: pass the vault's clock here too (tests inject one; nothing patches time). ``leeway_seconds``
absorbs skew between the issuing and the verifying machine for ``exp``, ``nbf`` and ``iat``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from strongroom.audit import Action
from strongroom.caching import BoundedCache
from strongroom.clock import Clock, system_clock
from strongroom.errors import AccessDenied, Expired, InvalidInput
from strongroom.secret import Secret
from strongroom.tokens.api_keys import ApiKeyInfo, check_scopes
from strongroom.tokens.common import MAX_TOKEN_LIFETIME_SECONDS, check_tenant_name, check_text, event
from strongroom.tokens.issue import IssuedToken, claims_for, new_jti, sign
from strongroom.tokens.jwks import jwks_document
from strongroom.tokens.revocations import Revocations
from strongroom.tokens.signing_keys import KEY_NAME, SigningKeys
from strongroom.tokens.verify import TokenClaims, unverified_kid, verify_token
from strongroom.vault import Vault
from strongroom.vocabulary import KEY_ONLY_SCOPES, MAX_CLAIM_CHARS, MAX_LABEL_CHARS

VERIFIED_KEPT = 100_000  # verified tokens remembered (about 300 bytes each), least recently used first out


class TokenService:
    """Issue, verify and revoke agent tokens of one vault's environment."""

    def __init__(
        self,
        vault: Vault,
        *,
        issuer: str,
        clock: Clock = system_clock,
        default_ttl_seconds: float = 900,
        max_ttl_seconds: float = 3600,
        rotation_seconds: float = 86400,
        leeway_seconds: float = 30,
        revocation_refresh_seconds: float = 1.0,
        key_refresh_seconds: float = 5.0,
    ) -> None:
        """``revocation_refresh_seconds``: a revocation made by another process is seen within this long (one
        read per interval); ``key_refresh_seconds``: how often the signing-key versions are re-read for verifying
        (an unknown kid triggers a read at once, at most once a second)."""
        check_text("issuer", issuer, MAX_CLAIM_CHARS)
        if not 0 < default_ttl_seconds <= max_ttl_seconds:
            raise InvalidInput("token TTLs: need 0 < default_ttl_seconds <= max_ttl_seconds")
        if leeway_seconds < 0 or rotation_seconds <= 0 or revocation_refresh_seconds < 0 or key_refresh_seconds < 0:
            raise InvalidInput("leeway and refresh intervals must be >= 0, rotation_seconds > 0")
        if max_ttl_seconds + leeway_seconds > MAX_TOKEN_LIFETIME_SECONDS:
            raise InvalidInput(
                f"max_ttl_seconds + leeway_seconds must be at most {MAX_TOKEN_LIFETIME_SECONDS:g} (a day): "
                "agent tokens are short-lived; give a long-running client an API key instead"
            )
        self._vault = vault
        self.issuer = issuer
        self._clock = clock
        self.default_ttl_seconds = default_ttl_seconds
        self.max_ttl_seconds = max_ttl_seconds
        self.leeway_seconds = leeway_seconds
        self._keys = SigningKeys(
            vault,
            clock=clock,
            max_ttl_seconds=max_ttl_seconds,
            leeway_seconds=leeway_seconds,
            rotation_seconds=rotation_seconds,
            refresh_seconds=key_refresh_seconds,
        )
        self._revocations = Revocations(
            vault,
            clock=clock,
            refresh_seconds=revocation_refresh_seconds,
            leeway_seconds=leeway_seconds,
            max_ttl_seconds=max_ttl_seconds,
        )
        # (token digest, audience) -> its claims, kept until the token expires (plus leeway)
        self._verified: BoundedCache[tuple[bytes, str], TokenClaims] = BoundedCache(VERIFIED_KEPT, clock=clock)

    def __repr__(self) -> str:
        return f"TokenService(issuer={self.issuer!r}, environment={self._vault.environment!r}, keys={self._keys!r})"

    def issue(
        self,
        *,
        tenant: str,
        subject: str,
        audience: str,
        scopes: Iterable[str],
        ttl_seconds: float | None = None,
        actor: str,
        key: ApiKeyInfo | None = None,
        agent_run: str | None = None,
        client_id: str | None = None,
        context: str | None = None,
    ) -> IssuedToken:
        """Sign a token for ``subject`` acting in ``tenant`` towards ``audience``. Audited (not the token).

        ``key``: the tenant API key asking (the service always passes it): the token names it (claim
        ``key``) and dies with it; it carries only scopes the key holds and never outlives it. Without one
        (a library caller holding the vault) the token is revocable by its ``jti`` only.
        ``agent_run``, ``client_id``: labels the token carries (claims ``agent_run``, ``client_id``) into the
        audit context of its calls: the agent run it is for, the OAuth client it is issued to. ``context``: the
        issuing caller's (``AuditContext(...).encode()``), on the ``token.issue`` event.

        ``NotFound`` for an unknown tenant; ``InvalidInput`` for unknown scopes, a scope of
        ``KEY_ONLY_SCOPES``, scopes the key lacks, or a TTL <= 0 or above ``max_ttl_seconds``;
        ``AccessDenied`` for a key of another tenant, revoked or expired. The first call in an environment
        creates the first signing key.
        """
        check_tenant_name(tenant)
        check_text("subject", subject, MAX_CLAIM_CHARS)
        check_text("audience", audience, MAX_CLAIM_CHARS)
        check_text("actor", actor, MAX_LABEL_CHARS)
        for what, label in (("agent_run", agent_run), ("client_id", client_id)):
            if label is not None:
                check_text(what, label, MAX_LABEL_CHARS)
        granted = check_scopes(scopes, operator=False)
        if granted & KEY_ONLY_SCOPES:
            raise InvalidInput(
                f"a token cannot carry {', '.join(sorted(granted & KEY_ONLY_SCOPES))}: only API keys hold "
                "those scopes; ask for the key's other scopes"
            )
        ttl = self.default_ttl_seconds if ttl_seconds is None else ttl_seconds
        if not 0 < ttl <= self.max_ttl_seconds:
            raise InvalidInput(f"ttl_seconds of a token must be > 0 and at most {self.max_ttl_seconds:g}")
        now = self._clock()
        if key is not None:
            if key.tenant != tenant:
                raise AccessDenied(f"API key {key.prefix} is not a key of tenant {tenant!r}")
            if not granted <= key.scopes:
                lacking = ", ".join(sorted(granted - key.scopes))
                raise InvalidInput(f"a token cannot carry scopes its key lacks: {lacking}")
            if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
                raise AccessDenied(f"API key {key.prefix} is revoked or expired: it mints no token")
            if key.expires_at is not None:
                ttl = min(ttl, key.expires_at - now)  # a token never outlives the key that minted it
        tenant_id, live = self._vault.token_repo.issue_context(tenant, KEY_NAME)
        signing, private_key = self._keys.signer(live, actor=actor)
        jti = new_jti()
        claims = claims_for(
            issuer=self.issuer,
            tenant=tenant,
            subject=subject,
            audience=audience,
            scopes=granted,
            now=now,
            ttl_seconds=ttl,
            jti=jti,
            tenant_id=tenant_id,
            key_id=None if key is None else key.id,
            agent_run=agent_run,
            client_id=client_id,
        )
        token = sign(claims, private_key, signing.kid)
        self._vault.record_event(
            event(
                self._vault,
                tenant,
                Action.TOKEN_ISSUE,
                actor=actor,
                at=now,
                detail=f"jti {jti} kid {signing.kid} sub {subject!r} aud {audience!r} scope {claims['scope']} "
                f"ttl {claims['exp'] - claims['iat']}s" + ("" if key is None else f" key {key.prefix}"),
                context=context,
            )
        )
        return IssuedToken(
            token=Secret(f"token {jti}", token),
            jti=jti,
            kid=signing.kid,
            expires_at=float(claims["exp"]),
            scopes=granted,
            tenant=tenant,
            subject=subject,
            audience=audience,
            issued_at=float(claims["iat"]),
            key_id=None if key is None else key.id,
        )

    def verify(self, token: str, *, audience: str, tenant: str | None = None) -> TokenClaims:
        """The claims of a valid token for ``audience`` (and ``tenant``, if given).

        ``AccessDenied``: malformed, bad signature, unknown or retired key, wrong issuer, audience or tenant,
        not yet valid, a lifetime above ``max_ttl_seconds``, a key-only scope, revoked (itself, or the API key
        that minted it). ``Expired``: past ``exp`` + leeway. No database read but the periodic refreshes.
        """
        now = self._clock()
        if not isinstance(token, str):
            raise AccessDenied("malformed token: not text")
        digest = hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        claims = self._verified.get((digest, audience))
        if claims is None:
            claims = self._verify_signature(token, audience, now)
            self._verified.put((digest, audience), claims, expires_at=claims.expires_at + self.leeway_seconds)
        if tenant is not None and claims.tenant != tenant:
            raise AccessDenied(f"token {claims.jti!r} is for another tenant, not {tenant!r}")
        if self._revocations.is_revoked(claims.jti, claims.tenant_id, now):
            raise AccessDenied(f"token {claims.jti!r} was revoked")
        if claims.key_id is not None and self._revocations.is_key_revoked(claims.key_id, now):
            raise AccessDenied(f"token {claims.jti!r} was revoked with the API key srk_{claims.key_id} that minted it")
        if self._revocations.tenant_id(claims.tenant, now) != claims.tenant_id:
            raise AccessDenied(f"token {claims.jti!r} is for a tenant {claims.tenant!r} that no longer exists")
        return claims

    def claims_to_revoke(self, token: str) -> TokenClaims | None:
        """The claims of a token this service signed, for any audience, so that it can be revoked: signature,
        issuer, form and times are checked, not the audience nor revocations. ``None`` if it has expired
        (nothing left to revoke); ``AccessDenied`` if it is not a valid token of this issuer."""
        if not isinstance(token, str):
            raise AccessDenied("malformed token: not text")
        try:
            return self._verify_signature(token, None, self._clock())
        except Expired:
            return None

    def _verify_signature(self, token: str, audience: str | None, now: float) -> TokenClaims:
        """Signature, issuer, audience and times: once per token (an agent presents the same token many times;
        its key outlives it, since a key verifies until its successor's start plus the longest TTL)."""
        kid = unverified_kid(token)
        key = self._keys.verification_key(kid, now)
        if key is None:
            raise AccessDenied(f"token is signed by an unknown or retired key {kid!r}")
        return verify_token(
            token,
            key.public_key,
            kid=kid,
            issuer=self.issuer,
            audience=audience,
            now=now,
            leeway=self.leeway_seconds,
            max_lifetime=self.max_ttl_seconds,
        )

    def revoke(
        self, jti: str, *, tenant: str, expires_at: float | None = None, actor: str, context: str | None = None
    ) -> None:
        """Revoke a token of ``tenant`` by its ``jti``; ``expires_at`` is its expiry if known (from verified
        claims: the row is pruned after it), else the row is kept as long as any token can live. Fails at
        once in this process and within ``revocation_refresh_seconds`` in the others. Audited; ``NotFound``
        for an unknown tenant; ``InvalidInput`` for a jti that is not 1-31 of A-Z a-z 0-9 _ -. ``context``:
        the revoking caller's, on the ``token.revoke`` event."""
        check_text("actor", actor, MAX_LABEL_CHARS)
        until = float("inf") if expires_at is None else expires_at
        self._revocations.revoke(jti, tenant=tenant, expires_at=until, actor=actor, context=context)

    def key_revoked(self, key_id: str) -> None:
        """Tell this service that the API key ``key_id`` was revoked (``ApiKeys.revoke`` wrote it): the tokens
        it minted fail here at once. Other processes see it within ``revocation_refresh_seconds``."""
        self._revocations.key_revoked(key_id)

    def jwks(self) -> dict[str, Any]:
        """The public keys that verify tokens now (each inside its window), newest first, as a JWK Set."""
        keys = self._keys.verification_keys(self._clock())
        return jwks_document([(k.kid, k.public_key) for k in keys])

    def rotate(self, actor: str) -> str:
        """A new signing key, which signs from now on; the old one verifies through the overlap. Its kid."""
        check_text("actor", actor, MAX_LABEL_CHARS)
        return self._keys.rotate(actor)

    def rotate_if_due(self, actor: str | None = None) -> str | None:
        """Rotate when there is no key or the newest is ``rotation_seconds`` old (call it on a timer or at
        start-up); the new kid, or ``None``."""
        return self._keys.rotate_if_due(actor or self._vault.actor)

    @property
    def kids(self) -> list[str]:
        """The kids of the keys that verify now, newest (the signer) first."""
        return [k.kid for k in self._keys.verification_keys(self._clock())]
