"""One contract for the contact ports (account facts, open cases, reminders), run against
the SQL repositories (SQLite, PostgreSQL) and the in-memory fakes alike."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.contact.adapters.tables import platform
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from services.registry import migrations_dir
from shared.catalogue import EventData, new_envelope
from shared.clock import FixedClock
from shared.db import make_engine, make_sessions
from shared.envelope import Envelope
from shared.events import default_catalogue
from shared.events.contact import (
    CallbackAgreed,
    CollectionCaseAssigned,
    CollectionCaseClosed,
    CollectionCaseOpened,
    CollectionCaseReclassified,
    CollectionCaseRouted,
    PromiseToPayKept,
    PromiseToPayMade,
)
from shared.eventstore.inbox import Fact
from shared.migrations import upgrade
from shared.settings import Settings
from tests.fakes.contact import ContactStore, FakeContactUnitOfWork

NOW = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
STALE = NOW - timedelta(hours=1)

Units = Callable[..., Any]
"""Units of work on one store; `units(at)` runs one at another instant."""


async def sql_units(url: str) -> AsyncIterator[Units]:
    """Contact units of work on one freshly migrated database."""
    await asyncio.to_thread(
        upgrade, Settings.load("contact", database_url=url), migrations_dir("contact")
    )
    engine = make_engine(url)
    sessions = make_sessions(engine)
    yield lambda at=NOW: ContactUnitOfWork(sessions, platform, default_catalogue(), FixedClock(at))
    await engine.dispose()


def fake_units() -> Units:
    """Contact units of work on one in-memory store."""
    store = ContactStore()
    return lambda at=NOW: FakeContactUnitOfWork(store, FixedClock(at))


def event(data: EventData, account_id: str = "A1", at: datetime = NOW) -> Envelope:
    """One of contact's events as recorded at `at`."""
    return new_envelope(data, account_id=account_id, occurred_at=at, recorded_at=at, source="c")


def fact(kind: str, account_id: str = "A1", on: date | None = None, **data: Any) -> Fact:
    """A consumed fact as the inbox keeps it."""
    return Fact(
        event_id=str(uuid.uuid4()),
        type=kind,
        account_id=account_id,
        business_date=on,
        data=data,
    )


def opened(account_id: str = "A1", case_id: str = "K1", on: str = "2026-02-20") -> list[Envelope]:
    """A case opened and routed to the agents' queue, as `refresh` records it."""
    return [
        event(
            CollectionCaseOpened(
                case_id=case_id,
                reason="bill overdue",
                bill_id="B1",
                opened_on=date.fromisoformat(on),
            ),
            account_id,
        ),
        event(
            CollectionCaseRouted(
                case_id=case_id, queue="agents", segment="standard", bucket="31-60", reason="opened"
            ),
            account_id,
        ),
    ]


async def with_borrower(units: Units, account_id: str = "A1") -> None:
    async with units() as uow:
        zone = {"time_zone": "Asia/Shanghai", "jurisdiction": "CN", "currency": None}
        await uow.accounts.take_in(fact("AccountOpened", account_id, **zone))
        await uow.commit()


class ContactPortsContract:
    """Every implementation of the contact ports behaves like this; `units` is a fixture."""

    async def test_borrowers_first_report_wins_and_currency_falls_back(self, units: Units) -> None:
        await with_borrower(units)
        async with units() as uow:
            later = {"time_zone": "UTC", "jurisdiction": "US", "currency": "USD"}
            assert not await uow.accounts.take_in(fact("AccountOpened", **later))
            assert await uow.accounts.borrower("A1") == ("Asia/Shanghai", "CN")
            assert await uow.accounts.currency("A1") == "CNY"  # by the rule pack
            assert await uow.accounts.borrower("nobody") is None
            try:
                await uow.accounts.currency("nobody")
            except LookupError:
                pass
            else:
                raise AssertionError("an unknown account has no currency")

    async def test_standings_report_a_bucket_change_and_payments_count_once(
        self, units: Units
    ) -> None:
        day = date(2026, 3, 1)
        async with units() as uow:
            assert await uow.accounts.bucket("A1") is None
            assert await uow.accounts.take_in(fact("X", on=day, bucket="1-30", days_past_due=3))
            assert not await uow.accounts.take_in(
                fact("AccountDayClosed", on=day, bucket="1-30", days_past_due=4)
            )
            paid = fact("PaymentAllocated", on=day, payment_id="P1", amount=5_00)
            await uow.accounts.take_in(paid)
            await uow.accounts.take_in(Fact(str(uuid.uuid4()), paid.type, "A1", day, paid.data))
            await uow.commit()
        async with units() as uow:
            standing = await uow.accounts.standing("A1")
            assert standing is not None
            assert (standing["bucket"], standing["days_past_due"]) == ("1-30", 4)
            assert standing["business_date"] == day
            assert [(p.business_date, p.amount) for p in await uow.accounts.payments("A1")] == [
                (day, 5_00)
            ]

    async def test_a_case_row_follows_its_events_and_is_claimed_once(self, units: Units) -> None:
        await with_borrower(units)
        async with units() as uow:
            await uow.cases.project(opened())
            await uow.commit()
        async with units() as uow:
            row = await uow.cases.row("A1")
            assert row is not None
            assert (row["case_id"], row["queue"], row["segment"]) == ("K1", "agents", "standard")
            assert row["assigned_to"] is None and row["opened_on"] == date(2026, 2, 20)
            assert [r["account_id"] for r in await uow.cases.claimable("agents", STALE, 10)] == [
                "A1"
            ]
            assert await uow.cases.take("A1", "K1", "alice", STALE)
            assert not await uow.cases.take("A1", "K1", "bob", STALE)
            assert not await uow.cases.take("A1", "other-case", "bob", STALE)
            await uow.cases.project(
                [event(CollectionCaseAssigned(case_id="K1", queue="agents", agent="alice"))]
            )
            assert await uow.cases.held_by("alice", STALE) == 1
            assert await uow.cases.claimable("agents", STALE, 10) == []
            assert await uow.cases.agent_loads() == {"alice": 1}
            assert await uow.cases.queue_counts(STALE) == {
                "agents": {"open": 1, "unassigned": 0, "ready": 0}
            }
            await uow.commit()
        # Two hours on, alice's claim is stale: the case is free for anyone again.
        async with units(NOW + timedelta(hours=2)) as uow:
            later = NOW + timedelta(minutes=61)
            assert await uow.cases.held_by("alice", later) == 0
            assert len(await uow.cases.claimable("agents", later, 10)) == 1

    async def test_reclassified_rerouted_and_closed(self, units: Units) -> None:
        async with units() as uow:
            await uow.cases.project(opened())
            moved = CollectionCaseReclassified(
                case_id="K1", queue="agents", segment="hardship", bucket="61-90", reason="r"
            )
            # An event of another case (a stale one) changes nothing.
            stale = CollectionCaseReclassified(
                case_id="K0", queue="agents", segment="dispute", bucket="x", reason="r"
            )
            await uow.cases.project([event(moved), event(stale)])
            row = await uow.cases.row("A1")
            assert row is not None and (row["segment"], row["bucket"]) == ("hardship", "61-90")
            await uow.cases.project(
                [
                    event(CollectionCaseAssigned(case_id="K1", queue="agents", agent="alice")),
                    event(
                        CollectionCaseRouted(
                            case_id="K1",
                            queue="senior",
                            segment="hardship",
                            bucket="61-90",
                            reason="r",
                        )
                    ),
                ]
            )
            row = await uow.cases.row("A1")
            assert row is not None and (row["queue"], row["assigned_to"]) == ("senior", None)
            await uow.cases.project(
                [event(CollectionCaseClosed(case_id="K1", reason="cured", closed_on=None))]
            )
            assert await uow.cases.row("A1") is None

    async def test_promises_and_callbacks_set_the_next_action(self, units: Units) -> None:
        await with_borrower(units)
        async with units() as uow:
            await uow.cases.project(opened())
            made = PromiseToPayMade(
                promise_id="PR1",
                case_id="K1",
                amount=1_00,
                currency="CNY",
                made_on=date(2026, 3, 1),
                due_on=date(2026, 3, 3),
                made_by="alice",
            )
            await uow.cases.project([event(made)])
            row = await uow.cases.row("A1")
            assert row is not None
            # Midnight after the due date in Shanghai.
            assert row["next_action_at"] == datetime(2026, 3, 3, 16, 0, tzinfo=UTC)
            assert await uow.cases.claimable("agents", STALE, 10) == []
            assert await uow.cases.queue_counts(STALE) == {
                "agents": {"open": 1, "unassigned": 1, "ready": 0}
            }
            kept = PromiseToPayKept(
                promise_id="PR1", case_id="K1", paid=1_00, business_date=date(2026, 3, 2)
            )
            await uow.cases.project([event(kept)])
            assert len(await uow.cases.claimable("agents", STALE, 10)) == 1
            slot = datetime(2026, 3, 1, 22, 0, tzinfo=UTC)
            await uow.cases.project(
                [event(CallbackAgreed(exception_id="cb-1", slot_start=slot, channel="call"))]
            )
            row = await uow.cases.row("A1")
            assert row is not None and row["next_action_at"] == slot

    async def test_uncommitted_work_is_not_kept(self, units: Units) -> None:
        async with units() as uow:
            await uow.cases.project(opened())
            await uow.reminders.schedule(
                ("A1", "B1", date(2026, 3, 5), "due_soon"), amount_due=1, currency="CNY"
            )
        async with units() as uow:
            assert await uow.cases.row("A1") is None
            assert await uow.reminders.of("A1") == []

    async def test_reminders_are_scheduled_once_skipped_and_due_oldest_first(
        self, units: Units
    ) -> None:
        first = ("A1", "B1", date(2026, 3, 5), "due_soon")
        second = ("A2", "B2", date(2026, 3, 4), "overdue")
        async with units(NOW - timedelta(minutes=5)) as uow:
            assert await uow.reminders.schedule(first, amount_due=10_00, currency="CNY")
            await uow.commit()
        async with units() as uow:
            assert not await uow.reminders.schedule(first, amount_due=1, currency="CNY")
            assert await uow.reminders.schedule(second, amount_due=20_00, currency="CNY")
            assert await uow.reminders.due(10) == [first, second]
            assert await uow.reminders.due(1) == [first]
            assert await uow.reminders.has_pending("A1", "B1")
            await uow.reminders.skip_pending("A1", ["B1"], "paid")
            assert not await uow.reminders.has_pending("A1", "B1")
            await uow.reminders.update(second, tries=1, next_try_at=NOW + timedelta(hours=1))
            assert await uow.reminders.due(10) == []
            got = await uow.reminders.get(first)
            assert got is not None and (got["status"], got["last_reason"]) == ("skipped", "paid")
            assert got["amount_due"] == 10_00
            both = await uow.reminders.of("A1")
            assert [r["bill_id"] for r in both] == ["B1"]
            assert await uow.reminders.get(("A9", "B9", date(2026, 1, 1), "x")) is None
