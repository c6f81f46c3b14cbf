"""The audit log: hash-chained events for every state change, use and refusal."""

from strongroom.audit.chain import Break, VerifyReport, verify
from strongroom.audit.events import ENVIRONMENT_CHAIN, Action, AuditEvent, Outcome
from strongroom.audit.sinks import AuditLog, AuditMode

__all__ = [
    "ENVIRONMENT_CHAIN",
    "Action",
    "AuditEvent",
    "AuditLog",
    "AuditMode",
    "Break",
    "Outcome",
    "VerifyReport",
    "verify",
]
