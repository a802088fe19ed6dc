"""Promises to pay through the contact API, kept or broken by the accounts service's facts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from shared.clock import FixedClock
from tests.support import bill, day_closed, ingest, opened, payment
from tests.unit.contact_kit import contact_stack, record, streams, wait_case

SH = ZoneInfo("Asia/Shanghai")
# Contact's clock: 12 March, the day after the account went overdue (closed 11 March).
NOW = datetime(2026, 3, 12, 10, 0, tzinfo=SH)


async def overdue_account(http: dict, account: str) -> dict:
    await ingest(
        http,
        opened(account),
        bill(account, "B1", due="2026-03-10", principal=100_00),
        day_closed("2026-03-11", account),
    )
    return await wait_case(http, account, lambda c: c["queue"] is not None)


async def test_a_promise_needs_an_amount_and_a_date_within_the_horizon(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, _):
        case = await overdue_account(http, "P1")
        assert (case["queue"], case["segment"], case["bucket"]) == ("reminders", "standard", "1-30")

        missing = await record(http, "P1", NOW, "promise_to_pay", promise_amount=30_00)
        assert missing.status_code == 422 and "promise_date" in missing.text

        stray = await record(http, "P1", NOW, "reached", promise_amount=30_00)
        assert stray.status_code == 422 and "promise_amount" in stray.text

        def promise(amount: object, day: str) -> dict:
            return {"promise_amount": amount, "promise_date": day}

        zero = await record(http, "P1", NOW, "promise_to_pay", **promise(0, "2026-03-15"))
        assert zero.status_code == 422 and "promise_amount" in zero.text
        text = await record(http, "P1", NOW, "promise_to_pay", **promise("3000", "2026-03-15"))
        assert text.status_code == 422 and "promise_amount" in text.text

        past = await record(http, "P1", NOW, "promise_to_pay", **promise(30_00, "2026-03-11"))
        assert past.status_code == 422
        assert "promise_date: 2026-03-11 is in the past" in past.json()["detail"]

        # 14 days (the default horizon) after 12 March is 26 March: the 27th is too far.
        far = await record(http, "P1", NOW, "promise_to_pay", **promise(30_00, "2026-03-27"))
        assert far.status_code == 422
        assert "latest allowed is 2026-03-26" in far.json()["detail"]

        ok = await record(http, "P1", NOW, "promise_to_pay", **promise(30_00, "2026-03-26"))
        assert ok.status_code == 201, ok.text
        again = await record(http, "P1", NOW, "promise_to_pay", **promise(10_00, "2026-03-20"))
        assert again.status_code == 422 and "still open" in again.json()["detail"]

        case = await wait_case(http, "P1")
        [made] = case["promises"]
        assert made["amount"] == 30_00 and made["currency"] == "CNY"
        assert (made["made_on"], made["due_on"], made["status"]) == (
            "2026-03-12",
            "2026-03-26",
            "open",
        )
        assert made["made_by"] == "tester"
        # Nobody should call while the promise runs: the case waits until after its date.
        assert case["next_action_at"].startswith("2026-03-26T16:00:00")  # 27th 00:00 +08


async def test_payments_dated_up_to_the_due_date_keep_the_promise(tmp_path: Path) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        await overdue_account(http, "P2")
        r = await record(
            http, "P2", NOW, "promise_to_pay", promise_amount=30_00, promise_date="2026-03-15"
        )
        assert r.status_code == 201, r.text
        # 20.00 on the 13th, 10.00 on the due date itself: together, the promised 30.00.
        await ingest(
            http,
            payment("P2", "PAY1", 20_00, paid_at="2026-03-13T10:00:00+08:00"),
            payment("P2", "PAY2", 10_00, paid_at="2026-03-15T23:00:00+08:00"),
        )
        case = await wait_case(http, "P2", lambda c: c["promises"][0]["status"] != "open")
        assert case["promises"][0]["status"] == "kept"
        # The close after the due date breaks nothing that was kept.
        await ingest(http, day_closed("2026-03-16", "P2"))
        await wait_case(http, "P2", lambda c: c["as_of"] == "2026-03-16")
        cases, _ = await streams(settings["contact"], "P2")
    types = [t for t, _ in cases]
    assert types.count("PromiseToPayKept") == 1 and "PromiseToPayBroken" not in types
    kept = next(d for t, d in cases if t == "PromiseToPayKept")
    assert kept["paid"] == 30_00 and kept["business_date"] == "2026-03-15"


async def test_a_promise_is_broken_the_day_after_its_date_and_the_case_escalates(
    tmp_path: Path,
) -> None:
    async with contact_stack(tmp_path, FixedClock(NOW)) as (http, settings):
        await overdue_account(http, "P3")
        r = await record(
            http, "P3", NOW, "promise_to_pay", promise_amount=30_00, promise_date="2026-03-15"
        )
        assert r.status_code == 201, r.text
        await ingest(
            http,
            # Paid the day before the promise was made: does not count toward it.
            payment("P3", "EARLY", 50_00, paid_at="2026-03-11T20:00:00+08:00"),
            payment("P3", "SHORT", 10_00, paid_at="2026-03-14T10:00:00+08:00"),
            day_closed("2026-03-15", "P3"),
        )
        # The due date's own close: a payment dated that day could still come; not broken.
        case = await wait_case(http, "P3", lambda c: c["as_of"] == "2026-03-15")
        assert case["promises"][0]["status"] == "open"
        assert (case["queue"], case["segment"]) == ("reminders", "standard")

        await ingest(http, day_closed("2026-03-16", "P3"))
        case = await wait_case(http, "P3", lambda c: c["promises"][0]["status"] == "broken")
        assert (case["queue"], case["segment"]) == ("agents", "broken_promise")
        assert case["next_action_at"] is None
        cases, _ = await streams(settings["contact"], "P3")
    types = [t for t, _ in cases]
    assert types[-3:] == ["PromiseToPayBroken", "CollectionCaseEscalated", "CollectionCaseRouted"]
    broken, escalated, routed = (d for _, d in cases[-3:])
    assert (broken["amount"], broken["paid"], broken["business_date"]) == (
        30_00,
        10_00,
        "2026-03-16",
    )
    assert (escalated["from_tier"], escalated["to_tier"]) == ("reminders", "agents")
    assert escalated["reason"] == "promise to pay broken"
    assert (routed["queue"], routed["from_queue"], routed["segment"]) == (
        "agents",
        "reminders",
        "broken_promise",
    )
