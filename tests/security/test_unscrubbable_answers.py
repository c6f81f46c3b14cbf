"""Answers the redactor once could not handle: never a 500, never sent unredacted, audited as answered.

Found by an attack on issue 12's fixes: an upstream answer whose JSON string holds an escaped lone
surrogate (``\\ud800``) beside something masked was re-encoded with the surrogate decoded, which UTF-8
cannot carry (a 500 and a traceback in the log, while the audit said ``ok ... 200``); JSON nested deeper
than Python parses made the JSON check raise ``RecursionError``. Each answer either keeps its shape with
the secret masked, or becomes a 502 naming the problem; either way the secret never reaches the agent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler

import pytest
from _strongroom_server_fixtures import ECHO_SECRET, Service, Upstream, _Handler

from strongroom.rules import RULES
from strongroom.testing.samples import sample

DEPTH = 5000  # past Python's recursion limit for json.loads
# A provider token shape the service's last-line redactor masks by rule, generated now (nothing committed).
TOKEN_SHAPE = sample(next(r for r in RULES if r.id == "github-classic-pat"), seed=12).secret


def _answer_for(kind: str, inner: str) -> bytes:
    if kind == "surrogate":
        return ('{"a": "\\ud800 ' + inner + '"}').encode()
    return ("[" * DEPTH + json.dumps(inner) + "]" * DEPTH).encode()


class _Odd(_Handler):
    """``/anything/items/<kind>-<what>``: a JSON answer of that kind holding the token shape or the echoed
    credential; everything else as the suite's upstream."""

    def _odd(self) -> None:
        if self.path.startswith("/anything/items/raw-"):  # a status line of the test's choosing
            status = self.path.rsplit("-", 1)[1]
            self.wfile.write(f"HTTP/1.1 {status} Odd\r\nContent-Length: 2\r\n\r\n{{}}".encode())
            self.close_connection = True
            return
        if self.path.startswith("/anything/items/"):
            kind, what = self.path.rsplit("/", 1)[1].split("-")
            inner = TOKEN_SHAPE if what == "shape" else self.headers.get("X-Api-Key", "")
            self._send(200, _answer_for(kind, inner))
            return
        self._handle()

    do_GET = _odd  # noqa: N815


@pytest.fixture
def upstream(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> Iterator[Upstream]:
    state = Upstream(port=0)
    state.port = start_http_server(type("Handler", (_Odd,), {"upstream": state}))
    yield state
    state.release.set()


@pytest.mark.parametrize("kind", ["surrogate", "deep"])
@pytest.mark.parametrize("what", ["shape", "echo"])
def test_an_answer_the_redactor_must_rewrite_is_never_a_500(
    service: Service, canary_credential: str, kind: str, what: str
) -> None:
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{ECHO_SECRET}", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    assert put.status_code == 200, put.text

    answer = s.client.get(f"/v1/actions/echo/anything/items/{kind}-{what}", headers=s.auth(s.a.token))

    assert answer.status_code in (200, 502), (answer.status_code, answer.text[:200])
    assert canary_credential not in answer.text
    assert TOKEN_SHAPE not in answer.text
    if answer.status_code == 200:
        if kind == "surrogate":
            json.loads(answer.content)  # still JSON
        else:  # deeper than json.loads goes: its brackets are kept
            assert answer.content.startswith(b"[" * DEPTH), answer.content[:40]
            assert answer.content.endswith(b"]" * DEPTH), answer.content[-40:]
    else:
        s.assert_error(answer, 502, code="upstream_error")
    s.vault.flush_audit()
    [call] = s.vault.audit_events(tenant=s.a.name, action="broker.call")
    assert (call.outcome == "ok") == (answer.status_code == 200), (call.outcome, call.detail)
    assert str(answer.status_code) in (call.detail or ""), call.detail


@pytest.mark.parametrize("status", [600, 999])
def test_an_upstream_status_outside_http_is_a_502(service: Service, canary_credential: str, status: int) -> None:
    """Found by the same attack: a status line of 600 or 999 was passed on to the agent as it was."""
    s = service
    put = s.client.put(
        f"/v1/tenants/{s.a.name}/secrets/{ECHO_SECRET}", json={"value": canary_credential}, headers=s.auth(s.a.key)
    )
    assert put.status_code == 200, put.text
    answer = s.client.get(f"/v1/actions/echo/anything/items/raw-{status}", headers=s.auth(s.a.token))
    error = s.assert_error(answer, 502, code="upstream_error")
    assert "not HTTP" in error["message"], error
