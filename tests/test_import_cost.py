"""``import strongroom`` stays cheap: no SQLAlchemy, FastAPI, pydantic or cloud SDK until needed."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "pydantic",
    "starlette",
    "boto3",
    "botocore",
    "google",
    "hvac",
    "psycopg",
    "typer",
    "rich",
    "httpx",
    "azure",
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {m.split(".")[0] for m in json.loads(out)}


def test_import_strongroom_loads_no_heavy_dependency() -> None:
    """After `import strongroom` (and using Secret), none of the heavy libraries is in sys.modules."""
    loaded = _modules_after("import strongroom\ns = strongroom.Secret('n', 'v')\nrepr(s)")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_import_config_loads_no_heavy_dependency() -> None:
    """`import strongroom.config` and declaring a schema load no SQLAlchemy, pydantic or cloud SDK."""
    loaded = _modules_after(
        "import strongroom.config as c\nfrom strongroom import Secret\n"
        "class S(c.Settings):\n    x: Secret[str] = c.secret()\n    n: int = 1"
    )
    assert not loaded & set(HEAVY) - {"typer", "rich"}, loaded & set(HEAVY)


def test_vault_loads_sqlalchemy_on_first_use() -> None:
    """Touching strongroom.Vault is what brings SQLAlchemy in (so the check above can fail)."""
    loaded = _modules_after("import strongroom\nstrongroom.Vault")
    assert "sqlalchemy" in loaded
