"""A tenant's connector write waits for the database off the event loop: other requests keep being served.

``PUT /v1/tenants/{t}/connectors/{name}`` is an ``async`` route (it reads the raw body); its write is a unit of
work of the vault (a flush of the queued use events, then a write transaction), which blocks. Run on the
event loop it stalls every request of the process while the database is slow or locked.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

CONNECTOR = {
    "base_url": "https://api.example.invalid",
    "description": "A tenant's own upstream.",
    "credential": {"kind": "bearer", "secret": "example-key"},
    "operations": [{"id": "things", "method": "GET", "path": "/v1/things", "summary": "List things"}],
}


def test_a_connector_write_waiting_on_the_database_does_not_stall_the_service(service: Any) -> None:
    s = service
    database = s.vault._store.engine.url.database
    holder = sqlite3.connect(database, isolation_level=None, timeout=30)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    answers: list[int] = []
    writer = threading.Thread(
        target=lambda: answers.append(
            s.client.put(f"/v1/tenants/{s.a.name}/connectors/mine", json=CONNECTOR, headers=s.auth(s.a.key)).status_code
        )
    )
    try:
        writer.start()
        time.sleep(0.5)  # the write is now waiting for the lock
        started = time.monotonic()
        alive = s.client.get("/healthz")
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        writer.join(timeout=30)
    assert alive.status_code == 200
    assert waited < 2.0, f"/healthz waited {waited:.1f} s behind a connector write"
    assert answers == [200]
