"""The keyed chain: each event's link is an HMAC, under the audit key, of its fields and the previous link.

Editing an event changes its link; deleting one leaves a gap in ``seq`` and a dangling ``prev_hash``;
reordering breaks both; cutting off the newest events no longer matches the chain head. The key
(``strongroom.audit.keys``) never reaches the database, so someone who can rewrite the tables cannot
recompute the links of what they changed or forged. What a database writer can still do without the key
(drop whole chains, or the newest events together with their head, or restore an older copy) is caught by
the signed checkpoints kept outside the database (``strongroom.audit.checkpoints``; docs/crypto.md).

Events written before schema 0008 were linked by an unkeyed SHA-256. The transaction that makes an
environment's audit key re-links them under it (``rekey``), so from then on an unkeyed link is a forgery.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from strongroom.audit.events import ENVIRONMENT_CHAIN, AuditEvent, chain_name, tenant_id_of_chain
from strongroom.store import AuditRecord, Tx

GENESIS = "0" * 64

# The fields an event's link covers, in order: the ones that repeat from event to event first, so the
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
LINKED_FIELDS = (*PREFIX_FIELDS, "seq", "at", "request_id", "context", "prev_hash")
"""A stored row holds these followed by ``hash`` (the link) and ``tenant_id``.

``tenant_id`` is not linked on its own: the chain name, which is, holds it (``dev/tenant:<id>``), and
``verify`` checks that the two agree. Events written before schema 0005 (chains keyed by tenant name) had
their ``tenant_id`` filled in by the migration, outside any link."""
LEGACY_FIELDS = (*PREFIX_FIELDS, "seq", "at", "request_id", "prev_hash")
"""What the unkeyed SHA-256 of an event written before schema 0008 covers."""

_CANONICAL = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True)
_MAX_PREFIXES = 4096


def _canonical(values: Sequence[Any]) -> bytes:
    return _CANONICAL.encode(list(values)).encode()


def event_link(key: bytes, values: Sequence[Any]) -> str:
    """HMAC-SHA256, under the audit MAC key, of the compact ASCII JSON array of the ``LINKED_FIELDS`` values.

    This is the definition; ``_Linker`` computes the same bytes faster and a test holds them equal.
    """
    return hmac.digest(key, _canonical(values), "sha256").hex()


def legacy_hash(values: Sequence[Any]) -> str:
    """SHA-256 of the compact JSON of the ``LEGACY_FIELDS`` values: the link of an event before schema 0008."""
    return hashlib.sha256(_canonical(values)).hexdigest()


@functools.lru_cache(maxsize=_MAX_PREFIXES)
def _encoded_prefix(prefix: tuple[Any, ...]) -> str:
    """The JSON of an event's repeating fields, without the closing bracket (memoised: it repeats)."""
    return _CANONICAL.encode(list(prefix))[:-1]


class _Linker:
    """``event_link`` with the JSON of the repeating prefix memoised (bounded)."""

    __slots__ = ("_keyed",)

    def __init__(self, key: bytes) -> None:
        # Keyed once: each link copies this state instead of deriving the HMAC pads again (0.6 µs of 1.5).
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def __call__(self, prefix: tuple[Any, ...], tail: tuple[int, float, str | None, str | None], prev: str) -> str:
        """The link of the event with these repeating fields, (seq, at, request id, context) and previous link."""
        seq, at, request_id, context = tail
        encoded = _encoded_prefix(prefix)
        # JSON renders ints and floats with repr(), so these pieces equal _CANONICAL.encode of the whole list.
        rid = "null" if request_id is None else _CANONICAL.encode(request_id)
        ctx = "null" if context is None else _CANONICAL.encode(context)
        mac = self._keyed.copy()
        mac.update(f'{encoded},{seq!r},{at!r},{rid},{ctx},"{prev}"]'.encode())
        return mac.hexdigest()


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


STORED_COLUMNS = (*LINKED_FIELDS, "hash", "tenant_id")


def append(tx: Tx, events: Iterable[AuditEvent], key: bytes) -> list[tuple[Any, ...]]:
    """Chain and insert events inside ``tx`` under the MAC ``key``, holding each chain's head lock until it
    commits. Returns the rows inserted (``STORED_COLUMNS`` values: seq and link included), for the streams."""
    link = _Linker(key)
    by_chain = _resolved(tx, events)
    rows: list[tuple[Any, ...]] = []
    for chain in sorted(by_chain):  # a fixed lock order: two writers can never deadlock on chains
        seq, prev = tx.lock_chain(chain, GENESIS)
        tenant_id, chained = by_chain[chain]
        for e in chained:
            seq += 1
            # float() and int(): the link must cover what the columns give back when verified.
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
            digest = link(prefix, (seq, at, e.request_id, e.context), prev)
            rows.append((*prefix, seq, at, e.request_id, e.context, prev, digest, tenant_id))
            prev = digest
        tx.set_chain_head(chain, seq, prev)
    tx.insert_audit_events(STORED_COLUMNS, rows)
    return rows


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
    keyed_over: tuple[tuple[float, str], ...] = ()
    """When the environment's audit key was made over events already there, and what it re-linked
    (``audit.rekey``): once, at the upgrade to schema 0008. Any other is a reset of the key by someone who
    deleted it, which only the checkpoints can tell from an upgrade."""

    @property
    def ok(self) -> bool:
        return self.broken is None


UNKEYED = "linked without the audit key after the key was made: forged"


def _environment_chains(names: Iterable[str], environment: str) -> list[str]:
    return sorted(n for n in names if n.startswith(f"{environment}/"))


def verify(tx: Tx, key: bytes, environment: str) -> VerifyReport:
    """Walk every chain of ``environment`` in insertion order and report the first event that does not fit."""
    heads = tx.chain_heads()
    total = 0
    chains = _environment_chains(heads, environment)
    for chain in chains:
        count, broken = _walk(chain, tx.iter_chain(chain), heads[chain], key, allow_unkeyed=False)[:2]
        total += count
        if broken is not None:
            return VerifyReport(len(chains), total, broken)
    orphans = _environment_chains(tx.audit_chain_names() - set(heads), environment)
    if orphans:
        return VerifyReport(len(chains), total, Break(orphans[0], None, None, "events without a chain head"))
    return VerifyReport(len(chains), total, None)


def rekey(tx: Tx, key: bytes, environment: str) -> tuple[int, list[str]]:
    """Re-link under ``key`` every event of ``environment`` that an unkeyed hash links, chain by chain, once
    the chain is proven intact (the vault does it in the transaction that makes the audit key). Returns how
    many events were re-linked, and the chains left as they were because they were already broken."""
    heads = tx.chain_heads()
    relinked, broken_chains = 0, []
    for chain in _environment_chains(heads, environment):
        records = list(tx.iter_chain(chain))
        _, broken, unkeyed = _walk(chain, records, heads[chain], key, allow_unkeyed=True)
        if broken is not None:
            broken_chains.append(chain)
            continue
        if not unkeyed:
            continue
        link, prev, links = _Linker(key), GENESIS, []
        for r in records:
            prefix = tuple(getattr(r, name) for name in PREFIX_FIELDS)
            digest = link(prefix, (r.seq, r.at, r.request_id, r.context), prev)
            links.append((r.id, prev, digest))
            prev = digest
        tx.relink_audit_events(links)
        tx.set_chain_head(chain, len(records), prev)
        relinked += unkeyed
    return relinked, broken_chains


def _walk(
    chain: str, records: Iterable[AuditRecord], head: tuple[int, str], key: bytes, *, allow_unkeyed: bool
) -> tuple[int, Break | None, int]:
    """(events read, the first break, how many were linked by the unkeyed hash)."""
    prev, count, unkeyed = GENESIS, 0, 0
    # Chains keyed by tenant id (schema 0005) name the id every event of theirs must carry; older chains,
    # keyed by name, carry the id the migration attributed, which no link covers.
    keyed = tenant_id_of_chain(chain)
    owner = None if keyed == ENVIRONMENT_CHAIN else keyed
    for record in records:
        count += 1
        reason, is_unkeyed = _misfit(record, count, prev, key)
        if is_unkeyed:
            if not allow_unkeyed:
                reason = UNKEYED
            elif unkeyed != count - 1:  # an unkeyed link after a keyed one was never written by strongroom
                reason = "unkeyed link after keyed ones: the event was forged"
            unkeyed += 1
        if reason is None and keyed is not None and record.tenant_id != owner:
            reason = "tenant id is not its chain's: the event was moved"
        if reason is not None:
            return count, Break(chain, record.id, record.seq, reason), unkeyed
        prev = record.hash
    if (count, prev) != head:
        reason = f"chain ends at seq {count} but its head says {head[0]}: newest events removed"
        return count, Break(chain, None, None, reason), unkeyed
    return count, None, unkeyed


def _misfit(record: AuditRecord, seq: int, prev: str, key: bytes) -> tuple[str | None, bool]:
    """Why ``record`` is not the ``seq``-th event after ``prev`` under ``key`` (``None``: it is), and whether
    an unkeyed hash links it (intact otherwise: the caller decides whether that is allowed)."""
    if record.seq != seq:
        return f"expected seq {seq}: an event was deleted or reordered", False
    if record.prev_hash != prev:
        return "previous link broken: reordered or replaced", False
    if hmac.compare_digest(event_link(key, [getattr(record, n) for n in LINKED_FIELDS]), record.hash):
        return None, False
    if record.context is None and legacy_hash([getattr(record, n) for n in LEGACY_FIELDS]) == record.hash:
        return None, True
    return "link mismatch: the event was edited, forged or linked without the audit key", False
