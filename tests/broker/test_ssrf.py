"""SSRF: the broker reaches only public addresses of the connector's one host, connects to the address it
checked (pinning), and never follows a redirect, refusing one to another origin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from strongroom.broker import Broker, Connector, CredentialPlacement, Operation, UpstreamError
from strongroom.broker.network import forbidden_reason
from strongroom.errors import AccessDenied, InvalidInput
from strongroom.testing import assert_not_leaked

NON_PUBLIC = [
    "127.0.0.1",
    "10.0.0.1",
    "::1",
    "169.254.169.254",
    "::ffff:10.0.0.1",
    "0.0.0.0",  # noqa: S104 -- refused, not bound
    "192.168.1.1",
    "172.16.0.1",
    "100.64.0.1",
    "224.0.0.1",
    "fe80::1",
    "fc00::1",
    "::",
    "64:ff9b::a00:1",
    "2002:a00:1::1",
    "240.0.0.1",
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public_addresses_have_a_reason(address: str) -> None:
    assert forbidden_reason(address) is not None


# Every special-purpose block of the IANA registries that is not globally reachable, with the deprecated
# ones (site-local), and the IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4, Teredo).
SPECIAL_PURPOSE = {
    "fec0::1": "site-local",
    "feff::1": "site-local",
    "64:ff9b:1::808:808": "local-use IPv4/IPv6 translation",
    "100::1": "discard-only",
    "100:0:0:1::1": "dummy prefix",
    "2001:db8::1": "documentation",
    "3fff::1": "documentation",
    "2001:2::1": "IETF protocol assignment",
    "2001:0:4136:e378:8000:63bf:f5ff:fffe": "Teredo",  # Teredo client 10.0.0.1
    "2002:7f00:1::1": "6to4",  # 6to4 of 127.0.0.1
    "2002:808:808::1": "6to4",  # deprecated even around a public address: the relay decides where it goes
    "64:ff9b::7f00:1": "loopback (IPv4 inside NAT64)",
    "64:ff9b::a9fe:a9fe": "link-local (IPv4 inside NAT64)",
    "::ffff:127.0.0.1": "loopback (IPv4-mapped)",
    "::ffff:192.168.0.1": "private (IPv4-mapped)",
    "::7f00:1": "IPv4-compatible",
    "::ffff:0:a00:1": "IPv4-translated",
    "5f00::1": "segment routing",
    "4000::1": "outside 2000::/3",
    "fe80::1%eth0": "scoped",
    "192.0.0.1": "IETF protocol assignment",
    "192.0.2.1": "documentation",
    "192.88.99.1": "6to4 relay",
    "198.18.0.1": "benchmarking",
    "198.51.100.1": "documentation",
    "203.0.113.1": "documentation",
    "255.255.255.255": "reserved",
    "0.1.2.3": "this-network",
}


@pytest.mark.parametrize(("address", "reason"), SPECIAL_PURPOSE.items())
def test_special_purpose_addresses_are_refused_naming_the_block(address: str, reason: str) -> None:
    assert reason in (forbidden_reason(address) or "")


@pytest.mark.parametrize(
    "address",
    [
        "93.184.215.14",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",  # NAT64 of a public address: what a DNS64 network answers for every public host
        "192.0.0.9",  # PCP anycast: globally reachable inside 192.0.0.0/24
        "2620:4f:8000::1",  # AS112 direct delegation: globally reachable
    ],
)
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(address) is None


def _public_connector(**options: Any) -> Connector:
    return Connector(
        name="remote",
        base_url=options.pop("base_url", "https://api.example.test"),
        description="A remote API",
        credential=CredentialPlacement("bearer", "api_token"),
        operations=(Operation("get_item", "GET", "/items/{item_id}", "Get an item"),),
        timeout_seconds=2,
        **options,
    )


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["10.0.0.1"],
        ["::1"],
        ["169.254.169.254"],
        ["::ffff:10.0.0.1"],
        ["93.184.215.14", "10.0.0.1"],
        ["fec0::1"],
        ["2606:4700:4700::1111", "fec0::1"],
    ],
)
def test_a_host_resolving_to_a_non_public_address_is_refused(
    answer: list[str], run_broker: Callable[..., Any], fixed_resolver: Callable[..., Any], token: str, broker_vault: Any
) -> None:
    resolve = fixed_resolver(*answer)
    with pytest.raises(AccessDenied, match=r"connector 'remote'.*api\.example\.test.*refused") as info:
        run_broker(
            lambda broker: broker.call(
                tenant="acme", connector=_public_connector(), method="GET", path="/items/1", actor="agent"
            ),
            resolve=resolve,
        )
    assert resolve.calls == ["api.example.test"]
    assert_not_leaked([token], info.value)
    events = [e for e in broker_vault.audit_events(tenant="acme") if e.action == "broker.call"]
    assert events[-1].outcome == "denied"


@pytest.mark.parametrize(
    "base_url",
    ["https://127.0.0.1", "https://10.1.2.3:8443", "https://[::1]", "https://169.254.169.254", "http://example.com"],
)
def test_a_non_public_or_plain_http_base_url_is_refused_without_the_flag(base_url: str) -> None:
    with pytest.raises(InvalidInput, match="field 'base_url'"):
        _public_connector(base_url=base_url)


def test_with_the_flag_the_resolved_address_is_the_one_connected_to(
    upstream: Any,
    make_connector: Callable[..., Connector],
    run_broker: Callable[..., Any],
    fixed_resolver: Callable[..., Any],
) -> None:
    """``upstream.test`` exists only in our resolver: reaching the loopback server proves the connection went to
    the checked address, while the Host header (and TLS SNI, were it https) keep the name."""
    resolve = fixed_resolver("127.0.0.1")
    connector = make_connector(base_url=f"http://upstream.test:{upstream.port}")
    response = run_broker(
        lambda broker: broker.call(tenant="acme", connector=connector, method="GET", path="/echo/1", actor="agent"),
        resolve=resolve,
    )
    assert response.status == 200
    assert ("Host", f"upstream.test:{upstream.port}") in upstream.seen[-1]["headers"]
    assert resolve.calls == ["upstream.test"]


def test_a_foreign_transport_is_checked_before_it_is_used(
    run_broker: Callable[..., Any], fixed_resolver: Callable[..., Any]
) -> None:
    """With a transport handed in (it cannot be pinned), the host's addresses are still checked first."""
    called: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        called.append(request)
        return httpx.Response(200, json={"ok": True})

    with pytest.raises(AccessDenied):
        run_broker(
            lambda broker: broker.call(
                tenant="acme", connector=_public_connector(), method="GET", path="/items/1", actor="agent"
            ),
            transport=httpx.MockTransport(handler),
            resolve=fixed_resolver("10.0.0.1"),
        )
    assert called == []
    response = run_broker(
        lambda broker: broker.call(
            tenant="acme", connector=_public_connector(), method="GET", path="/items/1", actor="agent"
        ),
        transport=httpx.MockTransport(handler),
        resolve=fixed_resolver("93.184.215.14"),
    )
    assert response.status == 200
    assert str(called[0].url) == "https://api.example.test/items/1"


@pytest.mark.parametrize("route", ["/redirect-away", "/redirect-port"])
def test_a_redirect_to_another_origin_is_refused(
    route: str, token: str, make_connector: Callable[..., Connector], run_broker: Callable[..., Any]
) -> None:
    connector = make_connector()
    with pytest.raises(UpstreamError, match="redirected to another host") as info:
        run_broker(
            lambda broker: broker.call(tenant="acme", connector=connector, method="GET", path=route, actor="agent")
        )
    assert info.value.status == 502
    assert info.value.connector == "echo"
    assert "attacker" not in str(info.value)
    assert_not_leaked([token], info.value)


def test_a_same_host_redirect_is_passed_back_not_followed(
    upstream: Any, make_connector: Callable[..., Connector], run_broker: Callable[..., Any]
) -> None:
    connector = make_connector()
    response = run_broker(
        lambda broker: broker.call(
            tenant="acme", connector=connector, method="GET", path="/redirect-same", actor="agent"
        )
    )
    assert response.status == 302
    assert ("location", "/echo/moved") in response.headers
    assert [seen["path"] for seen in upstream.seen] == ["/redirect-same"]


def test_the_template_cannot_change_the_host(
    make_connector: Callable[..., Connector], run_broker: Callable[..., Any], upstream: Any
) -> None:
    """Values that look like hosts or URLs stay one encoded segment on the declared host."""
    connector = make_connector()
    for value in ("@attacker.example", "attacker.example:80", "http:%2F%2Fattacker.example"):
        try:
            response = run_broker(
                lambda broker, v=value: broker.call(
                    tenant="acme", connector=connector, method="GET", path=f"/echo/{v}", actor="a"
                )
            )
        except InvalidInput:
            continue
        assert response.status == 200
        assert upstream.seen[-1]["path"].startswith("/echo/")
    assert all(seen["path"].count("/") == 2 for seen in upstream.seen)


def test_the_broker_closes_and_can_be_used_as_a_context_manager(broker_vault: Any) -> None:
    import asyncio

    async def main() -> None:
        broker = Broker(broker_vault)
        await broker.aclose()
        await broker.aclose()

    asyncio.run(main())
