"""One contract per plans port (plan streams, read models and inbox, evidence records),
run against the SQL repositories (SQLite, PostgreSQL) and the in-memory fakes alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest

from services.plans.adapters.tables import platform
from services.plans.domain.plan import Actor, Evidence, Plan
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from services.registry import migrations_dir
from shared.catalogue import EventData, new_envelope
from shared.clock import FixedClock
from shared.db import make_engine, make_sessions
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.events import default_catalogue
from shared.eventstore.inbox import Fact
from shared.migrations import upgrade
from shared.settings import Settings
from tests.fakes.plans import FakePlansUnitOfWork, PlansStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TODAY = date(2026, 3, 1)
AGENT = Actor("agent-1", "agent")

Units = Callable[[], Any]


async def sql_units(url: str) -> AsyncIterator[Units]:
    """Plans units of work on one freshly migrated database."""
    await asyncio.to_thread(
        upgrade, Settings.load("plans", database_url=url), migrations_dir("plans")
    )
    engine = make_engine(url)
    sessions = make_sessions(engine)
    yield lambda: PlansUnitOfWork(sessions, platform, default_catalogue(), FixedClock(NOW))
    await engine.dispose()


def fake_units() -> Units:
    """Plans units of work on one in-memory store."""
    store = PlansStore()
    return lambda: FakePlansUnitOfWork(store, FixedClock(NOW))


def stamped(events: list[EventData], account_id: str = "A1") -> list[Envelope]:
    """Events as a plan's stream stores them."""
    return [
        new_envelope(e, account_id=account_id, occurred_at=NOW, recorded_at=NOW, source="plans")
        for e in events
    ]


def requested(plan_id: str = "P1", account_id: str = "A1") -> tuple[Plan, list[Envelope]]:
    """A deferral just requested, and its event."""
    plan, events = Plan.request(
        plan_id=plan_id,
        account_id=account_id,
        plan_type="deferral",
        by=AGENT,
        channel="phone",
        on=TODAY,
    )
    return plan, stamped(events, account_id)


def plan_row(plan_id: str, account_id: str = "A1", **changes: Any) -> dict[str, Any]:
    """A plan's index row, requested today."""
    row: dict[str, Any] = {
        "plan_id": plan_id,
        "account_id": account_id,
        "plan_type": "deferral",
        "state": "requested",
        "requested_on": TODAY,
        "activated_on": None,
        "ended_on": None,
        "offer_basis": None,
    }
    return {**row, **changes}


def standing(account_id: str = "A1", day: int = 1, **changes: Any) -> dict[str, Any]:
    """An account's standing at its close of 2026-03-`day`."""
    row: dict[str, Any] = {
        "account_id": account_id,
        "business_date": date(2026, 3, day),
        "bucket": "31-60",
        "days_past_due": 40,
        "balances": {"principal": 300_000, "late_fee": 4_200},
        "overdue": {"principal": 100_000, "late_fee": 4_200},
        "deferral_months_used": 0,
        "moved_since_close": False,
    }
    return {**row, **changes}


def close(event_id: str, account_id: str, day: int, **data: Any) -> Fact:
    """A day close as the inbox keeps it (`data`: the standing, if the close had one)."""
    return Fact(event_id, "AccountDayClosed", account_id, date(2026, 3, day), data)


class PlanRepositoryContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_a_plan_never_requested_is_none(self, units: Units) -> None:
        async with units() as uow:
            assert await uow.plans.get("A1", "P1") is None

    async def test_added_events_load_back_in_the_next_transaction(self, units: Units) -> None:
        async with units() as uow:
            plan, envelopes = requested()
            await uow.plans.add(plan, envelopes)
            assert await uow.plans.get("A1", "P1") is plan  # one object per transaction
            await uow.commit()
        async with units() as uow:
            again = await uow.plans.get("A1", "P1")
            assert await uow.plans.get("A2", "P1") is None  # another account's plan
        assert again is not None and (again.state, again.version) == ("requested", 1)

    async def test_a_transaction_left_uncommitted_leaves_nothing(self, units: Units) -> None:
        async with units() as uow:
            await uow.plans.add(*requested())
        async with units() as uow:
            assert await uow.plans.get("A1", "P1") is None

    async def test_a_writer_whose_plan_another_advanced_gets_a_concurrency_error(
        self, units: Units
    ) -> None:
        async with units() as uow:
            await uow.plans.add(*requested())
            await uow.commit()
        async with units() as late:
            stale = await late.plans.get("A1", "P1")
            async with units() as first:
                plan = await first.plans.get("A1", "P1")
                await first.plans.add(plan, stamped(plan.cancel(by=AGENT, on=TODAY, reason="a")))
                await first.commit()
            await late.plans.add(stale, stamped(stale.cancel(by=AGENT, on=TODAY, reason="b")))
            with pytest.raises(ConcurrencyError):
                await late.commit()
        async with units() as uow:
            events = await uow.plans.stream("P1")
        assert [e.data.get("reason") for e, _ in events] == [None, "a"]

    async def test_a_stream_gives_each_event_with_the_plan_it_left(self, units: Units) -> None:
        async with units() as uow:
            plan, envelopes = requested()
            cancelled = stamped(plan.cancel(by=AGENT, on=TODAY, reason="duplicate"))
            await uow.plans.add(plan, [*envelopes, *cancelled])
            await uow.commit()
        async with units() as uow:
            await uow.plans.prefetch(["P1", "P2"])
            stream = await uow.plans.stream("P1")
            assert await uow.plans.stream("P2") == []
        assert [(e.type, p.state, p.version) for e, p in stream] == [
            ("PlanRequested", "requested", 1),
            ("PlanCancelled", "cancelled", 2),
        ]


class ReadModelsContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_an_opened_account_is_known_from_its_own_transaction_on(
        self, units: Units
    ) -> None:
        async with units() as uow:
            assert await uow.models.known_account("A1") is None
            await uow.models.add_known_account("A1", "CNY", "cash_loan")
            known = await uow.models.known_account("A1")
            assert (known["currency"], known["product"]) == ("CNY", "cash_loan")
        async with units() as uow:
            assert await uow.models.known_account("A1") is None  # never committed
            await uow.models.add_known_account("A1", "CNY", None)
            await uow.commit()
        async with units() as uow:
            known = await uow.models.known_account("A1")
        assert known is not None and (known["currency"], known["product"]) == ("CNY", None)

    async def test_a_standing_is_replaced_whole_and_reads_back_decoded(self, units: Units) -> None:
        async with units() as uow:
            assert await uow.models.standing("A1") is None
            await uow.models.put_standing(standing(day=1))
            await uow.models.put_standing(standing("A2", day=1))
            await uow.commit()
        async with units() as uow:
            await uow.models.put_standing(standing(day=2, bucket="61-90", moved_since_close=True))
            await uow.commit()
        async with units() as uow:
            await uow.models.prefetch(["A1", "A2", "A3"])
            a1, a2 = await uow.models.standing("A1"), await uow.models.standing("A2")
            assert await uow.models.standing("A3") is None
        assert a1 == standing(day=2, bucket="61-90", moved_since_close=True)
        assert a2 == standing("A2", day=1)

    async def test_plan_rows_of_an_account_and_a_page_newest_first(self, units: Units) -> None:
        async with units() as uow:
            await uow.models.put_plan(plan_row("P1", requested_on=date(2026, 3, 1)))
            await uow.models.put_plan(plan_row("P2", requested_on=date(2026, 3, 3)))
            await uow.models.put_plan(plan_row("P3", requested_on=date(2026, 3, 3)))
            await uow.models.put_plan(plan_row("Q1", "A2"))
            await uow.commit()
        async with units() as uow:
            p1 = await uow.models.plan("P1")
            assert p1 is not None
            await uow.models.put_plan({**p1, "state": "active", "activated_on": TODAY})
            assert {r["plan_id"] for r in await uow.models.plans("A1")} == {"P1", "P2", "P3"}
            assert await uow.models.plan("NOPE") is None
            await uow.commit()
        async with units() as uow:
            page = await uow.models.page("A1", offset=1, limit=2)
            whole = await uow.models.page("A1", offset=0, limit=9)
            assert [r["plan_id"] for r in await uow.models.plans("A2")] == ["Q1"]
        assert [r["plan_id"] for r in page] == ["P3", "P1"]
        assert whole[2] == plan_row("P1", state="active", activated_on=TODAY)

    async def test_a_row_read_before_another_writer_set_its_basis_keeps_that_basis(
        self, units: Units
    ) -> None:
        async with units() as uow:
            await uow.models.put_plan(plan_row("P1", state="offered"))
            await uow.commit()
        async with units() as late:
            stale = await late.models.plan("P1")
            async with units() as first:
                await first.models.put_plan(plan_row("P1", state="offered", offer_basis="b1"))
                await first.commit()
            await late.models.put_plan({**stale, "state": "expired", "ended_on": TODAY})
            await late.commit()
        async with units() as uow:
            row = await uow.models.plan("P1")
        assert row == plan_row("P1", state="expired", ended_on=TODAY, offer_basis="b1")

    async def test_what_a_transaction_changed_survives_a_later_prefetch(self, units: Units) -> None:
        async with units() as uow:
            await uow.models.put_plan(plan_row("P1"))
            await uow.models.put_standing(standing())
            await uow.commit()
        async with units() as uow:
            await uow.models.put_plan(plan_row("P1", state="cancelled", ended_on=TODAY))
            await uow.models.put_plan(plan_row("P2"))
            await uow.models.put_standing(standing(moved_since_close=True))
            await uow.models.prefetch(["A1"], ["P1"])
            rows = {r["plan_id"]: r["state"] for r in await uow.models.plans("A1")}
            moved = (await uow.models.standing("A1"))["moved_since_close"]
        assert (rows, moved) == ({"P1": "cancelled", "P2": "requested"}, True)

    async def test_bills_of_a_plan_add_up_across_transactions(self, units: Units) -> None:
        async with units() as uow:
            assert await uow.models.bills("P1") == []
            await uow.models.add_bills("P1", ["B1", "B2"])
            await uow.commit()
        async with units() as uow:
            await uow.models.prefetch(["A1"], ["P1", "P2"])
            await uow.models.add_bills("P1", ["B3"])
            assert sorted(await uow.models.bills("P1")) == ["B1", "B2", "B3"]
            assert await uow.models.bills("P2") == []
            await uow.commit()
        async with units() as uow:
            assert sorted(await uow.models.bills("P1")) == ["B1", "B2", "B3"]

    async def test_the_inbox_gives_closes_and_facts_back_in_the_order_noted(
        self, units: Units
    ) -> None:
        kept = {"bucket": "31-60", "balances": {"principal": 1}}
        basis = Fact("b1", "PlanOfferBasis", "A1", None, {"plan_id": "P1", "basis": "x"})
        async with units() as uow:
            await uow.models.note(close("c1", "A1", 5))  # a close without a standing
            await uow.models.note(close("c2", "A1", 5, **kept))
            await uow.models.note(close("c3", "A1", 5, **kept))
            await uow.models.note(basis)
            await uow.commit()
        async with units() as uow:
            await uow.models.note(close("c4", "A2", 5, **kept))
            found = await uow.models.close("c4")  # this transaction's own fact
            first = await uow.models.first_close("A1", date(2026, 3, 5))
            assert await uow.models.first_close("A1", date(2026, 3, 6)) is None
            assert await uow.models.close("nope") is None
            assert await uow.models.facts("PlanOfferBasis", "A1") == [basis]
            assert await uow.models.facts("PlanOfferBasis", "A2") == []
        assert found == close("c4", "A2", 5, **kept)
        assert first == close("c2", "A1", 5, **kept)


class EvidenceRecordsContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_a_document_is_noted_once_per_account(self, units: Units) -> None:
        pdf = Evidence("ab" * 32, "application/pdf", 1000, "unemployment")
        png = Evidence("0c" * 32, "image/png", 10, "medical")
        async with units() as uow:
            assert await uow.documents.remember("A1", pdf, "agent-1")
            assert not await uow.documents.remember("A1", pdf, "agent-2")
            assert await uow.documents.remember("A1", png, "agent-1")
            await uow.commit()
        async with units() as uow:
            assert await uow.documents.get("A1", pdf.sha256) == pdf
            assert await uow.documents.get("A2", pdf.sha256) is None
            listed = await uow.documents.list("A1")
            assert await uow.documents.list("A2") == []
        assert [(r["sha256"], r["received_by"]) for r in listed] == [
            (png.sha256, "agent-1"),
            (pdf.sha256, "agent-1"),
        ]


class PlansPortsContract(PlanRepositoryContract, ReadModelsContract, EvidenceRecordsContract):
    """Every plans port's contract."""
