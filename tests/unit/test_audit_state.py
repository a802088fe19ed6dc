"""The account's state reconstructed from the trail as of a time, on both time axes."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.audit.domain.state import reconstruct
from shared.catalogue import EventData
from shared.events.accounts import (
    AccountDayClosed,
    Allocation,
    DelinquencyBucketChanged,
    LateFeeAccrued,
    LateFeeReversed,
    PaymentAllocated,
    PaymentReallocated,
)
from shared.events.contact import (
    CollectionCaseClosed,
    CollectionCaseOpened,
    ContactAttemptChecked,
    ContactAttemptRecorded,
)
from shared.events.inbound import BillIssued
from shared.events.plans import PlanActivated, PlanBroken
from tests.support import bill, day_closed, eventually, opened, payment, running_stack, settings_for

AS_OF = datetime.fromisoformat("2026-03-20T12:00:00+08:00")


def entry(seq: int, event: EventData, occurred_at: str = "2026-03-01T09:00:00+08:00") -> dict:
    return {
        "seq": seq,
        "event_id": f"e{seq}",
        "type": event.event_type,
        "occurred_at": occurred_at,
        "recorded_at": occurred_at,
        "data": event.model_dump(mode="json"),
        "hash": f"{seq:064x}",
    }


def alloc(bill_id: str, **parts: int) -> Allocation:
    full = {"late_fee": 0, "fees": 0, "interest": 0, "principal": 0, **parts}
    return Allocation(bill_id=bill_id, amount=sum(full.values()), **full)


def close(day: int, balances: dict[str, int], dpd: int, bucket: str) -> AccountDayClosed:
    return AccountDayClosed(
        business_date=date(2026, 3, day),
        days_past_due=dpd,
        bucket=bucket,
        balances={"late_fee": 0, "fees": 0, "interest": 0, "principal": 0, **balances},
        overdue={"late_fee": 0, "fees": 0, "interest": 0, "principal": 0, **balances},
    )


def attempt(n: int, at: str) -> ContactAttemptRecorded:
    return ContactAttemptRecorded(
        attempt_id=f"A{n}",
        debt_id="B1",
        agency="in-house",
        channel="call",
        outcome="no_answer",
        at=datetime.fromisoformat(at),
    )


def test_balances_start_from_the_latest_close_and_fold_what_was_recorded_after_it() -> None:
    bill_b1 = BillIssued(
        bill_id="B1",
        currency="CNY",
        principal=1000_00,
        interest=10_00,
        issued_on=date(2026, 3, 1),
        due_date=date(2026, 3, 10),
    )
    events: list[EventData] = [
        bill_b1,
        close(12, {"principal": 1000_00, "interest": 10_00, "late_fee": 150}, 3, "1-30"),
        LateFeeAccrued(
            bill_id="B1",
            currency="CNY",
            business_date=date(2026, 3, 13),
            amount=50,
            base=1010_00,
            daily_rate="0.0005",  # type: ignore[arg-type]
        ),
        PaymentAllocated(
            payment_id="P1",
            currency="CNY",
            amount=300_00,
            allocations=[alloc("B1", late_fee=200, interest=10_00, principal=288_00)],
            unallocated=0,
        ),
        # Later the same amount turned out to pay principal first: the old split is undone.
        PaymentReallocated(
            source_id="P1",
            kind="payment",
            currency="CNY",
            allocations=[alloc("B1", principal=300_00)],
            unallocated=0,
            as_of=date(2026, 3, 13),
            reason="test",
        ),
    ]
    state = reconstruct([entry(i, e) for i, e in enumerate(events, start=1)], AS_OF)
    assert state.balances == {"late_fee": 200, "fees": 0, "interest": 10_00, "principal": 700_00}
    out = state.to_dict()
    assert out["outstanding"] == 200 + 10_00 + 700_00
    assert out["balances_as_of"]["day_close"]["business_date"] == "2026-03-12"
    assert out["balances_as_of"]["day_close"]["seq"] == 2
    assert out["overdue_as_of"]["business_date"] == "2026-03-12"
    assert (state.bucket, state.days_past_due) == ("1-30", 3)
    assert state.currency == "CNY" and state.notes == []

    # Before any close the balances are every bill less every allocation since the start.
    only_bill = reconstruct([entry(1, bill_b1)], AS_OF)
    assert only_bill.balances == {"late_fee": 0, "fees": 0, "interest": 10_00, "principal": 1000_00}
    assert only_bill.to_dict()["balances_as_of"]["day_close"] is None


def test_plan_case_and_contacts_in_the_trailing_seven_days() -> None:
    activated = PlanActivated(
        plan_id="PL1",
        plan_type="deferral",
        currency="CNY",
        amount=1000_00,
        months=1,
        deferral_months=1,
        activated_on=date(2026, 3, 14),
    )
    blocked = ContactAttemptChecked(
        attempt_id="X1",
        debt_id="B1",
        channel="call",
        party="debtor",
        purpose="collection",
        planned_at=datetime.fromisoformat("2026-03-19T23:00:00+08:00"),
        jurisdiction="CN",
        decision="blocked",
        rule_ids=["CN-QUIET-HOURS"],
        explanation="Quiet hours.",
    )
    events = [
        entry(
            1,
            CollectionCaseOpened(
                case_id="K1", reason="r", bill_id="B1", opened_on=date(2026, 3, 11)
            ),
        ),
        # Exactly 7 days before the as-of point: outside the trailing window (it is half-open).
        entry(2, attempt(1, "2026-03-13T12:00:00+08:00")),
        entry(3, attempt(2, "2026-03-13T12:00:01+08:00")),
        entry(4, attempt(3, "2026-03-20T12:00:00+08:00")),
        # Made after the as-of point (a future-dated record): not counted in the window.
        entry(5, attempt(4, "2026-03-20T12:00:01+08:00")),
        entry(6, blocked),
        entry(7, activated),
    ]
    state = reconstruct(events, AS_OF)
    assert (state.contact_attempts_7d, state.contact_attempts_total) == (2, 4)
    assert (state.blocked_attempts_7d, state.blocked_attempts_total) == (1, 1)
    assert state.to_dict()["contact"]["calls_7d_by_debt"] == {"B1": 2}
    assert state.case is not None and state.case["status"] == "open"
    assert (state.case["case_id"], state.case["since"], state.case["seq"]) == (
        "K1",
        "2026-03-11",
        1,
    )
    assert state.active_plan is not None
    assert {k: state.active_plan[k] for k in ("plan_id", "plan_type", "since")} == {
        "plan_id": "PL1",
        "plan_type": "deferral",
        "since": "2026-03-14",
    }

    ended = reconstruct(
        [
            *events,
            entry(8, PlanBroken(plan_id="PL1", reason="missed installment 1")),
            entry(9, CollectionCaseClosed(case_id="K1", reason="charged_off")),
        ],
        AS_OF,
    )
    assert ended.active_plan is None
    assert ended.last_ended_plan is not None and ended.last_ended_plan["how"] == "broken"
    assert ended.case is not None and ended.case["status"] == "closed"
    assert ended.case["reason"] == "charged_off"


def test_corrections_of_closes_the_view_does_not_reach_are_left_out() -> None:
    # As of an occurred time before the closes a backdated payment corrects: the
    # corrections of those closes would take off fees this view never added.
    events = [
        entry(1, close(9, {"principal": 1000_00}, 0, "current")),
        entry(
            2,
            PaymentAllocated(
                payment_id="P1",
                currency="CNY",
                amount=1000_00,
                allocations=[alloc("B1", principal=1000_00)],
                unallocated=0,
                business_date=date(2026, 3, 10),
                backdated=True,
            ),
        ),
        entry(
            3,
            LateFeeReversed(
                bill_id="B1",
                currency="CNY",
                amount=150,
                business_date=date(2026, 3, 12),
                as_of=date(2026, 3, 10),
                reason="backdated payment P1",
            ),
        ),
        entry(
            4,
            DelinquencyBucketChanged(
                from_bucket="1-30",
                to_bucket="current",
                business_date=date(2026, 3, 12),
                days_past_due=0,
                correction=True,
                as_of=date(2026, 3, 10),
            ),
        ),
    ]
    state = reconstruct(events, AS_OF)
    assert state.balances == {"late_fee": 0, "fees": 0, "interest": 0, "principal": 0}
    assert state.delinquency_as_of is not None and state.delinquency_as_of["seq"] == 1
    assert len(state.notes) == 2 and "2026-03-12" in state.notes[0]


def test_the_as_of_point_must_carry_its_offset() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        reconstruct([], datetime(2026, 3, 1))


# -- through the API: a backdated payment -----------------------------------------------


async def state_of(
    http: dict[str, httpx.AsyncClient], account: str, **params: Any
) -> httpx.Response:
    return await http["audit"].get(
        f"/v1/accounts/{account}/state", params={"purpose": "complaint 9", **params}
    )


async def test_a_backdated_payment_gives_different_states_on_the_two_axes(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:

        async def ingest(*events: dict[str, Any]) -> None:
            r = await http["accounts"].post("/v1/inbound/events", json={"events": list(events)})
            assert r.json()["accepted"] == len(events), r.text

        await ingest(opened("BD1"), bill("BD1", "B1", due="2026-03-10", principal=1000_00))
        # Three days overdue by the close of 13 March: 50 fen of late fee a day.
        await ingest(day_closed("2026-03-09", "BD1"), day_closed("2026-03-13", "BD1"))
        await eventually(
            lambda: state_of(http, "BD1"),
            lambda r: r.status_code == 200 and r.json()["days_past_due"] == 3,
        )
        cut = datetime.now(UTC)
        await asyncio.sleep(0.01)
        # Paid on 10 March before that day's close, posted only now.
        late = payment("BD1", "P-LATE", 1000_00, paid_at="2026-03-10T10:00:00+08:00")
        late["occurred_at"] = "2026-03-10T10:00:00+08:00"
        await ingest(late)
        await eventually(lambda: state_of(http, "BD1"), lambda r: r.json()["bucket"] == "current")

        known = (await state_of(http, "BD1", as_of_recorded=cut.isoformat())).json()
        # The closes of 10-13 March occurred at the very end of 13 March (one catch-up).
        happened = (await state_of(http, "BD1", as_of_occurred="2026-03-14T00:00:00+08:00")).json()

        # What the system knew at the cut: three days past due, fees owed, no payment.
        assert known["axis"] == "recorded"
        assert (known["bucket"], known["days_past_due"]) == ("1-30", 3)
        assert known["balances"] == {
            "late_fee": 150,
            "fees": 0,
            "interest": 0,
            "principal": 1000_00,
        }
        assert known["balances_as_of"]["day_close"]["business_date"] == "2026-03-13"
        # What had happened by 14 March, as known now: paid, fees reversed, cured.
        assert happened["axis"] == "occurred"
        assert (happened["bucket"], happened["days_past_due"]) == ("current", 0)
        assert happened["outstanding"] == 0
        assert happened["delinquency_as_of"]["type"] == "AccountCured"
        assert happened["balances_as_of"]["day_close"]["business_date"] == "2026-03-13"
        assert happened["through"]["seq"] > known["through"]["seq"]

        # Between the two closes, on the occurred axis: the payment happened (10 March
        # 10:00) but the closes of 10-13 March had not, so neither had their fees.
        mid = (await state_of(http, "BD1", as_of_occurred="2026-03-11T12:00:00+08:00")).json()
        assert mid["balances"] == {"late_fee": 0, "fees": 0, "interest": 0, "principal": 0}
        assert mid["balances_as_of"]["day_close"]["business_date"] == "2026-03-09"

        log = (
            await http["audit"].get(
                "/v1/access-log", params={"purpose": "review", "account_id": "BD1"}
            )
        ).json()["entries"]
        reads = [e for e in log if e["action"] == "state"]
        assert {e["filters"]["axis"] for e in reads} >= {"recorded", "occurred", "now"}
        assert all(e["purpose"] == "complaint 9" for e in reads)


async def test_the_state_refuses_bad_requests_clearly(tmp_path: Path) -> None:
    settings = {s: settings_for(s, tmp_path) for s in ("accounts", "audit")}
    async with running_stack(settings) as http:
        await http["accounts"].post("/v1/inbound/events", json={"events": [opened("Q1")]})
        await eventually(lambda: state_of(http, "Q1"), lambda r: r.status_code == 200)
        now = datetime.now(UTC).isoformat()
        both = await state_of(http, "Q1", as_of_recorded=now, as_of_occurred=now)
        assert both.status_code == 422
        assert both.json()["detail"] == "give as_of_recorded or as_of_occurred, not both"
        naive = await state_of(http, "Q1", as_of_recorded="2026-03-01T09:00:00")
        assert naive.status_code == 422 and "as_of_recorded" in naive.text
        garbage = await state_of(http, "Q1", as_of_occurred="yesterday")
        assert garbage.status_code == 422 and "as_of_occurred" in garbage.text
        missing = await state_of(http, "NOPE")
        assert missing.status_code == 404 and "NOPE" in missing.json()["detail"]
        assert (await http["audit"].get("/v1/accounts/Q1/state")).status_code == 422
        # An as-of point before anything was recorded: an account with nothing yet.
        empty = (await state_of(http, "Q1", as_of_recorded="2020-01-01T00:00:00+00:00")).json()
        assert empty["entries"] == 0 and empty["balances"] is None and empty["bucket"] is None
        assert (
            empty["contact"]["window_from"]
            == (datetime(2020, 1, 1, tzinfo=UTC) - timedelta(days=7)).isoformat()
        )
