"""Idempotent consumption with retries, dead letters and per-account parking."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import StatementError

from shared.catalogue import Catalogue
from shared.clock import Clock, SystemClock
from shared.envelope import Envelope, decode_envelope
from shared.errors import InvalidEvent, Rejected
from shared.eventlog.port import CommitFailed, EventLog, Record, Subscription, TopicPartition
from shared.eventstore.store import utc
from shared.eventstore.tables import PlatformTables
from shared.logs import log_context
from shared.metrics import ServiceMetrics, tally
from shared.pii import redact
from shared.uow import SqlUnitOfWork

log = logging.getLogger(__name__)

Outcome = Literal["applied", "duplicate"]
DLQ_NAMESPACE = uuid.UUID("5b0c3e8e-4f57-4a8c-9d39-0d7f1f6a4e21")

DLQ_ORIGINAL_MAX = 64 * 1024
"""The largest original value a DLQ message carries whole (escaped, at most six times this);
a larger one travels as an excerpt, its size and SHA-256, and stays whole in the
database's dead letters, so no poison record makes an unpublishable DLQ message."""

DLQ_EXCERPT = 4 * 1024
"""How many leading bytes of an oversized original its DLQ message carries."""


def original_fields(value: bytes) -> dict[str, Any]:
    """The DLQ message's account of a record's original bytes: whole when small enough,
    else an excerpt; always its size and SHA-256."""
    # latin-1 maps every byte to one code point and back: the bytes exactly, unencoded.
    fields: dict[str, Any] = {
        "original_size": len(value),
        "original_sha256": hashlib.sha256(value).hexdigest(),
    }
    if len(value) <= DLQ_ORIGINAL_MAX:
        return {"original": value.decode("latin-1"), **fields}
    return {
        "original": None,
        "original_excerpt": value[:DLQ_EXCERPT].decode("latin-1"),
        **fields,
    }


Handler = Callable[[Any, Envelope], Awaitable[None]]
"""Applies one validated event inside a unit of work it must not commit."""


async def apply_once(
    uow_factory: Callable[[], SqlUnitOfWork], consumer: str, handler: Handler, env: Envelope
) -> Outcome:
    """Apply an event at most once for this consumer: its id is recorded with its effects."""
    async with uow_factory() as uow:
        if await uow.processed.seen(consumer, str(env.id)):
            return "duplicate"
        await handler(uow, env)
        await uow.processed.add(consumer, str(env.id))
        await uow.commit()
    return "applied"


@dataclass(frozen=True)
class DeadLetter:
    """A record a consumer could not apply, with why, and where it came from."""

    id: int
    consumer: str
    topic: str
    partition: int
    offset: int
    kind: str
    reason: str
    attempts: int
    account_id: str | None
    created_at: str
    resolved_at: str | None
    resolution: str | None
    resolved_by: str | None
    parked: int


class EventConsumer:
    """Consumes topics as one group; bad records go to the DLQ and never stop a partition.

    - A record that cannot be decoded or validated is dead-lettered (kind `invalid`).
    - A record the domain refuses (`Rejected`) is dead-lettered (kind `rejected`).
    - A handler failure is retried; after `max_attempts` it is dead-lettered (kind
      `failed`) and the account is parked: its later records wait in `parked_records`
      until ops replay or discard the dead letter, so the account's order never breaks.
    Offsets are committed only after the batch's database work committed.
    """

    def __init__(
        self,
        *,
        name: str,
        event_log: EventLog,
        topics: Sequence[str],
        dlq_topic: str,
        uow_factory: Callable[[], SqlUnitOfWork],
        tables: PlatformTables,
        catalogue: Catalogue,
        handler: Handler,
        max_attempts: int = 5,
        retry_backoff: float = 0.2,
        max_batch: int = 200,
        on_applied: Callable[[], None] | None = None,
        clock: Clock | None = None,
        door_topics: Sequence[str] = (),
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.name = name
        self._metrics = metrics
        self._log = event_log
        self._topics = list(topics)
        self._dlq = dlq_topic
        self._uow = uow_factory
        self._t = tables
        self._catalogue = catalogue
        self._handler = handler
        self._max_attempts = max_attempts
        self._backoff = retry_backoff
        self._max_batch = max_batch
        self._on_applied = on_applied
        self._clock = clock or SystemClock()
        # Topics integrators publish to: their events are also held to "not in the future".
        self._door = frozenset(door_topics)
        # The next offset this member expects per partition (None: no stored position).
        self._expected: dict[TopicPartition, int | None] = {}
        self._consumed: Counter[tuple[str, str]] = Counter()

    @property
    def topics(self) -> list[str]:
        """The topics this consumer reads."""
        return list(self._topics)

    @property
    def handler(self) -> Handler:
        """The handler this consumer applies (the HTTP ingest path reuses it)."""
        return self._handler

    # -- the loop -------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, ready: asyncio.Event | None = None) -> None:
        """Consume until `stop` is set, then leave the group cleanly."""
        sub: Subscription | None = None

        async def resume(tps: set[TopicPartition]) -> None:
            assert sub is not None
            await self.resume(sub, tps)

        sub = self._log.subscribe(
            self.name, self._topics, max_batch=self._max_batch, on_assigned=resume
        )
        await sub.start()
        if ready is not None:
            ready.set()
        try:
            while not stop.is_set():
                records = await sub.poll(timeout=0.2)
                if not records:
                    continue
                offsets = await self.process(records)
                try:
                    # Only a hint (and the lag metric): the position that counts was
                    # written with the batch's effects.
                    await sub.commit(offsets)
                except CommitFailed as exc:
                    # The partition moved; its new owner re-reads and the ledger absorbs it.
                    log.warning("offset commit failed for %s: %s", self.name, exc)
        finally:
            await sub.close()

    async def resume(self, sub: Subscription, tps: set[TopicPartition]) -> None:
        """Read newly assigned partitions from the positions this consumer's database holds.

        Kafka's committed offset can be ahead of the database (a non-durable commit, a
        restore from backup, a failover to a lagging replica); starting there would skip
        records whose effects the database no longer has.
        """
        async with self._uow() as uow:
            stored = await uow.positions.load(self.name)
        mine = {tp: offset for tp, offset in stored.items() if tp in tps}
        if mine:
            await sub.seek(mine)
        for tp in tps:
            self._expected[tp] = mine.get(tp)

    async def process(self, records: Sequence[Record]) -> dict[TopicPartition, int]:
        """Apply a batch in order; returns the offsets to commit afterwards.

        Runs of good records are applied in one transaction each (one commit, not one
        per event). The record that ends a run — invalid, refused, failing, or of a
        parked account — is then dealt with on its own, exactly as the one-by-one path
        would, and the next run starts after it. Each run's transaction also stores the
        partitions' positions up to its last record; records dealt with on their own
        have their positions stored by the next run, or at the end of the batch.
        """
        ordered = merge_by_time(records)
        offsets = next_offsets(ordered)

        await self._record_gaps(ordered)
        parked = await self._parked_accounts()
        stored = 0  # ordered[:stored] have their positions in the database
        i = 0
        while i < len(ordered):
            run = self._decode_run(ordered[i:], parked)
            topics = [r.topic for r in ordered[i : i + len(run)]]
            applied, failure = await self._apply_run(
                run, partial(_prefix_offsets, ordered, i), topics
            )
            i += applied
            if applied:
                stored = i
            if i == len(ordered):
                break
            if applied < len(run):
                account = await self._after_failure(ordered[i], run[applied], failure)
            else:
                account = await self.process_record(ordered[i], parked)
            if account is not None:
                parked.add(account)
            i += 1
        if stored < len(ordered):
            async with self._uow() as uow:
                await uow.positions.save(self.name, offsets)
                await uow.commit()
        self._expected.update(offsets)
        self._flush_consumed()
        if self._on_applied:
            self._on_applied()
        return offsets

    async def _record_gaps(self, ordered: Sequence[Record]) -> None:
        """Record offsets between where this consumer was and a partition's first record here.

        Positions move only by what was read, so a hole means the log no longer held
        those records (retention) or the group was moved past them: their effects may
        be missing, and audit says so instead of verifying a trail that lacks them.
        """
        gaps = []
        seen: set[TopicPartition] = set()
        for r in ordered:
            if r.tp in seen:
                continue
            seen.add(r.tp)
            expected = self._expected.get(r.tp)
            if expected is not None and r.offset > expected:
                gaps.append((r.tp, expected, r.offset))
        if not gaps:
            return
        for tp, start, end in gaps:
            log.error(
                "%s never read %s/%d offsets %d-%d", self.name, tp.topic, tp.partition, start, end
            )
        async with self._uow() as uow:
            await uow.positions.add_gaps(self.name, gaps)
            await uow.commit()

    def _decode_run(self, records: Sequence[Record], parked: set[str]) -> list[Envelope]:
        """The leading records that are valid and not of a parked account."""
        run = []
        for record in records:
            try:
                env = self._decode(record)
            except InvalidEvent:
                break
            if env.account_id in parked:
                break
            run.append(env)
            self._consumed[(record.topic, env.type)] += 1
        return run

    def _flush_consumed(self) -> None:
        # Counted in a plain dict per batch and added to the metric once per batch.
        if self._metrics is not None and self._consumed:
            self._metrics.count(self._metrics.consumed, self.name, self._consumed)
        self._consumed.clear()

    def _decode(self, record: Record) -> Envelope:
        """The record's validated event, or InvalidEvent naming what is wrong."""
        now = self._clock.now() if record.topic in self._door else None
        return self._catalogue.validate(decode_envelope(record.value), now=now)

    async def _apply_run(
        self,
        run: list[Envelope],
        positions: Callable[[int], dict[TopicPartition, int]],
        topics: Sequence[str],
    ) -> tuple[int, Exception | None]:
        """Apply the longest prefix of `run` that succeeds, in one transaction, with the
        positions after its first n records (`positions(n)`).

        Returns how many were applied and why the next one failed (None if all were).
        """
        end, failure = len(run), None
        while end > 0:
            position = 0
            started = time.perf_counter()
            try:
                async with self._uow() as uow:
                    # One ledger read and one write for the whole run, not two per event.
                    done = await uow.processed.seen_many(self.name, [str(e.id) for e in run[:end]])
                    # And one read for every aggregate the run will touch.
                    await uow.prefetch([e for e in run[:end] if str(e.id) not in done])
                    applied: list[str] = []
                    debug = log.isEnabledFor(logging.DEBUG)
                    for position, env in enumerate(run[:end]):  # noqa: B007 - read in except
                        if str(env.id) in done:
                            continue
                        with _context_of(env):
                            await self._handler(uow, env)
                            if debug:
                                log.debug("%s applying %s", self.name, env.type)
                        done.add(str(env.id))
                        applied.append(str(env.id))
                    position = end
                    await uow.processed.add_many(self.name, applied)
                    await uow.positions.save(self.name, positions(end))
                    await uow.commit()
                self._count_run(run[:end], topics, set(applied), time.perf_counter() - started)
                return end, failure
            except Exception as exc:  # the failing record is then handled alone
                if position >= end:
                    return 0, exc  # the commit failed: retry from the first record alone
                end, failure = position, exc
        return 0, failure

    def _count_run(
        self, run: Sequence[Envelope], topics: Sequence[str], applied: set[str], seconds: float
    ) -> None:
        m = self._metrics
        if m is None:
            return
        done = tally((t, e.type) for t, e in zip(topics, run, strict=False) if str(e.id) in applied)
        dup = tally(
            (t, e.type) for t, e in zip(topics, run, strict=False) if str(e.id) not in applied
        )
        m.count(m.applied, self.name, done)
        m.count(m.duplicates, self.name, dup)
        m.handler_latency.labels(self.name).observe(seconds)

    async def _after_failure(
        self, record: Record, env: Envelope, exc: Exception | None
    ) -> str | None:
        """Deal with a record whose first attempt (in a run) failed; returns a parked account."""
        if isinstance(exc, Rejected):
            await self._dead_letter(record, "rejected", exc.reason, 1, env.account_id)
            return None
        outcome = await self._attempt(record, env, first=2, reason=_describe(exc))
        return env.account_id if outcome == "parked" else None

    async def process_record(self, record: Record, parked: set[str]) -> str | None:
        """Apply one record; returns the account id if this record got it parked."""
        try:
            env = self._decode(record)
        except InvalidEvent as exc:
            self._consumed[(record.topic, "invalid")] += 1
            await self._dead_letter(record, "invalid", exc.reason, 0, None)
            return None
        self._consumed[(record.topic, env.type)] += 1
        if env.account_id in parked:
            if await self._is_dead_letter(record):
                return None  # a redelivery of the record that parked the account
            await self._park(record, env.account_id)
            return None
        outcome = await self._attempt(record, env)
        return env.account_id if outcome == "parked" else None

    async def _attempt(
        self, record: Record, env: Envelope, first: int = 1, reason: str = ""
    ) -> str:
        for attempt in range(first, self._max_attempts + 1):
            try:
                with _context_of(env):
                    outcome = await apply_once(self._uow, self.name, self._handler, env)
                if self._metrics is not None:
                    counter = (
                        self._metrics.applied if outcome == "applied" else self._metrics.duplicates
                    )
                    counter.labels(self.name, record.topic, env.type).inc()
                return outcome
            except Rejected as exc:
                await self._dead_letter(record, "rejected", exc.reason, attempt, env.account_id)
                return "rejected"
            except Exception as exc:  # any failure is retried, then parked
                reason = _describe(exc)
                log.warning(
                    "%s failed on %s (attempt %d/%d): %s",
                    self.name,
                    env.id,
                    attempt,
                    self._max_attempts,
                    type(exc).__name__,
                )
                if attempt < self._max_attempts:
                    await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        await self._dead_letter(record, "failed", reason, self._max_attempts, env.account_id)
        return "parked"

    # -- dead letters and parking ---------------------------------------------------

    async def _parked_accounts(self) -> set[str]:
        dl = self._t.dead_letters
        async with self._uow() as uow:
            rows = await uow.session.execute(
                select(dl.c.account_id).where(
                    dl.c.consumer == self.name, dl.c.kind == "failed", dl.c.resolved_at.is_(None)
                )
            )
            return {r[0] for r in rows if r[0] is not None}

    def _is_source(self, table: Any, record: Record) -> Any:
        return (
            (table.c.consumer == self.name)
            & (table.c.topic == record.topic)
            & (table.c.partition == record.partition)
            & (table.c.offset == record.offset)
        )

    async def _is_dead_letter(self, record: Record) -> bool:
        dl = self._t.dead_letters
        async with self._uow() as uow:
            found = await uow.session.execute(select(dl.c.id).where(self._is_source(dl, record)))
            return found.first() is not None

    async def _dead_letter(
        self, record: Record, kind: str, reason: str, attempts: int, account_id: str | None
    ) -> None:
        reason = redact(reason)  # it reaches the DLQ topic, ops' API and the CLI
        dl = self._t.dead_letters
        async with self._uow() as uow:
            existing = (
                await uow.session.execute(select(dl.c.id).where(self._is_source(dl, record)))
            ).first()
            if existing:  # a redelivery of a record already dead-lettered
                return
            await uow.session.execute(
                insert(dl).values(
                    consumer=self.name,
                    topic=record.topic,
                    partition=record.partition,
                    offset=record.offset,
                    key=record.key,
                    value=record.value,
                    kind=kind,
                    reason=reason,
                    attempts=attempts,
                    account_id=account_id,
                    created_at=uow.now,
                )
            )
            await uow.outbox.add_raw(
                self._dlq,
                # Deterministic, so a re-dead-lettering is recognisable; 36 chars like every id.
                event_id=str(
                    uuid.uuid5(
                        DLQ_NAMESPACE,
                        f"{self.name}:{record.topic}:{record.partition}:{record.offset}",
                    )
                ),
                key=record.key or b"",
                payload={
                    "consumer": self.name,
                    "source_topic": record.topic,
                    "source_partition": record.partition,
                    "source_offset": record.offset,
                    "kind": kind,
                    "reason": reason,
                    "attempts": attempts,
                    "account_id": account_id,
                    **original_fields(record.value),
                    "dead_lettered_at": uow.now.isoformat(),
                },
            )
            await uow.commit()
        if self._metrics is not None:
            self._metrics.dead_lettered.labels(self.name, record.topic, kind).inc()
        log.warning(
            "%s dead-lettered %s/%d@%d: %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            kind,
        )

    async def _park(self, record: Record, account_id: str) -> None:
        parked = self._t.parked
        async with self._uow() as uow:
            exists = (
                await uow.session.execute(
                    select(parked.c.id).where(self._is_source(parked, record))
                )
            ).first()
            if not exists:
                await uow.session.execute(
                    insert(parked).values(
                        consumer=self.name,
                        account_id=account_id,
                        topic=record.topic,
                        partition=record.partition,
                        offset=record.offset,
                        key=record.key,
                        value=record.value,
                        parked_at=uow.now,
                    )
                )
                await uow.commit()

    # -- operations -----------------------------------------------------------------

    async def dead_letters(self, *, include_resolved: bool = False) -> list[DeadLetter]:
        """This consumer's dead letters, oldest first, with how many records wait behind each."""
        dl, parked = self._t.dead_letters, self._t.parked
        query = select(dl).where(dl.c.consumer == self.name).order_by(dl.c.id)
        if not include_resolved:
            query = query.where(dl.c.resolved_at.is_(None))
        async with self._uow() as uow:
            rows = (await uow.session.execute(query)).mappings().all()
            waiting: dict[str, int] = {}
            for (account,) in await uow.session.execute(
                select(parked.c.account_id).where(parked.c.consumer == self.name)
            ):
                waiting[account] = waiting.get(account, 0) + 1
        return [
            DeadLetter(
                id=r["id"],
                consumer=r["consumer"],
                topic=r["topic"],
                partition=r["partition"],
                offset=r["offset"],
                kind=r["kind"],
                reason=r["reason"],
                attempts=r["attempts"],
                account_id=r["account_id"],
                created_at=utc(r["created_at"]).isoformat(),
                resolved_at=utc(r["resolved_at"]).isoformat() if r["resolved_at"] else None,
                resolution=r["resolution"],
                resolved_by=r["resolved_by"],
                parked=waiting.get(r["account_id"], 0)
                if r["kind"] == "failed" and not r["resolved_at"]
                else 0,
            )
            for r in rows
        ]

    async def replay(self, dead_letter_id: int, actor: str) -> str:
        """Apply a dead letter again; if it now succeeds, release the account's parked records."""
        row = await self._unresolved(dead_letter_id)
        record = Record(row["topic"], row["partition"], row["offset"], row["key"], row["value"], 0)
        try:
            env = self._decode(record)
            await apply_once(self._uow, self.name, self._handler, env)
        except (InvalidEvent, Rejected) as exc:
            return f"still failing: {redact(exc.reason)}"
        except Exception as exc:
            return f"still failing: {_describe(exc)}"
        released = await self._resolve_and_release(row, "replayed", actor)
        return f"replayed; {released} parked record(s) released"

    async def discard(self, dead_letter_id: int, actor: str) -> str:
        """Give up on a dead letter (it stays on record); release the account's parked records."""
        row = await self._unresolved(dead_letter_id)
        released = await self._resolve_and_release(row, "discarded", actor)
        return f"discarded; {released} parked record(s) released"

    async def _unresolved(self, dead_letter_id: int) -> dict[str, Any]:
        dl = self._t.dead_letters
        async with self._uow() as uow:
            row = (
                (
                    await uow.session.execute(
                        select(dl).where(dl.c.id == dead_letter_id, dl.c.consumer == self.name)
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise LookupError(f"no dead letter {dead_letter_id} for consumer {self.name}")
        if row["resolved_at"] is not None:
            raise LookupError(f"dead letter {dead_letter_id} is already {row['resolution']}")
        return dict(row)

    async def _resolve(self, dead_letter_id: int, resolution: str, actor: str) -> None:
        dl = self._t.dead_letters
        async with self._uow() as uow:
            await uow.session.execute(
                update(dl)
                .where(dl.c.id == dead_letter_id)
                .values(resolved_at=uow.now, resolution=resolution, resolved_by=actor)
            )
            await uow.commit()

    async def _release(self, account_id: str | None) -> tuple[int, bool]:
        """Apply the account's parked records, oldest first, until none is left.

        Returns how many were released and whether one failed again (parking the
        account anew, with the rest still waiting behind it). Each row is deleted only
        after it was applied, so a crash in between re-applies it (the ledger makes
        that harmless) rather than losing it.
        """
        if account_id is None:
            return 0, False
        parked = self._t.parked
        released = 0
        while True:
            async with self._uow() as uow:
                row = (
                    (
                        await uow.session.execute(
                            select(parked)
                            .where(
                                parked.c.consumer == self.name, parked.c.account_id == account_id
                            )
                            .order_by(parked.c.id)
                            .limit(1)
                        )
                    )
                    .mappings()
                    .first()
                )
            if row is None:
                return released, False
            record = Record(
                row["topic"], row["partition"], row["offset"], row["key"], row["value"], 0
            )
            reparked = await self.process_record(record, set()) is not None
            async with self._uow() as uow:
                await uow.session.execute(delete(parked).where(parked.c.id == row["id"]))
                await uow.commit()
            released += 1
            if reparked:
                return released, True

    async def _resolve_and_release(self, row: dict[str, Any], resolution: str, actor: str) -> int:
        # Release, resolve, release again: the live loop keeps parking this account's
        # new records until the dead letter is resolved, so a second pass picks up
        # whatever it parked meanwhile, still in order.
        released, failed = (0, False)
        if row["kind"] == "failed":
            released, failed = await self._release(row["account_id"])
        await self._resolve(row["id"], resolution, actor)
        if row["kind"] == "failed" and not failed:
            more, _ = await self._release(row["account_id"])
            released += more
        return released


def _describe(exc: BaseException | None) -> str:
    """Why a handler failed, as ops may read it: no SQL text, no parameters, no PII."""
    if exc is None:
        return "unknown failure"
    if isinstance(exc, StatementError):
        # Its text quotes the statement and its bound parameters (event data); the
        # driver's own error, first line only, says what went wrong.
        cause = exc.orig if exc.orig is not None else exc
        text = str(cause).splitlines()[0] if str(cause) else ""
        return redact(f"{type(exc).__name__}: {type(cause).__name__}: {text}"[:500])
    return redact(f"{type(exc).__name__}: {exc}"[:500])


def _context_of(env: Envelope) -> AbstractContextManager[None]:
    """The log context of applying `env`: the chain it belongs to, itself, its account."""
    return log_context(
        correlation_id=str(env.correlation_id or env.id),
        event_id=str(env.id),
        account_id=env.account_id,
    )


def _prefix_offsets(records: Sequence[Record], start: int, n: int) -> dict[TopicPartition, int]:
    return next_offsets(records[: start + n])


def next_offsets(records: Sequence[Record]) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last of these records."""
    return {r.tp: r.offset + 1 for r in records}


def merge_by_time(records: Sequence[Record]) -> list[Record]:
    """Interleave a batch's partitions by publish time, keeping each partition's own order.

    A consumer of several topics (audit) otherwise sees whole partitions one after the
    other, and an effect could be recorded before its cause.
    """
    by_partition: dict[TopicPartition, list[Record]] = {}
    for r in records:
        by_partition.setdefault(r.tp, []).append(r)
    if len(by_partition) < 2:
        return list(records)
    return list(
        heapq.merge(
            *by_partition.values(), key=lambda r: (r.timestamp_ms, r.topic, r.partition, r.offset)
        )
    )


def dead_letter_payload(raw: bytes) -> dict[str, Any]:
    """Decode a DLQ topic message (for tools reading the DLQ topic): `original` is the
    record's bytes, or None for one too large to carry (then `original_excerpt` holds its
    first bytes; the whole value is in the service's dead letters)."""
    payload: dict[str, Any] = json.loads(raw)
    for name in ("original", "original_excerpt"):
        if payload.get(name) is not None:
            payload[name] = payload[name].encode("latin-1")
    return payload
