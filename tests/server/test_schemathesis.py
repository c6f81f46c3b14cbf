"""ACCEPTANCE 7: the whole API under schemathesis, with the admin key: no 5xx, answers match the document.

Every operation of ``/openapi.json`` gets up to ``EXAMPLES_PER_OPERATION`` generated requests (a few hundred
in all), sent in-process through ASGI with ``Authorization: Bearer <admin key>``. It runs in the normal test
command whenever schemathesis is installed (a dev dependency) and is skipped otherwise.

Each operation is driven by its own Hypothesis test built from ``operation.as_strategy()`` rather than by
``schemathesis.pytest.from_fixture(...).parametrize()``: the latter (schemathesis 4.32) writes
``request.node._nodeid``, which pytest 9 no longer has. Failures of every operation are collected, then
reported together.
"""

from __future__ import annotations

import time
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


def _sweep(service: Any, checks: list[Any]) -> tuple[int, int, list[str]]:
    stored = service.client.put(
        f"/v1/tenants/{service.a.name}/secrets/echo_api_key",
        json={"value": "fuzz-credential-" + service.a.jti},
        headers=service.auth(service.a.key),
    )
    assert stored.status_code == 200
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


def test_no_operation_answers_a_server_error(service: Any) -> None:
    """Generated requests to every operation, with the admin key: never a 5xx."""
    started = time.process_time()  # CPU time of this process (the app runs in its threads), not the load elsewhere
    operations, cases, failures = _sweep(service, [not_a_server_error])
    assert not failures, "\n\n".join(failures)
    assert operations >= 20, operations
    assert cases >= 100, cases
    assert time.process_time() - started < BUDGET_SECONDS


def test_every_answer_conforms_to_the_documented_schema(service: Any) -> None:
    """Generated requests to every operation: each answer's status and body match the OpenAPI document."""
    operations, cases, failures = _sweep(service, CHECKS)
    assert not failures, "\n\n".join(failures)
    assert operations >= 20, operations
    assert cases >= 100, cases
