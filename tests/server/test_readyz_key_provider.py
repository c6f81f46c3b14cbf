"""``/readyz`` asks the key provider itself (reachable, key present) and names its kind, not its details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from strongroom.crypto import LocalKeyProvider


def test_readyz_reports_a_key_provider_that_cannot_answer(service: Any, key_provider: LocalKeyProvider) -> None:
    ready = service.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["key_provider"] == "file"
    key_file = Path(str(key_provider.path))
    hidden = key_file.with_name("moved-away.json")
    key_file.rename(hidden)  # the provider can no longer answer (an HSM unplugged, a KMS down)
    try:
        down = service.client.get("/readyz")
        assert down.status_code == 503
        body = down.json()
        assert body["checks"] == {"store": "ok", "key_provider": "KeyProviderError"}
        assert body["key_provider"] == "file"
        assert str(key_file.parent) not in down.text  # the URI and the fix go to the log, not to the caller
    finally:
        hidden.rename(key_file)
    assert service.client.get("/readyz").status_code == 200
