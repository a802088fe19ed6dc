"""The audit ports in memory: a store that outlives transactions, repositories that work
on a copy of it, and a unit of work that writes the copy back at commit."""

from __future__ import annotations

import copy
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from services.audit.domain.chain import GENESIS
from services.audit.domain.filters import HistoryFilters
from services.audit.domain.missing import missing_records
from services.audit.domain.personal import ERASURE
from services.audit.domain.verify import BrokenLink, StoredEntry, verify_chain
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from shared.auth import Principal
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.envelope import Envelope
from shared.eventstore.store import utc
from tests.fakes.platform import FakeOutbox

Row = dict[str, Any]


@dataclass
class AuditStore:
    """What the audit database holds once committed."""

    entries: dict[str, list[Row]] = field(default_factory=dict)
    values: list[Row] = field(default_factory=list)
    keys: dict[str, bytes] = field(default_factory=dict)
    frozen: dict[str, list[Row]] = field(default_factory=dict)
    checkpoints: list[Row] = field(default_factory=list)
    compare: Row | None = None
    access: list[Row] = field(default_factory=list)
    dead_letters: list[Row] = field(default_factory=list)
    parked: list[Row] = field(default_factory=list)
    processed: set[tuple[str, str]] = field(default_factory=set)
    outbox: list[tuple[str, Envelope]] = field(default_factory=list)
    published: int = 0  # how many of `outbox`, from the first, the relay has sent

    def copy(self) -> AuditStore:
        """A working copy for one transaction."""
        return copy.deepcopy(self)


def _stored(row: Row) -> Row:
    return {k: row[k] for k in ("seq", "event_id", "type", "source", "event", "hash", "prev_hash")}


def _kept(row: Row, filters: HistoryFilters) -> bool:
    occurred, known = row["occurred_at"], row["recorded_at"] or row["ingested_at"]
    return not (
        (filters.types and row["type"] not in filters.types)
        or (filters.source and row["source"] != filters.source)
        or (filters.occurred_from and occurred < filters.occurred_from)
        or (filters.occurred_to and occurred >= filters.occurred_to)
        or (filters.as_of_occurred and occurred > filters.as_of_occurred)
        or (filters.as_of_recorded and known > filters.as_of_recorded)
    )


class FakeTrail:
    """`Trail` on a transaction's copy of an `AuditStore`; staged rows join it at flush."""

    def __init__(self, work: AuditStore, now: datetime) -> None:
        self._work = work
        self._now = now
        self._staged: list[tuple[Row, Sequence[Row]]] = []

    def _all(self) -> list[Row]:
        return [row for rows in self._work.entries.values() for row in rows]

    async def present(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these events are on the trail already."""
        on = {row["event_id"] for row in self._all()}
        return {e for e in event_ids if e in on}

    async def contains(self, event_id: str) -> bool:
        """Whether this event is on the trail already."""
        return bool(await self.present([event_id]))

    async def heads_of(self, account_ids: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Each account's newest entry; (0, GENESIS) for one without a trail."""
        return {a: await self.head(a) or (0, GENESIS) for a in account_ids}

    async def subject_key(self, account_id: str, *, create: bool = False) -> bytes | None:
        """The account's commitment key; a new random one if `create` and there is none."""
        if create and account_id not in self._work.keys:
            self._work.keys[account_id] = secrets.token_bytes(32)
        return self._work.keys.get(account_id)

    async def subject_keys(self, account_ids: Sequence[str]) -> dict[str, bytes]:
        """The accounts' commitment keys, creating the missing ones."""
        return {a: key for a in account_ids if (key := await self.subject_key(a, create=True))}

    def stage(self, entry: Row, values: Sequence[Row]) -> None:
        """Stage one chained entry and the personal values kept beside it."""
        self._staged.append((entry, values))

    async def flush(self) -> None:
        """Add the staged rows to the transaction's copy."""
        for entry, values in self._staged:
            row = {**entry, "occurred_at": utc(entry["occurred_at"])}
            self._work.entries.setdefault(entry["account_id"], []).append(row)
            self._work.values.extend(values)
        self._staged = []

    async def last_activity(self, account_id: str) -> tuple[int, datetime] | None:
        """The head seq and when the newest event (erasures aside) occurred; None without."""
        rows = self._work.entries.get(account_id, [])
        events = [r for r in rows if r["type"] != ERASURE]
        if not events:
            return None
        return rows[-1]["seq"], max(r["occurred_at"] for r in events)

    async def erase_personal_values(self, account_id: str) -> int:
        """Delete the account's personal values and its commitment key; how many values."""
        kept = [v for v in self._work.values if v["account_id"] != account_id]
        erased, self._work.values = len(self._work.values) - len(kept), kept
        self._work.keys.pop(account_id, None)
        return erased

    async def freeze(self, account_id: str) -> None:
        """Keep the account's trail as chained now, for a rebuild to restore."""
        self._work.frozen[account_id] = copy.deepcopy(self._work.entries.get(account_id, []))

    async def restore_frozen(self) -> set[str]:
        """Replace the whole trail with the frozen (erased) trails; their event ids."""
        self._work.entries = copy.deepcopy(self._work.frozen)
        self._work.values = []
        return {row["event_id"] for row in self._all()}

    async def history(
        self, account_id: str, after_seq: int, limit: int, filters: HistoryFilters | None = None
    ) -> list[Row]:
        """Trail entries of an account after `after_seq`, in order, filtered."""
        out = []
        for row in self._work.entries.get(account_id, []):
            if row["seq"] <= after_seq or (filters is not None and not _kept(row, filters)):
                continue
            event = json.loads(row["event"])
            recorded = row["recorded_at"]
            out.append(
                {
                    **{k: row[k] for k in ("seq", "event_id", "type", "source")},
                    "schema_version": event["schema_version"],
                    "occurred_at": row["occurred_at"].isoformat(),
                    "recorded_at": utc(recorded).isoformat() if recorded else None,
                    "data": event["data"],
                    "metadata": event.get("metadata", {}),
                    "hash": row["hash"],
                    "prev_hash": row["prev_hash"],
                }
            )
        return out[:limit]

    async def personal_values(
        self, account_id: str, from_seq: int, to_seq: int
    ) -> dict[int, dict[str, str]]:
        """The values kept beside entries `from_seq`..`to_seq`: seq → path → value."""
        out: dict[int, dict[str, str]] = {}
        for v in self._work.values:
            if v["account_id"] == account_id and from_seq <= v["seq"] <= to_seq:
                out.setdefault(v["seq"], {})[v["path"]] = v["value"]
        return out

    async def verify(self, account_id: str, batch: int = 5000) -> BrokenLink | None:
        """Recompute one account's chain from its first entry; the first break or None."""
        rows = self._work.entries.get(account_id, [])
        return verify_chain(account_id, [StoredEntry(*_stored(r).values()) for r in rows])

    async def heads(self) -> list[tuple[str, int, str]]:
        """Every account's newest entry: (account id, seq, hash), by account id."""
        ends = sorted((a, rows[-1]) for a, rows in self._work.entries.items() if rows)
        return [(a, last["seq"], last["hash"]) for a, last in ends]

    async def entry_hash(self, account_id: str, seq: int) -> str | None:
        """The stored hash of one entry, or None if there is no such entry."""
        rows = self._work.entries.get(account_id, [])
        return next((r["hash"] for r in rows if r["seq"] == seq), None)

    async def stored_entries(self, account_id: str, up_to_seq: int) -> list[Row]:
        """Entries exactly as stored (the hashed event text included), up to a seq."""
        rows = self._work.entries.get(account_id, [])
        return [_stored(r) for r in rows if r["seq"] <= up_to_seq]

    async def links(self) -> list[tuple[str, int, str, str]]:
        """Every entry's place in its chain: (account, seq, event id, hash)."""
        return [(r["account_id"], r["seq"], r["event_id"], r["hash"]) for r in self._all()]

    async def all_entries(self) -> list[tuple[str, int, str, str, str, str]]:
        """Every entry of every account: (account, seq, event id, source, event, hash)."""
        keys = ("account_id", "seq", "event_id", "source", "event", "hash")
        return [tuple(r[k] for k in keys) for r in self._all()]

    async def head(self, account_id: str) -> tuple[int, str] | None:
        """The account's newest entry (seq, hash), or None without a trail."""
        rows = self._work.entries.get(account_id)
        return (rows[-1]["seq"], rows[-1]["hash"]) if rows else None

    async def has_trail(self, account_id: str) -> bool:
        """Whether any event of the account is on the trail."""
        return bool(self._work.entries.get(account_id))

    async def accounts(self) -> list[str]:
        """Every account with a trail."""
        return sorted(a for a, rows in self._work.entries.items() if rows)


class FakeCheckpoints:
    """`Checkpoints` on a transaction's copy of an `AuditStore`."""

    def __init__(self, work: AuditStore) -> None:
        self._work = work

    async def save(self, checkpoint: Row) -> None:
        """Keep a signed checkpoint."""
        kept = json.loads(json.dumps(checkpoint))  # as stored: heads come back as lists
        self._work.checkpoints.append({**kept, "id": len(self._work.checkpoints) + 1})

    async def latest(self) -> Row | None:
        """The newest signed checkpoint, as it was signed."""
        if not self._work.checkpoints:
            return None
        last = self._work.checkpoints[-1]
        return {**last, "at": utc(datetime.fromisoformat(last["at"])).isoformat()}

    async def all(self) -> list[Row]:
        """Every kept checkpoint's id, time and root, oldest first."""
        return [
            {
                "id": c["id"],
                "at": utc(datetime.fromisoformat(c["at"])).isoformat(),
                "root": c["root"],
            }
            for c in self._work.checkpoints
        ]

    async def published_compare(self) -> Row | None:
        """The last clean comparison with the published checkpoints."""
        state = self._work.compare
        if state is None:
            return None
        return {
            **state,
            "verified_at": utc(datetime.fromisoformat(state["verified_at"])).isoformat(),
        }

    async def save_published_compare(self, state: Row) -> None:
        """Remember a clean comparison."""
        self._work.compare = {"id": 1, **state}


class FakeAccessLog:
    """`AccessLog` on a transaction's copy of an `AuditStore`."""

    def __init__(self, work: AuditStore, now: datetime) -> None:
        self._work = work
        self._now = now

    async def log(
        self,
        principal: Principal,
        action: str,
        purpose: str,
        account_id: str | None,
        filters: dict[str, Any],
    ) -> None:
        """Record one access."""
        self._work.access.append(
            {
                "id": len(self._work.access) + 1,
                "at": utc(self._now).isoformat(),
                "subject": principal.subject,
                "role": principal.role,
                "action": action,
                "purpose": purpose,
                "account_id": account_id,
                "filters": json.loads(json.dumps(filters, sort_keys=True, default=str)),
            }
        )

    async def entries(self, after_id: int, limit: int, account_id: str | None = None) -> list[Row]:
        """The access log, oldest first."""
        rows = [
            r
            for r in self._work.access
            if r["id"] > after_id and (account_id is None or r["account_id"] == account_id)
        ]
        return rows[:limit]


class FakeBacklog:
    """`Backlog` on a transaction's copy of an `AuditStore`."""

    def __init__(self, work: AuditStore) -> None:
        self._work = work

    async def missing_records(self, consumer: str, account_id: str | None = None) -> dict[str, str]:
        """Per account, why its trail lacks records."""
        letters: dict[str, list[str]] = {}
        for d in sorted(self._work.dead_letters, key=lambda d: d["id"]):
            owner = d["account_id"] or (d["key"] or b"").decode("utf-8", "replace")
            if d["consumer"] != consumer or d["resolved_at"] is not None or not owner:
                continue
            if account_id is None or owner == account_id:
                letters.setdefault(owner, []).append(f"{d['id']} ({d['kind']})")
        behind: dict[str, int] = {}
        for p in self._work.parked:
            if p["consumer"] == consumer and account_id in (None, p["account_id"]):
                behind[p["account_id"]] = behind.get(p["account_id"], 0) + 1
        return missing_records(letters, behind)

    async def gaps(self, consumer: str) -> set[tuple[str, int, int]]:
        """Where the consumer's unresolved dead letters and parked records came from."""
        letters = [d for d in self._work.dead_letters if d["resolved_at"] is None]
        return {
            (r["topic"], r["partition"], r["offset"])
            for r in [*letters, *self._work.parked]
            if r["consumer"] == consumer
        }

    async def unpublished(self, topic: str) -> int:
        """How many outbox messages for `topic` are not published yet."""
        return sum(1 for t, _ in self._work.outbox[self._work.published :] if t == topic)

    async def forget_processed(self, consumer: str) -> None:
        """Drop the consumer's ledger of applied event ids."""
        self._work.processed = {(c, e) for c, e in self._work.processed if c != consumer}


class _NoEvents:
    """Audit appends to no event stream: nothing to flush."""

    async def flush(self) -> None:
        """Nothing staged."""


class FakeAuditUnitOfWork(AuditUnitOfWork):
    """The audit unit of work over an `AuditStore`: its own chaining, in-memory repositories."""

    def __init__(self, store: AuditStore, catalogue: Catalogue, clock: Clock) -> None:
        self.store = store
        self._catalogue = catalogue
        self._clock = clock

    async def __aenter__(self) -> Self:
        self.now = self._clock.now()
        self._work = self.store.copy()
        self.trail = FakeTrail(self._work, self.now)
        self.checkpoints = FakeCheckpoints(self._work)
        self.access = FakeAccessLog(self._work, self.now)
        self.backlog = FakeBacklog(self._work)
        self.outbox = FakeOutbox()  # type: ignore[assignment]
        self.events = _NoEvents()  # type: ignore[assignment]
        self._begin_chaining()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Uncommitted work is dropped with the copy it was done on."""

    async def commit(self) -> None:
        """Write the transaction's copy, and what it queued, back to the store."""
        await self.flush()
        assert isinstance(self.outbox, FakeOutbox)
        self._work.outbox.extend(self.outbox.staged)
        self.outbox.staged = []
        self.store.__dict__.update(self._work.copy().__dict__)

    async def rollback(self) -> None:
        """Start again from the store."""
        await self.__aenter__()
