"""A consumer's position lives in its database with its effects; Kafka's is only a hint."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from services.accounts.bootstrap import bootstrap
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork, stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.eventlog.port import TopicPartition
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.support import bill, eventually, opened, settings_for

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
Runtime = ServiceRuntime[AccountsUnitOfWork]
ACCOUNTS = [f"pos-{i}" for i in range(6)]


@asynccontextmanager
async def consuming(settings: Settings) -> AsyncIterator[Runtime]:
    """The accounts service's inbound consumer running on these settings, stopped after."""
    rt = bootstrap(settings, clock=FixedClock(NOW))
    await rt.log.start()
    stop, ready = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(rt.consumers["inbound"].run(stop, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield rt
    finally:
        stop.set()
        await task
        await rt.log.close()
        await rt.engine.dispose()


async def publish(settings: Settings, *envelopes: dict[str, object]) -> None:
    rt = bootstrap(settings, clock=FixedClock(NOW))
    await rt.log.start()
    try:
        await rt.log.publish_batch(
            settings.topics.inbound,
            [(e["account_id"].encode(), json.dumps(e).encode()) for e in envelopes],  # type: ignore[union-attr]
        )
    finally:
        await rt.log.close()
        await rt.engine.dispose()


async def versions(rt: Runtime) -> dict[str, int]:
    async with rt.uow() as uow:
        found = await uow.events.versions([stream_id(a) for a in ACCOUNTS])
    return {a: found[stream_id(a)] for a in ACCOUNTS}


def all_at(version: int) -> Callable[[dict[str, int]], bool]:
    return lambda got: all(v >= version for v in got.values())


async def stored_positions(rt: Runtime) -> dict[TopicPartition, int]:
    async with rt.uow() as uow:
        return await uow.positions.load(rt.consumers["inbound"].name)


async def test_a_database_restored_from_an_older_backup_re_reads_what_it_lost(
    tmp_path: Path,
) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    db = tmp_path / "accounts.sqlite3"

    await publish(settings, *(opened(a) for a in ACCOUNTS))
    async with consuming(settings) as rt:
        await eventually(lambda: versions(rt), all_at(1))
        backup_positions = await stored_positions(rt)
    shutil.copy(db, tmp_path / "backup.sqlite3")  # the nightly backup, taken here

    await publish(settings, *(bill(a, f"{a}-b1") for a in ACCOUNTS))
    async with consuming(settings) as rt:
        await eventually(lambda: versions(rt), all_at(2))
        # Kafka's committed offsets (the embedded log's) now stand after the bills.
        assert sum((await stored_positions(rt)).values()) == 2 * len(ACCOUNTS)

    # The database is restored from the backup: the bills' effects are gone, and so are
    # the positions written with them; the log's committed offsets are not.
    shutil.copy(tmp_path / "backup.sqlite3", db)
    async with consuming(settings) as rt:
        assert await stored_positions(rt) == backup_positions
        await eventually(lambda: versions(rt), all_at(2), timeout=10)
        assert sum((await stored_positions(rt)).values()) == 2 * len(ACCOUNTS)


async def test_each_batch_stores_its_positions_in_the_transaction_of_its_effects(
    tmp_path: Path,
) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    await publish(settings, *(opened(a) for a in ACCOUNTS), bill(ACCOUNTS[0], "b1"))
    async with consuming(settings) as rt:
        await eventually(lambda: versions(rt), lambda v: v[ACCOUNTS[0]] == 2)
        positions = await stored_positions(rt)
        log_ends = await rt.log.end_offsets([settings.topics.inbound])
    # Every record read moved the position; nothing beyond what the log holds.
    assert positions == {tp: end for tp, end in log_ends.items() if end}


async def test_a_record_dealt_with_alone_still_moves_the_position(tmp_path: Path) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    rt = bootstrap(settings, clock=FixedClock(NOW))
    await rt.log.start()
    try:
        # A batch that ends with an undecodable record: it is dead-lettered on its own,
        # after the run before it, and its offset is stored too.
        await rt.log.publish_batch(
            settings.topics.inbound,
            [(b"pos-0", json.dumps(opened("pos-0")).encode()), (b"pos-0", b"not json")],
        )
        ends = await rt.log.end_offsets([settings.topics.inbound])
        tp = next(tp for tp, end in ends.items() if end == 2)
        sub = rt.log.subscribe("reader", [settings.topics.inbound])
        await sub.start()
        records = await sub.poll(timeout=5)
        await sub.close()
        consumer = rt.consumers["inbound"]
        await consumer.process(records)
        assert await stored_positions(rt) == {tp: 2}
        assert len(await consumer.dead_letters()) == 1
    finally:
        await rt.log.close()
        await rt.engine.dispose()


async def test_a_hole_between_the_position_and_the_next_record_is_recorded_as_a_gap(
    tmp_path: Path,
) -> None:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    rt = bootstrap(settings, clock=FixedClock(NOW))
    await rt.log.start()
    try:
        events = [opened("pos-0"), *(bill("pos-0", f"b{i}") for i in range(3))]
        await rt.log.publish_batch(
            settings.topics.inbound, [(b"pos-0", json.dumps(e).encode()) for e in events]
        )
        sub = rt.log.subscribe("reader", [settings.topics.inbound])
        await sub.start()
        records = await sub.poll(timeout=5)
        await sub.close()
        assert [r.offset for r in records] == [0, 1, 2, 3]
        consumer = rt.consumers["inbound"]
        await consumer.process(records[:1])
        await consumer.process(records[3:])  # offsets 1 and 2 never arrived
        await consumer.process(records[3:])  # a redelivery is no new gap
        await consumer.process(records[1:3])  # re-reading below the position is no gap
        async with rt.uow() as uow:
            gaps = await uow.positions.gaps(consumer.name)
        tp = records[0].tp
        assert [(g.topic, g.partition, g.from_offset, g.to_offset) for g in gaps] == [
            (tp.topic, tp.partition, 1, 3)
        ]
    finally:
        await rt.log.close()
        await rt.engine.dispose()
