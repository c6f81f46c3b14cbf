"""The ``pkcs11:`` key provider against a real SoftHSM2 token, initialised for this test process.

Tests share one token (SoftHSM reads its token list once per process) and keep apart by their own
``object=`` label. The token is inspected directly through python-pkcs11 where the provider's promise is
about the token itself (the key is not extractable; a destroyed version is gone).
"""

from __future__ import annotations

import os
import pickle
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from strongroom.crypto.providers import KeyProvider, ManagedKeyProvider
from strongroom.errors import KeyProviderError, TamperedError

from ...provider_fixtures.softhsm import (  # noqa: TID252 -- pytest's importlib mode resolves the package
    SKIP_REASON,
    SoftHsmToken,
    softhsm_available,
    start_softhsm_token,
)

ROOT_KEY = bytes(range(32))
CONTEXT = b"strongroom root key\x00env=dev\x00version=1"


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsmToken:
    if not softhsm_available():
        pytest.skip(SKIP_REASON)
    return start_softhsm_token(tmp_path_factory.mktemp("softhsm"))


@pytest.fixture
def label() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def uri(softhsm: SoftHsmToken, label: str) -> str:
    return softhsm.uri_for(label)


@pytest.fixture
def opened() -> Iterator[list[Any]]:
    """Providers a test opened, closed after it (so the process logs out of the token between tests)."""
    providers: list[Any] = []
    yield providers
    for provider in providers:
        provider.close()


@pytest.fixture
def open_provider(opened: list[Any]) -> Any:
    from strongroom.crypto.providers.pkcs11 import open_provider as open_pkcs11

    def open_(uri: str, environment: str = "dev") -> Any:
        provider = open_pkcs11(uri, environment=environment)
        opened.append(provider)
        return provider

    return open_


@pytest.fixture
def provider(open_provider: Any, uri: str) -> Any:
    return open_provider(uri)


def _raw_keys(softhsm: SoftHsmToken, label: str) -> list[Any]:
    """The secret keys labelled ``label`` in the token, found with python-pkcs11 directly (a public session:
    this process is logged in while a provider is open, and login state is per process)."""
    import pkcs11
    from pkcs11.constants import Attribute, ObjectClass

    token = pkcs11.lib(softhsm.module_path).get_token(token_label=softhsm.label)
    session = token.open(rw=True)
    return list(session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label}))


def _assert_clean(exc: BaseException, *secrets: str) -> None:
    text = str(exc) + repr(exc)
    for secret in secrets:
        assert secret not in text
    assert exc.__cause__ is None
    # Lines of at most 80 columns; only a path or URI longer than that stands alone on a longer line.
    assert all(len(line) <= 80 or " " not in line.strip() for line in str(exc).splitlines()), str(exc)


def _said(caught: pytest.ExceptionInfo[BaseException]) -> str:
    """An error's message with its line breaks undone (messages are wrapped at 80 columns)."""
    return " ".join(str(caught.value).split())


def _pin_file(directory: Path, pin: str) -> Path:
    path = directory / f"{uuid.uuid4().hex}.pin"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(pin + "\n")
    return path


# -- wrap and unwrap -----------------------------------------------------------------------------------


def test_round_trip_under_the_first_version_created_in_the_token(provider: Any) -> None:
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    assert version == 1
    assert provider.versions() == [1]
    assert len(blob) == 12 + len(ROOT_KEY) + 16
    assert ROOT_KEY not in blob
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY
    _, again = provider.wrap(ROOT_KEY, CONTEXT)
    assert again[:12] != blob[:12]  # a fresh IV per wrap


def test_reopening_uses_the_existing_key(open_provider: Any, uri: str) -> None:
    first = open_provider(uri)
    version, blob = first.wrap(ROOT_KEY, CONTEXT)
    second = open_provider(uri)
    assert second.versions() == [1]
    assert second.unwrap(blob, version, CONTEXT) == ROOT_KEY


def test_a_blob_moved_to_another_context_or_edited_is_tampered(provider: Any) -> None:
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    edited = blob[:-1] + bytes([blob[-1] ^ 1])
    for wrapped, context in [
        (blob, CONTEXT + b"\x00other tenant"),
        (blob, b""),
        (edited, CONTEXT),
        (blob[:20], CONTEXT),
        (blob[:12] + bytes([blob[12] ^ 1]) + blob[13:], CONTEXT),
    ]:
        with pytest.raises(TamperedError) as caught:
            provider.unwrap(wrapped, version, context)
        assert caught.value.__cause__ is None
        assert caught.value.__context__ is None
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY  # the session survived the failures


def test_a_blob_unwrapped_under_another_version_is_tampered(provider: Any) -> None:
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    newer = provider.add_version()
    assert newer == version + 1
    with pytest.raises(TamperedError):
        provider.unwrap(blob, newer, CONTEXT)


def test_the_key_is_generated_in_the_token_and_cannot_be_read(provider: Any, softhsm: SoftHsmToken, label: str) -> None:
    from pkcs11.constants import Attribute
    from pkcs11.exceptions import AttributeSensitive

    [key] = _raw_keys(softhsm, f"{label}/v1")
    assert key[Attribute.SENSITIVE] is True
    assert key[Attribute.EXTRACTABLE] is False
    assert key[Attribute.ALWAYS_SENSITIVE] is True
    assert key[Attribute.NEVER_EXTRACTABLE] is True
    assert key[Attribute.LOCAL] is True  # generated inside the token, never imported
    assert key[Attribute.TOKEN] is True
    assert key[Attribute.PRIVATE] is True
    assert key[Attribute.VALUE_LEN] == 32
    assert key[Attribute.WRAP] is False
    with pytest.raises(AttributeSensitive):
        key[Attribute.VALUE]


# -- versions ------------------------------------------------------------------------------------------


def test_add_and_destroy_versions(provider: Any, softhsm: SoftHsmToken, label: str) -> None:
    _, old_blob = provider.wrap(ROOT_KEY, CONTEXT)
    assert provider.add_version() == 2
    version, new_blob = provider.wrap(ROOT_KEY, CONTEXT)
    assert (version, provider.current_version(), provider.versions()) == (2, 2, [1, 2])

    provider.destroy_version(1)
    assert provider.versions() == [2]
    assert _raw_keys(softhsm, f"{label}/v1") == []  # C_DestroyObject: gone from the token
    with pytest.raises(KeyProviderError) as caught:
        provider.unwrap(old_blob, 1, CONTEXT)
    assert "no version 1" in _said(caught)
    assert "[2]" in _said(caught)
    _assert_clean(caught.value)
    assert provider.unwrap(new_blob, 2, CONTEXT) == ROOT_KEY

    provider.destroy_version(1)  # already destroyed: a retried shredding does not fail
    with pytest.raises(KeyProviderError) as caught:
        provider.destroy_version(2)
    assert "current version" in _said(caught)
    with pytest.raises(KeyProviderError) as caught:
        provider.destroy_version(7)
    assert "no version 7" in _said(caught)
    assert provider.versions() == [2]


def test_reload_sees_versions_another_provider_added_and_destroyed(open_provider: Any, uri: str) -> None:
    first = open_provider(uri)
    second = open_provider(uri)
    _, v1_blob = first.wrap(ROOT_KEY, CONTEXT)
    assert second.add_version() == 2
    v2, v2_blob = second.wrap(ROOT_KEY, CONTEXT)

    assert first.versions() == [1]  # until it reloads
    first.reload()
    assert first.versions() == [1, 2]
    assert first.current_version() == 2
    assert first.unwrap(v2_blob, v2, CONTEXT) == ROOT_KEY

    assert second.add_version() == 3
    second.destroy_version(1)
    with pytest.raises(KeyProviderError) as caught:  # its key handle went stale under it
        first.unwrap(v1_blob, 1, CONTEXT)
    assert "no version 1" in _said(caught)
    assert first.versions() == [2, 3]


def test_a_version_added_elsewhere_unwraps_without_a_reload(open_provider: Any, uri: str) -> None:
    first = open_provider(uri)
    second = open_provider(uri)
    second.add_version()
    version, blob = second.wrap(ROOT_KEY, CONTEXT)
    assert first.unwrap(blob, version, CONTEXT) == ROOT_KEY


def test_threads_share_one_provider(provider: Any) -> None:
    workers = 8
    start = threading.Barrier(workers)
    results: list[bytes] = []
    failures: list[BaseException] = []

    def work(index: int) -> None:
        try:
            start.wait()
            key = bytes([index]) * 32
            for _ in range(20):
                version, blob = provider.wrap(key, CONTEXT)
                results.append(provider.unwrap(blob, version, CONTEXT))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted(results) == sorted(bytes([i]) * 32 for i in range(workers) for _ in range(20))


def test_close_releases_the_session_and_the_provider_reopens(provider: Any) -> None:
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    provider.close()
    provider.close()
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY
    provider.check()


# -- check and errors ----------------------------------------------------------------------------------


def test_check_passes_and_names_a_missing_key(provider: Any, softhsm: SoftHsmToken, label: str) -> None:
    provider.check()
    for key in _raw_keys(softhsm, f"{label}/v1"):  # the key disappears behind the provider's back
        key.destroy()
    with pytest.raises(KeyProviderError) as caught:
        provider.check()
    message = str(caught.value)
    assert f"pkcs11:token={softhsm.label};object={label}" in message
    assert f"{label}/v<N>" in message
    _assert_clean(caught.value, softhsm.pin())


def test_a_wrong_pin_is_refused_by_the_token(open_provider: Any, softhsm: SoftHsmToken, tmp_path: Path) -> None:
    canary = "canary-" + uuid.uuid4().hex
    uri = softhsm.uri_for("wrong-pin", token=softhsm.spare_label, pin_file=_pin_file(tmp_path, canary))
    with pytest.raises(KeyProviderError) as caught:
        open_provider(uri)
    assert "CKR_PIN_INCORRECT" in _said(caught)
    assert f"pkcs11:token={softhsm.spare_label};object=wrong-pin" in _said(caught)
    _assert_clean(caught.value, canary, softhsm.pin(), str(tmp_path))


def test_a_wrong_pin_is_refused_while_the_process_is_logged_in(
    provider: Any, open_provider: Any, softhsm: SoftHsmToken, label: str, tmp_path: Path
) -> None:
    canary = "canary-" + uuid.uuid4().hex
    with pytest.raises(KeyProviderError) as caught:
        open_provider(softhsm.uri_for(label, pin_file=_pin_file(tmp_path, canary)))
    assert "wrong PIN" in _said(caught)
    _assert_clean(caught.value, canary, softhsm.pin())
    provider.check()  # the refused provider did not disturb the logged-in one


def test_a_missing_module_is_named(open_provider: Any, softhsm: SoftHsmToken, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = softhsm.uri_for("no-module").replace(softhsm.module_path, "/nonexistent/libvendor-pkcs11.so")
    with pytest.raises(KeyProviderError) as caught:
        open_provider(uri)
    assert "/nonexistent/libvendor-pkcs11.so does not exist" in _said(caught)
    assert "module-path" in _said(caught)
    _assert_clean(caught.value, softhsm.pin())

    monkeypatch.setenv("STRONGROOM_PKCS11_MODULE", "/nonexistent/from-env.so")
    without_module = uri.replace("module-path=/nonexistent/libvendor-pkcs11.so&", "")
    with pytest.raises(KeyProviderError) as caught:
        open_provider(without_module)
    assert "from-env.so does not exist" in _said(caught)


def test_a_missing_token_is_named_with_the_tokens_present(open_provider: Any, softhsm: SoftHsmToken) -> None:
    uri = softhsm.uri_for("anything", token="no-such-token")  # noqa: S106 -- a token label
    with pytest.raises(KeyProviderError) as caught:
        open_provider(uri)
    assert "no token labelled 'no-such-token'" in _said(caught)
    assert repr(softhsm.label) in _said(caught)
    _assert_clean(caught.value, softhsm.pin())


def test_the_pin_is_never_shown(
    open_provider: Any, softhsm: SoftHsmToken, label: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from strongroom.crypto.providers.pkcs11 import parse_uri

    pin = softhsm.pin()
    by_value = softhsm.uri_for(label).split("&pin-source=")[0] + f"&pin-value={pin}"
    provider = open_provider(by_value)
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY
    parsed = parse_uri(by_value, environment="x")
    for shown in (repr(provider), str(provider), provider.uri, provider.key_id, repr(parsed), parsed.public):
        assert pin not in shown
    assert provider.uri == f"pkcs11:token={softhsm.label};object={label}?module-path={softhsm.module_path}"
    assert provider.key_id == f"pkcs11:{softhsm.label}/{label}"
    assert pin not in repr(vars(provider))
    with pytest.raises(TypeError):
        pickle.dumps(provider)
    with pytest.raises(KeyProviderError) as caught:
        provider.destroy_version(provider.current_version())
    _assert_clean(caught.value, pin)
    with pytest.raises(KeyProviderError) as caught:
        open_provider(by_value + "&pin-source=file:/x")
    _assert_clean(caught.value, pin)


# -- the URI -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("pkcs11:object=k?pin-value=secret-canary", "token=<token label> is required"),
        ("pkcs11:token=t;object=k", "user PIN is needed"),
        ("pkcs11:token=t;token=u?pin-value=secret-canary", "repeated"),
        ("pkcs11:token=t;slot-id=1?pin-value=secret-canary", "unsupported path attribute 'slot-id'"),
        ("pkcs11:token=t;object=k?module-name=softhsm2&pin-value=secret-canary", "unsupported query attribute"),
        ("pkcs11:token=t%ZZ?pin-value=secret-canary", "bad %-escape"),
        ("pkcs11:token=t;object?pin-value=secret-canary", "not name=value"),
        ("pkcs11:token=t;type=private-key?pin-value=secret-canary", "type= must be secret-key"),
        ("pkcs11:token=t?pin-value=secret-canary&pin-source=file:/p", "not both"),
        ("pkcs11:token=t?pin-source=relative/pin", "absolute path"),
        ("pkcs11:token=t?pin-source=|/bin/get-pin", "must be a file"),
        ("pkcs11:token=t?pin-source=env:PIN", "must be a file"),
        ("pkcs11:token=t?pin-value=", "pin-value is empty"),
        ("pkcs11:token=t#frag?pin-value=secret-canary", "fragment"),
    ],
)
def test_a_malformed_uri_says_what_is_wrong(uri: str, problem: str) -> None:
    from strongroom.crypto.providers.pkcs11 import parse_uri

    with pytest.raises(KeyProviderError) as caught:
        parse_uri(uri, environment="dev")
    assert problem in _said(caught)
    _assert_clean(caught.value, "secret-canary")


def test_uri_values_are_percent_decoded_and_object_defaults_to_the_environment() -> None:
    from strongroom.crypto.providers.pkcs11 import parse_uri

    parsed = parse_uri("pkcs11:token=My%20HSM;x-vendor=1?pin-source=file:///etc/hsm.pin", environment="prod")
    assert (parsed.token, parsed.object, parsed.pin_source) == ("My HSM", "strongroom-prod", Path("/etc/hsm.pin"))
    assert parse_uri("pkcs11:token=t;object=a%2Fb?pin-source=/p", environment="dev").object == "a/b"


def test_a_pin_file_open_to_others_or_missing_is_refused(
    open_provider: Any, softhsm: SoftHsmToken, tmp_path: Path
) -> None:
    pin_file = _pin_file(tmp_path, softhsm.pin())
    pin_file.chmod(0o644)
    with pytest.raises(KeyProviderError) as caught:
        open_provider(softhsm.uri_for("mode", pin_file=pin_file))
    assert "chmod 600" in _said(caught)
    _assert_clean(caught.value, softhsm.pin())
    with pytest.raises(KeyProviderError) as caught:
        open_provider(softhsm.uri_for("mode", pin_file=tmp_path / "absent.pin"))
    assert "does not exist" in _said(caught)


# -- the contract --------------------------------------------------------------------------------------


def test_provider_from_uri_opens_a_managed_provider(opened: list[Any], uri: str) -> None:
    from strongroom.crypto.providers.pkcs11 import Pkcs11KeyProvider
    from strongroom.crypto.providers.uri import provider_from_uri

    provider = provider_from_uri(uri, environment="dev", key_file=Path("unused"))
    opened.append(provider)
    assert isinstance(provider, Pkcs11KeyProvider)
    assert isinstance(provider, KeyProvider)
    assert isinstance(provider, ManagedKeyProvider)
    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY


def test_a_provider_recovers_when_the_module_restarts_under_it(provider: Any, softhsm: SoftHsmToken) -> None:
    import pkcs11

    version, blob = provider.wrap(ROOT_KEY, CONTEXT)
    # C_Finalize + C_Initialize: every session handle and the process's login are gone, as after an HSM restart.
    pkcs11.lib(softhsm.module_path).reinitialize()
    assert provider.unwrap(blob, version, CONTEXT) == ROOT_KEY
    provider.check()


def test_keys_labelled_alike_resolve_to_the_lowest_cka_id(
    open_provider: Any, softhsm: SoftHsmToken, uri: str, label: str
) -> None:
    """Two processes that add the same version at once leave two keys with its label: every provider takes the
    one with the lowest CKA_ID."""
    import pkcs11
    from pkcs11.constants import Attribute, MechanismFlag
    from pkcs11.mechanisms import GCMParams, KeyType, Mechanism

    first = open_provider(uri)  # logs the process in and creates v1 (with a random CKA_ID)
    session = pkcs11.lib(softhsm.module_path).get_token(token_label=softhsm.label).open(rw=True)
    lowest = None
    for key_id in (b"\xff" * 16, b"\x00" * 16):
        lowest = session.generate_key(
            KeyType.AES,
            256,
            id=key_id,
            label=f"{label}/v1",
            store=True,
            capabilities=MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT,
            template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False},
        )
    assert lowest is not None
    first.reload()
    second = open_provider(uri)
    for provider in (first, second):
        version, blob = provider.wrap(ROOT_KEY, CONTEXT)
        assert version == 1
        plain = lowest.decrypt(blob[12:], mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(blob[:12], CONTEXT))
        assert plain == ROOT_KEY
