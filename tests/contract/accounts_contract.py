"""One contract per accounts port (accounts, book of closes, submission log), run against
the SQL repositories (SQLite, PostgreSQL) and the in-memory fakes alike."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pytest

from services.accounts.adapters.tables import platform
from services.accounts.service_layer.ports import AccountRepository, BookCloses, SubmissionLog
from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from services.registry import migrations_dir
from shared.catalogue import EventData, new_envelope
from shared.clock import FixedClock
from shared.db import make_engine, make_sessions
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.events import default_catalogue
from shared.events.inbound import AccountOpened, BillIssued, BusinessDayClosed
from shared.migrations import upgrade
from shared.settings import Settings
from tests.fakes.accounts import AccountsStore, FakeAccountsUnitOfWork

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class Unit(Protocol):
    """What the contracts use of a unit of work: its repositories and its commit."""

    accounts: AccountRepository
    book: BookCloses
    submissions: SubmissionLog

    async def __aenter__(self) -> Unit: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...


Units = Callable[[], Any]


async def sql_units(url: str) -> AsyncIterator[Units]:
    """Accounts units of work on one freshly migrated database."""
    await asyncio.to_thread(
        upgrade, Settings.load("accounts", database_url=url), migrations_dir("accounts")
    )
    engine = make_engine(url)
    sessions = make_sessions(engine)
    yield lambda: AccountsUnitOfWork(sessions, platform, default_catalogue(), FixedClock(NOW))
    await engine.dispose()


def fake_units() -> Units:
    """Accounts units of work on one in-memory store."""
    store = AccountsStore()
    return lambda: FakeAccountsUnitOfWork(store, FixedClock(NOW))


def fact(data: EventData, account_id: str = "A1", source: str = "lender-a") -> Envelope:
    """An event as an account's stream stores it (stamped as recorded)."""
    return new_envelope(
        data, account_id=account_id, occurred_at=NOW, recorded_at=NOW, source=source
    )


def opened(account_id: str = "A1", source: str = "lender-a") -> Envelope:
    """An AccountOpened of `account_id` by `source`."""
    data = AccountOpened(
        customer_id=f"c-{account_id}",
        product="consumer_credit",
        currency="CNY",
        time_zone="Asia/Shanghai",
    )
    return fact(data, account_id, source)


def bill(account_id: str = "A1", bill_id: str = "B1") -> Envelope:
    """A BillIssued of 100 yuan due on 10 March."""
    data = BillIssued(
        bill_id=bill_id,
        currency="CNY",
        principal=100_00,
        issued_on=date(2026, 3, 1),
        due_date=date(2026, 3, 10),
    )
    return fact(data, account_id)


def star(day: int) -> Envelope:
    """A close of every account on 2026-03-`day`."""
    return fact(BusinessDayClosed(business_date=date(2026, 3, day)), "*")


async def open_accounts(units: Units, *pairs: tuple[str, str]) -> None:
    """Open (account, opener) pairs in one committed transaction."""
    async with units() as uow:
        for account_id, source in pairs:
            await uow.accounts.add(await uow.accounts.get(account_id), [opened(account_id, source)])
        await uow.commit()


class AccountRepositoryContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_an_account_never_opened_has_no_customer_and_no_version(
        self, units: Units
    ) -> None:
        async with units() as uow:
            account = await uow.accounts.get("NEW")
        assert (account.opened, account.version) == (False, 0)

    async def test_added_events_load_back_in_the_next_transaction(self, units: Units) -> None:
        async with units() as uow:
            account = await uow.accounts.get("A1")
            await uow.accounts.add(account, [opened()])
            await uow.accounts.add(account, [bill()])
            assert account.version == 2
            assert await uow.accounts.get("A1") is account  # one object per transaction
            await uow.commit()
        async with units() as uow:
            again = await uow.accounts.get("A1")
        assert (again.opened, again.version, again.customer_id) == (True, 2, "c-A1")
        assert list(again.bills) == ["B1"]

    async def test_what_a_transaction_stages_its_own_reads_see(self, units: Units) -> None:
        async with units() as uow:
            await uow.accounts.add(await uow.accounts.get("A1"), [opened(source="lender-b")])
            assert await uow.accounts.opened_by("A1") == "lender-b"
            entry = await uow.accounts.index_entry("A1")
            assert entry is not None and entry[1] == "lender-b"
            assert await uow.accounts.owners(["A1", "NOPE"]) == {"A1": "lender-b"}
            assert [e.type for e in await uow.accounts.history("A1", ["AccountOpened"], 0, 9)] == [
                "AccountOpened"
            ]

    async def test_a_transaction_left_uncommitted_leaves_nothing(self, units: Units) -> None:
        async with units() as uow:
            await uow.accounts.add(await uow.accounts.get("A1"), [opened()])
        async with units() as uow:
            assert (await uow.accounts.get("A1")).version == 0
            assert await uow.accounts.opened_by("A1") is None

    async def test_a_writer_whose_account_another_advanced_gets_a_concurrency_error(
        self, units: Units
    ) -> None:
        await open_accounts(units, ("A1", "lender-a"))
        async with units() as late:
            stale = await late.accounts.get("A1")
            async with units() as first:
                await first.accounts.add(await first.accounts.get("A1"), [bill(bill_id="B1")])
                await first.commit()
            await late.accounts.add(stale, [bill(bill_id="B2")])
            with pytest.raises(ConcurrencyError):
                await late.commit()
        async with units() as uow:
            assert list((await uow.accounts.get("A1")).bills) == ["B1"]

    async def test_history_pages_the_events_of_the_given_types_in_stream_order(
        self, units: Units
    ) -> None:
        async with units() as uow:
            bills = [bill(bill_id=f"B{i}") for i in range(5)]
            await uow.accounts.add(await uow.accounts.get("A1"), [opened(), *bills])
            await uow.commit()
        async with units() as uow:
            page = await uow.accounts.history("A1", ["BillIssued"], 1, 3)
            assert [e.id for e in page] == [e.id for e in bills[1:4]]
            assert await uow.accounts.history("A1", ["PaymentReceived"], 0, 9) == []

    async def test_id_pages_are_every_opened_account_in_id_order_of_one_opener_or_all(
        self, units: Units
    ) -> None:
        await open_accounts(units, ("C", "a"), ("A", "b"), ("E", "a"), ("B", "a"), ("D", "b"))
        async with units() as uow:
            every = [page async for page in uow.accounts.id_pages(2)]
            of_a = [page async for page in uow.accounts.id_pages(2, "a")]
        assert every == [["A", "B"], ["C", "D"], ["E"]]
        assert of_a == [["B", "C"], ["E"]]


class BookClosesContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_a_date_of_a_scope_is_booked_once(self, units: Units) -> None:
        async with units() as uow:
            assert await uow.book.record("", date(2026, 3, 5), star(5))
            assert not await uow.book.record("", date(2026, 3, 5), star(5))
            assert await uow.book.record("lender-a", date(2026, 3, 5), star(5))
            await uow.commit()
        async with units() as uow:
            assert not await uow.book.record("", date(2026, 3, 5), star(5))

    async def test_bounds_and_spans_of_the_book_by_scope(self, units: Units) -> None:
        closes = {("", 3): star(3), ("", 7): star(7), ("b", 5): star(5), ("b", 9): star(9)}
        async with units() as uow:
            assert await uow.book.bounds() == {}
            for (scope, day), env in closes.items():
                await uow.book.record(scope, date(2026, 3, day), env)
            await uow.commit()
        async with units() as uow:
            assert await uow.book.bounds() == {
                "": (date(2026, 3, 3), date(2026, 3, 7)),
                "b": (date(2026, 3, 5), date(2026, 3, 9)),
            }
            span = await uow.book.span(["", "b"], date(2026, 3, 4), date(2026, 3, 9))
            assert span is not None
            first, last = span
            assert (first.business_date, first.event.id) == (date(2026, 3, 5), closes["b", 5].id)
            assert (last.business_date, last.event.id) == (date(2026, 3, 7), closes["", 7].id)
            whole = await uow.book.span([""], date(2026, 3, 1))
            assert whole is not None and [c.business_date.day for c in whole] == [3, 7]
            assert await uow.book.span(["b"], date(2026, 3, 10)) is None


class SubmissionLogContract:
    """Subclasses provide a `units` fixture: a factory of fresh units on one empty store."""

    async def test_the_latest_outcome_of_each_event_is_kept_per_submitter(
        self, units: Units
    ) -> None:
        async with units() as uow:
            await uow.submissions.record("int-1", [("e1", "rejected", "bad amount")])
            await uow.submissions.record("int-1", [("e2", "duplicate", None)])
            await uow.commit()
        async with units() as uow:
            await uow.submissions.record(
                "int-1", [("e1", "accepted", None), ("e2", "duplicate", None)]
            )
            await uow.commit()
        async with units() as uow:
            e1 = await uow.submissions.get("int-1", "e1")
            e2 = await uow.submissions.get("int-1", "e2")
            assert await uow.submissions.get("int-2", "e1") is None
        assert e1 is not None and (e1["status"], e1["reason"]) == ("accepted", None)
        # A duplicate of nothing recorded was accepted elsewhere; of a record, changes nothing.
        assert e2 is not None and (e2["status"], e2["submitted_at"]) == (
            "accepted",
            NOW.isoformat(),
        )

    async def test_a_reason_is_kept_redacted(self, units: Units) -> None:
        async with units() as uow:
            await uow.submissions.record("int-1", [("e1", "rejected", "call 13812345678")])
            await uow.commit()
        async with units() as uow:
            row = await uow.submissions.get("int-1", "e1")
        assert row is not None and "13812345678" not in str(row["reason"])

    async def test_list_pages_one_submitters_outcomes_by_status(self, units: Units) -> None:
        async with units() as uow:
            await uow.submissions.record(
                "int-1", [(f"e{i}", "rejected" if i % 2 else "accepted", None) for i in range(6)]
            )
            await uow.submissions.record("int-2", [("x", "accepted", None)])
            await uow.commit()
        async with units() as uow:
            rejected = await uow.submissions.list("int-1", "rejected", 0, 10)
            page = await uow.submissions.list("int-1", None, 2, 3)
        assert [r["event_id"] for r in rejected] == ["e1", "e3", "e5"]
        assert [r["event_id"] for r in page] == ["e2", "e3", "e4"]


class AccountsPortsContract(AccountRepositoryContract, BookClosesContract, SubmissionLogContract):
    """Every accounts port's contract."""
