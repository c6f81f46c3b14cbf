"""A baseline: the findings a team has accepted, so a scan reports only new ones.

The file (``.strongroom-baseline.json`` by convention) is JSON, written sorted so that it diffs well::

    {
      "version": 1,
      "generator": "strongroom",
      "key": "<base64 of 32 random bytes>",
      "findings": [
        {"rule_id": "aws-access-key-id", "path": "deploy/old.env", "fingerprint": "<hex>", "line": 3}
      ]
    }

``key`` is the HMAC key the scanner uses for fingerprints (``Scanner(fingerprint_key=baseline.key)``), so
a fingerprint is a keyed hash of the rule id and the secret and says nothing about the secret without the
key. The key is random per baseline and is stored in the clear on purpose: it is not worth protecting,
because every secret it fingerprints is already in the repository next to it. What it does prevent is a
precomputed table of fingerprints that works across repositories. A new key (a new baseline) makes every
old fingerprint unknown, so keep the file's key when updating it; ``write`` does.

A finding is known when its rule id, path and fingerprint all match an entry; ``line`` is recorded for
the reader only, so the finding stays known when lines above it move. Paths are compared in POSIX form
(``./a/b`` is ``a/b``); scanning from the repository root keeps them stable across machines.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import secrets
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePath
from typing import Any

from strongroom.errors import InvalidInput
from strongroom.scan.engine import Finding

FORMAT_VERSION = 1
GENERATOR = "strongroom"
KEY_BYTES = 32
DEFAULT_PATH = ".strongroom-baseline.json"
FILE_MODE = 0o644  # committed with the repository and read by every contributor; it holds no secret

_FIELDS: tuple[tuple[str, type], ...] = (("rule_id", str), ("path", str), ("fingerprint", str), ("line", int))


def _normal_path(path: str) -> str:
    return PurePath(path).as_posix()


class Baseline:
    """Accepted findings as (rule id, path, fingerprint), and the fingerprint key they were made with."""

    key: bytes

    def __init__(self, key: bytes, entries: Iterable[tuple[str, str, str]] = ()) -> None:
        if len(key) != KEY_BYTES:
            raise InvalidInput(f"baseline key must be {KEY_BYTES} bytes, got {len(key)}")
        self.key = key
        self._entries = frozenset((rule_id, _normal_path(path), fingerprint) for rule_id, path, fingerprint in entries)

    @classmethod
    def new(cls) -> Baseline:
        """An empty baseline with a fresh random key."""
        return cls(secrets.token_bytes(KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> Baseline:
        """Read a baseline file; every problem is an ``InvalidInput`` naming the file and what is wrong."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise InvalidInput(f"baseline {path}: file not found") from None
        except OSError as exc:
            raise InvalidInput(f"baseline {path}: cannot read ({exc.strerror or type(exc).__name__})") from None
        try:
            document = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(f"baseline {path}: not UTF-8 text") from None
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"baseline {path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
            ) from None
        return cls(_key_of(path, document), _entries_of(path, document))

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> frozenset[tuple[str, str, str]]:
        """The accepted (rule id, path, fingerprint) triples."""
        return self._entries

    def knows(self, finding: Finding) -> bool:
        """Whether ``finding`` is accepted: same rule, path and fingerprint (the line may have moved)."""
        # Without a fingerprint a finding cannot be told apart from any other of its rule in the same file,
        # so it is never known: reporting it is safer than hiding a new secret behind an old one.
        if not finding.fingerprint:
            return False
        return (finding.rule_id, _normal_path(finding.path), finding.fingerprint) in self._entries

    def new_findings(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings not in the baseline, in their original order."""
        return [finding for finding in findings if not self.knows(finding)]

    def write(self, path: Path, findings: Iterable[Finding]) -> None:
        """Replace the file at ``path`` with this key and ``findings``, atomically; then this baseline holds them.

        The findings must carry fingerprints made with ``self.key``. The file is written to a temporary file
        in the same directory and renamed over ``path``, so a reader sees the old file or the new one, never
        half of one; on failure the old file is left as it was and the temporary file is removed.
        """
        rows = sorted({_row(finding) for finding in findings}, key=lambda r: (r[1], r[3], r[0], r[2]))
        document = {
            "version": FORMAT_VERSION,
            "generator": GENERATOR,
            "key": base64.b64encode(self.key).decode("ascii"),
            "findings": [dict(zip(("rule_id", "path", "fingerprint", "line"), row, strict=True)) for row in rows],
        }
        # ensure_ascii: a path git handed over as undecodable bytes (lone surrogates) still serialises.
        data = (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")
        try:
            _replace_atomically(path, data)
        except OSError as exc:
            raise InvalidInput(f"baseline {path}: cannot write ({exc.strerror or exc})") from exc
        self._entries = frozenset((rule_id, file, fingerprint) for rule_id, file, fingerprint, _ in rows)


def _row(finding: Finding) -> tuple[str, str, str, int]:
    if not finding.fingerprint:
        # An entry without a fingerprint could never match (see knows); refusing says why instead.
        raise InvalidInput(
            f"finding {finding.rule_id} at {finding.path}:{finding.line} has no fingerprint; "
            "scan with Scanner(fingerprint_key=baseline.key) to record it"
        )
    return (finding.rule_id, _normal_path(finding.path), finding.fingerprint, finding.line)


def _replace_atomically(path: Path, data: bytes) -> None:
    directory = path.parent
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())  # the data is on disk before the rename makes it the file
        os.chmod(temp_name, FILE_MODE)  # mkstemp creates 0600; the baseline is meant to be shared
        os.replace(temp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    # The rename is durable only once the directory is synced; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _key_of(path: Path, document: Any) -> bytes:
    if not isinstance(document, dict):
        raise InvalidInput(f"baseline {path}: expected a JSON object, got {_json_type(document)}")
    for name in ("version", "key", "findings"):
        if name not in document:
            raise InvalidInput(f"baseline {path}: missing '{name}'")
    version = document["version"]
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise InvalidInput(
            f"baseline {path}: unsupported version {version!r} (this strongroom reads version {FORMAT_VERSION})"
        )
    key = document["key"]
    if not isinstance(key, str):
        raise InvalidInput(f"baseline {path}: 'key' must be a base64 string, got {_json_type(key)}")
    try:
        decoded = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(f"baseline {path}: 'key' is not valid base64") from None
    if len(decoded) != KEY_BYTES:
        raise InvalidInput(f"baseline {path}: 'key' must decode to {KEY_BYTES} bytes, got {len(decoded)}")
    return decoded


def _entries_of(path: Path, document: dict[str, Any]) -> list[tuple[str, str, str]]:
    findings = document["findings"]
    if not isinstance(findings, list):
        raise InvalidInput(f"baseline {path}: 'findings' must be a list, got {_json_type(findings)}")
    entries: list[tuple[str, str, str]] = []
    for i, item in enumerate(findings):
        where = f"baseline {path}: findings[{i}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object, got {_json_type(item)}")
        for name, kind in _FIELDS:
            if name not in item:
                raise InvalidInput(f"{where} is missing '{name}'")
            value = item[name]
            # bool is an int in Python but not a line number in JSON.
            if not isinstance(value, kind) or isinstance(value, bool):
                raise InvalidInput(f"{where}.{name} must be {_json_name(kind)}, got {_json_type(value)}")
            if kind is str and not value:
                raise InvalidInput(f"{where}.{name} must not be empty")
        if item["line"] < 1:
            raise InvalidInput(f"{where}.line must be 1 or more, got {item['line']}")
        entries.append((item["rule_id"], item["path"], item["fingerprint"]))
    return entries


def _json_name(kind: type) -> str:
    return {str: "a string", int: "an integer"}[kind]


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


__all__ = ["DEFAULT_PATH", "FORMAT_VERSION", "Baseline"]
