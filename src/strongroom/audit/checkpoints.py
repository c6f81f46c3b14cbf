"""Signed checkpoints: the audit chains' heads, signed with the audit-signing key, kept outside the database.

The keyed chain stops a database writer from editing, forging, moving or reordering events: they cannot compute
a link. Three things need no link: dropping a whole chain, dropping the newest events together with the head, and
restoring an older copy of the tables. A checkpoint (every chain's seq and link, a count, a time) signed with
Ed25519 and written where the database writer cannot reach (an append-only file, syslog or journald, an S3
bucket with object lock, a log shipper's stdout) catches all three: ``strongroom audit verify --checkpoints``
checks that every checkpointed (chain, seq) still holds its link. Only what happened after the newest
checkpoint can still be dropped unseen: the interval is that window (docs/crypto.md, "Audit checkpoints").

A checkpoint is one line of JSON, so it survives syslog prefixes and log shippers: readers find it by
``MARKER`` anywhere in a line.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from strongroom.audit.keys import AuditKeys, key_id_of, public_text
from strongroom.clock import iso
from strongroom.errors import InvalidInput, StrongroomError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from strongroom.store import Tx

__all__ = [
    "MARKER",
    "Checkpoint",
    "CheckpointReport",
    "CheckpointSink",
    "Checkpointer",
    "Divergence",
    "FileSink",
    "S3Sink",
    "StdoutSink",
    "SyslogSink",
    "public_key_from_text",
    "public_text",
    "read_checkpoints",
    "sign",
    "sinks_from_spec",
    "verify_against",
]

MARKER = "strongroom_audit_checkpoint"
DEFAULT_INTERVAL_SECONDS = 60.0
_VERSION = 1
_LATEST = 253402300800.0  # 10000-01-01T00:00Z: the first time an ISO-8601 year of four digits cannot name
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True, ensure_ascii=True)
log = logging.getLogger("strongroom.audit")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The heads of one environment's chains at a time, and the signature over them."""

    environment: str
    at: float
    heads: dict[str, tuple[int, str]]
    key_id: str
    signature: bytes = field(repr=False)
    source: str = ""  # where it was read from (a file and line, an S3 key): for messages only, not signed

    @property
    def events(self) -> int:
        return sum(seq for seq, _ in self.heads.values())

    def to_line(self) -> str:
        fields = _signed_fields(self.environment, self.at, self.heads, self.key_id)
        return _CANONICAL.encode({**fields, "signature": base64.b64encode(self.signature).decode()})

    def signed_bytes(self) -> bytes:
        return _CANONICAL.encode(_signed_fields(self.environment, self.at, self.heads, self.key_id)).encode()

    def describe(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"checkpoint of {iso(self.at)}{where}"


def _signed_fields(environment: str, at: float, heads: dict[str, tuple[int, str]], key_id: str) -> dict[str, Any]:
    return {
        MARKER: _VERSION,
        "environment": environment,
        "at": at,
        "heads": {chain: [seq, link] for chain, (seq, link) in sorted(heads.items())},
        "events": sum(seq for seq, _ in heads.values()),
        "key_id": key_id,
    }


def sign(keys: AuditKeys, environment: str, at: float, heads: dict[str, tuple[int, str]]) -> Checkpoint:
    unsigned = Checkpoint(environment, at, dict(heads), keys.key_id, b"")
    return Checkpoint(environment, at, dict(heads), keys.key_id, keys.signing.sign(unsigned.signed_bytes()))


def environment_heads(tx: Tx, environment: str) -> dict[str, tuple[int, str]]:
    return {c: h for c, h in tx.chain_heads().items() if c.startswith(f"{environment}/")}


# -- reading ------------------------------------------------------------------------------------------


_OBJECT_START = re.compile(r'\{\s*"')
_MAX_ATTEMPTS = 8
_DECODER = json.JSONDecoder()


class MalformedCheckpoint(InvalidInput):
    """A line carries the checkpoint marker but is not a well-formed checkpoint."""


def parse_line(line: str, source: str = "") -> Checkpoint | None:
    """The checkpoint in ``line`` (after any syslog or shipper prefix), ``None`` if it holds none."""
    last = line.rfind(MARKER)
    if last == -1:
        return None
    # Only where an object with a key begins, before the marker, and a few times: each failed attempt costs
    # up to the line's length (a crafted line of braces, in a syslog anyone may write to, took hours).
    for attempt, found in enumerate(_OBJECT_START.finditer(line, 0, last)):
        if attempt == _MAX_ATTEMPTS:
            break
        try:
            data = _DECODER.raw_decode(line, found.start())[0]
        except (ValueError, RecursionError):
            continue
        if isinstance(data, dict) and MARKER in data:
            return _from_dict(data, source)
    if MARKER in line:
        raise MalformedCheckpoint(f"{source or 'a line'}: names {MARKER} but holds no checkpoint JSON")
    return None


def _from_dict(data: dict[str, Any], source: str) -> Checkpoint:
    try:
        if data[MARKER] != _VERSION:
            raise MalformedCheckpoint(f"{source}: checkpoint format {data[MARKER]!r}; this strongroom reads {_VERSION}")
        heads = {str(c): (int(h[0]), str(h[1])) for c, h in dict(data["heads"]).items()}
        at = float(data["at"])
        if not 0 <= at < _LATEST:  # NaN and infinities too: no time prints them, and none was ever signed
            raise ValueError(at)
        return Checkpoint(
            environment=str(data["environment"]),
            at=at,
            heads=heads,
            key_id=str(data["key_id"]),
            signature=base64.b64decode(str(data["signature"]), validate=True),
            source=source,
        )
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise MalformedCheckpoint(f"{source}: not a checkpoint ({type(exc).__name__})") from None


def read_lines(lines: Iterable[str], source: str) -> Iterator[Checkpoint]:
    for number, line in enumerate(lines, 1):
        checkpoint = parse_line(line, f"{source}:{number}")
        if checkpoint is not None:
            yield checkpoint


def read_checkpoints(source: str) -> list[Checkpoint]:
    """Every checkpoint in ``source``: a file (checkpoint lines, or a syslog, journal or shipper log holding them),
    ``-`` for standard input, or ``s3://bucket/prefix`` (needs the ``aws`` extra)."""
    if source == "-":
        import sys

        return list(read_lines(sys.stdin, "stdin"))
    if source.startswith("s3://"):
        return _read_s3(source)
    path = Path(source)
    if not path.is_file():
        raise InvalidInput(f"no checkpoint file at {source}: give a file, '-' or s3://bucket/prefix")
    with path.open(encoding="utf-8", errors="replace") as lines:
        return list(read_lines(lines, source))


def _read_s3(source: str) -> list[Checkpoint]:
    bucket, prefix, _ = _s3_parts(source)
    client = _s3_client()
    found: list[Checkpoint] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            body = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
            found.extend(read_lines(body.splitlines(), f"s3://{bucket}/{item['Key']}"))
    return found


# -- verifying ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Divergence:
    """The first place the database departs from a checkpoint."""

    checkpoint: str
    chain: str | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        where = "" if self.chain is None else f" chain {self.chain}" + ("" if self.seq is None else f" seq {self.seq}")
        return f"{self.checkpoint}:{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CheckpointReport:
    checkpoints: int
    newest: float | None
    divergence: Divergence | None
    other_environments: int = 0

    @property
    def ok(self) -> bool:
        return self.divergence is None


def verify_against(
    tx: Tx, environment: str, checkpoints: Sequence[Checkpoint], public: Ed25519PublicKey
) -> CheckpointReport:
    """Prove the database against ``checkpoints``, oldest first: each must be signed by ``public`` and each
    (chain, seq, link) it names must still be in the database. The first that is not is the divergence."""
    mine = sorted((c for c in checkpoints if c.environment == environment), key=lambda c: c.at)
    others = len(checkpoints) - len(mine)
    if not mine:
        missing = Divergence("checkpoints", None, None, _none_found(environment, others))
        return CheckpointReport(0, None, missing, others)
    divergence = _unsigned(mine, public) or _departed(tx, mine)
    return CheckpointReport(len(mine), mine[-1].at, divergence, others)


def _unsigned(checkpoints: Sequence[Checkpoint], public: Ed25519PublicKey) -> Divergence | None:
    from cryptography.exceptions import InvalidSignature

    key_id = key_id_of(public)
    for checkpoint in checkpoints:
        try:
            if checkpoint.key_id != key_id:
                raise InvalidSignature
            public.verify(checkpoint.signature, checkpoint.signed_bytes())
        except InvalidSignature:
            why = f"not signed by this environment's audit key {key_id}: forged, or another key's"
            return Divergence(checkpoint.describe(), None, None, why)
    return None


def _departed(tx: Tx, checkpoints: Sequence[Checkpoint]) -> Divergence | None:
    """The first (chain, seq) of the checkpoints, oldest first, whose link the database no longer holds."""
    wanted = sorted({(chain, seq) for c in checkpoints for chain, (seq, _) in c.heads.items() if seq > 0})
    stored = tx.audit_links(wanted)
    heads = tx.chain_heads()
    for checkpoint in checkpoints:
        for chain, (seq, link) in sorted(checkpoint.heads.items()):
            found = stored.get((chain, seq))
            if seq == 0 or found == link:
                continue
            if found is not None:
                reason = "the event differs from the checkpoint: rewritten"
            elif chain not in heads:
                reason = "the chain is gone: deleted"
            else:
                reason = f"the chain now ends at seq {heads[chain][0]}: events removed, or an older copy restored"
            return Divergence(checkpoint.describe(), chain, seq, reason)
    return None


def _none_found(environment: str, others: int) -> str:
    if others:
        return f"none of environment {environment!r} ({others} of others): check STRONGROOM_ENV"
    return "none found: check the source, and that checkpoints are configured (STRONGROOM_AUDIT_CHECKPOINTS)"


# -- writing ------------------------------------------------------------------------------------------


class CheckpointSink(Protocol):
    """Somewhere outside the database that checkpoints are written to."""

    name: str

    def write(self, checkpoint: Checkpoint) -> None: ...


class FileSink:
    """Appends one line per checkpoint to a 0600 file (``O_APPEND``: concurrent writers never interleave a
    line), synced to disk before the write returns. Make it append-only for the database's owner with
    ``chattr +a`` or a log directory of another user for a stronger anchor."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.name = f"file:{self.path}"

    def write(self, checkpoint: Checkpoint) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise InvalidInput(f"checkpoint file {self.path}: cannot write it ({exc.strerror}): give another") from None
        try:
            os.write(fd, (checkpoint.to_line() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)


class SyslogSink:
    """Sends each checkpoint as one syslog message (facility ``authpriv``): to ``/dev/log`` (journald and the
    local syslog daemon read it), another socket path, or ``udp://host:port``."""

    def __init__(self, address: str | tuple[str, int]) -> None:
        from logging.handlers import SysLogHandler

        self.name = f"syslog:{address}"
        self._handler = SysLogHandler(address=address, facility=SysLogHandler.LOG_AUTHPRIV)
        self._handler.ident = "strongroom: "

    def write(self, checkpoint: Checkpoint) -> None:
        record = logging.LogRecord("strongroom.audit", logging.INFO, __file__, 0, "%s", (checkpoint.to_line(),), None)
        self._handler.emit(record)


class StdoutSink:
    """Prints each checkpoint line on standard output, for a log shipper to carry away."""

    name = "stdout"

    def write(self, checkpoint: Checkpoint) -> None:
        import sys

        sys.stdout.write(checkpoint.to_line() + "\n")
        sys.stdout.flush()


class S3Sink:
    """Puts each checkpoint as an object under object lock (the bucket must be created with it): in
    ``COMPLIANCE`` mode nobody, the account's root included, can delete or overwrite it before its retention
    ends; ``GOVERNANCE`` lets a holder of ``s3:BypassGovernanceRetention`` do so."""

    def __init__(self, bucket: str, prefix: str, *, retain_days: int = 400, mode: str = "COMPLIANCE") -> None:
        self.name = f"s3://{bucket}/{prefix}"
        self._bucket, self._prefix, self._retain_days, self._mode = bucket, prefix, retain_days, mode
        self._client: Any = None

    def write(self, checkpoint: Checkpoint) -> None:
        import datetime as dt

        if self._client is None:
            self._client = _s3_client()
        stamp = dt.datetime.fromtimestamp(checkpoint.at, dt.UTC)
        key = f"{self._prefix}{checkpoint.environment}/{stamp:%Y/%m/%d/%H%M%S.%f}-{checkpoint.key_id}.json"
        self._client.put_object(
            Bucket=self._bucket,
            Key=key,
            Body=(checkpoint.to_line() + "\n").encode(),
            ContentType="application/json",
            ObjectLockMode=self._mode,
            ObjectLockRetainUntilDate=stamp + dt.timedelta(days=self._retain_days),
            ChecksumAlgorithm="SHA256",  # object lock requires an integrity checksum on every put
        )


def _s3_client() -> Any:
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError:
        raise InvalidInput("s3:// checkpoints need the aws extra: pip install 'strongroom[aws]'") from None
    return boto3.client("s3")


def _s3_parts(spec: str) -> tuple[str, str, dict[str, list[str]]]:
    parts = urlsplit(spec)
    if not parts.netloc:
        raise InvalidInput(f"checkpoint sink {spec!r}: name a bucket, as in s3://bucket/prefix/")
    prefix = parts.path.lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return parts.netloc, prefix, parse_qs(parts.query)


_SPEC_HELP = "use file:PATH, syslog, syslog:/dev/log, syslog://host:port, s3://bucket/prefix or stdout"


def sinks_from_spec(spec: str) -> list[CheckpointSink]:
    """Sinks from ``STRONGROOM_AUDIT_CHECKPOINTS``: comma-separated ``file:PATH`` (or a bare absolute path),
    ``syslog`` (``/dev/log``), ``syslog:PATH``, ``syslog://host:port`` (UDP),
    ``s3://bucket/prefix?retain_days=N&mode=GOVERNANCE``, ``stdout``; ``off`` for none."""
    sinks: list[CheckpointSink] = []
    for item in (part.strip() for part in spec.split(",")):
        if not item or item == "off":
            continue
        if item == "stdout":
            sinks.append(StdoutSink())
        elif item.startswith("file:") or item.startswith("/"):
            sinks.append(FileSink(item.removeprefix("file:")))
        elif item == "syslog":
            sinks.append(SyslogSink("/dev/log"))
        elif item.startswith("syslog://"):
            host, _, port = item.removeprefix("syslog://").rpartition(":")
            if not host or not port.isdigit():
                raise InvalidInput(f"checkpoint sink {item!r}: write syslog://host:port")
            sinks.append(SyslogSink((host, int(port))))
        elif item.startswith("syslog:"):
            sinks.append(SyslogSink(item.removeprefix("syslog:")))
        elif item.startswith("s3://"):
            bucket, prefix, query = _s3_parts(item)
            days = query.get("retain_days", ["400"])[0]
            mode = query.get("mode", ["COMPLIANCE"])[0].upper()
            if not days.isdigit() or mode not in ("COMPLIANCE", "GOVERNANCE"):
                raise InvalidInput(f"checkpoint sink {item!r}: retain_days=N and mode=COMPLIANCE|GOVERNANCE")
            sinks.append(S3Sink(bucket, prefix, retain_days=int(days), mode=mode))
        else:
            raise InvalidInput(f"checkpoint sink {item!r} is not known: {_SPEC_HELP}")
    return sinks


class Checkpointer:
    """Writes a signed checkpoint to every sink every ``interval_seconds`` (when the heads moved) from a
    thread of its own, and once more on ``close``. A sink that fails is logged, never fatal: the audit log
    itself is in the database, and the next checkpoint covers what this one would have."""

    def __init__(
        self,
        environment: str,
        sinks: Sequence[CheckpointSink],
        heads: Callable[[], dict[str, tuple[int, str]]],
        keys: Callable[[], AuditKeys],
        clock: Callable[[], float],
        *,
        interval_seconds: float = DEFAULT_INTERVAL_SECONDS,
    ) -> None:
        if interval_seconds <= 0:
            raise InvalidInput(f"checkpoint interval must be positive, not {interval_seconds}")
        self.sinks = list(sinks)
        self._environment, self._heads, self._keys, self._clock = environment, heads, keys, clock
        self._interval = interval_seconds
        self._last: dict[str, tuple[int, str]] | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._failed: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="strongroom-checkpoints", daemon=True)
        self._thread.start()

    def checkpoint(self, *, force: bool = False) -> Checkpoint | None:
        """Sign and write the current heads now (``None`` if they have not moved since the last, unless
        ``force``)."""
        with self._lock:
            heads = self._heads()
            if heads == self._last and not force:
                return None
            checkpoint = sign(self._keys(), self._environment, self._clock(), heads)
            for sink in self.sinks:
                try:
                    sink.write(checkpoint)
                    self._failed.discard(sink.name)
                except Exception as exc:
                    if sink.name not in self._failed:
                        log.error("audit checkpoint not written to %s: %s", sink.name, type(exc).__name__)
                    self._failed.add(sink.name)
            self._last = heads
            return checkpoint

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except StrongroomError as exc:  # the database or the key provider is down: the next tick retries
                log.error("audit checkpoint skipped: %s", exc)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self.checkpoint()
        except StrongroomError as exc:
            log.error("audit checkpoint at close skipped: %s", exc)


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A checkpoint-verifying key as ``strongroom audit public-key`` prints it (base64 of the raw 32 bytes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.b64decode(text.strip(), validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise InvalidInput(
            "not an audit public key: give the base64 text `strongroom audit public-key` prints"
        ) from None
