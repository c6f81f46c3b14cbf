"""Finding 6: the failure limiter ran after the credential lookup (so it never slowed guessing), every bearer
token shared one bucket (21 bad tokens a minute turned everyone's expired-token 401 into 429), and loopback
peers chose their address with ``X-Forwarded-For``.

Afterwards the limit is checked before any lookup, failures are counted per API key id, per token ``kid`` +
``tenant`` + ``sub`` and per client address (``limits``, moving window, in memory or a shared Redis), a
credential that authenticated recently is never refused, and forwarded headers count only from the proxies
named by ``strongroom serve --forwarded-allow-ips``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
from pathlib import Path
from typing import Any

import _strongroom_real_server
import pytest
from fastapi.testclient import TestClient

from strongroom.bootstrap import build_app
from strongroom.rules.api_key_format import checksum, random_base62
from strongroom.server.auth import DoorLimiter
from strongroom.vocabulary import Action

PUBLIC_URL = "http://testserver"
REDIS_ENV = "STRONGROOM_TEST_REDIS_URL"
REDIS_URL = os.environ.get(REDIS_ENV, "redis://127.0.0.1:6379/0")


def _forged_key(key_id: str | None = None) -> str:
    body = f"srk_{key_id or random_base62(8)}_{random_base62(32)}"
    return body + checksum(body)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forged_token(real: str, **claims: str) -> str:
    """``real``'s header (its kid) with its claims changed and a signature that is not one."""
    header, payload, _ = real.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(claims)
    return f"{header}.{_b64(json.dumps(body).encode())}.{_b64(secrets.token_bytes(64))}"


def _counting(monkeypatch: pytest.MonkeyPatch, target: Any, name: str) -> list[int]:
    """Count the calls of ``target.name`` (the credential lookups), calling through."""
    calls: list[int] = []
    real = getattr(target, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(target, name, counted)
    return calls


def test_a_limited_key_id_is_refused_before_its_lookup(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past 20 failures for one key id, further guesses at it get 429 without the key being looked up."""
    s = service
    state = s.app.state.strongroom
    lookups = _counting(monkeypatch, state.api_keys, "authenticate")
    statuses = [s.client.get("/v1/audit", headers=s.auth(_forged_key(s.a.key_id))).status_code for _ in range(30)]
    assert statuses == [401] * 20 + [429] * 10
    assert len(lookups) == 20, "the ten limited guesses were not looked up"


def test_a_limited_token_subject_is_refused_before_its_signature_is_checked(
    service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same for tokens: past the limit, a forged token of that subject is not even verified."""
    s = service
    verified = _counting(monkeypatch, s.app.state.strongroom.tokens, "verify")
    forged = [_forged_token(s.a.token, sub="agent-under-attack") for _ in range(25)]
    statuses = [s.client.get("/v1/audit", headers=s.auth(token)).status_code for token in forged]
    assert statuses == [401] * 20 + [429] * 5
    assert len(verified) == 20


def test_bad_tokens_of_one_subject_do_not_lock_out_another_subject(service_with_clock: Any, clock: Any) -> None:
    """25 forged tokens of one subject: another subject's valid token still works and another's expired token
    is still told 401 (not 429), though they share the address and the signing key."""
    s = service_with_clock
    late = s.client.post(
        "/v1/tokens",
        json={"scopes": ["audit:read"], "subject": "agent-late", "ttl_seconds": 60},
        headers=s.auth(s.b.key),
    ).json()["access_token"]
    clock.advance(120)
    fresh = s.client.post(
        "/v1/tokens", json={"scopes": ["audit:read"], "subject": "agent-fresh"}, headers=s.auth(s.b.key)
    ).json()["access_token"]
    statuses = [
        s.client.get("/v1/audit", headers=s.auth(_forged_token(s.a.token, sub="agent-noisy"))).status_code
        for _ in range(25)
    ]
    assert statuses == [401] * 20 + [429] * 5
    assert s.client.get("/v1/audit", headers=s.auth(fresh)).status_code == 200  # never used before: not vouched
    s.assert_error(s.client.get("/v1/audit", headers=s.auth(late)), 401, code="unauthenticated")


def test_a_valid_token_passes_while_forgeries_of_its_own_subject_are_limited(service: Any) -> None:
    """An attacker forging tokens with the exact kid, tenant and subject of a working token fills that bucket;
    the token, having authenticated recently, still passes."""
    s = service
    assert s.client.get("/v1/audit", headers=s.auth(s.a.token)).status_code == 200
    forged = [_forged_token(s.a.token) for _ in range(21)]
    statuses = [s.client.get("/v1/audit", headers=s.auth(token)).status_code for token in forged]
    assert statuses[-1] == 429
    assert s.client.get("/v1/audit", headers=s.auth(s.a.token)).status_code == 200


def _redis_up(url: str) -> bool:
    from urllib.parse import urlsplit

    where = urlsplit(url)
    try:
        with socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def test_processes_sharing_a_redis_count_failures_together(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two apps (two processes of the service) given the same Redis: 20 failures at one, 429 at the other."""
    from strongroom.vocabulary import RATE_LIMIT_STORAGE_ENV

    if not _redis_up(REDIS_URL):
        pytest.skip(f"no Redis at {REDIS_URL}: start one or set {REDIS_ENV}=redis://host:port/db")
    s = service
    monkeypatch.setenv(RATE_LIMIT_STORAGE_ENV, REDIS_URL)
    first, second = build_app(s.vault, public_url=PUBLIC_URL), build_app(s.vault, public_url=PUBLIC_URL)
    assert first.state.strongroom.door.storage == REDIS_URL
    key_id = random_base62(8)  # a bucket no other run has used
    with (
        TestClient(first, base_url=PUBLIC_URL) as one,
        TestClient(second, base_url=PUBLIC_URL) as other,
    ):
        assert [one.get("/v1/audit", headers=s.auth(_forged_key(key_id))).status_code for _ in range(20)] == [401] * 20
        assert other.get("/v1/audit", headers=s.auth(_forged_key(key_id))).status_code == 429
        assert other.get("/v1/audit", headers=s.auth(s.a.key)).status_code == 200


def test_an_unknown_rate_limit_storage_is_refused_clearly(service: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A storage URL strongroom does not support is a clear error naming the setting, not a crash later."""
    from strongroom.errors import InvalidInput
    from strongroom.vocabulary import RATE_LIMIT_STORAGE_ENV

    monkeypatch.setenv(RATE_LIMIT_STORAGE_ENV, "memcached://127.0.0.1:11211")
    with pytest.raises(InvalidInput, match=RATE_LIMIT_STORAGE_ENV):
        build_app(service.vault, public_url=PUBLIC_URL)


SPOOFED = "203.0.113.77"


def _auth_fail_details(server: Any) -> str:
    status, events = server.call("GET", f"/v1/audit?action={Action.AUTH_FAIL}&limit=1000", credential=server.admin)
    assert status == 200, events
    return " ".join(e["detail"] or "" for e in events)


@pytest.mark.slow
def test_x_forwarded_for_from_loopback_is_ignored_by_default(tmp_path: Path) -> None:
    """A loopback peer rotating X-Forwarded-For and key ids is still one address: its 201st failure in a
    minute is 429, and the audit and the access log name 127.0.0.1, never the address it claimed."""
    real = _strongroom_real_server
    with real.real_server(tmp_path) as server:
        assert _auth_fail_details(server) == ""  # the admin key, used once: it passes whatever the count
        statuses = [
            server.call(
                "GET", "/v1/audit", credential=_forged_key(), headers={"X-Forwarded-For": f"198.51.100.{n % 250}"}
            )[0]
            for n in range(200)
        ]
        assert statuses == [401] * 200
        spoofed, _ = server.call("GET", "/v1/audit", credential=_forged_key(), headers={"X-Forwarded-For": SPOOFED})
        assert spoofed == 429
        details = _auth_fail_details(server)
        server.stop()
        log = server.log()
    assert "from 127.0.0.1" in details
    assert "198.51.100." not in details + log
    assert SPOOFED not in log


@pytest.mark.slow
def test_x_forwarded_for_is_trusted_from_a_configured_proxy(tmp_path: Path) -> None:
    """With --forwarded-allow-ips naming the proxy (here loopback), the address it forwards is the client's."""
    real = _strongroom_real_server
    with real.real_server(tmp_path, "--forwarded-allow-ips", "127.0.0.1") as server:
        status, _ = server.call("GET", "/v1/audit", credential=_forged_key(), headers={"X-Forwarded-For": SPOOFED})
        assert status == 401
        assert f"from {SPOOFED}" in _auth_fail_details(server)


@pytest.mark.parametrize("fill", [0, 33])
def test_a_tenant_minting_tokens_cannot_evict_another_tenants_good_credential(service: Any, fill: int) -> None:
    """Found by an attack on the door: tenant A's key mints and uses fresh tokens until the door's memory
    of good credentials has no room, then floods B's address with failures. Each tenant's tokens (and each
    key) have their own share of that memory, so B's key, used a moment ago, still passes."""
    s = service
    s.app.state.strongroom.door = DoorLimiter(remember_per_owner=32)  # 4,096 by default: same mechanism
    assert s.client.get(f"/v1/tenants/{s.b.name}/secrets", headers=s.auth(s.b.key)).status_code == 200
    for i in range(fill):
        issued = s.client.post(
            "/v1/tokens", json={"scopes": ["secrets:read-metadata"], "subject": f"filler-{i}"}, headers=s.auth(s.a.key)
        )
        token = issued.json()["access_token"]
        assert s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(token)).status_code == 200
    for i in range(200):  # the address B shares (a NAT, an agent platform's egress) is now past its limit
        s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth(f"garbage-{i}"))
    assert s.client.get(f"/v1/tenants/{s.a.name}/secrets", headers=s.auth("garbage-last")).status_code == 429
    again = s.client.get(f"/v1/tenants/{s.b.name}/secrets", headers=s.auth(s.b.key))
    assert again.status_code == 200, again.text
