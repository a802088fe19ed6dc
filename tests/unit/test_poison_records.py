"""Every consumer of every service, on every topic it reads, survives each kind of poison."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.consumer import EventConsumer
from shared.eventlog.port import Record
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from shared.settings import SERVICES
from tests.support import bill, opened, settings_for

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)


def poisons() -> list[tuple[str, bytes | None, bytes]]:
    """(what, key, value) of each kind of record a consumer must dead-letter and pass."""
    bad_field = {**opened("P1"), "data": {**opened("P1")["data"], "currency": "DOGE"}}
    return [
        ("not json", b"P1", b"\xff\xfe not json"),
        ("unknown type", b"P1", json.dumps({**opened("P1"), "type": "NoSuchEvent"}).encode()),
        ("bad field", b"P1", json.dumps(bad_field).encode()),
        ("oversized", b"P1", b"x" * 600_000),
        ("no key", None, b"{also not json"),
    ]


def consumers() -> list[tuple[str, str, str]]:
    """(service, consumer, topic) for every topic every consumer of every service reads."""
    out = []
    for service in SERVICES:
        rt = _bootstrap(service, Path("/nonexistent"))
        out.extend(
            (service, name, topic)
            for name, consumer in rt.consumers.items()
            for topic in consumer.topics
        )
    return out


def _bootstrap(service: str, data_dir: Path) -> ServiceRuntime[Any]:
    module = importlib.import_module(f"services.{service}.bootstrap")
    runtime: ServiceRuntime[Any] = module.bootstrap(
        settings_for(service, data_dir), clock=FixedClock(NOW)
    )
    return runtime


@pytest.fixture
async def runtimes(tmp_path: Path) -> AsyncIterator[dict[str, ServiceRuntime[Any]]]:
    started: dict[str, ServiceRuntime[Any]] = {}
    for service in SERVICES:
        await asyncio.to_thread(upgrade, settings_for(service, tmp_path), migrations_dir(service))
        started[service] = _bootstrap(service, tmp_path)
        await started[service].log.start()
    yield started
    for rt in started.values():
        await rt.log.close()
        await rt.engine.dispose()


async def read_all(rt: ServiceRuntime[Any], topic: str, count: int) -> list[Record]:
    sub = rt.log.subscribe(f"reader-{topic}", [topic])
    await sub.start()
    got: list[Record] = []
    try:
        for _ in range(50):
            got.extend(await sub.poll(timeout=0.2))
            if len(got) >= count:
                break
    finally:
        await sub.close()
    return got


@pytest.mark.parametrize(("service", "name", "topic"), consumers())
async def test_each_poison_is_dead_lettered_where_it_was_and_later_records_apply(
    runtimes: dict[str, ServiceRuntime[Any]], service: str, name: str, topic: str
) -> None:
    rt = runtimes[service]
    consumer: EventConsumer = rt.consumers[name]
    kinds = poisons()
    # An opening first, so an event of a known account follows the poison on its partition.
    good, after, stranger = opened("P1"), bill("P1", "P1-b1"), bill("P9", "P9-b1")
    messages = [
        (b"P1", json.dumps(good).encode()),
        *((key or b"", value) for _, key, value in kinds),
        (b"P1", json.dumps(after).encode()),
        (b"P9", json.dumps(stranger).encode()),  # an account nobody opened
    ]
    # The embedded log takes b"" for a record without a key, as Kafka's null key.
    published = await rt.log.publish_batch(topic, messages)
    records = await read_all(rt, topic, len(messages))
    assert len(records) == len(messages)
    await consumer.process(records)
    await consumer.process(records)  # a redelivery changes nothing

    letters = await consumer.dead_letters()
    where = {(d.topic, d.partition, d.offset): d for d in letters}
    for (what, _, _), spot in zip(kinds, published[1:-2], strict=True):
        letter = where.get((topic, spot.partition, spot.offset))
        assert letter is not None, f"{what} was not dead-lettered"
        assert letter.kind == "invalid" and letter.reason, what
    refused = [d for d in letters if d.kind != "invalid"]
    assert len(letters) - len(refused) == len(kinds)
    processed = rt.tables.processed
    async with rt.uow() as uow:
        applied = set(
            (
                await uow.session.execute(
                    select(processed.c.event_id).where(processed.c.consumer == consumer.name)
                )
            ).scalars()
        )
        positions = await uow.positions.load(consumer.name)
    assert {good["id"], after["id"]} <= applied
    # The stranger's event is applied (audit chains anything) or refused with a reason
    # where it came from (accounts knows no such account); never lost, never parked.
    if stranger["id"] not in applied:
        (letter,) = refused
        assert letter.kind == "rejected" and letter.account_id == "P9" and letter.reason
        assert (letter.partition, letter.offset) == (published[-1].partition, published[-1].offset)
    else:
        assert refused == []
    ends = {(p.topic, p.partition): p.offset + 1 for p in published}
    assert {(tp.topic, tp.partition): o for tp, o in positions.items()} == ends
