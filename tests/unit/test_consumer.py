"""The event consumer dead-letters bad records, parks failing accounts, applies events once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text

from services.accounts.bootstrap import bootstrap
from services.accounts.domain.model import Account
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork, stream_id
from services.registry import migrations_dir
from shared.clock import FixedClock
from shared.consumer import DeadLetter, EventConsumer, Handler, dead_letter_payload
from shared.envelope import Envelope
from shared.eventlog.port import Record, Subscription
from shared.eventstore.relay import OutboxRelay
from shared.migrations import upgrade
from shared.runtime import ServiceRuntime
from tests.contract.eventlog_contract import drain
from tests.support import bill, opened, payment, settings_for

NOW = datetime(2026, 3, 20, 4, 0, tzinfo=UTC)
Runtime = ServiceRuntime[AccountsUnitOfWork]


class Feed:
    """Publishes to one topic of the real embedded log and reads the records back."""

    def __init__(self, runtime: Runtime, topic: str) -> None:
        self._log = runtime.log
        self.topic = topic
        self._sub: Subscription | None = None

    async def send(self, *items: dict[str, Any] | tuple[bytes, bytes]) -> list[Record]:
        """Publish envelopes (keyed by account) or raw (key, value) pairs; return the records."""
        messages = [
            item if isinstance(item, tuple) else (item["account_id"].encode(), dumps(item))
            for item in items
        ]
        published = await self._log.publish_batch(self.topic, messages)
        where = {(p.partition, p.offset): i for i, p in enumerate(published)}
        records = await self.read(len(messages))
        return sorted(records, key=lambda r: where[(r.partition, r.offset)])

    async def read(self, count: int) -> list[Record]:
        """The next `count` records of the topic (partitions interleave arbitrarily)."""
        if self._sub is None:
            self._sub = self._log.subscribe(f"reader-{uuid.uuid4().hex[:8]}", [self.topic])
            await self._sub.start()
        records = await drain(self._sub, count, timeout=10)
        assert len(records) == count, records
        return records

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.close()


def dumps(item: dict[str, Any]) -> bytes:
    return json.dumps(item).encode()


class Breakable:
    """The real handler, except it fails for chosen event ids until fixed; counts every call."""

    def __init__(self, inner: Handler, *failing: dict[str, Any]) -> None:
        self._inner = inner
        self.failing = {e["id"] for e in failing}
        self.calls: Counter[str] = Counter()

    async def __call__(self, uow: Any, env: Envelope) -> None:
        self.calls[str(env.id)] += 1
        if str(env.id) in self.failing:
            raise RuntimeError("downstream unavailable")
        await self._inner(uow, env)

    def fix(self) -> None:
        self.failing.clear()


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Runtime]:
    settings = settings_for("accounts", tmp_path)
    await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
    rt = bootstrap(settings, clock=FixedClock(NOW))
    await rt.log.start()
    yield rt
    await rt.log.close()
    await rt.engine.dispose()


@pytest.fixture
async def inbound(runtime: Runtime) -> AsyncIterator[Feed]:
    feed = Feed(runtime, runtime.settings.topics.inbound)
    yield feed
    await feed.close()


@pytest.fixture
def consumer(runtime: Runtime) -> EventConsumer:
    """The accounts service's own inbound consumer, with the real handler."""
    return runtime.consumers["inbound"]


def consumer_with(runtime: Runtime, handler: Handler, max_attempts: int = 3) -> EventConsumer:
    return EventConsumer(
        name="test.accounts.inbound",
        event_log=runtime.log,
        topics=[runtime.settings.topics.inbound],
        dlq_topic=runtime.settings.topics.dlq,
        uow_factory=runtime.uow,
        tables=runtime.tables,
        catalogue=runtime.catalogue,
        handler=handler,
        max_attempts=max_attempts,
        retry_backoff=0,
    )


async def account(runtime: Runtime, account_id: str) -> Account:
    async with runtime.uow() as uow:
        return await uow.accounts.get(account_id)


async def stream(runtime: Runtime, account_id: str) -> list[Envelope]:
    async with runtime.uow() as uow:
        events, _ = await uow.events.load(stream_id(account_id))
    return events


async def outbox_count(runtime: Runtime, topic: str) -> int:
    outbox = runtime.tables.outbox
    async with runtime.uow() as uow:
        result = await uow.session.execute(
            select(func.count()).select_from(outbox).where(outbox.c.topic == topic)
        )
        return int(result.scalar_one())


def only(letters: Sequence[DeadLetter]) -> DeadLetter:
    assert len(letters) == 1, letters
    return letters[0]


# -- (a) undecodable and unknown records ----------------------------------------------------


async def test_bytes_that_are_not_json_are_dead_lettered_and_the_partition_goes_on(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    records = await inbound.send((b"A1", b"\x00not json at all"), opened("A1"))
    assert records[0].tp == records[1].tp

    offsets = await consumer.process(records)

    letter = only(await consumer.dead_letters())
    assert letter.kind == "invalid"
    assert letter.reason.startswith("malformed JSON")
    assert (letter.topic, letter.partition, letter.offset) == (
        records[0].topic,
        records[0].partition,
        records[0].offset,
    )
    assert letter.account_id is None and letter.parked == 0
    assert offsets == {records[1].tp: records[1].offset + 1}
    assert (await account(runtime, "A1")).opened


async def test_an_event_of_unknown_type_is_dead_lettered_naming_type(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    unknown = {**opened("A1"), "type": "AccountTeleported"}
    records = await inbound.send(unknown, opened("A1"), bill("A1", "B1"))
    assert len({r.tp for r in records}) == 1

    await consumer.process(records)

    letter = only(await consumer.dead_letters())
    assert letter.kind == "invalid"
    assert letter.reason.startswith("type:")
    assert "AccountTeleported" in letter.reason
    assert list((await account(runtime, "A1")).bills) == ["B1"]


async def test_an_event_failing_its_schema_is_dead_lettered_naming_the_field(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    records = await inbound.send(opened("A1"), payment("A1", "P1", -5), payment("A1", "P2", 5))
    await consumer.process(records)
    letter = only(await consumer.dead_letters())
    assert (letter.kind, letter.reason.split(":")[0]) == ("invalid", "data.amount")
    assert (await account(runtime, "A1")).payment_ids == {"P2"}


async def test_a_fact_dated_after_the_door_clock_is_dead_lettered_naming_occurred_at(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    ahead = {**payment("A1", "P1", 5), "occurred_at": (NOW + timedelta(hours=1)).isoformat()}
    records = await inbound.send(opened("A1"), ahead)
    await consumer.process(records)
    letter = only(await consumer.dead_letters())
    assert (letter.kind, letter.reason.split(":")[0]) == ("invalid", "occurred_at")
    assert (await account(runtime, "A1")).payment_ids == set()


async def test_only_the_door_refuses_future_facts_other_consumers_follow_it(
    runtime: Runtime, inbound: Feed
) -> None:
    follower = consumer_with(runtime, runtime.consumers["inbound"].handler)
    ahead = {**payment("A1", "P1", 5), "occurred_at": (NOW + timedelta(hours=1)).isoformat()}
    records = await inbound.send(opened("A1"), ahead)
    await follower.process(records)
    assert await follower.dead_letters() == []


# -- (b) refused by the domain --------------------------------------------------------------


async def test_a_rejected_event_is_dead_lettered_once_and_does_not_park_the_account(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    handler = Breakable(consumer.handler)
    c = consumer_with(runtime, handler)
    early_bill = bill("A1", "B0")  # before the account exists: the domain refuses it
    records = await inbound.send(early_bill, opened("A1"), bill("A1", "B1"))

    await c.process(records)

    letter = only(await c.dead_letters())
    assert letter.kind == "rejected"
    assert "unknown account A1" in letter.reason
    assert letter.account_id == "A1"
    assert (letter.attempts, handler.calls[early_bill["id"]]) == (1, 1)
    assert letter.parked == 0
    assert list((await account(runtime, "A1")).bills) == ["B1"]


async def test_a_rejected_event_leaves_no_partial_effect(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    first = await inbound.send(opened("A1"), bill("A1", "B1"))
    await consumer.process(first)
    before = await stream(runtime, "A1")
    outbox_before = await outbox_count(runtime, runtime.settings.topics.accounts)

    records = await inbound.send(payment("A1", "P1", 100, currency="USD"))
    await consumer.process(records)

    assert "currency USD" in only(await consumer.dead_letters()).reason
    assert await stream(runtime, "A1") == before
    assert await outbox_count(runtime, runtime.settings.topics.accounts) == outbox_before


# -- (c) handler failures park the account --------------------------------------------------


async def test_a_failing_event_is_retried_max_attempts_then_parks_only_its_account(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    x_open = opened("X")
    handler = Breakable(consumer.handler, x_open)
    c = consumer_with(runtime, handler, max_attempts=3)
    x_later = [bill("X", "XB1"), bill("X", "XB2"), payment("X", "XP1", 150)]
    records = await inbound.send(
        x_open, opened("Y"), x_later[0], bill("Y", "YB1"), x_later[1], x_later[2]
    )

    offsets = await c.process(records)

    assert handler.calls[x_open["id"]] == 3
    letter = only(await c.dead_letters())
    assert (letter.kind, letter.attempts, letter.account_id) == ("failed", 3, "X")
    assert letter.reason == "RuntimeError: downstream unavailable"
    assert letter.parked == 3
    # X's later records never reached the handler. (Y's may have run twice: a batch
    # transaction rolled back when X failed is applied again without X; state shows once.)
    assert all(handler.calls[e["id"]] == 0 for e in x_later)
    assert await stream(runtime, "X") == []
    assert list((await account(runtime, "Y")).bills) == ["YB1"]
    # Nothing stops a partition: every record's offset is committed.
    for tp in {r.tp for r in records}:
        assert offsets[tp] == max(r.offset for r in records if r.tp == tp) + 1


async def test_records_of_a_parked_account_in_later_batches_wait_too(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    x_open = opened("X")
    c = consumer_with(runtime, Breakable(consumer.handler, x_open), max_attempts=1)
    await c.process(await inbound.send(x_open))

    await c.process(await inbound.send(bill("X", "XB1"), opened("Y")))

    assert only(await c.dead_letters()).parked == 1
    assert await stream(runtime, "X") == []
    assert (await account(runtime, "Y")).opened


async def test_replaying_a_fixed_failure_applies_it_and_releases_the_account_in_order(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    x_open = opened("X")
    handler = Breakable(consumer.handler, x_open)
    c = consumer_with(runtime, handler, max_attempts=2)
    await c.process(
        await inbound.send(
            x_open,
            bill("X", "XB-late", due="2026-04-10"),
            bill("X", "XB-early", due="2026-03-10"),
            payment("X", "XP1", 150),
        )
    )
    letter = only(await c.dead_letters())

    still = await c.replay(letter.id, "ops:tester")
    assert still == "still failing: RuntimeError: downstream unavailable"
    assert only(await c.dead_letters()).parked == 3

    handler.fix()
    assert await c.replay(letter.id, "ops:tester") == "replayed; 3 parked record(s) released"

    assert [(e.type, e.data.get("bill_id")) for e in await stream(runtime, "X")] == [
        ("AccountOpened", None),
        ("BillIssued", "XB-late"),
        ("BillIssued", "XB-early"),
        ("PaymentReceived", None),
        ("PaymentAllocated", None),
    ]
    x = await account(runtime, "X")
    # Released in published order: the payment found both bills and paid the older one.
    assert (x.bills["XB-early"].paid, x.bills["XB-late"].paid, x.credit) == (150, 0, 0)
    assert await c.dead_letters() == []
    (resolved,) = await c.dead_letters(include_resolved=True)
    assert (resolved.resolution, resolved.parked) == ("replayed", 0)
    assert resolved.resolved_at == NOW.isoformat()
    with pytest.raises(LookupError, match="already replayed"):
        await c.replay(letter.id, "ops:tester")


async def test_after_release_the_account_is_no_longer_parked(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    x_open = opened("X")
    handler = Breakable(consumer.handler, x_open)
    c = consumer_with(runtime, handler, max_attempts=1)
    await c.process(await inbound.send(x_open))
    handler.fix()
    await c.replay(only(await c.dead_letters()).id, "ops:tester")

    await c.process(await inbound.send(bill("X", "XB1")))

    assert list((await account(runtime, "X")).bills) == ["XB1"]


async def test_discarding_a_failure_skips_it_and_releases_the_rest_in_order(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    bad_bill = bill("X", "XB-bad", due="2026-03-01")
    handler = Breakable(consumer.handler, bad_bill)
    c = consumer_with(runtime, handler, max_attempts=2)
    await c.process(
        await inbound.send(
            opened("X"),
            bad_bill,
            bill("X", "XB2", due="2026-03-20"),
            payment("X", "XP1", 100_00),
        )
    )
    letter = only(await c.dead_letters())
    assert letter.parked == 2

    assert await c.discard(letter.id, "ops:tester") == "discarded; 2 parked record(s) released"
    (resolved,) = await c.dead_letters(include_resolved=True)
    assert (resolved.resolution, resolved.resolved_by) == ("discarded", "ops:tester")

    x = await account(runtime, "X")
    assert list(x.bills) == ["XB2"]
    assert x.bills["XB2"].paid == 100_00  # the bill came before the payment, as published
    assert handler.calls[bad_bill["id"]] == 2  # discarding does not apply it
    (resolved,) = await c.dead_letters(include_resolved=True)
    assert resolved.resolution == "discarded"


async def test_unknown_dead_letter_ids_are_refused(consumer: EventConsumer) -> None:
    with pytest.raises(LookupError, match="no dead letter 999"):
        await consumer.replay(999, "ops:tester")
    with pytest.raises(LookupError, match="no dead letter 999"):
        await consumer.discard(999, "ops:tester")


# -- (d) redelivery ------------------------------------------------------------------------


async def test_a_redelivered_batch_is_applied_once(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    records = await inbound.send(
        opened("A1"), bill("A1", "B1"), payment("A1", "P1", 60_00), payment("A1", "P2", 60_00)
    )
    await consumer.process(records)
    first = await stream(runtime, "A1")

    await consumer.process(records)

    assert await stream(runtime, "A1") == first
    a1 = await account(runtime, "A1")
    assert (a1.bills["B1"].paid, a1.credit) == (100_00, 20_00)
    assert await outbox_count(runtime, runtime.settings.topics.accounts) == 2
    assert await consumer.dead_letters() == []


async def test_the_same_event_twice_in_one_batch_is_applied_once(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    pay = payment("A1", "P1", 60_00)
    records = await inbound.send(opened("A1"), bill("A1", "B1"), pay, pay)

    await consumer.process(records)

    a1 = await account(runtime, "A1")
    assert a1.bills["B1"].paid == 60_00
    assert await consumer.dead_letters() == []


async def test_a_redelivered_dead_letter_is_recorded_once(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    records = await inbound.send((b"A1", b"{"))
    await consumer.process(records)
    await consumer.process(records)
    assert len(await consumer.dead_letters()) == 1
    assert await outbox_count(runtime, runtime.settings.topics.dlq) == 1


async def test_a_discarded_record_stays_discarded_after_a_redelivery(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    bad_bill = bill("X", "XB-bad")
    handler = Breakable(consumer.handler, bad_bill)
    c = consumer_with(runtime, handler, max_attempts=1)
    records = await inbound.send(opened("X"), bad_bill, bill("X", "XB2"))
    await c.process(records)
    await c.process(records)  # the offsets commit was lost: the batch comes again
    handler.fix()  # e.g. the outage ended before ops looked at the dead letter

    await c.discard(only(await c.dead_letters()).id, "ops:tester")

    assert list((await account(runtime, "X")).bills) == ["XB2"]


# -- (e) the DLQ topic ---------------------------------------------------------------------


async def relayed_dlq_message(runtime: Runtime) -> tuple[int, Record]:
    """Run the relay once; how many it sent and the one message then on the DLQ topic."""
    relay = OutboxRelay(runtime.sessions, runtime.tables, runtime.log, runtime.clock)
    sent = await relay.run_once()
    dlq = Feed(runtime, runtime.settings.topics.dlq)
    try:
        (message,) = await dlq.read(1)
    finally:
        await dlq.close()
    return sent, message


async def test_the_dlq_topic_carries_the_exact_original_bytes_and_where_they_came_from(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    original = b"\xff\xfe\x00\x80 not json \xe4\xb8\xad\n"
    (record,) = await inbound.send((b"A1", original))
    await consumer.process([record])

    sent, message = await relayed_dlq_message(runtime)
    assert sent == 1

    raw = json.loads(message.value)
    assert raw["source_topic"] == record.topic
    assert raw["source_partition"] == record.partition
    assert raw["source_offset"] == record.offset
    assert raw["kind"] == "invalid"
    assert raw["reason"].startswith("malformed JSON")
    assert raw["consumer"] == consumer.name
    assert message.key == b"A1"
    assert dead_letter_payload(message.value)["original"] == original


async def test_the_dlq_message_of_a_failure_names_the_account_and_attempts(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    x_open = opened("X")
    c = consumer_with(runtime, Breakable(consumer.handler, x_open), max_attempts=2)
    (record,) = await inbound.send(x_open)
    await c.process([record])

    _, message = await relayed_dlq_message(runtime)

    payload = dead_letter_payload(message.value)
    assert (payload["kind"], payload["attempts"], payload["account_id"]) == ("failed", 2, "X")
    assert payload["original"] == record.value
    assert json.loads(payload["original"])["id"] == x_open["id"]


async def test_an_oversized_poison_record_makes_a_bounded_dlq_message_and_keeps_its_bytes(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    # 600 KB of non-JSON bytes, most above 0x7f: escaped whole it would be ~3.6 MB, more
    # than a Kafka producer sends by default, and would block the outbox behind it.
    original = bytes(range(128, 256)) * 4_800
    (record,) = await inbound.send((b"A1", original))
    await consumer.process([record])

    sent, message = await relayed_dlq_message(runtime)
    assert sent == 1

    assert len(message.value) < 64 * 1024
    payload = dead_letter_payload(message.value)
    assert payload["original"] is None
    assert payload["original_size"] == len(original)
    assert payload["original_sha256"] == hashlib.sha256(original).hexdigest()
    assert original.startswith(payload["original_excerpt"]) and payload["original_excerpt"]
    # The whole value stays with the dead letter, for replay or inspection.
    dl = runtime.tables.dead_letters
    async with runtime.uow() as uow:
        kept = (await uow.session.execute(select(dl.c.value))).scalar_one()
    assert kept == original


async def test_the_dlq_outbox_message_id_fits_the_outbox_column(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    await consumer.process(await inbound.send((b"A1", b"nope")))
    outbox = runtime.tables.outbox
    async with runtime.uow() as uow:
        (event_id,) = (
            await uow.session.execute(
                select(outbox.c.event_id).where(outbox.c.topic == runtime.settings.topics.dlq)
            )
        ).one()
    assert len(event_id) <= outbox.c.event_id.type.length  # type: ignore[attr-defined]


# -- server-owned fields -------------------------------------------------------------------


async def test_a_recorded_at_sent_on_the_inbound_topic_is_replaced_by_the_servers(
    runtime: Runtime, inbound: Feed, consumer: EventConsumer
) -> None:
    forged = {**opened("A1"), "recorded_at": "2001-01-01T00:00:00+00:00"}
    await consumer.process(await inbound.send(forged))
    (stored,) = await stream(runtime, "A1")
    assert stored.recorded_at == NOW


async def test_a_failure_reason_quoting_pii_is_dead_lettered_masked(
    runtime: Runtime, inbound: Feed
) -> None:
    async def leaky(uow: Any, env: Envelope) -> None:
        raise RuntimeError("could not reach 13812345678 or zhang.wei@example.com")

    c = consumer_with(runtime, leaky, max_attempts=1)
    await c.process(await inbound.send(opened("X")))

    letter = only(await c.dead_letters())
    assert "13812345678" not in letter.reason and "zhang.wei" not in letter.reason
    assert "138****5678" in letter.reason and "z***@example.com" in letter.reason


async def test_a_failing_statement_is_dead_lettered_without_its_sql_or_parameters(
    runtime: Runtime, inbound: Feed
) -> None:
    async def overflowing(uow: Any, env: Envelope) -> None:
        # What SQLite answered for a 2^64 amount before amounts were bounded.
        await uow.session.execute(text("SELECT :secret_amount"), {"secret_amount": 2**64})

    c = consumer_with(runtime, overflowing, max_attempts=1)
    await c.process(await inbound.send(opened("X")))

    letter = only(await c.dead_letters())
    assert "SELECT" not in letter.reason and str(2**64) not in letter.reason
    assert "OverflowError" in letter.reason, letter.reason
