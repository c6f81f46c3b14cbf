"""AWS KMS key provider: ``aws-kms:alias/<name>?region=us-east-1`` (docs/providers/aws-kms.md).

Versions are keys. AWS KMS rotates a key's backing material itself but cannot destroy one backing key
of a key, so strongroom cannot shred with it. Version N is therefore a KMS key of its own (symmetric,
``ENCRYPT_DECRYPT``) with the alias ``alias/<name>/v<N>``, and ``alias/<name>`` points at the current
version. ``add_version`` creates a key, its version alias, and moves ``alias/<name>`` to it.

``destroy_version(N)`` schedules key N for deletion (``pending-days=``, default 7, the minimum AWS
allows) and deletes its version alias. AWS refuses to use the key at once (key state
``PendingDeletion``: Decrypt fails for everyone), and deletes the material when the window ends; until
then an administrator can cancel the deletion. Once the window has passed nothing key N wrapped can be
unwrapped, by anyone, ever.

Opening a name that has no key yet creates version 1 (an operator may instead create the key and the
aliases ``alias/<name>/v1`` and ``alias/<name>`` beforehand, with a key policy of their own; an
``alias/<name>`` without version aliases is adopted as version 1). A key ARN or key id instead of an
alias gives a fixed single key, version 1: it wraps and unwraps but cannot add or destroy versions.

``context`` is the KMS encryption context ``{"strongroom": base64(context)}`` (``"-"`` when empty):
authenticated by KMS, and visible in CloudTrail, so it must not be secret (it is not). Errors name the
provider (its URI without the query) and the fix; never a key, a wrapped key or an AWS response body.
boto3 is imported only here, when an ``aws-kms:`` URI is used (extra ``strongroom[aws]``).
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import re
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from strongroom.crypto.providers.messages import provider_error, shown_uri
from strongroom.errors import KeyProviderError, StrongroomError, TamperedError
from strongroom.vocabulary import KEY_ID_MAX

SCHEME = "aws-kms"
DEFAULT_PENDING_DAYS = 7  # the shortest deletion window AWS KMS allows (and the longest is 30)
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 10.0
MAX_ATTEMPTS = 2  # botocore "standard" retries: the first try and one retry
CONTEXT_KEY = "strongroom"
_OPTIONS = ("region", "endpoint", "pending-days")
_NAME = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")
_VERSION_SEGMENT = re.compile(r"v[0-9]+")
_KEY_ID = re.compile(r"(mrk-[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.IGNORECASE)
_ARN = re.compile(r"arn:(?P<partition>[a-z-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>[0-9]{12}):(?P<rest>.+)")
_MAX_ALIAS = 256
_TAMPERED = ("InvalidCiphertextException", "IncorrectKeyException")
_KEY_STATE = ("DisabledException", "KMSInvalidStateException")
_BAD_CREDENTIALS = (
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "ExpiredToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
)
_UNAVAILABLE = ("KMSInternalException", "DependencyTimeoutException", "ThrottlingException", "LimitExceededException")
_ACTIONS = {
    "encrypt": "kms:Encrypt",
    "decrypt": "kms:Decrypt",
    "describe_key": "kms:DescribeKey",
    "list_aliases": "kms:ListAliases",
    "create_key": "kms:CreateKey and kms:TagResource",
    "create_alias": "kms:CreateAlias",
    "update_alias": "kms:UpdateAlias",
    "delete_alias": "kms:DeleteAlias",
    "schedule_key_deletion": "kms:ScheduleKeyDeletion",
}


def _endpoint_shown(endpoint: str) -> str:
    """An endpoint URL without any user info, path or query."""
    parts = urlsplit(endpoint)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


class _Target:
    """What the URI names: an alias name (versions managed) or one fixed key (key id or key ARN)."""

    def __init__(self, uri: str) -> None:
        shown = shown_uri(uri)
        scheme, sep, rest = uri.partition(":")
        if scheme != SCHEME or not sep:
            raise provider_error(shown, f"is not an {SCHEME}: URI", f"use {SCHEME}:alias/<name>")
        target, _, query = rest.partition("?")
        options: dict[str, str] = {}
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name not in _OPTIONS:
                raise provider_error(shown, f"unknown URI option {name!r}", "use only: " + ", ".join(_OPTIONS))
            if name in options:
                raise provider_error(shown, f"URI option {name!r} is given twice", "give it once")
            options[name] = value
        self.region: str | None = options.get("region") or None
        self.endpoint: str | None = options.get("endpoint") or None
        if self.endpoint is not None and urlsplit(self.endpoint).scheme not in ("http", "https"):
            raise provider_error(shown, "endpoint= must be an http(s) URL", "use endpoint=https://<host>")
        days_text = options.get("pending-days", str(DEFAULT_PENDING_DAYS))
        if not (days_text.isascii() and days_text.isdigit() and 7 <= int(days_text) <= 30):
            raise provider_error(
                shown,
                "pending-days= must be a whole number from 7 to 30",
                f"use 7 to 30, or leave it out ({DEFAULT_PENDING_DAYS})",
            )
        self.pending_days = int(days_text)
        self.alias: str | None = None  # "alias/<name>" when versions are managed
        self.fixed_key: str | None = None  # a key id or key ARN otherwise
        arn = _ARN.fullmatch(target)
        if arn is not None:
            if self.region is not None and self.region != arn["region"]:
                raise provider_error(
                    shown, f"region={self.region} differs from the ARN's region", "drop region= or make it the same"
                )
            self.region = arn["region"]
            target = arn["rest"]
            if target.startswith("key/") and _KEY_ID.fullmatch(target[4:]):
                self.fixed_key = f"arn:{arn['partition']}:kms:{arn['region']}:{arn['account']}:{target}"
        elif _KEY_ID.fullmatch(target):
            self.fixed_key = target
        if self.fixed_key is None:
            self.alias = self._alias(target, shown)

    @staticmethod
    def _alias(target: str, shown: str) -> str:
        name = target.removeprefix("alias/")
        if not target.startswith("alias/") or not _NAME.fullmatch(name):
            raise provider_error(
                shown,
                "name an alias, a key id or a key ARN",
                f"use {SCHEME}:alias/<name> (letters, digits, '/', '_', '-')",
            )
        if name.startswith("aws/"):
            raise provider_error(
                shown, "alias/aws/ names belong to AWS managed keys", f"use an alias of your own: {SCHEME}:alias/<name>"
            )
        if _VERSION_SEGMENT.fullmatch(name.rsplit("/", 1)[-1]):
            raise provider_error(shown, "the name may not end in /v<N>: those are the version aliases", "drop /v<N>")
        if len(target) + len("/v99999") > _MAX_ALIAS:
            raise provider_error(shown, "the alias name is too long", "use a shorter name")
        return target


class AwsKmsKeyProvider:
    """KEKs in AWS KMS: version N is the KMS key ``alias/<name>/v<N>``; ``alias/<name>`` is current.

    One boto3 client per provider (boto3 clients are thread-safe); the provider's own view of its
    versions is guarded by a lock. Rotations are serialised within a process; two processes adding a
    version at once both get a version of their own (the loser of ``alias/<name>/v<N>`` retries).
    """

    def __init__(self, uri: str, *, environment: str = "dev", client: Any = None) -> None:
        """Connect and load the versions; a name with no key yet gets version 1.

        ``client``: a ready boto3 ``kms`` client (its own region, endpoint and timeouts then apply).
        """
        self._uri = uri
        self._shown = shown_uri(uri)
        self._target = _Target(uri)
        self._environment = environment
        self._lock = threading.RLock()
        self._versions: dict[int, str] = {}  # version -> KMS key id
        self._destroyed: dict[int, str] = {}  # versions this provider destroyed, for error messages
        self._current = 1
        self._errors: Any = self._import("botocore.exceptions")
        self._client = client if client is not None else self._new_client()
        region = self._target.region or str(self._client.meta.region_name)
        self._target.region = region
        self._key_id = f"{SCHEME}:{region}:" + (self._target.alias or self._fixed_key_name())
        if len(self._key_id) > KEY_ID_MAX:  # before a key is made for it
            raise provider_error(
                self._shown,
                f"its key id is {len(self._key_id)} characters; the store holds at most {KEY_ID_MAX}",
                "use a shorter alias",
            )
        if self._target.alias is not None:
            with self._lock:
                self._load(create=True)
        else:
            self._versions = {1: self._target.fixed_key or ""}

    def __repr__(self) -> str:
        return f"AwsKmsKeyProvider(key_id={self._key_id!r}, versions={sorted(self._versions)})"

    # -- the provider contract ------------------------------------------------------------------

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def uri(self) -> str:
        return self._uri

    def current_version(self) -> int:
        return self._current

    def versions(self) -> list[int]:
        return sorted(self._versions)

    def wrap(self, key: bytes, context: bytes) -> tuple[int, bytes]:
        version = self._current
        response = self._call(
            "encrypt",
            version,
            KeyId=self._key_ref(version),
            Plaintext=key,
            EncryptionContext=self._context(context),
        )
        return version, bytes(response["CiphertextBlob"])

    def unwrap(self, wrapped: bytes, kek_version: int, context: bytes) -> bytes:
        if not wrapped:
            raise TamperedError("a wrapped key is empty")
        if kek_version < 1 or (self._target.fixed_key is not None and kek_version != 1):
            raise self._no_version(kek_version)
        response = self._call(
            "decrypt",
            kek_version,
            KeyId=self._key_ref(kek_version),
            CiphertextBlob=wrapped,
            EncryptionContext=self._context(context),
        )
        return bytes(response["Plaintext"])

    def add_version(self) -> int:
        """Create key ``alias/<name>/v<N+1>`` (tagged, described ``strongroom <name> v<N+1>``) and point
        ``alias/<name>`` at it; return N+1. The earlier versions stay usable until destroyed."""
        alias = self._managed("add a version")
        with self._lock:
            self._load(create=False)
            version = self._create_version(alias)
            self._point_current(alias, version)
            self._current = version
            return version

    def destroy_version(self, version: int) -> None:
        """Schedule the KMS key of ``version`` for deletion and delete its alias ``alias/<name>/v<N>``.

        AWS refuses the key at once (state ``PendingDeletion``: Decrypt fails for every caller) and
        deletes its material when the window of ``pending-days`` (7 to 30, default 7) has passed; until
        then ``aws kms cancel-key-deletion`` can undo it. Refuses the current version.
        """
        alias = self._managed("destroy a version")
        with self._lock:
            self._load(create=False)
            if version == self._current:
                raise provider_error(
                    self._shown,
                    f"version {version} is current; not destroyed",
                    "add a version and rewrap under it first",
                )
            key = self._versions.get(version)
            if key is None:
                raise self._no_version(version)
            if key == self._versions[self._current]:
                raise provider_error(
                    self._shown,
                    f"version {version} is the key of current version {self._current}; not destroyed",
                    f"point alias {alias}/v{version} at its own key, or leave it",
                )
            metadata = self._call("describe_key", version, KeyId=key)["KeyMetadata"]
            if metadata.get("KeyState") != "PendingDeletion":  # a retry after a failed alias deletion
                self._call("schedule_key_deletion", version, KeyId=key, PendingWindowInDays=self._target.pending_days)
            self._call("delete_alias", version, AliasName=f"{alias}/v{version}")
            self._destroyed[version] = self._versions.pop(version)

    def reload(self) -> None:
        """Re-list the aliases: learn versions other processes added, destroyed, or made current."""
        if self._target.alias is not None:
            with self._lock:
                self._load(create=False)

    def check(self) -> None:
        """Describe the current version's key: ``KeyProviderError`` unless it is an enabled symmetric
        encryption key (names the key state and the fix)."""
        version = self._current
        metadata = self._call("describe_key", version, KeyId=self._key_ref(version))["KeyMetadata"]
        state = str(metadata.get("KeyState", "unknown"))
        if state != "Enabled":
            raise self._state_error(version, state, str(metadata.get("KeyId", "?")))
        usage = metadata.get("KeyUsage") or "ENCRYPT_DECRYPT"  # AWS's default, which moto leaves out
        if usage != "ENCRYPT_DECRYPT" or (metadata.get("KeySpec") or "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            raise provider_error(
                self._shown,
                f"{self._which(version)} is not a symmetric encryption key",
                "use a SYMMETRIC_DEFAULT key with usage ENCRYPT_DECRYPT",
            )

    # -- versions -------------------------------------------------------------------------------

    def _load(self, *, create: bool) -> None:
        """Read the aliases of this name into ``_versions`` and ``_current`` (the lock is held).

        With ``create`` (on open): a name without any alias gets version 1, and an ``alias/<name>``
        without version aliases (a key the operator made) is adopted as version 1.
        """
        alias = self._managed("list versions")
        prefix = alias + "/v"
        versions, current_key = self._list(alias)
        if not versions and create:
            if current_key is None:
                self._versions = {}
                version = self._create_version(alias)
                self._point_current(alias, version)
                self._current = version
                return
            self._call("create_alias", 1, AliasName=f"{alias}/v1", TargetKeyId=current_key, tolerate="AlreadyExists")
            versions, current_key = self._list(alias)
        if versions and current_key is None and create:
            # A first open that stopped between the version alias and alias/<name> (or one running now).
            newest = max(versions)
            self._call("create_alias", newest, AliasName=alias, TargetKeyId=versions[newest], tolerate="AlreadyExists")
            versions, current_key = self._list(alias)
        if not versions:
            raise provider_error(
                self._shown,
                f"AWS KMS has no alias {alias} nor any {prefix}<N>",
                "were they deleted? open the provider once to create version 1",
            )
        current = [v for v, key in versions.items() if key == current_key]
        if not current:
            newest = max(versions)
            what = "does not exist" if current_key is None else "points at no version alias"
            raise provider_error(
                self._shown,
                f"alias {alias} {what} (versions: {sorted(versions)})",
                f"point it at a version: aws kms update-alias (or create-alias) --alias-name {alias} "
                f"--target-key-id {versions[newest]}",
            )
        self._versions = versions
        self._current = max(current)

    def _list(self, alias: str) -> tuple[dict[int, str], str | None]:
        """The version aliases of this name ({version: key id}) and the key ``alias/<name>`` targets."""
        versions: dict[int, str] = {}
        current_key: str | None = None
        prefix = alias + "/v"
        for page in self._paginate("list_aliases"):
            for entry in page.get("Aliases", []):
                name, key = str(entry.get("AliasName", "")), entry.get("TargetKeyId")
                if key is None:
                    continue
                number = name[len(prefix) :]
                if name == alias:
                    current_key = str(key)
                elif name.startswith(prefix) and number.isascii() and number.isdigit() and number[0] != "0":
                    versions[int(number)] = str(key)
        return versions, current_key

    def _create_version(self, alias: str) -> int:
        """Create a KMS key and its version alias, one above the highest version; return the version."""
        name = alias.removeprefix("alias/")
        for _ in range(3):
            version = max(self._versions, default=0) + 1
            metadata = self._call(
                "create_key",
                version,
                Description=f"strongroom {name} v{version}",
                KeyUsage="ENCRYPT_DECRYPT",
                KeySpec="SYMMETRIC_DEFAULT",
                Tags=[
                    {"TagKey": "strongroom:key", "TagValue": name},
                    {"TagKey": "strongroom:version", "TagValue": str(version)},
                    {"TagKey": "strongroom:environment", "TagValue": self._environment},
                ],
            )["KeyMetadata"]
            key = str(metadata["KeyId"])
            try:
                created = self._call(
                    "create_alias", version, AliasName=f"{alias}/v{version}", TargetKeyId=key, tolerate="AlreadyExists"
                )
            except StrongroomError:
                self._discard(key)
                raise
            if created is not None:
                self._versions[version] = key
                return version
            # Another process made this version meanwhile: our key wrapped nothing; take the next number.
            self._discard(key)
            self._versions, _ = self._list(alias)
        raise provider_error(self._shown, "other processes kept adding versions; none added", "try again")

    def _point_current(self, alias: str, version: int) -> None:
        key = self._versions[version]
        if self._call("update_alias", version, AliasName=alias, TargetKeyId=key, tolerate="NotFound") is None:
            self._call("create_alias", version, AliasName=alias, TargetKeyId=key)

    def _discard(self, key: str) -> None:
        """Schedule a key that never wrapped anything for deletion; best effort."""
        with contextlib.suppress(Exception):  # the error being raised already says what failed
            self._client.schedule_key_deletion(KeyId=key, PendingWindowInDays=DEFAULT_PENDING_DAYS)

    # -- calls and errors -------------------------------------------------------------------------

    def _call(self, operation: str, version: int, *, tolerate: str | None = None, **arguments: Any) -> Any:
        """``client.<operation>(**arguments)``; an AWS error becomes strongroom's, raised outside ``except``
        (so no botocore exception, which may echo a parameter, rides along). ``None`` for a tolerated code."""
        errors = self._errors
        problem: StrongroomError
        try:
            return getattr(self._client, operation)(**arguments)
        except errors.ClientError as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code") or "ClientError")
            if tolerate is not None and code.startswith(tolerate):
                return None
            problem = self._client_failure(operation, version, code)
        except errors.BotoCoreError as exc:
            problem = self._transport_failure(operation, exc)
        raise problem

    def _paginate(self, operation: str) -> list[dict[str, Any]]:
        errors = self._errors
        problem: StrongroomError
        try:
            return list(self._client.get_paginator(operation).paginate())
        except errors.ClientError as exc:
            code = str(getattr(exc, "response", {}).get("Error", {}).get("Code") or "ClientError")
            problem = self._client_failure(operation, self._current, code)
        except errors.BotoCoreError as exc:
            problem = self._transport_failure(operation, exc)
        raise problem

    def _client_failure(self, operation: str, version: int, code: str) -> StrongroomError:
        which = self._which(version)
        if operation == "decrypt" and code in _TAMPERED:
            return TamperedError(f"{self._shown}: a wrapped key failed authentication under {which}")
        if code in _KEY_STATE or (code == "NotFoundException" and operation in ("encrypt", "decrypt", "describe_key")):
            state, key = self._state_of(version)  # for NotFound: the alias is gone; is the key we knew destroyed?
            if state not in ("unknown", "Enabled") or code in _KEY_STATE:
                return self._state_error(version, state, key)
            return self._no_version(version)
        fix: str | None = None
        if code == "NotFoundException":
            problem, fix = f"AWS KMS {operation} of {which} found no such key or alias", "reload and try again"
        elif code == "AccessDeniedException":
            problem = f"AWS KMS denied {operation} of {which} (AccessDeniedException)"
            fix = f"grant {_ACTIONS.get(operation, operation)} to this role (docs/providers/aws-kms.md)"
        elif code in _BAD_CREDENTIALS:
            problem = f"AWS rejected the credentials ({code})"
            fix = "check AWS_PROFILE, the role, or renew expired credentials"
        elif code in _UNAVAILABLE:
            problem, fix = f"AWS KMS is unavailable ({code})", "retry later"
        else:
            problem = f"AWS KMS {operation} of {which} failed ({code})"
            fix = "see docs/providers/aws-kms.md"
        return provider_error(self._shown, problem, fix)

    def _transport_failure(self, operation: str, exc: BaseException) -> StrongroomError:
        errors = self._errors
        name = type(exc).__name__
        if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
            return provider_error(
                self._shown,
                f"no AWS credentials for KMS ({name})",
                "set AWS_PROFILE or AWS_ACCESS_KEY_ID, or run with an IAM role",
            )
        if isinstance(exc, errors.ConnectionError | errors.HTTPClientError):
            endpoint = _endpoint_shown(str(self._client.meta.endpoint_url))
            return provider_error(
                self._shown,
                f"cannot reach AWS KMS at {endpoint} ({name})",
                "check the network, the region and endpoint= of the URI",
            )
        return provider_error(
            self._shown, f"AWS KMS {operation} failed ({name})", "retry; if it persists, check the network"
        )

    def _state_of(self, version: int) -> tuple[str, str]:
        """The key state and key id of ``version``, for an error message; ``unknown`` if KMS cannot say."""
        known = self._versions.get(version) or self._destroyed.get(version)
        for ref in (self._key_ref(version), known):
            if not ref:
                continue
            try:
                metadata = self._client.describe_key(KeyId=ref)["KeyMetadata"]
            except Exception:  # noqa: S112 -- only a message is at stake: try the key id we knew
                continue
            return str(metadata.get("KeyState", "unknown")), str(metadata.get("KeyId", "?"))
        return "unknown", known or "?"

    def _state_error(self, version: int, state: str, key: str) -> KeyProviderError:
        if state == "Disabled":
            fix = f"enable it: aws kms enable-key --key-id {key}"
        elif state == "PendingDeletion":
            fix = (
                "it is scheduled for deletion (destroyed). Within the window an administrator may undo it: "
                f"aws kms cancel-key-deletion --key-id {key}, then aws kms enable-key --key-id {key}"
            )
        else:
            fix = f"see key {key} in the AWS KMS console; it must be Enabled"
        return provider_error(
            self._shown, f"{self._which(version)} is {state} (key state): AWS KMS refuses to use it", fix
        )

    def _no_version(self, version: int) -> KeyProviderError:
        return provider_error(
            self._shown,
            f"has no version {version} (have {self.versions()})",
            "was the version destroyed before its keys were rewrapped? otherwise reload",
        )

    # -- helpers ----------------------------------------------------------------------------------

    def _which(self, version: int) -> str:
        """``version`` as messages name it after the provider: ``v<N>``, or ``the key`` if the URI names one key."""
        return f"v{version}" if self._target.alias is not None else "the key"

    def _key_ref(self, version: int) -> str:
        """What KMS calls take as KeyId for ``version``: its version alias, or the fixed key."""
        if self._target.alias is None:
            return self._target.fixed_key or ""
        return f"{self._target.alias}/v{version}"

    @staticmethod
    def _context(context: bytes) -> dict[str, str]:
        return {CONTEXT_KEY: base64.b64encode(context).decode("ascii") if context else "-"}

    def _managed(self, action: str) -> str:
        if self._target.alias is None:
            raise provider_error(
                self._shown,
                f"names one fixed key: strongroom cannot {action} of it",
                f"use the alias form {SCHEME}:alias/<name> for rotation and shredding",
            )
        return self._target.alias

    def _fixed_key_name(self) -> str:
        key = self._target.fixed_key or ""
        return key.rsplit(":", 1)[-1] if key.startswith("arn:") else f"key/{key}"

    def _import(self, module: str) -> Any:
        try:
            return importlib.import_module(module)
        except ImportError:
            pass
        # raised outside `except`: no ImportError rides along as context
        raise provider_error(self._shown, "needs boto3", "pip install 'strongroom[aws]'")

    def _new_client(self) -> Any:
        boto3 = self._import("boto3")
        config = self._import("botocore.config")
        errors = self._errors
        problem = ""
        try:
            session = boto3.session.Session()
            region = self._target.region or session.region_name
            if not region:
                problem = "NoRegionError"
            else:
                return session.client(
                    "kms",
                    region_name=region,
                    endpoint_url=self._target.endpoint,
                    config=config.Config(
                        connect_timeout=CONNECT_TIMEOUT,
                        read_timeout=READ_TIMEOUT,
                        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
                    ),
                )
        except errors.BotoCoreError as exc:
            problem = type(exc).__name__
        fix = "add ?region=<region> to the URI, or set AWS_DEFAULT_REGION" if problem == "NoRegionError" else None
        raise provider_error(self._shown, f"cannot create an AWS KMS client ({problem})", fix)


def open_provider(uri: str, *, environment: str) -> AwsKmsKeyProvider:
    """The provider ``uri`` names (``aws-kms:alias/<name>?region=&endpoint=&pending-days=``)."""
    return AwsKmsKeyProvider(uri, environment=environment)


__all__ = ["AwsKmsKeyProvider", "open_provider"]
