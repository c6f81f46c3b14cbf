"""Audit events in the formats SIEMs read: JSON lines, OpenTelemetry logs (OTLP/JSON) and ArcSight CEF.

Every format carries the stored columns and nothing else: an event holds no value, so no export can. The
formatters take one event as a mapping of ``AuditRecord`` field names (an ``AuditRecord`` read back, or a row
``chain.append`` just inserted, which has no ``id`` yet: the streams send ``"id": null``).

- ``jsonl``: one JSON object per line, every column; ``at`` as ISO-8601 UTC (microseconds), ``context``
  parsed, the link as ``link`` and the previous link as ``prev``.
- ``otel``: the OTLP JSON file format (one ``ExportLogsServiceRequest`` per line, as the OpenTelemetry
  Collector's file exporter writes and its ``otlpjsonfile`` receiver reads): resource attributes
  ``service.name=strongroom`` and ``deployment.environment.name``; one ``LogRecord`` per event, severity by
  outcome, the columns as ``strongroom.*`` attributes.
- ``cef``: one ArcSight CEF:0 line per event; header fields escape ``\\`` and ``|``, extension values escape
  ``\\`` and ``=``; line breaks are written ``\\n`` and ``\\r`` in both.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import IO, Any, Final

from strongroom.clock import from_iso
from strongroom.errors import InvalidInput
from strongroom.vocabulary import Outcome

__all__ = [
    "FORMATS",
    "cef_line",
    "event_fields",
    "export",
    "jsonl_line",
    "otel_log_record",
    "otel_request",
    "parse_when",
    "record_fields",
]

FORMATS: Final = ("jsonl", "otel", "cef")
PRODUCT: Final = "strongroom"
OTEL_SCOPE: Final = "strongroom.audit"

_FIELDS: Final = (
    "id",
    "chain",
    "seq",
    "at",
    "environment",
    "actor",
    "tenant",
    "tenant_id",
    "action",
    "secret_name",
    "version",
    "purpose",
    "outcome",
    "request_id",
    "detail",
    "context",
    "link",
    "prev",
)

_CHAIN_FIELDS: Final = frozenset({"id", "chain", "seq", "link", "prev"})
"""Where the event sits in its chain: OTLP attributes ``strongroom.audit.*``; the rest are ``strongroom.*``."""
_OTEL_ELSEWHERE: Final = frozenset({"at", "environment", "context"})
"""Carried by the record's time, its resource, and one attribute per context key."""


@functools.cache
def _version() -> str:
    """strongroom's version, as installed (the device and service version in CEF and OTLP)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("strongroom")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0"


def record_fields(record: Any) -> dict[str, Any]:
    """An ``AuditRecord`` (a slotted dataclass) as the mapping the formatters take."""
    return {name: getattr(record, name) for name in record.__slots__}


def iso_micro(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _context(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:  # written by strongroom as JSON; an edited row still exports, as the text it holds
        return text


def event_fields(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column of one event, in ``_FIELDS`` order, for people and SIEMs (``link``/``prev`` named so)."""
    return {
        "id": row.get("id"),
        "chain": row["chain"],
        "seq": row["seq"],
        "at": iso_micro(row["at"]),
        "environment": row["environment"],
        "actor": row["actor"],
        "tenant": row["tenant"],
        "tenant_id": row["tenant_id"],
        "action": row["action"],
        "secret_name": row["secret_name"],
        "version": row["version"],
        "purpose": row["purpose"],
        "outcome": row["outcome"],
        "request_id": row["request_id"],
        "detail": row["detail"],
        "context": _context(row.get("context")),
        "link": row["hash"],
        "prev": row["prev_hash"],
    }


def jsonl_line(row: Mapping[str, Any]) -> str:
    return json.dumps(event_fields(row), separators=(",", ":"), ensure_ascii=False) + "\n"


# -- OpenTelemetry ------------------------------------------------------------------------------------

# SeverityNumber: INFO 9, WARN 13, ERROR 17.
_SEVERITY: Final[dict[str, tuple[int, str]]] = {
    Outcome.OK: (9, "INFO"),
    Outcome.ERROR: (17, "ERROR"),
    Outcome.TAMPERED: (17, "ERROR"),
}
_REFUSED: Final = (13, "WARN")


def _any_value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}  # int64 is a string in OTLP/JSON
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    return {"stringValue": json.dumps(value, separators=(",", ":"), sort_keys=True)}


def _unix_nano(seconds: float) -> str:
    return str(round(seconds * 1_000_000) * 1000)


def otel_log_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One event as an OTLP/JSON ``LogRecord``."""
    fields = event_fields(row)
    number, text = _SEVERITY.get(fields["outcome"], _REFUSED)
    attributes = [{"key": "event.name", "value": {"stringValue": f"strongroom.{fields['action']}"}}]
    for name in _FIELDS:
        if name in _OTEL_ELSEWHERE or fields[name] is None:
            continue
        key = f"strongroom.audit.{name}" if name in _CHAIN_FIELDS else f"strongroom.{name}"
        attributes.append({"key": key, "value": _any_value(fields[name])})
    context = fields["context"]
    if isinstance(context, dict):
        for key in sorted(context):
            if context[key] is not None:
                attributes.append({"key": f"strongroom.context.{key}", "value": _any_value(context[key])})
    elif context is not None:
        attributes.append({"key": "strongroom.context", "value": _any_value(context)})
    stamp = _unix_nano(row["at"])
    return {
        "timeUnixNano": stamp,
        "observedTimeUnixNano": stamp,
        "severityNumber": number,
        "severityText": text,
        "body": {"stringValue": f"{fields['action']} {fields['outcome']}"},
        "attributes": attributes,
    }


def otel_request(environment: str, log_records: list[dict[str, Any]]) -> dict[str, Any]:
    """An OTLP/JSON ``ExportLogsServiceRequest`` of one environment's log records."""
    version = _version()
    resource = [
        {"key": "service.name", "value": {"stringValue": PRODUCT}},
        {"key": "service.version", "value": {"stringValue": version}},
        {"key": "deployment.environment.name", "value": {"stringValue": environment}},
    ]
    return {
        "resourceLogs": [
            {
                "resource": {"attributes": resource},
                "scopeLogs": [
                    {"scope": {"name": OTEL_SCOPE, "version": version}, "logRecords": log_records},
                ],
            }
        ]
    }


# -- CEF ----------------------------------------------------------------------------------------------

_CEF_SEVERITY: Final[dict[str, int]] = {Outcome.OK: 3, Outcome.ERROR: 7, Outcome.TAMPERED: 9}
_CEF_REFUSED: Final = 6
_LINE_BREAKS: Final = {"\n": "\\n", "\r": "\\r"}


def _cef_header(text: str) -> str:
    return re.sub(r"[\\|\n\r]", lambda m: _LINE_BREAKS.get(m.group(), "\\" + m.group()), text)


def _cef_value(text: str) -> str:
    return re.sub(r"[\\=\n\r]", lambda m: _LINE_BREAKS.get(m.group(), "\\" + m.group()), text)


def cef_line(row: Mapping[str, Any]) -> str:
    """One event as an ArcSight CEF:0 line (no syslog prefix).

    Extension keys: ``rt`` (ms since the epoch), ``externalId`` (event id), ``act``, ``outcome``, ``suser``
    (actor), ``msg`` (detail), ``cs1`` tenant, ``cs2`` secret, ``cs3`` purpose, ``cs4`` request id, ``cs5``
    tenant id, ``cs6`` context (JSON), ``cn1`` version, ``cn2`` seq, ``flexString1`` chain, ``flexString2``
    link: each ``csN``/``cnN``/``flexStringN`` with its ``…Label``.
    """
    f = event_fields(row)
    action, outcome = f["action"], f["outcome"]
    severity = _CEF_SEVERITY.get(outcome, _CEF_REFUSED)
    header = "|".join(
        _cef_header(part)
        for part in ("CEF:0", PRODUCT, PRODUCT, _version(), action, f"{action} {outcome}", str(severity))
    )
    context = row.get("context")
    pairs: list[tuple[str, Any]] = [
        ("rt", round(row["at"] * 1000)),
        ("externalId", f["id"]),
        ("act", action),
        ("outcome", outcome),
        ("suser", f["actor"]),
        ("msg", f["detail"]),
    ]
    for key, label, value in (
        ("cs1", "tenant", f["tenant"]),
        ("cs2", "secret", f["secret_name"]),
        ("cs3", "purpose", f["purpose"]),
        ("cs4", "requestId", f["request_id"]),
        ("cs5", "tenantId", f["tenant_id"]),
        ("cs6", "context", context),
        ("cn1", "version", f["version"]),
        ("cn2", "seq", f["seq"]),
        ("flexString1", "chain", f["chain"]),
        ("flexString2", "link", f["link"]),
    ):
        if value is not None:
            pairs += [(f"{key}Label", label), (key, value)]
    extension = " ".join(f"{key}={_cef_value(str(value))}" for key, value in pairs if value is not None)
    return f"{header}|{extension}\n"


# -- export -------------------------------------------------------------------------------------------

_AGE = re.compile(r"(\d+)([smhdw])")
_UNIT_SECONDS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float, *, option: str = "--since") -> float:
    """Epoch seconds of an ISO-8601 time (UTC unless it says otherwise) or of an age before ``now``
    (``90s``, ``15m``, ``24h``, ``7d``, ``2w``)."""
    age = _AGE.fullmatch(text.strip())
    if age is not None:
        return now - int(age.group(1)) * _UNIT_SECONDS[age.group(2)]
    try:
        return from_iso(text)
    except ValueError:
        raise InvalidInput(
            f"{option} {text!r} is not a time: give ISO-8601 (2026-12-01T09:00Z) or an age (24h, 7d)"
        ) from None


def _otel_lines(environment: str, rows: Iterable[Mapping[str, Any]], per_line: int) -> Iterator[tuple[str, int]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(otel_log_record(row))
        if len(batch) >= per_line:
            yield json.dumps(otel_request(environment, batch), separators=(",", ":")) + "\n", len(batch)
            batch = []
    if batch:
        yield json.dumps(otel_request(environment, batch), separators=(",", ":")) + "\n", len(batch)


def export(
    records: Iterable[Any],
    fmt: str,
    out: IO[str],
    *,
    environment: str,
    progress: Callable[[int], object] | None = None,
    per_line: int = 1000,
) -> int:
    """Write ``records`` (``AuditRecord``s, oldest first) to ``out`` in ``fmt``; how many were written.

    Streams: holds at most ``per_line`` events (one OTLP request) at a time. ``progress(n)`` is told of
    every ``n`` events written."""
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown export format {fmt!r}: use one of {', '.join(FORMATS)}")
    rows = (record_fields(r) for r in records)
    written = 0
    if fmt == "otel":
        for line, count in _otel_lines(environment, rows, per_line):
            out.write(line)
            written += count
            if progress is not None:
                progress(count)
        return written
    render = jsonl_line if fmt == "jsonl" else cef_line
    for row in rows:
        out.write(render(row))
        written += 1
        if progress is not None and written % 1000 == 0:
            progress(1000)
    if progress is not None and written % 1000:
        progress(written % 1000)
    return written
