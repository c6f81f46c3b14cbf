"""Rotation without redeploy: a running process sees a rotated store value within the TTL, no restart."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from strongroom import ConfigError, Secret
from strongroom.config import Settings, secret
from strongroom.config.cache import LiveSecret
from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.config.sources.store import StoreSource
from strongroom.crypto import LocalKeyProvider
from strongroom.vault import Vault


class Signing(Settings):
    webhook_secret: Secret[str] = secret(sensitivity="high", rotate="30d")


def test_handle_sees_a_write_in_this_process_at_once_and_keeps_previous_in_overlap(
    open_vault: Callable[..., Vault], make_canary: Callable[[str], str]
) -> None:
    """After a write in the store by this process the handle serves the new value at once; the old one stays a
    candidate for the overlap window."""
    now = [1_000_000.0]
    writer = open_vault()
    writer.create_tenant("_platform")
    old, new = make_canary("old"), make_canary("new")
    writer.put("_platform", "webhook_secret", old, kind="platform")
    settings = Signing.load(
        environment="dev",
        sources=[StoreSource(open_vault(cache_ttl_seconds=0))],
        ttl_seconds=60,
        overlap_seconds=600,
        clock=lambda: now[0],
    )
    handle = settings.webhook_secret
    assert isinstance(handle, LiveSecret)
    assert handle.reveal() == old
    assert handle.candidates() == [old]
    now[0] = now[0] + 10
    writer.put("_platform", "webhook_secret", new)
    # A write in this process reaches the handle at once (strongroom.changes); another process's write is
    # seen after the TTL (test_running_process_sees_rotation_without_restart).
    assert handle.reveal() == new
    assert handle.candidates()[0] == new
    assert old in handle.candidates()
    assert f"{handle}" == "Secret('webhook_secret', ****)"


class _Flaky:
    """A dynamic source that can be switched off (as a store or cloud service that is briefly down)."""

    name = "flaky"
    dynamic = True

    def __init__(self, value: str) -> None:
        self.value = value
        self.down = False
        self.calls = 0

    def get(self, key: SourceKey) -> Found | None:
        self.calls += 1
        if self.down:
            raise SourceUnavailable("flaky: connection refused")
        return Found(self.value, self.name)


def test_refresh_runs_in_the_background_and_serves_stale_meanwhile() -> None:
    """Past the TTL, reveal() answers at once with the cached value and a background refresh brings the new one
    (a change made elsewhere: another process, or a cloud source, which send no notice)."""
    now = [2_000_000.0]
    source = _Flaky("first-value-abc123")
    settings = Signing.load(environment="dev", sources=[source], ttl_seconds=30, clock=lambda: now[0])
    source.value = "second-value-def456"
    now[0] += 31
    assert settings.webhook_secret.reveal() in ("first-value-abc123", "second-value-def456")
    for refresh in [t for t in threading.enumerate() if t.name == "strongroom-refresh-webhook_secret"]:
        refresh.join(timeout=30)  # the background refresh this reveal() started has finished: no sleeping
        assert not refresh.is_alive(), "background refresh never finished"
    assert settings.webhook_secret.reveal() == "second-value-def456"


def test_stale_value_is_served_while_the_source_is_down_then_refused() -> None:
    """While the source is down the stale value is served up to max_stale_seconds past the TTL, then refused."""
    now = [3_000_000.0]
    source = _Flaky("kept-while-down-123")
    settings = Signing.load(
        environment="dev", sources=[source], ttl_seconds=10, max_stale_seconds=100, clock=lambda: now[0]
    )
    source.down = True
    now[0] += 50
    assert settings.webhook_secret.reveal() == "kept-while-down-123"
    now[0] += 100
    with pytest.raises(ConfigError, match="cannot be refreshed"):
        settings.webhook_secret.reveal()
    source.down = False
    settings.webhook_secret.refresh()
    assert settings.webhook_secret.reveal() == "kept-while-down-123"


def test_a_deleted_value_is_not_served_on(open_vault: Callable[..., Vault]) -> None:
    """When the store no longer has the value, the next refresh ends it instead of serving it stale."""
    now = [4_000_000.0]
    vault = open_vault(cache_ttl_seconds=0)
    vault.create_tenant("_platform")
    vault.put("_platform", "webhook_secret", "revoked-soon-456", kind="platform")
    settings = Signing.load(environment="dev", sources=[StoreSource(vault)], ttl_seconds=10, clock=lambda: now[0])
    vault.delete("_platform", "webhook_secret")
    with pytest.raises(ConfigError, match="no longer present"):
        settings.webhook_secret.refresh()
    with pytest.raises(ConfigError, match="no longer present"):
        settings.webhook_secret.reveal()


WATCHER = """
import hashlib, sys, time
from strongroom import ConfigError, Secret
from strongroom.config import Settings, secret
from strongroom.config.sources import Found, SourceKey, SourceUnavailable
from strongroom.config.sources.store import StoreSource

class Signing(Settings):
    webhook_secret: Secret[str] = secret()

settings = Signing.load(environment="dev", sources=[StoreSource()], ttl_seconds=1.0)
print("loaded", hashlib.sha256(settings.webhook_secret.reveal().encode()).hexdigest(), flush=True)
target = sys.stdin.readline().strip()
deadline = time.monotonic() + 15
while time.monotonic() < deadline:
    if hashlib.sha256(settings.webhook_secret.reveal().encode()).hexdigest() == target:
        print("rotated", flush=True)
        sys.exit(0)
    time.sleep(0.05)
sys.exit(3)
"""


@pytest.mark.slow
def test_running_process_sees_rotation_without_restart(tmp_path: Path, make_canary: Callable[[str], str]) -> None:
    """A separate, running process picks up a value rotated by another process within its TTL."""
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith("STRONGROOM_")}
    env["STRONGROOM_HOME"] = str(home)
    keys = LocalKeyProvider.create_file(home / "keys" / "dev.json", "dev")
    url = f"sqlite:///{home / 'strongroom.db'}"
    old, new = make_canary("old"), make_canary("new")
    with Vault.open(url, key_provider=keys) as vault:
        vault.create_tenant("_platform")
        vault.put("_platform", "webhook_secret", old, kind="platform")
    watcher = subprocess.Popen(
        [sys.executable, "-c", WATCHER],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watcher.stdout is not None
    assert watcher.stdin is not None
    first = watcher.stdout.readline().split()
    assert first == ["loaded", hashlib.sha256(old.encode()).hexdigest()]
    with Vault.open(url, key_provider=keys) as vault:
        vault.put("_platform", "webhook_secret", new)
    watcher.stdin.write(hashlib.sha256(new.encode()).hexdigest() + "\n")
    watcher.stdin.flush()
    out, err = watcher.communicate(timeout=30)
    assert watcher.returncode == 0, err
    assert out.startswith("rotated")
    assert old not in out + err
    assert new not in out + err
