"""One contract for the event store, outbox, relay and ledger on every database we support."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event as sqla_event
from sqlalchemy import func, select

from services.accounts.adapters.tables import platform, snapshot_tables
from services.registry import migrations_dir
from shared.catalogue import new_envelope
from shared.clock import FixedClock
from shared.consumer import apply_once
from shared.db import make_engine, make_sessions
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.eventlog.embedded import EmbeddedEventLog
from shared.eventlog.port import Published, TopicPartition, Unpublishable
from shared.events import default_catalogue
from shared.events.inbound import BusinessDayClosed
from shared.eventstore.relay import OutboxRelay
from shared.eventstore.snapshots import Snapshot, SnapshotStore
from shared.migrations import upgrade
from shared.settings import Settings
from shared.uow import SqlUnitOfWork

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UowFactory = Callable[[], SqlUnitOfWork]


def event(account: str = "A1", day: int = 1) -> Envelope:
    """A small valid event, stamped as recorded."""
    return new_envelope(
        BusinessDayClosed(business_date=f"2026-03-{day:02d}"),  # type: ignore[arg-type]
        account_id=account,
        occurred_at=NOW,
        recorded_at=NOW,
        source="test",
    )


class RefusingLog(EmbeddedEventLog):
    """The embedded log with a broker's message size limit: larger messages are refused."""

    def __init__(self, path: Path, max_value: int) -> None:
        super().__init__(path)
        self.max_value = max_value
        self.sent: list[tuple[bytes, bytes]] = []

    async def publish_batch(
        self, topic: str, messages: Sequence[tuple[bytes, bytes]]
    ) -> list[Published]:
        if any(len(value) > self.max_value for _, value in messages):
            raise Unpublishable("MessageSizeTooLargeError")
        self.sent.extend(messages)
        return await super().publish_batch(topic, messages)


class StoreContract:
    """Subclasses provide a `database_url` fixture naming an empty database."""

    @pytest.fixture
    async def uow(self, database_url: str) -> AsyncIterator[UowFactory]:
        settings = Settings.load("accounts", database_url=database_url)
        await asyncio.to_thread(upgrade, settings, migrations_dir("accounts"))
        engine = make_engine(database_url)
        sessions = make_sessions(engine)
        self.sessions = sessions
        clock = FixedClock(NOW)
        yield lambda: SqlUnitOfWork(sessions, platform, default_catalogue(), clock)
        await engine.dispose()

    async def test_appended_events_load_back_in_order_with_the_stream_version(
        self, uow: UowFactory
    ) -> None:
        events = [event(day=d) for d in (1, 2, 3)]
        async with uow() as u:
            assert await u.events.append("s-1", 0, events) == 3
            await u.commit()
        async with uow() as u:
            loaded, version = await u.events.load("s-1")
        assert version == 3
        assert [e.id for e in loaded] == [e.id for e in events]
        assert loaded[0] == events[0]

    async def test_a_stale_expected_version_is_refused_and_writes_nothing(
        self, uow: UowFactory
    ) -> None:
        async with uow() as u:
            await u.events.append("s-1", 0, [event()])
            await u.commit()
        with pytest.raises(ConcurrencyError):
            async with uow() as u:
                await u.events.append("s-1", 0, [event(day=2)])
                await u.commit()
        async with uow() as u:
            assert (await u.events.load("s-1"))[1] == 1

    async def test_of_two_writers_that_read_the_same_version_only_one_commits(
        self, uow: UowFactory
    ) -> None:
        first, second = uow(), uow()
        async with first as a, second as b:
            assert await a.events.version("s-1") == 0
            assert await b.events.version("s-1") == 0
            await a.events.append("s-1", 0, [event(day=1)])
            await a.commit()
            with pytest.raises(ConcurrencyError):
                await b.events.append("s-1", 0, [event(day=2)])
                await b.commit()
        async with uow() as u:
            loaded, version = await u.events.load("s-1")
        assert version == 1 and loaded[0].data["business_date"] == "2026-03-01"

    async def test_an_append_reads_nothing_and_a_run_writes_one_statement_per_table(
        self, uow: UowFactory
    ) -> None:
        statements: list[str] = []
        async with uow() as u:
            sync = u.session.bind.sync_engine  # type: ignore[union-attr]

            def count(_c: object, _cur: object, sql: str, *_: object) -> None:
                statements.append(sql.split()[0])

            sqla_event.listen(sync, "before_cursor_execute", count)
            try:
                for n in range(50):
                    await u.record(f"s-{n}", 0, [event(f"A{n}"), event(f"A{n}", 2)], "topic")
                await u.commit()
            finally:
                sqla_event.remove(sync, "before_cursor_execute", count)
        assert statements.count("SELECT") == 0
        assert statements.count("INSERT") == 2  # events, outbox
        async with uow() as u:
            loaded = await u.events.load_many([f"s-{n}" for n in range(50)] + ["none"])
        assert all(loaded[f"s-{n}"][1] == 2 for n in range(50))
        assert loaded["none"] == ([], 0)

    async def test_a_second_append_must_follow_the_first_in_one_transaction(
        self, uow: UowFactory
    ) -> None:
        async with uow() as u:
            assert await u.events.append("s-1", 0, [event(day=1)]) == 1
            with pytest.raises(ConcurrencyError):
                await u.events.append("s-1", 0, [event(day=2)])
            assert await u.events.append("s-1", 1, [event(day=2)]) == 2
            loaded, version = await u.events.load("s-1")  # sees what it staged
            assert version == 2 and len(loaded) == 2

    async def test_nothing_is_kept_without_commit(self, uow: UowFactory) -> None:
        async with uow() as u:
            await u.record("s-1", 0, [event()], "topic")
        async with uow() as u:
            assert (await u.events.load("s-1"))[1] == 0
            count = await u.session.execute(select(func.count()).select_from(platform.outbox))
            assert count.scalar() == 0

    async def test_the_relay_publishes_committed_events_in_order_once(
        self, uow: UowFactory, tmp_path: Path
    ) -> None:
        events = [event(account="A1", day=d) for d in range(1, 6)]
        async with uow() as u:
            await u.record("s-1", 0, events, "out")
            await u.commit()
        log = EmbeddedEventLog(tmp_path / "log.sqlite3")
        await log.start()
        try:
            relay = OutboxRelay(self.sessions, platform, log, FixedClock(NOW))
            assert await relay.run_once() == 5
            assert await relay.run_once() == 0
            ends = await log.end_offsets(["out"])
            assert sum(ends.values()) == 5
            sub = log.subscribe("g", ["out"])
            await sub.start()
            got = await sub.poll(timeout=1)
            await sub.close()
        finally:
            await log.close()
        assert [Envelope.model_validate_json(r.value).id for r in got] == [e.id for e in events]

    async def test_a_message_the_log_refuses_parks_its_key_and_the_others_go_on(
        self, uow: UowFactory, tmp_path: Path
    ) -> None:
        async with uow() as u:
            for key, sizes in (("K1", [1, 900, 1, 1]), ("K2", [1, 1])):
                for n in sizes:
                    await u.outbox.add_raw("out", str(uuid.uuid4()), key.encode(), {"pad": "x" * n})
            await u.commit()
        log = RefusingLog(tmp_path / "log.sqlite3", max_value=500)
        await log.start()
        try:
            relay = OutboxRelay(self.sessions, platform, log, FixedClock(NOW))
            await relay.run_once()
            assert relay.parked == 1
            assert await relay.run_once() == 0  # the parked key's rows are not read again
            assert [(k, len(v) > 500) for k, v in log.sent] == [
                (b"K1", False),
                (b"K2", False),
                (b"K2", False),
            ]
            # Ops raise the broker's limit; the relay tries its parked keys again, in order.
            log.max_value, log.sent = 10_000, []
            relay.unpark()
            assert await relay.run_once() == 3
            assert [(k, len(v) > 500) for k, v in log.sent] == [
                (b"K1", True),
                (b"K1", False),
                (b"K1", False),
            ]
            assert relay.parked == 0
        finally:
            await log.close()

    async def test_only_one_relay_holds_the_lease(self, uow: UowFactory, tmp_path: Path) -> None:
        async with uow() as u:
            await u.record("s-1", 0, [event()], "out")
            await u.commit()
        log = EmbeddedEventLog(tmp_path / "log.sqlite3")
        await log.start()
        try:
            one = OutboxRelay(self.sessions, platform, log, FixedClock(NOW), name="r")
            two = OutboxRelay(self.sessions, platform, log, FixedClock(NOW), name="r")
            assert await one.run_once() == 1
            async with uow() as u:
                await u.record("s-1", 1, [event(day=2)], "out")
                await u.commit()
            assert await two.run_once() == 0  # the lease is one's until it expires
            assert await one.run_once() == 1
            async with uow() as u:
                await u.record("s-1", 2, [event(day=3)], "out")
                await u.commit()
            await one.release()  # a clean stop hands over at once
            assert await two.run_once() == 1
        finally:
            await log.close()

    async def test_an_event_is_applied_once_however_often_it_arrives(self, uow: UowFactory) -> None:
        calls: list[uuid.UUID] = []

        async def handler(u: SqlUnitOfWork, env: Envelope) -> None:
            calls.append(env.id)
            await u.events.append(f"s-{uuid.uuid4()}", 0, [env])

        env = event()
        assert await apply_once(uow, "c", handler, env) == "applied"
        assert await apply_once(uow, "c", handler, env) == "duplicate"
        assert await apply_once(uow, "other-consumer", handler, event()) == "applied"
        assert calls[:1] == [env.id] and len(calls) == 2

    async def test_snapshots_load_by_schema_version_and_tails_start_after_them(
        self, uow: UowFactory
    ) -> None:
        async with uow() as u:
            for n in range(3):
                await u.events.append(f"s-{n}", 0, [event(f"A{n}", d) for d in (1, 2, 3)])
            snaps = SnapshotStore(u.session, snapshot_tables, default_catalogue(), NOW)
            snaps.stage(Snapshot("s-0", 1, 2, "old"))
            snaps.stage(Snapshot("s-0", 1, 2, "two"))  # the later staging wins
            snaps.stage(Snapshot("s-1", 7, 3, "other encoding"))
            await u.flush()
            await snaps.flush()
            await u.commit()
        async with uow() as u:
            snaps = SnapshotStore(u.session, snapshot_tables, default_catalogue(), NOW)
            found = await snaps.load_many(["s-0", "s-1", "s-2", "none"], 1)
            assert found == {"s-0": Snapshot("s-0", 1, 2, "two")}
            tails = await snaps.tails({"s-0": 2, "s-1": 0, "s-2": 3, "none": 0})
            snaps.stage(Snapshot("s-0", 1, 3, "three"))  # replaces the row, never adds one
            await snaps.flush()
            await u.commit()
        assert [e.data["business_date"] for e in tails["s-0"][0]] == ["2026-03-03"]
        assert tails["s-0"][1] == 3
        assert len(tails["s-1"][0]) == 3 and tails["s-1"][1] == 3
        assert tails["s-2"] == ([], 3) and tails["none"] == ([], 0)
        async with uow() as u:
            snaps = SnapshotStore(u.session, snapshot_tables, default_catalogue(), NOW)
            assert (await snaps.load_many(["s-0"], 1))["s-0"].state == "three"
            rows = await u.session.execute(
                select(func.count()).select_from(snapshot_tables.snapshots)
            )
            assert rows.scalar() == 2

    async def test_positions_are_replaced_per_partition_and_gaps_recorded_once(
        self, uow: UowFactory
    ) -> None:
        a, b = TopicPartition("t", 0), TopicPartition("t", 1)
        async with uow() as u:
            await u.positions.save("c", {a: 5, b: 2})
            await u.positions.save("other", {a: 9})
            await u.commit()
        async with uow() as u:
            await u.positions.save("c", {a: 7})  # one row per partition, replaced
            await u.positions.add_gaps("c", [(a, 3, 5)])
            await u.commit()
        async with uow() as u:
            await u.positions.add_gaps("c", [(a, 3, 5), (b, 0, 1)])  # the first is known
            await u.commit()
        async with uow() as u:
            assert await u.positions.load("c") == {a: 7, b: 2}
            assert await u.positions.load("other") == {a: 9}
            gaps = await u.positions.gaps("c")
            assert [(g.partition, g.from_offset, g.to_offset) for g in gaps] == [
                (0, 3, 5),
                (1, 0, 1),
            ]
            assert gaps[0].detected_at == NOW
            await u.positions.forget("c")
            await u.commit()
        async with uow() as u:
            assert await u.positions.load("c") == {} and await u.positions.gaps("c") == []
            assert await u.positions.load("other") == {a: 9}
