"""Rebuilding the audit store from the topics: the trail is derived, the log is the source.

The chain's hash covers each event as produced (personal fields as commitments under
the account's key, which a rebuild keeps), never audit's own ingest time. Which event an
account's chain takes first is not on any source topic (an account's events arrive on
several topics and partitions, batched as they happen to be), so audit publishes the
order it chained in on its own topic (`TrailChained`, through the outbox in the chaining
transaction) and a rebuild replays the sources in that order: two rebuilds, and a
rebuild and the live trail, give the same heads and the same checkpoint roots. Records
the order log does not cover are chained after, per account, by publish time, topic,
partition and offset (see services.audit.domain.order), and their order is logged then.
A trail recorded before commitments existed is re-chained with them: its heads change,
once; so do trails chained before the order log existed (see the README).

An erased account's trail up to its last `PersonalDataErased` entry is restored as it
was chained, not re-read: the topics may still hold the erased values, and audit's own
erasure entry is on no topic. Its later events are re-read as any other.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from services.audit.domain.merkle import head_leaf, root
from services.audit.domain.order import Logged, OrderLog, Replay, fallback_key
from services.audit.service_layer.unit_of_work import SOURCE, AuditUnitOfWork
from shared.consumer import EventConsumer
from shared.envelope import Envelope, decode_envelope
from shared.errors import InvalidEvent
from shared.eventlog.port import Record, TopicPartition
from shared.events.audit import TrailChained
from shared.runtime import ServiceRuntime

Progress = Callable[[int, int], None]
Runtime = ServiceRuntime[AuditUnitOfWork]

DRAIN_TIMEOUT = 60.0
"""How long a rebuild waits for the order facts still in the outbox to be published."""


@dataclass(frozen=True)
class RebuildResult:
    """What a rebuild read and how it ordered what it chained."""

    records: int
    """Source records read."""
    in_logged_order: int
    """Events chained where the order log put them."""
    beyond_the_log: int
    """Events the order log did not cover, chained in the fallback order (now logged)."""
    missing: int
    """Logged events no source topic holds any more: their accounts' later seqs shift."""
    differing: list[str] = field(default_factory=list)
    """Accounts with an entry whose seq or hash differs from what the order log says."""


def source_topics(runtime: Runtime) -> list[str]:
    """The topics audit chains from: all but its own and the dead letters."""
    topics = runtime.settings.topics
    return [t for t in topics.all() if t not in (topics.dlq, topics.audit)]


async def rebuild(
    runtime: Runtime, progress: Progress | None = None, *, max_batch: int = 500
) -> RebuildResult:
    """Discard the trail and re-consume every topic from the beginning, in the order the
    trail was chained in.

    Run it with the audit service stopped. Signed checkpoints are kept: they are the
    evidence the rebuilt trail is checked against. Access logs, the accounts' commitment
    keys and erased trails are kept too.
    """
    consumer = runtime.consumers["trail"]
    await _drain_order_facts(runtime)
    log = await read_order_log(runtime, max_batch=max_batch)
    async with runtime.uow() as uow:
        restored = await uow.trail.restore_frozen()
        await uow.backlog.forget_processed(consumer.name)
        # Re-read from the first record: the old positions and gaps describe the old trail.
        await uow.positions.forget(consumer.name)
        await uow.commit()
    replay: Replay[tuple[Record, Envelope | None]] = Replay(log, restored)
    chain = _Chainer(runtime, consumer, log)
    await chain.load_parked()
    uow_class = runtime.uow_class
    # What the log says already is not logged again; what it lacks is logged now.
    uow_class.logged = frozenset(log.by_event)
    try:

        async def take(records: Sequence[Record]) -> None:
            ready: list[tuple[Record, Envelope | None]] = []
            for r in records:
                env = chain.decode(r)
                if env is None:
                    ready.append((r, None))  # dead-lettered, as the live consumer does
                    continue
                key = fallback_key(r.timestamp_ms, r.topic, r.partition, r.offset)
                ready.extend(replay.offer(str(env.id), key, (r, env)))
            await chain.run(ready)

        ends = await _read_to_end(runtime, source_topics(runtime), take, progress, max_batch)
        await chain.run(replay.finish())
    finally:
        uow_class.logged = frozenset()
    async with runtime.uow() as uow:
        # The service goes on from where the rebuild read to (every offset before it is
        # on the rebuilt trail, dead-lettered or parked), not from Kafka's committed offset.
        await uow.positions.save(consumer.name, ends)
        await uow.commit()
    return RebuildResult(
        records=sum(ends.values()),
        in_logged_order=chain.logged,
        beyond_the_log=chain.unlogged,
        missing=replay.missing,
        differing=await _differing(runtime, log),
    )


class _Chainer:
    """Chains decoded records in the order given, a run per transaction; a record that
    cannot be chained is dealt with as the live consumer would (dead letter, parking)."""

    def __init__(self, runtime: Runtime, consumer: EventConsumer, log: OrderLog) -> None:
        self._runtime = runtime
        self._consumer = consumer
        self._log = log
        self._parked: set[str] = set()
        self.logged = 0
        self.unlogged = 0

    async def load_parked(self) -> None:
        letters = await self._consumer.dead_letters()
        self._parked = {d.account_id for d in letters if d.kind == "failed" and d.account_id}

    def decode(self, record: Record) -> Envelope | None:
        try:
            return self._runtime.catalogue.validate(decode_envelope(record.value))
        except InvalidEvent:
            return None

    async def run(self, items: Sequence[tuple[Record, Envelope | None]]) -> None:
        run: list[tuple[Record, Envelope]] = []
        for record, env in items:
            if env is not None and str(env.id) in self._log.by_event:
                self.logged += 1
            elif env is not None:
                self.unlogged += 1
            if env is None or env.account_id in self._parked:
                await self._chain(run)
                run = []
                await self._one(record)
            else:
                run.append((record, env))
        await self._chain(run)

    async def _chain(self, run: list[tuple[Record, Envelope]]) -> None:
        if not run:
            return
        name, handler = self._consumer.name, self._consumer.handler
        try:
            async with self._runtime.uow() as uow:
                envs = [env for _, env in run]
                await uow.prefetch(envs)
                for env in envs:
                    await handler(uow, env)
                await uow.processed.add_many(name, list(dict.fromkeys(str(e.id) for e in envs)))
                await uow.commit()
        except Exception:
            # One of them cannot be chained: each alone, as the live consumer does it.
            for record, _ in run:
                await self._one(record)

    async def _one(self, record: Record) -> None:
        parked = await self._consumer.process_record(record, self._parked)
        if parked is not None:
            self._parked.add(parked)


async def _drain_order_facts(runtime: Runtime) -> None:
    """Wait until the outbox holds no unpublished order fact (a crash may leave some)."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        async with runtime.uow() as uow:
            waiting = await uow.backlog.unpublished(runtime.settings.topics.audit)
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{waiting} order facts are still unpublished in audit's outbox after "
                f"{DRAIN_TIMEOUT:.0f}s: is the event log reachable?"
            )
        await asyncio.sleep(0.1)


async def read_order_log(runtime: Runtime, *, max_batch: int = 500) -> OrderLog:
    """Every `TrailChained` on audit's topic, as the order each account was chained in."""
    entries: list[Logged] = []

    async def take(records: Sequence[Record]) -> None:
        for r in records:
            try:
                env = runtime.catalogue.validate(decode_envelope(r.value))
            except InvalidEvent:
                continue  # not a fact audit wrote: nothing it says about the order
            if env.type != TrailChained.event_type:
                continue
            fact = runtime.catalogue.parse(env)
            assert isinstance(fact, TrailChained)
            entries.extend(
                Logged(e.account_id, e.seq, e.event_id, e.hash, (r.partition, r.offset, i))
                for i, e in enumerate(fact.entries)
            )

    await _read_to_end(runtime, [runtime.settings.topics.audit], take, None, max_batch)
    return OrderLog.of(entries)


async def _read_to_end(
    runtime: Runtime,
    topics: list[str],
    take: Callable[[Sequence[Record]], Awaitable[None]],
    progress: Progress | None,
    max_batch: int,
) -> dict[TopicPartition, int]:
    """Read `topics` from their first record to their end now, batch by batch; returns
    each partition's next offset after what was read."""
    ends = {tp: o for tp, o in (await runtime.log.end_offsets(topics)).items() if o > 0}
    total = sum(ends.values())
    # A throwaway group reads from the start without disturbing the service's offsets.
    group = f"{runtime.consumers['trail'].name}.rebuild-{uuid.uuid4().hex[:8]}"
    sub = runtime.log.subscribe(group, topics, max_batch=max_batch)
    await sub.start()
    done: dict[TopicPartition, int] = {}
    try:
        while any(done.get(tp, 0) < end for tp, end in ends.items()):
            records = [r for r in await sub.poll(timeout=1.0) if r.offset < ends.get(r.tp, 0)]
            if not records:
                continue
            await take(records)
            for r in records:
                done[r.tp] = max(done.get(r.tp, 0), r.offset + 1)
            if progress:
                progress(sum(min(done.get(tp, 0), end) for tp, end in ends.items()), total)
    finally:
        await sub.close()
    return done


async def _differing(runtime: Runtime, log: OrderLog) -> list[str]:
    """Accounts whose rebuilt entries sit at another seq or hash than the order log says."""
    out: set[str] = set()
    async with runtime.uow() as uow:
        for account, seq, event_id, hashed in await uow.trail.links():
            logged = log.by_event.get(event_id)
            if logged is not None and (logged.seq, logged.hash) != (seq, hashed):
                out.add(account)
    return sorted(out)


@dataclass
class Comparison:
    """The live trail against what the sources say it should hold, as sets of entries."""

    records: int = 0
    on_topics_only: dict[str, list[str]] = field(default_factory=dict)
    """Valid source events the trail lacks (lost), by account."""
    on_trail_only: dict[str, list[str]] = field(default_factory=dict)
    """Trail entries no source topic holds (audit's own entries aside), by account."""
    content_differs: dict[str, list[str]] = field(default_factory=dict)
    """Entries whose chained event is not the source's event, by account."""
    order_not_logged: dict[str, list[str]] = field(default_factory=dict)
    """Entries whose place in the chain is not on the order log, by account."""
    order_differs: dict[str, list[str]] = field(default_factory=dict)
    """Entries at another seq or hash than the order log says, by account."""
    known_gaps: int = 0
    """Source records dead-lettered or parked: /verify already calls their trails incomplete."""

    @property
    def equal(self) -> bool:
        """Whether the trail holds exactly what the sources say, where the log says."""
        return not (
            self.on_topics_only
            or self.on_trail_only
            or self.content_differs
            or self.order_not_logged
            or self.order_differs
        )

    def to_dict(self, examples: int = 10) -> dict[str, Any]:
        """JSON-ready: per kind of difference, how many and a few event ids per account."""
        out: dict[str, Any] = {"equal": self.equal, "records": self.records}
        for name in (
            "on_topics_only",
            "on_trail_only",
            "content_differs",
            "order_not_logged",
            "order_differs",
        ):
            found: dict[str, list[str]] = getattr(self, name)
            out[name] = {
                "events": sum(len(ids) for ids in found.values()),
                "accounts": {a: ids[:examples] for a, ids in sorted(found.items())[:examples]},
            }
        out["known_gaps"] = self.known_gaps
        return out


async def compare(runtime: Runtime, *, max_batch: int = 500) -> Comparison:
    """Re-derive the trail's entries from the sources and compare them, as sets, with the
    live trail (which this changes nothing of): what is missing, extra or altered, and
    what is chained where the order log does not say."""
    consumer = runtime.consumers["trail"]
    log = await read_order_log(runtime, max_batch=max_batch)
    result = Comparison()
    gaps = await _known_gaps(runtime, consumer.name)
    derived: dict[str, tuple[str, str | None]] = {}  # event id → account, chained digest
    keys: dict[str, bytes | None] = {}

    async def take(records: Sequence[Record]) -> None:
        async with runtime.uow() as uow:
            for r in records:
                if (r.topic, r.partition, r.offset) in gaps:
                    result.known_gaps += 1
                    continue
                try:
                    env = runtime.catalogue.validate(decode_envelope(r.value))
                except InvalidEvent:
                    continue  # dead-lettered, never chained
                if str(env.id) in derived:
                    continue
                if env.account_id not in keys:
                    keys[env.account_id] = await uow.trail.subject_key(env.account_id)
                body = uow.chained_body(env, keys[env.account_id])
                derived[str(env.id)] = (env.account_id, _digest(body) if body else None)

    read = await _read_to_end(runtime, source_topics(runtime), take, None, max_batch)
    result.records = sum(read.values())
    async with runtime.uow() as uow:
        for account, seq, event_id, source, event, hashed in await uow.trail.all_entries():
            found = derived.pop(event_id, None)
            if found is None and source != SOURCE:
                result.on_trail_only.setdefault(account, []).append(event_id)
            elif found is not None and found[1] is not None and found[1] != _digest(event.encode()):
                result.content_differs.setdefault(account, []).append(event_id)
            logged = log.by_event.get(event_id)
            if logged is None:
                result.order_not_logged.setdefault(account, []).append(event_id)
            elif (logged.seq, logged.hash) != (seq, hashed):
                result.order_differs.setdefault(account, []).append(event_id)
    for event_id, (account, _) in derived.items():
        result.on_topics_only.setdefault(account, []).append(event_id)
    return result


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def _known_gaps(runtime: Runtime, consumer: str) -> set[tuple[str, int, int]]:
    """Where the consumer's unresolved dead letters and parked records came from."""
    async with runtime.uow() as uow:
        return await uow.backlog.gaps(consumer)


async def heads_and_root(runtime: Runtime) -> dict[str, Any]:
    """Every account's head and the Merkle root a checkpoint would sign now."""
    async with runtime.uow() as uow:
        heads = await uow.trail.heads()
    return {
        "heads": heads,
        "root": root([head_leaf(a, s, h) for a, s, h in heads]).hex(),
    }
