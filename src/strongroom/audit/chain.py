"""The hash chain: each event's hash covers its fields and the previous event's hash.

Editing an event changes its hash; deleting one leaves a gap in ``seq`` and a dangling ``prev_hash``;
reordering breaks both; cutting off the newest events no longer matches the chain head. The chain
makes tampering evident to anyone who can read the table; it does not stop someone who can rewrite
the whole table and its head, so anchor ``strongroom audit head`` somewhere else for that.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from strongroom.audit.events import ENVIRONMENT_CHAIN, AuditEvent, chain_name, tenant_id_of_chain
from strongroom.store import AuditRecord, Tx

GENESIS = "0" * 64

# The fields an event's hash covers, in order: the ones that repeat from event to event first, so the
# writer can encode that prefix once per distinct combination, then the ones that change every time.
PREFIX_FIELDS = (
    "chain",
    "environment",
    "actor",
    "tenant",
    "action",
    "secret_name",
    "version",
    "purpose",
    "outcome",
    "detail",
)
HASHED_FIELDS = (*PREFIX_FIELDS, "seq", "at", "request_id", "prev_hash")
"""A stored row holds these followed by ``hash`` and ``tenant_id``.

``tenant_id`` is not hashed on its own: the chain name, which is, holds it (``dev/tenant:<id>``), and
``verify`` checks that the two agree. Events written before schema 0005 (chains keyed by tenant name) had
their ``tenant_id`` filled in by the migration, outside any hash."""

_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_MAX_PREFIXES = 4096


def event_hash(values: Sequence[Any]) -> str:
    """SHA-256 of the compact ASCII JSON array of the ``HASHED_FIELDS`` values, in that order.

    This is the definition; ``_Hasher`` computes the same bytes faster and a test holds them equal.
    """
    return hashlib.sha256(_CANONICAL.encode(list(values)).encode()).hexdigest()


@functools.lru_cache(maxsize=_MAX_PREFIXES)
def _encoded_prefix(prefix: tuple[Any, ...]) -> str:
    """The JSON of an event's repeating fields, without the closing bracket (memoised: it repeats)."""
    return _CANONICAL.encode(list(prefix))[:-1]


class _Hasher:
    """``event_hash`` with the JSON of the repeating prefix memoised (bounded)."""

    def __call__(self, prefix: tuple[Any, ...], seq: int, at: float, request_id: str | None, prev: str) -> str:
        encoded = _encoded_prefix(prefix)
        # JSON renders ints and floats with repr(), so these pieces equal _CANONICAL.encode of the whole list.
        rid = "null" if request_id is None else _CANONICAL.encode(request_id)
        return hashlib.sha256(f'{encoded},{seq!r},{at!r},{rid},"{prev}"]'.encode()).hexdigest()


_hasher = _Hasher()


def _resolved(tx: Tx, events: Iterable[AuditEvent]) -> dict[str, tuple[str | None, list[AuditEvent]]]:
    """Events by chain, in the order they came, each chain with the tenant id its events are stored under
    (``None``: environment-wide).

    An event without a tenant id belongs to the tenant holding its name now, in this transaction (one query
    for every such name of the batch); a name no tenant holds puts it in the environment's chain.
    """
    pending = events if isinstance(events, list) else list(events)
    wanted: dict[str, set[str]] = {}
    for e in pending:
        if e.tenant_id is None:
            wanted.setdefault(e.environment, set()).add(e.tenant)
    ids = {(env, name): tid for env, names in wanted.items() for name, tid in tx.tenant_ids(env, names).items()}
    by_chain: dict[str, tuple[str | None, list[AuditEvent]]] = {}
    # The writer's cost is per event: one tuple and one dict lookup each; the chain is worked out once per
    # (environment, tenant id, tenant name) of the batch.
    chains: dict[tuple[str, str | None, str], list[AuditEvent]] = {}
    for e in pending:
        group = chains.get((e.environment, e.tenant_id, e.tenant))
        if group is None:
            key = e.tenant_id if e.tenant_id is not None else ids.get((e.environment, e.tenant), ENVIRONMENT_CHAIN)
            owner = None if key == ENVIRONMENT_CHAIN else key
            group = chains[e.environment, e.tenant_id, e.tenant] = by_chain.setdefault(
                chain_name(e.environment, key), (owner, [])
            )[1]
        group.append(e)
    return by_chain


def append(tx: Tx, events: Iterable[AuditEvent]) -> None:
    """Chain and insert events inside ``tx``, holding each chain's head lock until it commits."""
    by_chain = _resolved(tx, events)
    rows: list[tuple[Any, ...]] = []
    for chain in sorted(by_chain):  # a fixed lock order: two writers can never deadlock on chains
        seq, prev = tx.lock_chain(chain, GENESIS)
        tenant_id, chained = by_chain[chain]
        for e in chained:
            seq += 1
            # float() and int(): the hash must cover what the columns give back when verified.
            version = None if e.version is None else int(e.version)
            prefix = (
                chain,
                e.environment,
                e.actor,
                e.tenant,
                e.action,
                e.secret_name,
                version,
                e.purpose,
                e.outcome,
                e.detail,
            )
            at = float(e.at)
            digest = _hasher(prefix, seq, at, e.request_id, prev)
            rows.append((*prefix, seq, at, e.request_id, prev, digest, tenant_id))
            prev = digest
        tx.set_chain_head(chain, seq, prev)
    tx.insert_audit_events((*HASHED_FIELDS, "hash", "tenant_id"), rows)


@dataclass(frozen=True, slots=True)
class Break:
    """The first broken place in a chain."""

    chain: str
    event_id: int | None
    seq: int | None
    reason: str

    def __str__(self) -> str:
        if self.event_id is None:
            return f"chain {self.chain}: {self.reason}"
        return f"event {self.event_id} (chain {self.chain}, seq {self.seq}): {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    chains: int
    events: int
    broken: Break | None

    @property
    def ok(self) -> bool:
        return self.broken is None


def verify(tx: Tx) -> VerifyReport:
    """Walk every chain in insertion order and report the first event that does not fit."""
    heads = tx.chain_heads()
    total = 0
    seen: set[str] = set()
    for chain in sorted(heads):
        seen.add(chain)
        count, broken = _verify_chain(chain, tx.iter_chain(chain), heads[chain])
        total += count
        if broken is not None:
            return VerifyReport(len(heads), total, broken)
    orphans = tx.audit_chain_names() - seen
    if orphans:
        return VerifyReport(len(heads), total, Break(sorted(orphans)[0], None, None, "events without a chain head"))
    return VerifyReport(len(heads), total, None)


def _verify_chain(chain: str, records: Iterable[AuditRecord], head: tuple[int, str]) -> tuple[int, Break | None]:
    expected_seq, prev = 1, GENESIS
    count = 0
    # Chains keyed by tenant id (schema 0005) name the id every event of theirs must carry; older chains,
    # keyed by name, carry the id the migration attributed, which no hash covers.
    keyed = tenant_id_of_chain(chain)
    owner = None if keyed == ENVIRONMENT_CHAIN else keyed
    for record in records:
        count += 1
        values = [getattr(record, name) for name in HASHED_FIELDS]
        if record.seq != expected_seq:
            return count, Break(
                chain, record.id, record.seq, f"expected seq {expected_seq}: an event was deleted or reordered"
            )
        if record.prev_hash != prev:
            return count, Break(chain, record.id, record.seq, "previous-hash link broken: reordered or replaced")
        if event_hash(values) != record.hash:
            return count, Break(chain, record.id, record.seq, "hash mismatch: the event was edited")
        if keyed is not None and record.tenant_id != owner:
            return count, Break(chain, record.id, record.seq, "tenant id is not its chain's: the event was moved")
        prev = record.hash
        expected_seq += 1
    head_seq, head_hash = head
    if (expected_seq - 1, prev) != (head_seq, head_hash):
        return count, Break(
            chain,
            None,
            None,
            f"chain ends at seq {expected_seq - 1} but its head says {head_seq}: newest events removed",
        )
    return count, None
