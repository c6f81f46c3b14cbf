"""The Ed25519 keys that sign agent tokens: kept in the vault, rotated with an overlap, cached in process.

Storage: one platform secret, ``strongroom.token-signing-key`` of the tenant ``_platform``; each
version is one key (its raw 32-byte private key), so the keys are envelope-encrypted, rewrapped and
audited like every other secret, and the version's ``created_at`` is when the key was made. A key is
decrypted through ``Vault.use(purpose="token-signing")`` once per process and version; only the newest
(signing) key stays in memory as a private key, older ones as public keys only.

Overlap: the newest version signs. An older version keeps verifying until its successor's creation
time + ``max_ttl_seconds`` + ``leeway_seconds``: by then every token it signed has expired (no token
outlives ``max_ttl_seconds``), so retiring it never cuts a live token short. The JWKS lists exactly the
keys inside that window.

Other processes: the version list is re-read every ``refresh_seconds`` and whenever a token names an
unknown ``kid`` (at most once a second), and before every signature, so a rotation elsewhere is picked up.
The vault and this module must use the same clock: windows are computed from the vault's ``created_at``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from strongroom.clock import Clock
from strongroom.errors import Conflict, NotFound, StrongroomError, TamperedError
from strongroom.tokens.common import PLATFORM_TENANT
from strongroom.tokens.jwks import thumbprint
from strongroom.vault import Vault
from strongroom.vocabulary import Stage

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_NAME = "strongroom.token-signing-key"
PURPOSE = "token-signing"
_UNKNOWN_KID_REFRESH_SECONDS = 1.0  # a stream of forged kids costs at most one read a second
log = logging.getLogger("strongroom.tokens")


@dataclass(frozen=True)
class VerificationKey:
    """One signing-key version as a verifier sees it: public key and the end of its verification window."""

    version: int
    kid: str
    created_at: float
    verify_until: float  # inf for the newest key
    public_key: Ed25519PublicKey = field(repr=False, compare=False)


@dataclass(frozen=True)
class _Ring:
    keys: tuple[VerificationKey, ...]  # newest first
    signer: Ed25519PrivateKey | None  # the newest version's private key (None when there is no key)
    read_at: float


_EMPTY = _Ring(keys=(), signer=None, read_at=float("-inf"))


class SigningKeys:
    """The environment's token-signing keys, as this process knows them."""

    def __init__(
        self,
        vault: Vault,
        *,
        clock: Clock,
        max_ttl_seconds: float,
        leeway_seconds: float,
        rotation_seconds: float,
        refresh_seconds: float = 5.0,
    ) -> None:
        self._vault = vault
        self._clock = clock
        self._max_ttl_seconds = max_ttl_seconds
        self._leeway_seconds = leeway_seconds
        self._rotation_seconds = rotation_seconds
        self._refresh_seconds = refresh_seconds
        self._ring = _EMPTY
        self._public: dict[int, Ed25519PublicKey] = {}  # every version decrypted so far, still in its window
        self._lock = threading.RLock()
        self._unknown_kid_read_at = float("-inf")

    def __repr__(self) -> str:
        return f"SigningKeys(kids={[k.kid for k in self._ring.keys]!r})"

    # -- reading ----------------------------------------------------------------------------------

    def live_version(self) -> int:
        """The current key version as stored (0: none)."""
        return self._vault.token_repo.platform_secret_version(KEY_NAME)

    def verification_keys(self, now: float) -> list[VerificationKey]:
        """The keys inside their verification window at ``now``, newest first."""
        ring = self._ring
        if now - ring.read_at >= self._refresh_seconds:
            ring = self._reload(now)
        return [k for k in ring.keys if now < k.verify_until]

    def verification_key(self, kid: str, now: float) -> VerificationKey | None:
        """The key named ``kid`` if it is inside its window, re-reading the versions once for an unknown kid."""
        for key in self.verification_keys(now):
            if key.kid == kid:
                return key
        if any(k.kid == kid for k in self._ring.keys):
            return None  # known but retired: no re-read can bring it back
        with self._lock:
            if now - self._unknown_kid_read_at < _UNKNOWN_KID_REFRESH_SECONDS:
                return None
            self._unknown_kid_read_at = now
        ring = self._reload(now)
        return next((k for k in ring.keys if k.kid == kid and now < k.verify_until), None)

    def signer(self, live_version: int, *, actor: str) -> tuple[VerificationKey, Ed25519PrivateKey]:
        """The newest key and its private key, given the stored version; makes the first key if there is none."""
        ring = self._ring
        if live_version == 0:  # no key yet (or its secret was deleted): make one
            with contextlib.suppress(Conflict):  # another process made the first key at the same moment: use theirs
                self.rotate(actor)
            ring = self._reload(self._clock())
        elif not ring.keys or ring.keys[0].version != live_version or ring.signer is None:
            ring = self._reload(self._clock())
        if not ring.keys or ring.signer is None:
            raise StrongroomError("no token-signing key is available")
        return ring.keys[0], ring.signer

    # -- rotation ---------------------------------------------------------------------------------

    def rotate(self, actor: str) -> str:
        """Write a new key version, which signs from now on; returns its kid. ``Conflict`` if another process
        rotated at the same moment (its key is then the newest)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

        with self._lock:
            self._ensure_platform_tenant(actor)
            live = self.live_version()
            private = Ed25519PrivateKey.generate()
            kid = thumbprint(private.public_key())
            # The new version and its token.key_rotate event commit together (one unit of work of the vault).
            version, _ = self._vault.token_repo.rotate_signing_key(
                KEY_NAME,
                private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption()),
                expected_version=live,
                description="Ed25519 keys that sign agent tokens (strongroom.tokens); one key per version",
                actor=actor,
                detail=f"kid {kid}",
            )
            self._public[version] = private.public_key()
            self._reload(self._clock(), signer=(version, private))
        log.info("token-signing key rotated: version %d, kid %s", version, kid)
        return kid

    def rotate_if_due(self, actor: str) -> str | None:
        """Rotate if there is no key or the newest is ``rotation_seconds`` old; the new kid, or None."""
        now = self._clock()
        ring = self._reload(now)
        if ring.keys and now < ring.keys[0].created_at + self._rotation_seconds:
            return None
        try:
            return self.rotate(actor)
        except Conflict:  # another process rotated first
            self._reload(self._clock())
            return None

    # -- loading ----------------------------------------------------------------------------------

    def _reload(self, now: float, *, signer: tuple[int, Ed25519PrivateKey] | None = None) -> _Ring:
        """Re-read the version list, decrypt versions not seen yet, and compute the windows."""
        with self._lock:
            try:
                # A pending version (a rotation not yet finished) neither signs nor verifies until promoted.
                listed = [v for v in self._vault.versions(PLATFORM_TENANT, KEY_NAME) if v.stage != Stage.PENDING]
                # The current version signs, even when it is not the newest (an operator rolled a key back): it
                # goes last, and the versions after it in number stop verifying at once.
                versions = [
                    (v.version, v.created_at)
                    for v in sorted(listed, key=lambda v: (v.stage == Stage.CURRENT, v.version))
                ]
            except NotFound:
                versions = []
            keys: list[VerificationKey] = []
            private: Ed25519PrivateKey | None = None
            for index, (version, created_at) in enumerate(versions):
                newest = index == len(versions) - 1
                verify_until = (
                    float("inf") if newest else versions[index + 1][1] + self._max_ttl_seconds + self._leeway_seconds
                )
                if now >= verify_until:
                    self._public.pop(version, None)
                    continue
                if signer is not None and signer[0] == version:
                    private = signer[1] if newest else None
                elif newest and self._ring.signer is not None and self._ring.keys[0].version == version:
                    private = self._ring.signer
                elif version not in self._public or newest:
                    loaded = self._decrypt(version)
                    self._public[version] = loaded.public_key()
                    private = loaded if newest else None
                public = self._public[version]
                keys.append(
                    VerificationKey(
                        version=version,
                        kid=thumbprint(public),
                        created_at=created_at,
                        verify_until=verify_until,
                        public_key=public,
                    )
                )
            self._ring = _Ring(keys=tuple(reversed(keys)), signer=private, read_at=now)
            return self._ring

    def _decrypt(self, version: int) -> Ed25519PrivateKey:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        with self._vault.use(PLATFORM_TENANT, KEY_NAME, purpose=PURPOSE, version=version) as secret:
            raw = secret.reveal()
            key = Ed25519PrivateKey.from_private_bytes(raw) if isinstance(raw, bytes) and len(raw) == 32 else None
        if key is None:
            raise TamperedError(f"{KEY_NAME} v{version} is not a 32-byte Ed25519 private key")
        return key

    def _ensure_platform_tenant(self, actor: str) -> None:
        if not self._vault.token_repo.platform_tenant_exists():
            with contextlib.suppress(Conflict):  # created concurrently
                self._vault.create_tenant(PLATFORM_TENANT, actor=actor)
