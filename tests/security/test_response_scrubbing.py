"""Issue 12, finding 2: the last-line redaction of answers is the caller's, and never breaks JSON.

The attacker holds tenant A's credentials. While tenant B's brokered call is in flight (B's credential is
then a live value of the process), A sends a guess of B's credential in fields the service echoes: through
A's own brokered call (the upstream echoes it) and in a connector's description (the API echoes it). A
must get its own text back, never a mask naming B's secret (that would confirm the guess). And a short,
JSON-breaking credential of B in use must not mangle A's JSON answers.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from _strongroom_server_fixtures import Service, Upstream, build_service, connectors_toml

from strongroom.vault import Vault

HELD_SECRET = "held_api_key"  # noqa: S105 -- the name of B's secret, not a value
ECHO_SECRET = "echo_api_key"  # noqa: S105 -- a name
A_CONNECTOR = {
    "base_url": "https://api.example.invalid",
    "credential": {"kind": "bearer", "secret": "example-key"},
    "operations": [{"id": "things", "method": "GET", "path": "/v1/things", "summary": "List things"}],
}


class Held:
    """An upstream whose answers wait until the test releases them: B's call stays in flight, no sleeps."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()


@pytest.fixture
def held(start_http_server: Callable[[type[BaseHTTPRequestHandler]], int]) -> Iterator[tuple[Held, int]]:
    state = Held()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            state.arrived.set()
            state.release.wait(30)
            body = b'{"held": "released"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    port = start_http_server(Handler)
    yield state, port
    state.release.set()


@pytest.fixture
def scrub_service(sqlite_vault: Vault, upstream: Upstream, tmp_path: Path, held: tuple[Held, int]) -> Iterator[Service]:
    """The service with the test suite's connectors, and ``held``: B's connector to the held upstream."""
    path = tmp_path / "connectors.toml"
    path.write_text(
        connectors_toml(upstream.url)
        + "\n".join(
            [
                "",
                "[[connector]]",
                'name = "held"',
                f'base_url = "http://127.0.0.1:{held[1]}"',
                'description = "An upstream that answers when the test says so."',
                "timeout_seconds = 30",
                "allow_private_network = true",
                "",
                "[connector.credential]",
                'kind = "header"',
                'name = "X-Api-Key"',
                f'secret = "{HELD_SECRET}"',
                "",
                "[[connector.operation]]",
                'id = "wait"',
                'method = "GET"',
                'path = "/wait"',
                'summary = "Wait for the test"',
                "",
            ]
        ),
        encoding="utf-8",
    )
    yield from build_service(sqlite_vault, upstream, path)


def _put_secret(s: Service, tenant: Any, name: str, value: str) -> None:
    answer = s.client.put(
        f"/v1/tenants/{tenant.name}/secrets/{name}", json={"value": value}, headers=s.auth(tenant.key)
    )
    assert answer.status_code in (200, 201), answer.text


class _InFlight:
    """B's brokered call to ``held``, started in a thread and waiting at the upstream until ``finish``."""

    def __init__(self, s: Service, held: Held) -> None:
        self.s, self.held = s, held
        self.answer: list[Any] = []
        self.thread = threading.Thread(
            target=lambda: self.answer.append(s.client.get("/v1/actions/held/wait", headers=s.auth(s.b.token)))
        )

    def __enter__(self) -> _InFlight:
        self.thread.start()
        assert self.held.arrived.wait(30), "B's call never reached the upstream"
        return self

    def __exit__(self, *exc: object) -> None:
        self.held.release.set()
        self.thread.join(30)

    def finished_ok(self) -> bool:
        return len(self.answer) == 1 and self.answer[0].status_code == 200


def _json(answer: Any) -> Any:
    """Every answer must be JSON that parses (a mask must never cut it)."""
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    return json.loads(answer.text)


def test_a_guess_of_another_tenants_credential_is_echoed_unmasked(
    scrub_service: Service, held: tuple[Held, int]
) -> None:
    s = scrub_service
    b_credential = "b-" + secrets.token_urlsafe(24)
    a_credential = "a-" + secrets.token_urlsafe(24)
    _put_secret(s, s.b, HELD_SECRET, b_credential)
    _put_secret(s, s.a, ECHO_SECRET, a_credential)

    with _InFlight(s, held[0]) as b_call:
        # 1. Through A's own brokered call: the upstream echoes the body A sent.
        echoed = s.client.post(
            "/v1/actions/echo/anything",
            content=json.dumps({"guess": b_credential}),
            headers={**s.auth(s.a.token), "Content-Type": "application/json"},
        )
        assert echoed.status_code == 200, echoed.text
        assert json.loads(_json(echoed)["body"]) == {"guess": b_credential}
        assert "[REDACTED:" + HELD_SECRET not in echoed.text
        # A's own credential, which the upstream saw in its header, is masked in A's answer.
        assert a_credential not in echoed.text
        assert "[REDACTED:" + ECHO_SECRET + "]" in echoed.text

        # 2. Through the API: a connector description is echoed back.
        described = {**A_CONNECTOR, "description": f"guess {b_credential} and mine {a_credential}"}
        put = s.client.put(f"/v1/tenants/{s.a.name}/connectors/mine", json=described, headers=s.auth(s.a.key))
        assert put.status_code == 200, put.text
        listed = s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(s.a.key))
        assert listed.status_code == 200, listed.text
        for text in (put.text, listed.text):
            assert b_credential in text  # A's own text, unmasked: nothing tells A its guess was right
            assert "[REDACTED:" + HELD_SECRET not in text  # no mask names B's secret
            assert a_credential not in text  # A's own value stays masked in A's answers
        mine = next(c for c in _json(listed) if c["name"] == "mine")
        assert mine["description"] == f"guess {b_credential} and mine [REDACTED:{ECHO_SECRET}]"

        # 3. Unauthenticated answers mask no tenant's values either.
        refused = s.client.get(f"/v1/tenants/{s.b.name}/connectors", headers=s.auth(b_credential))
        assert refused.status_code == 401
        assert "[REDACTED:" + HELD_SECRET not in refused.text

    assert b_call.finished_ok()
    # B's own answers still mask B's credential.
    mine_b = s.client.put(
        f"/v1/tenants/{s.b.name}/connectors/mine",
        json={**A_CONNECTOR, "description": f"mine {b_credential}"},
        headers=s.auth(s.b.key),
    )
    assert mine_b.status_code == 200, mine_b.text
    assert b_credential not in mine_b.text
    assert _json(mine_b)["description"] == f"mine [REDACTED:{HELD_SECRET}]"


@pytest.mark.parametrize("short", ['","', '":"', '"}]'])
def test_a_short_json_breaking_credential_in_use_corrupts_no_answer(
    scrub_service: Service, held: tuple[Held, int], short: str
) -> None:
    s = scrub_service
    _put_secret(s, s.b, HELD_SECRET, short)
    a_credential = "a-" + secrets.token_urlsafe(24)
    _put_secret(s, s.a, ECHO_SECRET, a_credential)

    with _InFlight(s, held[0]) as b_call:
        keys = s.client.get(f"/v1/tenants/{s.a.name}/api-keys", headers=s.auth(s.a.key))
        assert keys.status_code == 200, keys.text
        assert any(len(key["scopes"]) > 1 for key in _json(keys))  # `"a","b"`: what `","` used to cut
        connectors = s.client.get(f"/v1/tenants/{s.a.name}/connectors", headers=s.auth(s.a.key))
        assert connectors.status_code == 200, connectors.text
        assert {c["name"] for c in _json(connectors)} >= {"echo", "held", "other"}
        echoed = s.client.get("/v1/actions/echo/anything?x=1&y=2", headers=s.auth(s.a.token))
        assert echoed.status_code == 200, echoed.text
        assert _json(echoed)["query"] == [["x", "1"], ["y", "2"]]
        assert a_credential not in echoed.text
        missing = s.client.get(f"/v1/tenants/{s.a.name}/secrets/nope", headers=s.auth(s.a.key))
        _json(missing)
        # B's own answers are not mangled by B's short value either: it masks whole tokens only.
        b_keys = s.client.get(f"/v1/tenants/{s.b.name}/api-keys", headers=s.auth(s.b.key))
        assert b_keys.status_code == 200, b_keys.text
        assert any(len(key["scopes"]) > 1 for key in _json(b_keys))

    assert b_call.finished_ok()
    assert _json(b_call.answer[0]) == {"held": "released"}
