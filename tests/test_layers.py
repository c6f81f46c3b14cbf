"""The layer table of docs/architecture.md, enforced: which strongroom package may import which."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "strongroom"

LEAF = {
    "errors",
    "secret",
    "clock",
    "names",
    "defaults",
    "rules",
    "live_values",
    "vocabulary",
    "caching",
    "changes",
}
LAYER_OF = {
    **dict.fromkeys(LEAF, "leaf"),
    "crypto": "crypto",
    "store": "store",
    "audit": "audit",
    "redact": "redact",
    "scan": "scan",
    "vault": "vault",
    "rotation": "rotation",
    "tokens": "on-vault",
    "broker": "on-vault",
    "config": "on-vault",
    "server": "server",
    "cli": "cli",
    "bootstrap": "entry",
    "testing": "entry",
    "__init__": "api",
}
MAY_IMPORT = {
    "leaf": {"leaf"},
    "crypto": {"leaf"},
    "store": {"leaf"},
    "audit": {"store", "leaf"},
    "redact": {"leaf"},
    "scan": {"leaf"},
    "vault": {"crypto", "store", "audit", "leaf"},
    # Nothing above vault/ touches the store: writes go through the vault's unit of work, reads through its
    # methods and repositories (which re-export the record types). Only the composition root may.
    "on-vault": {"vault", "crypto", "audit", "redact", "leaf"},
    # Rotation drives the others: it rotates tokens' keys, reads config schemas (the drill), scans logs.
    "rotation": {"on-vault", "vault", "crypto", "audit", "redact", "scan", "leaf"},
    "server": {"server", "rotation", "on-vault", "vault", "crypto", "audit", "redact", "scan", "leaf", "api"},
    "entry": {
        "entry",
        "server",
        "rotation",
        "on-vault",
        "vault",
        "crypto",
        "store",
        "audit",
        "redact",
        "scan",
        "leaf",
        "api",
    },
    # The CLI goes through vault/ and the composition root, never to store/ or crypto/ directly.
    "cli": {"cli", "entry", "server", "rotation", "on-vault", "vault", "audit", "redact", "scan", "leaf", "api"},
    "api": {"leaf", "vault"},
}


def _component(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _strongroom_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("strongroom"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("strongroom"):
            if node.module == "strongroom":
                found.update(f"strongroom.{a.name}" for a in node.names)
            else:
                found.add(node.module)
    return found


def _modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_module_imports_only_allowed_layers(path: Path) -> None:
    """A module imports only the strongroom layers its own layer may depend on."""
    own = "__init__" if path == SRC / "__init__.py" else path.relative_to(SRC).parts[0].removesuffix(".py")
    layer = LAYER_OF.get(own)
    assert layer is not None, f"{own} is not in the layer table; add it to docs/architecture.md and this test"
    for module in _strongroom_imports(path):
        target = LAYER_OF.get(_component(module))
        if _component(module) == own:
            continue
        assert target is not None, f"{path.name} imports unknown component {module}"
        assert target in MAY_IMPORT[layer], f"{path.relative_to(SRC)} ({layer}) may not import {module} ({target})"


ABOVE_VAULT = ("tokens", "broker", "config", "rotation", "server", "cli")
BYPASS = re.compile(r"\.store\.(read|write)\(|vault\._?(store|audit)\b|\baudited_write\b")


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.relative_to(SRC).parts[0] in ABOVE_VAULT],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_nothing_above_the_vault_writes_around_it(path: Path) -> None:
    """Above vault/ no module opens a store transaction or reaches the vault's store or audit log: every
    change goes through the vault's unit of work (docs/architecture.md, "The write path")."""
    text = path.read_text()
    found = [m.group(0) for m in BYPASS.finditer(text)]
    assert not found, f"{path.relative_to(SRC)} bypasses the vault: {found}"


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    """The import walker sees a forbidden import, and the bypass pattern a store write (so the tests can fail)."""
    assert BYPASS.search("with state.vault.store.write() as tx:")
    assert BYPASS.search("self._vault._audit.record(tx, e)")
    assert BYPASS.search("vault._audit.flush()")
    assert BYPASS.search("self._audit(event)") is None
    bad = tmp_path / "bad.py"
    bad.write_text("from strongroom.vault import Vault\nimport strongroom.store.tables\n")
    assert _strongroom_imports(bad) == {"strongroom.vault", "strongroom.store.tables"}
    assert "vault" not in MAY_IMPORT["crypto"]
