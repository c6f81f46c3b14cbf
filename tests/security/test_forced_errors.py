"""Finding 9: answers an attacker could force into a 500, each now a precise 4xx or 502, audited as answered.

The attacker holds tenant A's credentials and controls an upstream (the loopback server here, which the
operator lets A's connector reach) or the definition of A's own connectors.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from _strongroom_server_fixtures import Service

from strongroom.audit import Action
from strongroom.testing import assert_not_leaked

CREDENTIAL_SECRET = "weird_api_key"  # noqa: S105 -- a secret's name, not a value
WEIRD_BODY = json.dumps({"ok": True, "note": "an answer worth passing back"}).encode()


class _NonLatin1Headers(BaseHTTPRequestHandler):
    """Answers 200 with a Content-Type and another header holding UTF-8 text past Latin-1 (a euro sign, a check
    mark): bytes ``send_header`` cannot write, so the status line and headers are written raw."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        head = (
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: application/json; charset=\u20ac\r\n"
            "X-Note: \u2713 done\r\n"
            "X-Plain: kept\r\n"
            f"Content-Length: {len(WEIRD_BODY)}\r\n\r\n"
        )
        self.wfile.write(head.encode("utf-8") + WEIRD_BODY)


def _connector(base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": base_url,
        "description": "An upstream the attacker controls.",
        "credential": {"kind": "header", "name": "X-Api-Key", "secret": CREDENTIAL_SECRET},
        "operations": [{"id": "read", "method": "GET", "path": "/read", "summary": "Read"}],
        **extra,
    }


def _broker_calls(s: Service, tenant: str) -> list[Any]:
    s.vault.flush_audit()
    return s.vault.audit_events(tenant=tenant, action=Action.BROKER_CALL)


@pytest.fixture
def weird(service: Service, canary_credential: str, start_http_server: Callable[..., int]) -> Service:
    """A's connector ``weird`` (declared for A by the operator: it reaches loopback) and A's credential for it."""
    s = service
    port = start_http_server(_NonLatin1Headers)
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/connectors/weird",
        json=_connector(f"http://127.0.0.1:{port}", allow_private_network=True),
        headers=s.auth(s.admin),
    )
    assert put.status_code == 200, put.text
    stored = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{CREDENTIAL_SECRET}",
        json={
            "value": canary_credential,
            "destinations": [{"origin": f"http://127.0.0.1:{port}", "placements": ["header:X-Api-Key"]}],
        },
        headers=s.auth(s.a.key),
    )
    assert stored.status_code == 200, stored.text
    return s


def test_an_upstream_header_past_latin1_is_dropped_and_the_answer_sent(weird: Service, canary_credential: str) -> None:
    """Was: a 500 (the Content-Type could not be sent) while the audit said ``ok ... 200``. Now the answer is
    sent, its non-ASCII headers dropped (the Content-Type falls back to octet-stream), and audited as sent."""
    s = weird
    answer = s.client.get("/v1/actions/weird/read", headers=s.auth(s.a.token))
    assert answer.status_code == 200, answer.text
    assert answer.content == WEIRD_BODY
    assert answer.headers["content-type"] == "application/octet-stream"
    assert "x-note" not in answer.headers
    for trace in ("Traceback", 'File "', "internal_error"):
        assert trace not in answer.text
    assert_not_leaked([canary_credential], answer.text, repr(answer.headers.multi_items()))
    [call] = _broker_calls(s, s.a.name)
    assert call.outcome == "ok"
    assert "weird.read GET -> 200" in (call.detail or "")


def test_an_answer_too_large_for_the_agent_is_audited_as_the_502_it_got(
    service: Service, canary_credential: str
) -> None:
    """Was: the caller got 502 ``upstream_response_too_large`` and the audit recorded ``ok ... 200``."""
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/echo_api_key", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    assert put.status_code == 200, put.text
    answer = s.client.get("/v1/actions/echo/huge?size=100001", headers=s.auth(s.a.token))
    s.assert_error(answer, 502, code="upstream_response_too_large")
    [call] = _broker_calls(s, s.a.name)
    assert call.outcome == "error", call
    assert "ResponseTooLarge 502" in (call.detail or ""), call.detail
    over_http = s.client.get("/v1/audit", params={"action": "broker.call"}, headers=s.auth(s.a.key))
    assert [e["outcome"] for e in over_http.json()] == ["error"]


UNPARSEABLE_BASE_URLS = [
    "https://1.2.3.256/v1",  # not an IPv4 address to httpx, a host name to urlsplit: was a 500 on every call
    "https://[2606:4700::1]x/v1",  # a port httpx cannot read
    "https://xn--ls8h.example/v1",  # punycode of a code point IDNA forbids: httpx raised on .host
    "https://" + "a" * 64 + ".example/v1",  # a DNS label over 63 characters
    "https://api..example/v1",  # an empty label
    "https://0x7f.1/v1",  # resolvers read it as 127.0.0.1
    "https://ex^ample.com/v1",  # httpx percent-encodes it: another host than the one checked
    "https://[fec0::1]/v1",  # IPv6 site-local
]


@pytest.mark.parametrize("base_url", UNPARSEABLE_BASE_URLS)
def test_a_base_url_the_broker_cannot_use_is_refused_when_defined(service: Service, base_url: str) -> None:
    """A's own connector with a base URL only the definition's parser accepted: 400 naming ``base_url``, not
    stored (so no call can 500 on it later), and no ``connector.put`` recorded as done."""
    s = service
    answer = s.client.put(f"/v1/tenants/{s.a.name}/connectors/mine", json=_connector(base_url), headers=s.auth(s.a.key))
    error = s.assert_error(answer, 400, code="invalid_input")
    assert "base_url" in error["message"], error
    listed = s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(s.a.key))
    assert "mine" not in {c["name"] for c in listed.json()}
    s.vault.flush_audit()
    done = s.vault.audit_events(tenant=s.a.name, action=Action.CONNECTOR_PUT)
    assert [e for e in done if e.outcome == "ok" and "mine" in (e.detail or "")] == []


def test_a_stored_definition_that_no_longer_passes_is_a_400_on_call_audited(service: Service) -> None:
    """A definition stored before the check (written straight to the store here) refuses its own calls with a
    400 naming the problem, and the refused call is one ``broker.call`` event, outcome ``invalid``."""
    s = service
    definition = dict(_connector("https://1.2.3.256/v1"), name="legacy")
    event = s.vault.audit_event(s.a.name, Action.CONNECTOR_PUT, actor="test:legacy", detail="connector legacy")
    s.vault.connector_repo.put(s.a.name, "legacy", json.dumps(definition), event)
    answer = s.client.get("/v1/actions/legacy/read", headers=s.auth(s.a.token))
    error = s.assert_error(answer, 400, code="invalid_input")
    assert "base_url" in error["message"], error
    [call] = _broker_calls(s, s.a.name)
    assert (call.outcome, call.purpose) == ("invalid", "broker:legacy")
