"""Rotators for strongroom's own credentials, whose provider is the vault itself.

``signing-key``: the platform secret ``strongroom.token-signing-key`` of tenant ``_platform`` (each version is
one raw 32-byte Ed25519 private key, ``strongroom.tokens.signing_keys``). ``create`` makes a key; ``test``
proves it loads and its signature verifies; nothing to set (``finish`` makes it the key that signs) nor to
revoke: a key verifies the tokens it signed until its successor's creation + the tokens' max TTL + leeway,
whatever its stage, so no live token is cut short.

``api-key``: a secret whose value is a strongroom API key of the secret's tenant (the key a GPT or a backend
uses). ``create`` issues a new key with the same name, scopes and lifetime as the current one; ``test``
authenticates it; ``retire`` revokes the replaced key (and every agent token it minted) after the overlap;
``undo`` revokes the pending key. The new key is named ``<name> [rotation <rotation id>]``: if the process dies
after issuing it and before the engine stored it, that live key is held by nobody, and the rerun of ``create``
finds it by the rotation id and revokes it before issuing another (``strongroom api-key list`` shows it too).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from strongroom.errors import AccessDenied, InvalidInput, NotFound, RotationError
from strongroom.rotation.rotator import BaseRotator, RotationContext
from strongroom.vocabulary import MAX_LABEL_CHARS, PLATFORM_TENANT

if TYPE_CHECKING:
    from strongroom.secret import Secret
    from strongroom.tokens.api_keys import ApiKeyInfo, ApiKeys
    from strongroom.vault import Vault

__all__ = ["ApiKeyRotator", "SigningKeyRotator"]

ACTOR = "strongroom-rotation"
SIGNING_KEY_NAME = "strongroom.token-signing-key"  # strongroom.tokens.signing_keys.KEY_NAME
_TAG = re.compile(r" \[rotation [0-9a-f]+\]$")


def _no_options(rotator: str, options: Mapping[str, Any]) -> None:
    if options:
        raise InvalidInput(f"rotator {rotator!r} takes no options (got {', '.join(sorted(options))[:80]}): remove them")


def _vault(ctx: RotationContext) -> Vault:
    if ctx.vault is None:
        raise RotationError(f"{ctx.describe()}: this rotator needs the rotating vault (run it through Rotations)")
    return ctx.vault


class SigningKeyRotator(BaseRotator):
    """The token-signing key: a new Ed25519 key, signing from ``finish`` on."""

    name: ClassVar[str] = "signing-key"

    def check(self, options: Mapping[str, Any]) -> None:
        _no_options(self.name, options)

    def create(self, ctx: RotationContext) -> bytes:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        if (ctx.tenant, ctx.name) != (PLATFORM_TENANT, SIGNING_KEY_NAME):
            raise RotationError(
                f"{ctx.describe()}: rotator 'signing-key' rotates only {SIGNING_KEY_NAME!r} of tenant "
                f"{PLATFORM_TENANT!r}: use the random rotator for other signing secrets"
            )
        return Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        raw = pending.reveal()
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise RotationError(f"{ctx.describe()}: the new key is not a raw 32-byte Ed25519 private key")
        key = Ed25519PrivateKey.from_private_bytes(raw)
        probe = f"strongroom signing-key test {ctx.rotation_id}".encode()
        try:
            key.public_key().verify(key.sign(probe), probe)
        except InvalidSignature:
            raise RotationError(f"{ctx.describe()}: the new key's signature does not verify") from None


class ApiKeyRotator(BaseRotator):
    """A strongroom API key held as a secret of its own tenant: a new key issued, the old one revoked."""

    name: ClassVar[str] = "api-key"

    def check(self, options: Mapping[str, Any]) -> None:
        _no_options(self.name, options)

    def create(self, ctx: RotationContext) -> str:
        keys = self._keys(ctx)
        tag = f" [rotation {ctx.rotation_id}]"
        # A key of this rotation that exists now was issued by a create that died before the engine stored it:
        # nobody holds it, so revoke it before issuing the one that will be stored.
        for orphan in keys.list(ctx.tenant):
            if orphan.revoked_at is None and orphan.name.endswith(tag):
                keys.revoke(orphan.id, tenant=ctx.tenant, actor=ACTOR)
        current = ctx.current()
        if current is None:
            raise RotationError(f"{ctx.describe()}: there is no current API key to replace: store one first")
        with current:
            old = self._live_key(ctx, keys, current, "current")
        base = _TAG.sub("", old.name)[: MAX_LABEL_CHARS - len(tag)]
        ttl = None if old.expires_at is None else old.expires_at - old.created_at
        issued, _ = keys.create(tenant=ctx.tenant, name=base + tag, scopes=old.scopes, ttl_seconds=ttl, actor=ACTOR)
        with issued:
            return issued.reveal()

    def test(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._live_key(ctx, self._keys(ctx), pending, "new")

    def undo(self, ctx: RotationContext, pending: Secret[Any]) -> None:
        self._revoke(ctx, pending)

    def retire(self, ctx: RotationContext, previous: Secret[Any]) -> None:
        self._revoke(ctx, previous)

    # -- helpers ------------------------------------------------------------------------------------

    def _keys(self, ctx: RotationContext) -> ApiKeys:
        from strongroom.tokens.api_keys import ApiKeys

        return ApiKeys(_vault(ctx), clock=ctx.clock)

    def _live_key(self, ctx: RotationContext, keys: ApiKeys, secret: Secret[Any], which: str) -> ApiKeyInfo:
        """The key's metadata if ``secret`` holds a live key of the secret's own tenant, else ``RotationError``."""
        value = secret.reveal()
        try:
            info = keys.authenticate(value if isinstance(value, str) else "")
        except AccessDenied as exc:  # strongroom's own message: it names the key's public id, never the key
            raise RotationError(f"{ctx.describe()}: the {which} value is not a live API key: {exc}") from None
        if info.tenant != ctx.tenant:
            owner = "an operator key" if info.tenant is None else f"a key of tenant {info.tenant!r}"
            raise RotationError(
                f"{ctx.describe()}: the {which} value is {owner}: an api-key secret holds a key of its own tenant"
            )
        return info

    def _revoke(self, ctx: RotationContext, secret: Secret[Any]) -> None:
        """Revoke the key ``secret`` holds; a key already revoked or gone is done (the step may run again)."""
        from strongroom.rules.api_key_format import public_id

        value = secret.reveal()
        key_id = public_id(value) if isinstance(value, str) else None
        if key_id is None:
            return  # not a key (an operator replaced the value by hand): nothing to revoke
        try:
            self._keys(ctx).revoke(key_id, tenant=ctx.tenant, actor=ACTOR)
        except NotFound:
            return
