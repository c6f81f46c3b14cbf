"""ACCEPTANCE 7: the whole API under schemathesis, with the admin key: no 5xx, answers match the document.

The no-5xx sweep runs the way an attacker would want it: tenants A and B each hold a short credential
that breaks JSON when substituted into it (quotes, commas, brackets), and brokered calls of both are in
flight the whole time (their credentials are live in the process). Every JSON answer must still parse:
the service's last-line redaction is per tenant and JSON-safe (issue 12, finding 2).

Every operation of ``/openapi.json`` gets up to ``EXAMPLES_PER_OPERATION`` generated requests (a few hundred
in all), sent in-process through ASGI with ``Authorization: Bearer <admin key>``. It runs in the normal test
command whenever schemathesis is installed (a dev dependency) and is skipped otherwise.

Each operation is driven by its own Hypothesis test built from ``operation.as_strategy()`` rather than by
``schemathesis.pytest.from_fixture(...).parametrize()``: the latter (schemathesis 4.32) writes
``request.node._nodeid``, which pytest 9 no longer has. Failures of every operation are collected, then
reported together.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402 -- after the importorskip on purpose
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

EXAMPLES_PER_OPERATION = 15
BUDGET_SECONDS = 90.0
CHECKS = [not_a_server_error, response_schema_conformance]
# Three characters (the shortest credential the broker sends), each one that ends a JSON string or value.
JSON_BREAKING = {"a": '","', "b": '"}]'}


@schemathesis.check
def valid_json(ctx: Any, response: Any, case: Any) -> bool | None:
    """An answer that says it is JSON parses as JSON (masking must never break it)."""
    if response.headers.get("content-type", [""])[0].startswith("application/json") and response.content:
        try:
            json.loads(response.content)
        except ValueError:
            raise AssertionError(f"invalid JSON from {case.operation.label}: {response.content[:200]!r}") from None
    return None


@contextmanager
def _brokered_calls_in_flight(service: Any) -> Iterator[list[int]]:
    """Tenants A and B each keep a brokered call open (the upstream's ``/hang``) until the block ends."""
    stop = threading.Event()
    started = threading.Barrier(3)
    statuses: list[int] = []

    def call_forever(token: str) -> None:
        started.wait()
        while not stop.is_set():
            statuses.append(service.client.get("/v1/actions/echo/hang", headers=service.auth(token)).status_code)

    callers = [threading.Thread(target=call_forever, args=(t,)) for t in (service.a.token, service.b.token)]
    for caller in callers:
        caller.start()
    started.wait()
    try:
        yield statuses
    finally:
        stop.set()
        for caller in callers:
            caller.join()


def _pin(service: Any, operation: Any, case: Any) -> None:
    """Point a generated case at tenant A and the ``echo`` connector, so it gets past "no such tenant"."""
    params = case.path_parameters
    if not params:
        return
    if "tenant" in params and (operation.method.lower(), operation.path) != ("delete", "/v1/tenants/{tenant}"):
        params["tenant"] = service.a.name
    if "connector" in params:
        params["connector"] = "echo"


def _run(service: Any, operation: Any, checks: list[Any]) -> int:
    """Generated cases for one operation, half of them pinned to tenant A, each sent and checked; how many ran."""
    ran = 0
    # Actions run for a tenant (the admin key gets 400 there by design): they are called with A's token.
    credential = service.a.token if operation.path.startswith("/v1/actions/") else service.admin
    headers = service.auth(credential)

    @given(case=operation.as_strategy(), pin=st.booleans())
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any, pin: bool) -> None:
        nonlocal ran
        ran += 1
        if pin:
            _pin(service, operation, case)
        case.call_and_validate(headers=headers, checks=checks)

    check()
    return ran


def _store(service: Any, tenant: Any, value: str) -> None:
    stored = service.client.put(
        f"/v1/tenants/{tenant.name}/secrets/echo_api_key", json={"value": value}, headers=service.auth(tenant.key)
    )
    assert stored.status_code == 200, stored.text


def _sweep(service: Any, checks: list[Any]) -> tuple[int, int, list[str]]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", service.app)
    operations, cases, failures = 0, 0, []
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        try:
            cases += _run(service, operation, checks)
        except Exception as exc:
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: {str(exc)[:1500]}")
    return operations, cases, failures


@pytest.mark.slow
def test_no_operation_answers_a_server_error(service: Any) -> None:
    """Generated requests to every operation, with the admin key, while both tenants' short, JSON-breaking
    credentials are in use by the broker: never a 5xx, never invalid JSON."""
    _store(service, service.a, JSON_BREAKING["a"])
    _store(service, service.b, JSON_BREAKING["b"])
    started = time.process_time()  # CPU time of this process (the app runs in its threads), not the load elsewhere
    with _brokered_calls_in_flight(service) as statuses:
        operations, cases, failures = _sweep(service, [not_a_server_error, valid_json])
    assert not failures, "\n\n".join(failures)
    assert statuses, "no brokered call was made during the sweep"
    assert set(statuses) <= {504}, statuses  # each waited on the upstream until the connector's timeout
    assert operations >= 20, operations
    assert cases >= 100, cases
    assert time.process_time() - started < BUDGET_SECONDS


@pytest.mark.slow
def test_every_answer_conforms_to_the_documented_schema(service: Any) -> None:
    """Generated requests to every operation: each answer's status and body match the OpenAPI document."""
    _store(service, service.a, "fuzz-credential-" + service.a.jti)
    operations, cases, failures = _sweep(service, CHECKS)
    assert not failures, "\n\n".join(failures)
    assert operations >= 20, operations
    assert cases >= 100, cases
