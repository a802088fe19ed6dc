"""A close of every account (`*`) covers every account opened on or before its date,
whenever the opening is applied (issue 13): the book remembers each date it closed, an
account applied after the fan-out catches up the closes it missed, and every ordering ends
with exactly one close per account per date."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from services.accounts.service_layer.unit_of_work import ALL_ACCOUNTS
from tests.support import (
    auth,
    bill,
    day_closed,
    eventually,
    ingest,
    opened,
    payment,
    running_stack,
    settings_for,
)
from tests.unit.book_kit import (
    Book,
    at_day,
    by,
    contiguous,
    day,
    payload,
    runtime_at,
    star,
)


async def test_an_account_applied_after_closes_of_later_dates_catches_up_every_one(
    tmp_path: Path,
) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        await book.apply(opened("ON"), bill("ON", "B1", due="2026-03-04", principal=1000_00))
        stars = [star(n) for n in range(2, 16)]
        for s in stars:
            await book.apply(s)
            await book.drain()
        # The account on a slow partition: opened on 03-01, but applied only now,
        # after every fan-out read the index without it.
        await book.apply(opened("LATE"), bill("LATE", "B1", due="2026-03-04", principal=1000_00))
        (catch_up,) = await book.new_messages()
        # It is the close the fan-out of the latest `*` would have given it: same id, same
        # fields, so a fan-out that did reach it too (a redelivery) is the same message.
        latest = stars[-1]
        assert catch_up.id == uuid.uuid5(uuid.UUID(latest["id"]), "LATE")
        assert str(catch_up.causation_id) == latest["id"]
        await book.apply(catch_up)
        await book.drain()

        expected = contiguous(day(2), day(15))
        assert await book.closes("LATE") == expected == await book.closes("ON")
        assert await book.late_fee_days("LATE") == await book.late_fee_days("ON")
        assert await book.state("LATE") == await book.state("ON")
        assert [d for _, d, _ in await book.book()] == [day(n) for n in range(2, 16)]
    finally:
        await book.runtime.engine.dispose()


async def test_through_the_service_an_account_opened_after_a_close_of_every_account_closes(
    tmp_path: Path,
) -> None:
    """The issue's run in small, over HTTP, the relay and the inbound consumer: the `*`
    close is applied before the opening it covers."""
    settings = {"accounts": settings_for("accounts", tmp_path)}
    agent = auth(settings["accounts"], "agent")
    async with running_stack(settings) as http:
        await ingest(http, opened("EARLY"), bill("EARLY", "B1", due="2026-03-10"))
        await ingest(http, day_closed("2026-03-09"))
        await ingest(http, day_closed("2026-03-12"))
        await ingest(http, opened("LATE"), bill("LATE", "B1", due="2026-03-10"))
        for account in ("EARLY", "LATE"):
            await eventually(
                lambda account=account: http["accounts"].get(
                    f"/v1/accounts/{account}", headers=agent
                ),
                lambda r: r.json()["last_closed_business_date"] == "2026-03-12",
            )
        early, late = [
            (await http["accounts"].get(f"/v1/accounts/{a}", headers=agent)).json()
            for a in ("EARLY", "LATE")
        ]
        delinquency = [
            (await http["accounts"].get(f"/v1/accounts/{a}/delinquency", headers=agent)).json()
            for a in ("EARLY", "LATE")
        ]
    assert late["days_past_due"] == early["days_past_due"] == 2
    assert late["balances"] == early["balances"]
    fees = [[e for e in d["entries"] if e["type"] == "LateFeeAccrued"] for d in delinquency]
    assert len(fees[0]) == len(fees[1]) == 2


async def test_a_late_account_closes_the_days_before_its_later_dated_payment_first(
    tmp_path: Path,
) -> None:
    """Its payment of 03-12 was queued on its partition before the catch-up close: the
    days the book closed before it close first, so it is not taken for an on-time payment
    on a bill whose late fees of 03-05..03-11 were never charged."""
    book = Book(await runtime_at(tmp_path))
    pay = at_day(payment("X", "P1", 300_00, paid_at="2026-03-12T10:00:00+08:00"), 12)
    try:
        await book.apply(opened("ON"), bill("ON", "B1", due="2026-03-04", principal=1000_00))
        for n in range(2, 21):
            if n == 12:
                await book.apply({**pay, "id": str(uuid.uuid4()), "account_id": "ON"})
            await book.apply(star(n))
            await book.drain()
        # LATE's partition: its opening, its bill, its payment, all applied after the closes.
        await book.apply(opened("LATE"), bill("LATE", "B1", due="2026-03-04", principal=1000_00))
        await book.apply({**pay, "account_id": "LATE"})
        await book.drain()
        assert await book.closes("LATE") == contiguous(day(2), day(20)) == await book.closes("ON")
        assert await book.late_fee_days("LATE") == await book.late_fee_days("ON")
        assert await book.state("LATE") == await book.state("ON")
    finally:
        await book.runtime.engine.dispose()


async def test_a_catch_up_longer_than_the_cap_closes_in_several_transactions_each_date_once(
    tmp_path: Path,
) -> None:
    book = Book(await runtime_at(tmp_path, day_close_max_catch_up_days=3))
    try:
        for n in (2, 9, 17):
            await book.apply(star(n))
        await book.apply(opened("LATE"), bill("LATE", "B1", due="2026-03-05", principal=1000_00))
        await book.drain()
        assert await book.closes("LATE") == contiguous(day(2), day(17))
        fees = await book.late_fee_days("LATE")
        assert len(fees) == len(set(fees)) == 12  # 03-06..03-17, once each
        continued = [e for e in await book.queued() if e.data.get("business_date") == "2026-03-17"]
        assert len(continued) > 2  # the catch-up went on in several transactions
    finally:
        await book.runtime.engine.dispose()


async def test_the_catch_up_starts_at_the_first_close_on_or_after_the_opening_date(
    tmp_path: Path,
) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        for n in (3, 6, 10):
            await book.apply(star(n))
        # Opened on 03-07: the closes of 03-03 and 03-06 were not its; 03-10 was.
        await book.apply(at_day(opened("L7"), 7))
        # Opened on 03-11: no close covers it yet, so nothing is queued for it.
        await book.apply(at_day(opened("L11"), 11))
        await book.drain()
        assert await book.closes("L7") == contiguous(day(10), day(10))
        assert await book.closes("L11") == []
        await book.apply(star(12))
        await book.drain()
        assert await book.closes("L7") == contiguous(day(10), day(12))
        assert await book.closes("L11") == [day(12)]  # its first close, as ever
    finally:
        await book.runtime.engine.dispose()


async def test_an_opening_the_fan_out_saw_gets_its_close_and_no_catch_up(tmp_path: Path) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        await book.apply(opened("A"), star(5))  # one run: the fan-out reads A in the index
        await book.apply(star(6), opened("B"))  # one run: B reads the book the fan-out wrote
        messages = await book.new_messages()
        assert sorted((e.account_id, e.data["business_date"]) for e in messages) == [
            ("A", "2026-03-05"),
            ("A", "2026-03-06"),
            ("B", "2026-03-06"),
        ]
        for env in messages:
            await book.apply(env)
        await book.drain()
        assert await book.closes("A") == [day(5), day(6)]
        assert await book.closes("B") == [day(5), day(6)]  # the book's first covers it too
    finally:
        await book.runtime.engine.dispose()


async def test_an_integrators_close_catches_up_only_its_own_late_accounts(tmp_path: Path) -> None:
    book = Book(await runtime_at(tmp_path, integrator_account_scoping=True))
    try:
        await book.apply(by(opened("SA1"), "lender-a"), by(opened("SB1"), "lender-b"))
        await book.apply(star(5, by="lender-b"))  # lender-b's accounts only
        await book.apply(star(7))  # the platform's: every account
        await book.drain()
        assert [(scope, d) for scope, d, _ in await book.book()] == [
            ("lender-b", day(5)),
            (ALL_ACCOUNTS, day(7)),
        ]
        assert await book.closes("SB1") == [day(5), day(6), day(7)]
        assert await book.closes("SA1") == [day(7)]
        # Applied late, each catches up what covered it: lender-b's from 03-05, lender-a's
        # only the platform's close.
        await book.apply(by(opened("SB2"), "lender-b"), by(opened("SA2"), "lender-a"))
        await book.drain()
        assert await book.closes("SB2") == [day(5), day(6), day(7)]
        assert await book.closes("SA2") == [day(7)]
        # lender-a's own close of 03-09 reaches lender-a's accounts, late or not.
        await book.apply(star(9, by="lender-a"))
        await book.apply(by(opened("SA3"), "lender-a"))
        await book.drain()
        for account in ("SA1", "SA2", "SA3"):
            closes = await book.closes(account)
            assert closes[-1] == day(9) and len(closes) == len(set(closes))
        assert await book.closes("SA3") == [day(7), day(8), day(9)]
        assert (await book.closes("SB1"))[-1] == day(7)
    finally:
        await book.runtime.engine.dispose()


async def test_redelivered_repeated_and_older_closes_each_end_with_one_close_per_date(
    tmp_path: Path,
) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        await book.apply(opened("A"), bill("A", "B1", due="2026-03-03", principal=1000_00))
        s5, s10 = star(5), star(10)
        for s in (s5, s10):
            await book.apply(s)
            await book.drain()
        opening = opened("L")
        await book.apply(opening, bill("L", "B1", due="2026-03-03", principal=1000_00))
        (catch_up,) = await book.new_messages()
        await book.apply(catch_up)
        await book.drain()
        before = {a: await book.closes(a) for a in "AL"}
        assert before == {"A": contiguous(day(5), day(10)), "L": contiguous(day(5), day(10))}
        fanned = len(await book.queued())

        # Redelivered: the `*`, the catch-up, the opening (the ledger has them), and all
        # three again to a consumer whose ledger lost them (the domain absorbs them).
        await book.apply(s10, catch_up, opening)
        for item in (s10, catch_up, opening):
            await book.apply_bypassing_ledger(item)
        # Another `*` close of a date already closed (two schedulers, or a retry under a new
        # id) fans out nothing: every account indexed then had its close, any since catches up.
        await book.apply(star(10))
        assert len(await book.queued()) == fanned
        # A per-account close of a date already closed, and one after a later date.
        await book.apply(day_closed("2026-03-10", "L"), day_closed("2026-03-07", "A"))
        # An older `*` close after a newer one: booked, fanned out, and nothing closes twice.
        await book.apply(star(8))
        await book.drain()
        assert {a: await book.closes(a) for a in "AL"} == before
        for account in "AL":
            fees = await book.late_fee_days(account)
            assert len(fees) == len(set(fees))
        assert await book.state("L") == await book.state("A")
        assert [d for _, d, _ in await book.book()] == [day(5), day(8), day(10)]
    finally:
        await book.runtime.engine.dispose()


async def opening_while_a_fan_out_runs(book: Book) -> None:
    """The opening's transaction is open (not committed) while a fan-out starts: the
    fan-out waits for it and then sees the account, and no catch-up is queued."""
    await book.apply(opened("A"))
    async with book.runtime.uow() as uow:
        await book.handler(uow, book.envelope(opened("L")))
        fan_out = asyncio.create_task(book.apply(star(5)))
        await asyncio.sleep(0.3)
        assert not fan_out.done()  # it waits for the opening
        await uow.commit()
    await fan_out
    messages = await book.queued()
    assert sorted(e.account_id for e in messages) == ["A", "L"]  # the fan-out's, both
    assert len({e.causation_id for e in messages}) == 1


async def fan_out_while_an_opening_runs(book: Book) -> None:
    """The fan-out's transaction is open while an opening is applied: the opening waits
    for it and then reads the close in the book, queuing its catch-up."""
    await book.apply(opened("A"))
    s = star(5)
    async with book.runtime.uow() as uow:
        await book.handler(uow, book.envelope(s))
        opening = asyncio.create_task(book.apply(opened("L")))
        await asyncio.sleep(0.3)
        assert not opening.done()  # it waits for the fan-out
        await uow.commit()
    await opening
    messages = await book.queued()
    assert sorted(e.account_id for e in messages) == ["A", "L"]
    assert {str(e.id) for e in messages} == {
        str(uuid.uuid5(uuid.UUID(s["id"]), a)) for a in ("A", "L")
    }


async def fan_out_after_the_book_was_read(book: Book) -> None:
    """A run read the book's bounds (a bill before the opening does) and a fan-out
    committed before the run's opening took the book lock: the opening must not answer
    from what it read before, or neither sees the other."""
    await book.apply(opened("A"))
    async with book.runtime.uow() as uow:
        assert await uow.book.bounds() == {}
        await book.apply(star(5))
        await book.handler(uow, book.envelope(opened("L")))
        await uow.commit()
    messages = await book.queued()
    assert sorted(e.account_id for e in messages) == ["A", "L"]


async def test_an_opening_and_a_fan_out_at_once_never_miss_each_other(tmp_path: Path) -> None:
    scenarios = (
        opening_while_a_fan_out_runs,
        fan_out_while_an_opening_runs,
        fan_out_after_the_book_was_read,
    )
    for scenario in scenarios:
        book = Book(await runtime_at(tmp_path / scenario.__name__))
        try:
            await scenario(book)
            await book.drain()
            for account in ("A", "L"):
                assert await book.closes(account) == [day(5)]
        finally:
            await book.runtime.engine.dispose()


async def test_a_catch_up_close_is_the_fan_outs_close_field_for_field(tmp_path: Path) -> None:
    book = Book(await runtime_at(tmp_path))
    try:
        s = star(5)
        await book.apply(opened("A"), s)
        (fanned,) = await book.new_messages()
        await book.apply(opened("L"))
        (caught,) = await book.new_messages()
        assert caught.id == uuid.uuid5(uuid.UUID(s["id"]), "L")
        assert payload(caught) == payload(fanned) | {"id": str(caught.id), "account_id": "L"}
    finally:
        await book.runtime.engine.dispose()
