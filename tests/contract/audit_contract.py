"""One contract per audit port (trail, checkpoints, access log, backlog), run against the
SQL repositories (SQLite, PostgreSQL) and the in-memory fakes alike. The trail's is run
through the unit of work's chaining, which is all that writes it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from services.audit.adapters.tables import platform
from services.audit.domain.filters import HistoryFilters
from services.audit.service_layer.unit_of_work import AuditUnitOfWork
from services.registry import migrations_dir
from shared.auth import Principal
from shared.clock import FixedClock
from shared.db import make_engine, make_sessions
from shared.envelope import Envelope
from shared.events import default_catalogue
from shared.migrations import upgrade
from shared.settings import Settings
from tests.fakes.audit import AuditStore, FakeAuditUnitOfWork

NOW = datetime(2026, 3, 5, 12, 0, tzinfo=UTC)
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
Units = Callable[[], Any]
Seed = Callable[[str, dict[str, Any]], Awaitable[None]]
"""Put a row into a platform table ("dead_letters" or "parked") of the store under test."""


async def sql_units(url: str) -> AsyncIterator[tuple[Units, Seed]]:
    """Audit units of work on one freshly migrated database, and its seeder."""
    await asyncio.to_thread(
        upgrade, Settings.load("audit", database_url=url), migrations_dir("audit")
    )
    engine = make_engine(url)
    sessions = make_sessions(engine)

    async def seed(table: str, row: dict[str, Any]) -> None:
        target = getattr(platform, table)
        extra = {"value": b"x", "reason": "r", "attempts": 1, "created_at": NOW, "parked_at": NOW}
        columns = {c.name for c in target.c}
        async with sessions() as session:
            await session.execute(
                insert(target).values(
                    **row, **{k: v for k, v in extra.items() if k in columns and k not in row}
                )
            )
            await session.commit()

    yield (
        lambda: AuditUnitOfWork(sessions, platform, default_catalogue(), FixedClock(NOW)),
        seed,
    )
    await engine.dispose()


def fake_units() -> tuple[Units, Seed]:
    """Audit units of work on one in-memory store, and its seeder."""
    store = AuditStore()

    async def seed(table: str, row: dict[str, Any]) -> None:
        rows: list[dict[str, Any]] = getattr(store, table)
        rows.append({"id": len(rows) + 1, "resolved_at": None, "key": None, **row})

    return lambda: FakeAuditUnitOfWork(store, default_catalogue(), FixedClock(NOW)), seed


def event(n: int, account: str = "A1", personal: bool = False, type_: str = "") -> Envelope:
    """The n-th event: a dispute (personal free text) or a late fee (none)."""
    data: dict[str, Any]
    if personal:
        type_, data = "DebtDisputed", {"debt_id": f"B{n}", "reason": f"call me on 1380000{n:04d}"}
    else:
        type_ = type_ or "LateFeeAccrued"
        data = {
            "bill_id": "B1",
            "currency": "CNY",
            "business_date": "2026-03-01",
            "amount": 50 + n,
            "base": 100_000,
            "daily_rate": "0.0005",
        }
    at = START + timedelta(hours=n)
    return Envelope(
        id=uuid.UUID(int=n + 1),
        type=type_,
        schema_version=1,
        account_id=account,
        occurred_at=at,
        recorded_at=at,
        source="test",
        data=data,
    )


async def chain(units: Units, *envelopes: Envelope, prefetch: bool = True) -> list[Any]:
    """Chain `envelopes` in one committed unit of work; what each append returned."""
    async with units() as uow:
        if prefetch:
            await uow.prefetch(envelopes)
        got = [await uow.append_entry(env) for env in envelopes]
        await uow.commit()
    return got


class TrailContract:
    """Subclasses provide a `units` fixture: (factory of fresh units, seeder) on one store."""

    async def test_chained_entries_read_back_linked_in_order(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        links = await chain(make, event(1), event(2), event(3, "B1"))
        await chain(make, event(4), prefetch=False)
        async with make() as uow:
            history = await uow.trail.history("A1", 0, 10)
            assert [h["seq"] for h in history] == [1, 2, 3]
            assert [h["prev_hash"] for h in history[1:]] == [h["hash"] for h in history[:-1]]
            assert [h["hash"] for h in history[:2]] == [link[1] for link in links[:2]]
            assert history[0]["occurred_at"] == START.replace(hour=10).isoformat()
            assert history[0]["data"]["amount"] == 51
            assert await uow.trail.head("A1") == (3, history[-1]["hash"])
            assert await uow.trail.heads_of(["A1", "NEW"]) == {
                "A1": (3, history[-1]["hash"]),
                "NEW": (0, "0" * 64),
            }
            assert [(a, s) for a, s, _ in await uow.trail.heads()] == [("A1", 3), ("B1", 1)]
            assert await uow.trail.accounts() == ["A1", "B1"]
            assert await uow.trail.has_trail("B1") and not await uow.trail.has_trail("NEW")
            assert await uow.trail.entry_hash("A1", 2) == history[1]["hash"]
            assert await uow.trail.entry_hash("A1", 9) is None
            assert [e["seq"] for e in await uow.trail.stored_entries("A1", 2)] == [1, 2]
            assert len(await uow.trail.links()) == len(await uow.trail.all_entries()) == 4
            assert await uow.trail.verify("A1") is None
            assert await uow.trail.present([str(event(1).id), str(event(9).id)]) == {
                str(event(1).id)
            }

    async def test_an_event_on_the_trail_is_not_chained_again(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        await chain(make, event(1), event(2))
        again, new = await chain(make, event(2), event(3))
        assert again is None and new is not None and new[0] == 3
        assert await chain(make, event(3), prefetch=False) == [None]

    async def test_a_unit_left_uncommitted_chains_nothing(self, units: tuple[Units, Seed]) -> None:
        make, _ = units
        async with make() as uow:
            await uow.prefetch([event(1)])
            await uow.append_entry(event(1))
            await uow.flush()
        async with make() as uow:
            assert not await uow.trail.has_trail("A1")

    async def test_personal_values_kept_beside_the_chain_are_erased_with_the_key(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        await chain(make, event(1, personal=True), event(2), event(3, personal=True))
        async with make() as uow:
            assert await uow.trail.subject_key("A1") is not None
            values = await uow.trail.personal_values("A1", 1, 3)
            assert sorted(values) == [1, 3] and "13800000001" in values[1]["reason"]
            assert await uow.trail.personal_values("A1", 2, 2) == {}
            assert "13800000001" not in str(await uow.trail.history("A1", 0, 9))
            assert await uow.trail.erase_personal_values("A1") == 2
            await uow.commit()
        async with make() as uow:
            assert await uow.trail.subject_key("A1") is None
            assert await uow.trail.personal_values("A1", 1, 3) == {}
            assert await uow.trail.verify("A1") is None  # the commitments still hold

    async def test_a_frozen_trail_is_what_a_restore_leaves(self, units: tuple[Units, Seed]) -> None:
        make, _ = units
        await chain(make, event(1), event(2))
        async with make() as uow:
            await uow.trail.freeze("A1")
            await uow.commit()
        await chain(make, event(3), event(4, "B1"))
        async with make() as uow:
            restored = await uow.trail.restore_frozen()
            await uow.commit()
        assert restored == {str(event(1).id), str(event(2).id)}
        async with make() as uow:
            assert await uow.trail.accounts() == ["A1"]
            assert await uow.trail.head("A1") == (
                2,
                (await uow.trail.history("A1", 1, 1))[0]["hash"],
            )

    async def test_history_pages_and_filters(self, units: tuple[Units, Seed]) -> None:
        make, _ = units
        await chain(make, *(event(n, type_="Other" if n % 2 else "") for n in range(1, 7)))
        async with make() as uow:
            page = await uow.trail.history("A1", 2, 2)
            late_fees = await uow.trail.history(
                "A1", 0, 9, HistoryFilters(types=("LateFeeAccrued",))
            )
            as_of = await uow.trail.history(
                "A1", 0, 9, HistoryFilters(as_of_occurred=START + timedelta(hours=3))
            )
            known = await uow.trail.history(
                "A1", 0, 9, HistoryFilters(as_of_recorded=START + timedelta(hours=2))
            )
            window = await uow.trail.history(
                "A1",
                0,
                9,
                HistoryFilters(
                    occurred_from=START + timedelta(hours=2),
                    occurred_to=START + timedelta(hours=4),
                    source="test",
                ),
            )
            activity = await uow.trail.last_activity("A1")
        assert [h["seq"] for h in page] == [3, 4]
        assert [h["seq"] for h in late_fees] == [2, 4, 6]
        assert [h["seq"] for h in as_of] == [1, 2, 3]
        assert [h["seq"] for h in known] == [1, 2]
        assert [h["seq"] for h in window] == [2, 3]
        assert activity == (6, START + timedelta(hours=6))


class CheckpointsContract:
    """Subclasses provide a `units` fixture: (factory of fresh units, seeder) on one store."""

    async def test_checkpoints_read_back_as_signed_the_newest_last(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        signed = [
            {
                "at": (NOW + timedelta(hours=n)).isoformat(),
                "size": n,
                "root": f"{n:064d}",
                "heads": [["A1", n, "h"]],
                "signature": f"s{n}",
                "public_key": "pk",
            }
            for n in (1, 2)
        ]
        async with make() as uow:
            assert await uow.checkpoints.latest() is None
            for c in signed:
                await uow.checkpoints.save(c)
            await uow.commit()
        async with make() as uow:
            latest = await uow.checkpoints.latest()
            every = await uow.checkpoints.all()
        assert latest is not None
        assert {k: v for k, v in latest.items() if k != "id"} == signed[1]
        assert [(c["at"], c["root"]) for c in every] == [(c["at"], c["root"]) for c in signed]
        assert every[-1]["id"] == latest["id"] and every[0]["id"] < latest["id"]

    async def test_the_last_clean_comparison_is_remembered(self, units: tuple[Units, Seed]) -> None:
        make, _ = units
        state = {
            "lines": 3,
            "lines_sha256": "a" * 64,
            "checkpoint_id": 2,
            "rows_sha256": "b" * 64,
            "verified_at": NOW.isoformat(),
            "signature": "sig",
        }
        async with make() as uow:
            assert await uow.checkpoints.published_compare() is None
            await uow.checkpoints.save_published_compare({**state, "lines": 1})
            await uow.checkpoints.save_published_compare(state)
            await uow.commit()
        async with make() as uow:
            assert await uow.checkpoints.published_compare() == {"id": 1, **state}


class AccessLogContract:
    """Subclasses provide a `units` fixture: (factory of fresh units, seeder) on one store."""

    async def test_accesses_read_back_oldest_first_by_account(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        who = Principal(subject="ann", role="compliance")
        async with make() as uow:
            await uow.access.log(who, "history", "dispute 7", "A1", {"types": ["X"], "at": NOW})
            await uow.access.log(who, "verify", "audit", None, {})
            await uow.access.log(who, "story", "dispute 7", "A1", {})
            await uow.commit()
        async with make() as uow:
            every = await uow.access.entries(0, 10)
            of_a1 = await uow.access.entries(every[0]["id"], 10, "A1")
        assert [e["action"] for e in every] == ["history", "verify", "story"]
        assert every[0]["filters"] == {"at": str(NOW), "types": ["X"]}
        assert (every[0]["at"], every[0]["subject"], every[0]["role"]) == (
            NOW.isoformat(),
            "ann",
            "compliance",
        )
        assert [e["action"] for e in of_a1] == ["story"]


class BacklogContract:
    """Subclasses provide a `units` fixture: (factory of fresh units, seeder) on one store."""

    async def test_missing_records_name_dead_letters_and_what_is_parked_behind(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, seed = units
        where = {"topic": "t", "partition": 0}
        await seed(
            "dead_letters",
            {"consumer": "c", "kind": "poison", "account_id": "A1", "offset": 1, **where},
        )
        await seed(
            "dead_letters",
            {
                "consumer": "c",
                "kind": "undecodable",
                "account_id": None,
                "key": b"B1",
                "offset": 2,
                **where,
            },
        )
        await seed(
            "dead_letters",
            {"consumer": "other", "kind": "poison", "account_id": "A1", "offset": 3, **where},
        )
        await seed("parked", {"consumer": "c", "account_id": "A1", "offset": 4, **where})
        await seed("parked", {"consumer": "c", "account_id": "A1", "offset": 5, **where})
        async with make() as uow:
            every = await uow.backlog.missing_records("c")
            of_b1 = await uow.backlog.missing_records("c", "B1")
            gaps = await uow.backlog.gaps("c")
        assert sorted(every) == ["A1", "B1"]
        assert "1 (poison)" in every["A1"] and "2 records parked behind them" in every["A1"]
        assert "3 (poison)" not in every["A1"]
        assert list(of_b1) == ["B1"] and "2 (undecodable)" in of_b1["B1"]
        assert gaps == {("t", 0, 1), ("t", 0, 2), ("t", 0, 4), ("t", 0, 5)}

    async def test_unpublished_counts_what_the_outbox_holds_for_a_topic(
        self, units: tuple[Units, Seed]
    ) -> None:
        make, _ = units
        async with make() as uow:
            assert await uow.backlog.unpublished("order") == 0
            await uow.outbox.add("order", [event(1), event(2)])
            await uow.outbox.add("else", [event(3)])
            await uow.commit()
        async with make() as uow:
            assert await uow.backlog.unpublished("order") == 2


class AuditPortsContract(TrailContract, CheckpointsContract, AccessLogContract, BacklogContract):
    """Every audit port's contract."""
