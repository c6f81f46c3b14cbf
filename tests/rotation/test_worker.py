"""The rotation worker that runs inside ``strongroom serve``: due secrets are rotated without anyone asking."""

from __future__ import annotations

import threading

from strongroom.rotation import RotationResult, Rotations
from strongroom.rotation.worker import RotationWorker
from strongroom.vault import Vault


def test_the_worker_rotates_a_due_secret_in_the_background_and_stops(vault: Vault) -> None:
    now = [vault.clock()]
    vault.create_tenant("acme")
    vault.put("acme", "svc-token", "first-token-" + "w" * 30)
    rotations = Rotations(vault, clock=lambda: now[0])
    policy = rotations.set_policy("acme", "svc-token", every="1d", rotator="random")
    now[0] = policy.next_due + 1
    rotated = threading.Event()
    runs: list[list[RotationResult]] = []

    def seen(results: list[RotationResult]) -> None:
        runs.append(results)
        if results:
            rotated.set()

    worker = RotationWorker(rotations, interval_seconds=0.01, on_run=seen)
    worker.start()
    try:
        assert rotated.wait(60), runs
    finally:
        worker.stop()
    assert [r.status for run in runs for r in run] == ["succeeded"]  # once, however many runs
    assert [(v.version, str(v.stage)) for v in vault.versions("acme", "svc-token")] == [(1, "retired"), (2, "current")]
    assert len(vault.audit_events(tenant="acme", action="rotation.finish")) == 1


def test_a_worker_with_interval_zero_never_starts(vault: Vault) -> None:
    worker = RotationWorker(Rotations(vault), interval_seconds=0)
    worker.start()
    worker.stop()
    assert not [t for t in threading.enumerate() if t.name == "strongroom-rotation"]
