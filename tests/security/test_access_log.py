"""Finding 8: one-time share links (``/v1/shares/<token>``, a bearer credential in the path) appeared in
full in the access log of ``strongroom serve``.

Afterwards the access log never holds a link token (the path is logged as ``/v1/shares/{token}``, and a
token anywhere else in a line is masked by the rule the scanner and the redactor share) nor a credential.
Run against the real server, whose log is read after it stopped.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import _strongroom_real_server
import pytest

from strongroom.redact import Redactor
from strongroom.rules import RULES
from strongroom.scan import Scanner


@pytest.mark.slow
def test_share_links_and_credentials_never_reach_the_access_log(tmp_path: Path, make_canary: Any) -> None:
    """Create a share, redeem it, redeem it again, try a mistyped link and a link in a query string: the
    log shows each request, with the token masked, and holds no token, key or value."""
    real = _strongroom_real_server
    value = make_canary("shared")
    with real.real_server(tmp_path) as server:
        admin = server.admin
        assert server.call("POST", "/v1/tenants", credential=admin, body={"name": "acme"})[0] == 201
        status, made = server.call(
            "POST", "/v1/tenants/acme/api-keys", credential=admin, body={"name": "ops", "scopes": ["shares:create"]}
        )
        assert status == 201, made
        key = made["key"]
        status, share = server.call("POST", "/v1/tenants/acme/shares", credential=key, body={"value": value})
        assert status == 201, share
        token = share["token"]
        first = server.call("GET", f"/v1/shares/{token}")
        assert first == (200, value)
        assert server.call("GET", f"/v1/shares/{token}")[0] == 404  # used
        mistyped = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert server.call("GET", f"/v1/shares/{mistyped}?again=1")[0] == 404
        assert server.call("GET", f"/v1/audit?link={token}", credential=key)[0] == 403
        server.stop()
        log = server.log()
    access = [line for line in log.splitlines() if '"GET /v1/shares/' in line]
    assert len(access) == 3, log[-3000:]
    assert all("/v1/shares/{token}" in line for line in access), access
    for leaked in (token, token[4:], mistyped, mistyped[4:20], key, key[12:], admin, admin[12:], value):
        assert leaked not in log, "a link token, a credential or the value is in the server's log"
    assert '"GET /v1/audit?link=' in log  # logged, with the token masked


def test_the_share_link_rule_is_shared_by_the_scanner_and_the_redactor(service: Any, make_canary: Any) -> None:
    """A link the service hands out is found by the scanner and masked by the redactor, wherever it is."""
    s = service
    made = s.client.post(f"/v1/tenants/{s.a.name}/shares", json={"value": make_canary("v")}, headers=s.auth(s.a.key))
    assert made.status_code == 201, made.text
    link = made.json()["url"]
    token = made.json()["token"]
    text = f"2024-05-01 INFO sent the link {link} to ops\nSHARE={token}\n"
    assert token not in Redactor(rules=RULES).redact(text)
    findings = Scanner().scan_text(text)
    assert {f.rule_id for f in findings} >= {"strongroom-share-link"}, findings
    near_miss = "srs_" + secrets.token_urlsafe(20)  # too short to be a link
    assert near_miss in Redactor(rules=RULES).redact(f"x {near_miss} y")
