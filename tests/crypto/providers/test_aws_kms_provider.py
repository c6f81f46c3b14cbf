"""The ``aws-kms:`` key provider against moto's server: a real HTTP server process on loopback.

Nothing is patched in this process: boto3 signs and sends real requests to moto. The credentials are
fake. Each test has an alias of its own, so the tests share one server per test process.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from strongroom.crypto.providers import KeyProvider, ManagedKeyProvider  # noqa: E402 -- after the importorskip guards
from strongroom.crypto.providers.aws_kms import AwsKmsKeyProvider  # noqa: E402
from strongroom.crypto.providers.uri import provider_from_uri  # noqa: E402
from strongroom.errors import KeyProviderError, TamperedError  # noqa: E402
from strongroom.testing import assert_not_leaked  # noqa: E402

from ...conftest import finishes  # noqa: E402, TID252 -- pytest's importlib mode resolves the package
from ...provider_fixtures.moto_kms import (  # noqa: E402, TID252
    REGION,
    MotoServer,
    start_moto_server,
    use_fake_credentials,
)

ROOT_KEY = bytes(range(32))
CONTEXT = b"strongroom root key v1 env=dev"


@pytest.fixture(scope="session")
def moto_kms() -> Iterator[MotoServer]:
    server = start_moto_server()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_credentials(monkeypatch)


@pytest.fixture
def uri(moto_kms: MotoServer) -> str:
    """An ``aws-kms:`` URI for an alias of this test's own."""
    return moto_kms.new_uri()


@pytest.fixture
def kms(moto_kms: MotoServer) -> Any:
    """A plain boto3 client on the moto server, to arrange and inspect keys as an operator would."""
    return boto3.client("kms", region_name=REGION, endpoint_url=moto_kms.endpoint)


def _alias(uri: str) -> str:
    return uri.removeprefix("aws-kms:").split("?", 1)[0]


def _key_of(kms: Any, alias: str) -> dict[str, Any]:
    metadata: dict[str, Any] = kms.describe_key(KeyId=alias)["KeyMetadata"]
    return metadata


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed on return: nothing listens there


def _assert_readable(error: BaseException, uri: str) -> None:
    """An error names the provider without the URI's query, in lines of at most 80 columns."""
    message = str(error)
    assert _alias(uri) in message, message
    assert "?" not in message
    assert "endpoint=" not in message
    assert all(len(line) <= 80 for line in message.splitlines()), message
    assert error.__context__ is None  # no botocore exception (it may echo a parameter) rides along


def test_open_creates_version_1_and_round_trips(uri: str, kms: Any) -> None:
    """A new alias gets version 1 (a tagged, described key); wrap then unwrap gives the key back."""
    provider = AwsKmsKeyProvider(uri, environment="prod")

    assert provider.versions() == [1]
    assert provider.current_version() == 1
    version, wrapped = provider.wrap(ROOT_KEY, CONTEXT)
    assert version == 1
    assert ROOT_KEY not in wrapped
    assert provider.unwrap(wrapped, version, CONTEXT) == ROOT_KEY
    with pytest.raises(KeyProviderError, match=r"has\s+no\s+version\s+0"):
        provider.unwrap(wrapped, 0, CONTEXT)

    alias = _alias(uri)
    key = _key_of(kms, f"{alias}/v1")
    assert key["KeyId"] == _key_of(kms, alias)["KeyId"]
    assert key["Description"] == f"strongroom {alias.removeprefix('alias/')} v1"
    assert (key["KeyState"], key["KeyUsage"], key["KeySpec"]) == ("Enabled", "ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT")
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags == {
        "strongroom:key": alias.removeprefix("alias/"),
        "strongroom:version": "1",
        "strongroom:environment": "prod",
    }
    assert provider.key_id == f"aws-kms:{REGION}:{alias}"
    assert provider.uri == uri
    provider.check()

    again = AwsKmsKeyProvider(uri)  # a second process finds version 1, creates nothing
    assert (again.versions(), again.key_id) == ([1], provider.key_id)
    assert again.unwrap(wrapped, 1, CONTEXT) == ROOT_KEY


def test_context_is_bound_and_a_changed_blob_is_tampered(uri: str) -> None:
    """A wrapped key moved to another context, or edited, fails with TamperedError; an empty context works."""
    provider = AwsKmsKeyProvider(uri)
    version, wrapped = provider.wrap(ROOT_KEY, CONTEXT)

    with pytest.raises(TamperedError) as moved:
        provider.unwrap(wrapped, version, CONTEXT + b"x")
    edited = bytearray(wrapped)
    edited[-1] ^= 1
    with pytest.raises(TamperedError):
        provider.unwrap(bytes(edited), version, CONTEXT)
    with pytest.raises(TamperedError):
        provider.unwrap(b"", version, CONTEXT)
    _assert_readable(moved.value, uri)
    assert_not_leaked([ROOT_KEY.hex(), wrapped.hex()], moved.value)

    version, bare = provider.wrap(ROOT_KEY, b"")
    assert provider.unwrap(bare, version, b"") == ROOT_KEY
    with pytest.raises(TamperedError):
        provider.unwrap(bare, version, b"-")


def test_add_version_then_destroy_the_old_one(uri: str, kms: Any) -> None:
    """add_version makes a new key current; destroy_version schedules the old key's deletion, drops its alias,
    and from then on what it wrapped does not unwrap. The current version is never destroyed."""
    provider = AwsKmsKeyProvider(uri)
    _, old = provider.wrap(ROOT_KEY, CONTEXT)

    assert provider.add_version() == 2
    assert (provider.versions(), provider.current_version()) == ([1, 2], 2)
    version, new = provider.wrap(ROOT_KEY, CONTEXT)
    assert version == 2
    assert provider.unwrap(old, 1, CONTEXT) == ROOT_KEY  # old versions stay usable until destroyed
    alias = _alias(uri)
    assert _key_of(kms, alias)["KeyId"] == _key_of(kms, f"{alias}/v2")["KeyId"]
    old_key = _key_of(kms, f"{alias}/v1")["KeyId"]

    with pytest.raises(KeyProviderError, match=r"is\s+current;\s+not\s+destroyed"):
        provider.destroy_version(2)
    provider.destroy_version(1)

    assert provider.versions() == [2]
    destroyed = _key_of(kms, old_key)
    assert destroyed["KeyState"] == "PendingDeletion"
    assert (destroyed["DeletionDate"] - destroyed["CreationDate"]).days in (6, 7)  # the 7-day minimum window
    assert f"{alias}/v1" not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    with pytest.raises(KeyProviderError) as refused:
        provider.unwrap(old, 1, CONTEXT)
    assert "PendingDeletion" in _flat(refused.value)
    _assert_readable(refused.value, uri)
    assert provider.unwrap(new, 2, CONTEXT) == ROOT_KEY
    with pytest.raises(KeyProviderError, match=r"has\s+no\s+version\s+1"):
        AwsKmsKeyProvider(uri).unwrap(old, 1, CONTEXT)  # another process: the version is gone
    with pytest.raises(KeyProviderError, match=r"has\s+no\s+version\s+1"):
        provider.destroy_version(1)


def test_pending_days_sets_the_deletion_window(moto_kms: MotoServer, kms: Any) -> None:
    """``pending-days=30`` schedules the deletion 30 days out; values outside 7 to 30 are refused."""
    uri = moto_kms.new_uri() + "&pending-days=30"
    provider = AwsKmsKeyProvider(uri)
    provider.add_version()
    old_key = _key_of(kms, f"{_alias(uri)}/v1")["KeyId"]
    provider.destroy_version(1)
    destroyed = _key_of(kms, old_key)
    assert (destroyed["DeletionDate"] - destroyed["CreationDate"]).days in (29, 30)
    for days in ("6", "31", "x"):
        with pytest.raises(KeyProviderError, match="pending-days"):
            AwsKmsKeyProvider(moto_kms.new_uri() + f"&pending-days={days}")


def test_reload_learns_versions_another_process_added_and_destroyed(uri: str) -> None:
    """A provider sees another's rotation only after reload(); unwrap of a version it has not seen works."""
    first, second = AwsKmsKeyProvider(uri), AwsKmsKeyProvider(uri)
    first.add_version()
    version, wrapped = first.wrap(ROOT_KEY, CONTEXT)

    assert (second.versions(), second.current_version()) == ([1], 1)
    assert second.unwrap(wrapped, version, CONTEXT) == ROOT_KEY
    second.reload()
    assert (second.versions(), second.current_version()) == ([1, 2], 2)

    first.destroy_version(1)
    second.reload()
    assert second.versions() == [2]


def test_operator_made_alias_is_adopted_as_version_1(moto_kms: MotoServer, kms: Any) -> None:
    """An ``alias/<name>`` an operator created (say with Terraform) becomes version 1; its key is kept."""
    uri = moto_kms.new_uri()
    key = kms.create_key(Description="made by the operator")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=_alias(uri), TargetKeyId=key)

    provider = AwsKmsKeyProvider(uri)

    assert provider.versions() == [1]
    assert _key_of(kms, f"{_alias(uri)}/v1")["KeyId"] == key
    version, wrapped = provider.wrap(ROOT_KEY, CONTEXT)
    assert kms.decrypt(CiphertextBlob=wrapped, EncryptionContext={"strongroom": _b64(CONTEXT)})["KeyId"].endswith(key)
    assert provider.unwrap(wrapped, version, CONTEXT) == ROOT_KEY


@pytest.mark.slow
def test_current_alias_on_a_foreign_key_is_refused_naming_the_fix(uri: str, kms: Any) -> None:
    """``alias/<name>`` moved to a key that is no version: opening says so and how to point it back."""
    AwsKmsKeyProvider(uri)
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.update_alias(AliasName=_alias(uri), TargetKeyId=other)
    with pytest.raises(KeyProviderError) as caught:
        AwsKmsKeyProvider(uri)
    assert "points at no version alias" in _flat(caught.value)
    assert "aws kms update-alias" in _flat(caught.value)
    _assert_readable(caught.value, uri)


def test_open_repairs_a_missing_current_alias_and_reload_names_the_fix(uri: str, kms: Any) -> None:
    """Without ``alias/<name>`` (a first open stopped half-way), opening points it at the newest version;
    reload() only reports it, with the command that fixes it."""
    first = AwsKmsKeyProvider(uri)
    first.add_version()
    kms.delete_alias(AliasName=_alias(uri))

    with pytest.raises(KeyProviderError) as caught:
        first.reload()
    assert f"alias {_alias(uri)} does not exist (versions: [1, 2])" in _flat(caught.value)
    assert "aws kms update-alias (or create-alias)" in _flat(caught.value)
    _assert_readable(caught.value, uri)

    second = AwsKmsKeyProvider(uri)
    assert (second.versions(), second.current_version()) == ([1, 2], 2)
    assert _key_of(kms, _alias(uri))["KeyId"] == _key_of(kms, f"{_alias(uri)}/v2")["KeyId"]


def test_a_version_sharing_the_current_key_is_not_destroyed(uri: str, kms: Any) -> None:
    """A version alias an operator pointed at the current key: destroying it would destroy the current key."""
    provider = AwsKmsKeyProvider(uri)
    kms.create_alias(AliasName=f"{_alias(uri)}/v2", TargetKeyId=_key_of(kms, f"{_alias(uri)}/v1")["KeyId"])
    provider.reload()
    assert provider.versions() == [1, 2]
    assert provider.current_version() == 2  # both name the key alias/<name> points at: the higher is current
    with pytest.raises(KeyProviderError) as caught:
        provider.destroy_version(1)
    assert "is the key of current version 2" in _flat(caught.value)
    assert _key_of(kms, _alias(uri))["KeyState"] == "Enabled"


def test_disabled_key_is_named_by_state_with_the_fix(uri: str, kms: Any) -> None:
    """check() on a disabled current key raises KeyProviderError naming the state and enable-key."""
    provider = AwsKmsKeyProvider(uri)
    key = _key_of(kms, _alias(uri))["KeyId"]
    kms.disable_key(KeyId=key)

    with pytest.raises(KeyProviderError) as caught:
        provider.check()

    assert "is Disabled" in _flat(caught.value)
    assert f"aws kms enable-key --key-id {key}" in _flat(caught.value)
    _assert_readable(caught.value, uri)
    kms.enable_key(KeyId=key)
    provider.check()


class _Raw:
    """A response body as botocore reads it (``stream()``)."""

    def __init__(self, body: bytes) -> None:
        self._body = io.BytesIO(body)

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body.read()


def test_decrypt_refused_for_a_disabled_key_names_the_state(uri: str, moto_kms: MotoServer, kms: Any) -> None:
    """AWS answers Decrypt on a disabled key with DisabledException (moto does not model key states in
    Decrypt, so that one answer comes through botocore's before-send hook); the provider then asks KMS
    (moto) for the key's state and names it."""
    AwsKmsKeyProvider(uri)
    client = boto3.client("kms", region_name=REGION, endpoint_url=moto_kms.endpoint)
    body = json.dumps({"__type": "DisabledException", "message": "arn:aws:kms:... is disabled."}).encode()

    def disabled(request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        headers = {"x-amzn-RequestId": "test", "Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, 400, headers, _Raw(body))

    client.meta.events.register("before-send.kms.Decrypt", disabled)
    provider = AwsKmsKeyProvider(uri, client=client)
    version, wrapped = provider.wrap(ROOT_KEY, CONTEXT)
    key = _key_of(kms, _alias(uri))["KeyId"]
    kms.disable_key(KeyId=key)

    with pytest.raises(KeyProviderError) as caught:
        provider.unwrap(wrapped, version, CONTEXT)

    assert "v1 is Disabled (key state)" in _flat(caught.value)
    assert "enable-key" in _flat(caught.value)
    _assert_readable(caught.value, uri)


def test_down_endpoint_fails_fast_naming_the_provider() -> None:
    """A closed loopback port: KeyProviderError naming the provider and the endpoint, within seconds."""
    uri = f"aws-kms:alias/down?region={REGION}&endpoint=http://127.0.0.1:{_closed_port()}"
    with pytest.raises(KeyProviderError) as caught:
        finishes(lambda: AwsKmsKeyProvider(uri), within=60)
    assert str(caught.value).startswith("aws-kms:alias/down: cannot reach AWS KMS at http://127.0.0.1:")
    assert "EndpointConnectionError" in _flat(caught.value)
    assert "Fix: check the network" in _flat(caught.value)
    assert all(len(line) <= 80 for line in str(caught.value).splitlines())
    assert caught.value.__context__ is None


def test_no_credentials_is_a_provider_error(monkeypatch: pytest.MonkeyPatch, uri: str) -> None:
    """Without credentials, opening fails naming the provider and how to give it credentials."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(KeyProviderError) as caught:
        AwsKmsKeyProvider(uri)
    assert "no AWS credentials" in _flat(caught.value)
    assert "NoCredentialsError" in _flat(caught.value)
    _assert_readable(caught.value, uri)


def test_errors_and_reprs_carry_no_secret(
    monkeypatch: pytest.MonkeyPatch, uri: str, kms: Any, make_canary: Callable[[str], str]
) -> None:
    """Errors, the chain behind them and the provider's repr hold no credential, key or wrapped key."""
    secret_key = make_canary("aws-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret_key)  # moto accepts any signature
    provider = AwsKmsKeyProvider(uri)
    key = make_canary("root")[:32].encode()
    version, wrapped = provider.wrap(key, CONTEXT)
    errors: list[BaseException] = []
    for call in (
        lambda: provider.unwrap(wrapped, version, b"other context"),
        lambda: provider.unwrap(wrapped, 7, CONTEXT),
        lambda: provider.destroy_version(version),
        lambda: AwsKmsKeyProvider(
            uri.split("&endpoint=", maxsplit=1)[0] + f"&endpoint=http://127.0.0.1:{_closed_port()}"
        ),
    ):
        with pytest.raises((KeyProviderError, TamperedError)) as caught:
            call()
        errors.append(caught.value)
    kms.disable_key(KeyId=_key_of(kms, _alias(uri))["KeyId"])
    with pytest.raises(KeyProviderError) as disabled:
        provider.check()
    errors.append(disabled.value)

    leaks = [secret_key, key.decode(), wrapped.hex(), _b64(wrapped), _b64(key)]
    assert_not_leaked(leaks, provider, *errors)


@pytest.mark.slow
def test_single_key_form_wraps_but_does_not_manage_versions(moto_kms: MotoServer, kms: Any) -> None:
    """A key id or key ARN is a fixed version 1: it wraps and unwraps, and refuses to add or destroy."""
    metadata = kms.create_key()["KeyMetadata"]
    for target in (metadata["KeyId"], metadata["Arn"]):
        uri = f"aws-kms:{target}?region={REGION}&endpoint={moto_kms.endpoint}"
        provider = AwsKmsKeyProvider(uri)
        version, wrapped = provider.wrap(ROOT_KEY, CONTEXT)
        assert (version, provider.versions()) == (1, [1])
        assert provider.unwrap(wrapped, 1, CONTEXT) == ROOT_KEY
        assert provider.key_id == f"aws-kms:{REGION}:key/{metadata['KeyId']}"
        provider.check()
        provider.reload()
        with pytest.raises(KeyProviderError, match=r"alias\s+form"):
            provider.add_version()
        with pytest.raises(KeyProviderError, match=r"alias\s+form"):
            provider.destroy_version(1)
        with pytest.raises(KeyProviderError, match=r"has\s+no\s+version\s+2"):
            provider.unwrap(wrapped, 2, CONTEXT)


@pytest.mark.parametrize(
    ("target", "problem"),
    [
        ("alias/x?colour=red", "unknown URI option 'colour'"),
        ("alias/x?region=a&region=b", "given twice"),
        ("alias/x/v3", "may not end in /v<N>"),
        ("alias/aws/ebs", "AWS managed keys"),
        ("alias/", "name an alias, a key id or a key ARN"),
        ("name-without-alias", "name an alias, a key id or a key ARN"),
        ("alias/x?endpoint=file:///etc", "http(s) URL"),
    ],
)
def test_malformed_uris_are_refused_before_any_call(target: str, problem: str) -> None:
    with pytest.raises(KeyProviderError) as caught:
        AwsKmsKeyProvider(f"aws-kms:{target}")
    assert problem in _flat(caught.value)


def test_provider_from_uri_gives_a_managed_provider(uri: str) -> None:
    """``STRONGROOM_KEK=aws-kms:...`` resolves to this provider, which is a ManagedKeyProvider."""
    provider = provider_from_uri(uri, environment="dev", key_file=Path("unused"))
    assert isinstance(provider, AwsKmsKeyProvider)
    assert isinstance(provider, KeyProvider)
    assert isinstance(provider, ManagedKeyProvider)


def test_importing_strongroom_and_the_uri_module_does_not_import_boto3() -> None:
    code = (
        "import sys, strongroom, strongroom.crypto.providers.uri\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=dict(os.environ)
    ).stdout
    assert out.strip() == "[]"


def _flat(error: BaseException) -> str:
    """An error's message on one line (messages wrap at 80 columns)."""
    return " ".join(str(error).split())


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_a_key_id_longer_than_the_store_holds_is_refused_before_a_key_is_made(moto_kms: MotoServer, kms: Any) -> None:
    """``aws-kms:`` key ids embed the alias (up to 256 characters in AWS): one the store's key id columns
    cannot hold is refused when the provider opens, before it creates a key, not when a root is written."""
    name = "long/" + "a" * 130
    with pytest.raises(KeyProviderError, match=r"the store holds at most 128") as caught:
        provider_from_uri(moto_kms.new_uri(name), environment="dev", key_file=Path("unused.json"))
    assert "shorter alias" in str(caught.value)
    aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"]]
    assert not [a for a in aliases if name in a]
