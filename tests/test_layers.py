"""The layer table of docs/architecture.md, enforced: which strongroom package may import which."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "strongroom"

LEAF = {"errors", "secret", "clock", "names", "defaults", "rules", "live_values", "vocabulary"}
LAYER_OF = {
    **dict.fromkeys(LEAF, "leaf"),
    "crypto": "crypto",
    "store": "store",
    "audit": "audit",
    "redact": "redact",
    "scan": "scan",
    "vault": "vault",
    "rotation": "on-vault",
    "tokens": "on-vault",
    "broker": "on-vault",
    "config": "on-vault",
    "server": "entry",
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
    "on-vault": {"vault", "crypto", "store", "audit", "redact", "leaf"},
    "entry": {"entry", "on-vault", "vault", "crypto", "store", "audit", "redact", "scan", "leaf", "api"},
    # The CLI goes through vault/ and the composition root, never to store/ or crypto/ directly.
    "cli": {"cli", "entry", "on-vault", "vault", "audit", "redact", "scan", "leaf", "api"},
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


def test_the_check_catches_a_violation(tmp_path: Path) -> None:
    """The import walker sees a forbidden import (so the layer test can fail)."""
    bad = tmp_path / "bad.py"
    bad.write_text("from strongroom.vault import Vault\nimport strongroom.store.tables\n")
    assert _strongroom_imports(bad) == {"strongroom.vault", "strongroom.store.tables"}
    assert "vault" not in MAY_IMPORT["crypto"]
