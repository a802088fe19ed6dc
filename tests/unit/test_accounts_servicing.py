"""The servicing core: allocation, day close, late fees, buckets, warnings, relief, refusals."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.accounts.domain.policy import Policies
from shared.errors import Rejected
from shared.events.accounts import (
    AccountChargedOff,
    AccountCured,
    AccountDayClosed,
    BalanceReinstalled,
    BillBecameOverdue,
    CreditApplied,
    DelinquencyBucketChanged,
    DelinquencyPaused,
    DelinquencyResumed,
    DueDatesDeferred,
    FeesWaived,
    FirstPaymentDefaulted,
    LateFeeAccrued,
    LateFeeReversed,
    PaymentDueSoon,
    RepeatedPartialPayments,
)
from shared.events.inbound import BillIssued, PaymentReceived
from tests.unit.accounts_kit import Ledger, allocated, of, types

D = date(2026, 3, 10)  # the first bill's due date


def day(n: int) -> date:
    """D + n days."""
    return D + timedelta(days=n)


def ledger_with_bill(principal: int = 100_000, **kw: int) -> Ledger:
    """One bill due on D; business dates closed up to D - 6 (a first close closes one date)."""
    lg = Ledger()
    lg.bill("B1", principal, D, **kw)
    lg.close(day(-6))
    return lg


# -- allocation order ------------------------------------------------------------------


def test_within_a_bill_late_fee_then_fees_then_interest_then_principal() -> None:
    lg = ledger_with_bill(100_000, interest=1_000, fees=500)
    lg.close(day(2))  # two days late: 2 * round(101,500 * 0.0005) = 2 * 51
    assert lg.account.bills["B1"].charged["late_fee"] == 102
    (a,) = allocated(lg.pay("P1", 1_000, day(3))).allocations
    assert (a.late_fee, a.fees, a.interest, a.principal) == (102, 500, 398, 0)


def test_past_due_bills_are_paid_before_bills_not_yet_due() -> None:
    lg = Ledger()
    lg.bill("B-later", 5_000, day(30))
    lg.bill("B-now", 5_000, D)
    lg.close(day(1))
    a = allocated(lg.pay("P1", 6_000, day(2)))
    assert [(x.bill_id, x.amount) for x in a.allocations] == [("B-now", 5_003), ("B-later", 997)]


def test_the_allocation_order_is_a_policy_setting() -> None:
    order = ["principal", "interest", "fees", "late_fee"]
    lg = Ledger(Policies.from_mapping({"consumer_credit": {"allocation_order": order}}))
    lg.bill("B1", 1_000, D, fees=100)
    lg.close(D)
    (a,) = allocated(lg.pay("P1", 1_050, day(1))).allocations
    assert (a.principal, a.interest, a.fees, a.late_fee) == (1_000, 0, 50, 0)


def test_overpayment_is_credit_and_is_applied_to_the_next_bill_issued() -> None:
    lg = ledger_with_bill(1_000)
    assert allocated(lg.pay("P1", 1_500, day(-5))).unallocated == 500
    (applied,) = of(lg.bill("B2", 300, day(30), fees=100), CreditApplied)
    assert (applied.amount, applied.remaining_credit) == (400, 100)
    assert (applied.allocation.fees, applied.allocation.principal) == (100, 300)
    assert lg.account.credit == 100
    assert lg.account.bills["B2"].outstanding == 0


# -- day close: idempotent, caught up, DPD and buckets ----------------------------------


def test_closing_a_closed_date_yields_nothing() -> None:
    lg = ledger_with_bill()
    assert lg.close(D)
    assert lg.close(D) == []
    assert lg.close(day(-3)) == []


def test_missed_dates_are_caught_up_in_order() -> None:
    lg = ledger_with_bill()
    lg.close(day(1))
    events = lg.close(day(4))
    closed = of(events, AccountDayClosed)
    assert [(c.business_date, c.days_past_due) for c in closed] == [
        (day(2), 2), (day(3), 3), (day(4), 4),
    ]  # fmt: skip
    assert [f.business_date for f in of(events, LateFeeAccrued)] == [day(2), day(3), day(4)]
    # each date's facts come before that date's AccountDayClosed
    assert types(events)[:2] == ["LateFeeAccrued", "AccountDayClosed"]


def test_a_bill_is_overdue_with_dpd_1_the_day_after_its_due_date_and_warns_first_default() -> None:
    lg = ledger_with_bill()
    lg.close(day(-1))
    assert types(lg.close(D)) == ["AccountDayClosed"]  # due today: not late yet
    events = lg.close(day(1))
    assert types(events) == [
        "BillBecameOverdue", "FirstPaymentDefaulted", "LateFeeAccrued",
        "DelinquencyBucketChanged", "AccountDayClosed",
    ]  # fmt: skip
    (change,) = of(events, DelinquencyBucketChanged)
    assert (change.from_bucket, change.to_bucket, change.days_past_due) == ("current", "1-30", 1)


def test_bucket_changes_only_when_the_bucket_changes_at_each_boundary() -> None:
    lg = ledger_with_bill()
    events = lg.close(day(200))
    changes = [
        (c.from_bucket, c.to_bucket, c.days_past_due) for c in of(events, DelinquencyBucketChanged)
    ]
    assert changes == [
        ("current", "1-30", 1), ("1-30", "31-60", 31), ("31-60", "61-90", 61),
        ("61-90", "91-120", 91), ("91-120", "121-150", 121), ("121-150", "151-180", 151),
        ("151-180", "180+", 181),
    ]  # fmt: skip
    assert len(of(events, AccountDayClosed)) == 206  # D-5 .. D+200


def test_grace_days_delay_dpd() -> None:
    lg = Ledger(Policies.from_mapping({"consumer_credit": {"grace_days": 3}}))
    lg.bill("B1", 1_000, D)
    lg.close(day(-1))
    assert of(lg.close(day(3)), BillBecameOverdue) == []
    assert lg.account.days_past_due == 0
    (overdue,) = of(lg.close(day(4)), BillBecameOverdue)
    assert overdue.days_past_due == 1


def test_charge_off_past_the_charge_off_dpd_stops_late_fees() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(180))
    assert of(lg.close(day(180)), AccountChargedOff) == []
    (off,) = of(lg.close(day(181)), AccountChargedOff)
    assert (off.days_past_due, off.business_date) == (181, day(181))
    fees = lg.account.bills["B1"].charged["late_fee"]
    later = lg.close(day(191))
    assert of(later, LateFeeAccrued) == [] and of(later, AccountChargedOff) == []
    assert lg.account.bills["B1"].charged["late_fee"] == fees
    assert of(later, AccountDayClosed)[-1].days_past_due == 191


# -- late fees: rate, rounding, minimum, cap ---------------------------------------------


def test_late_fee_is_the_rounded_daily_rate_with_a_1_fen_minimum() -> None:
    lg = Ledger()
    lg.bill("big", 10_000_00, D)  # 5 yuan a day
    lg.bill("odd", 3_000, D)  # 1.5 fen → 2
    lg.bill("tiny", 100, D)  # 0.05 fen → the 1 fen minimum
    fees = {f.bill_id: f.amount for f in of(lg.close(day(1)), LateFeeAccrued)}
    assert fees == {"big": 500, "odd": 2, "tiny": 1}


def test_late_fee_accrues_on_principal_interest_and_fees_but_not_on_late_fee() -> None:
    lg = ledger_with_bill(60_000, interest=20_000, fees=20_000)
    lg.close(day(10))
    assert lg.account.bills["B1"].charged["late_fee"] == 10 * 50


def test_the_late_fee_cap_bounds_a_bills_total_late_fee() -> None:
    policies = Policies.from_mapping({"consumer_credit": {"late_fee": {"cap_rate": "0.001"}}})
    lg = Ledger(policies)
    lg.bill("B1", 100_000, D)  # cap 100 fen; 50 a day
    lg.close(day(-1))
    fees = [f.amount for f in of(lg.close(day(5)), LateFeeAccrued)]
    assert fees == [50, 50]
    assert lg.account.bills["B1"].charged["late_fee"] == 100


def test_a_fully_paid_bill_accrues_nothing() -> None:
    lg = ledger_with_bill(1_000)
    lg.pay("P1", 1_000, day(-1))
    assert of(lg.close(day(5)), LateFeeAccrued) == []


# -- cure and early warnings -------------------------------------------------------------


def test_paying_an_overdue_account_cures_it_at_once() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(40))
    owed = lg.account.bills["B1"].outstanding
    events = lg.pay("P1", owed, day(41))
    assert types(events) == ["PaymentAllocated", "DelinquencyBucketChanged", "AccountCured"]
    (cured,) = of(events, AccountCured)
    assert (cured.from_bucket, cured.payment_id) == ("31-60", "P1")
    assert (lg.account.bucket, lg.account.days_past_due) == ("current", 0)
    assert of(lg.close(day(45)), DelinquencyBucketChanged) == []


def test_a_partial_payment_does_not_cure() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(1))
    assert of(lg.pay("P1", 500, day(2)), AccountCured) == []
    assert lg.account.bucket == "1-30"


def test_payment_due_soon_is_sent_once_n_days_before_due() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(-5))
    assert of(lg.close(day(-4)), PaymentDueSoon) == []
    (soon,) = of(lg.close(day(-3)), PaymentDueSoon)
    assert (soon.days_until_due, soon.amount_due) == (3, 1_000)
    assert of(lg.close(day(-1)), PaymentDueSoon) == []


def test_no_due_soon_reminder_for_a_paid_bill() -> None:
    lg = ledger_with_bill(1_000)
    lg.pay("P1", 1_000, day(-5))
    assert of(lg.close(day(-1)), PaymentDueSoon) == []


def test_first_payment_default_only_for_the_first_bill_with_nothing_paid() -> None:
    lg = Ledger()
    lg.bill("B1", 1_000, D)
    lg.bill("B2", 1_000, day(30))
    lg.pay("P1", 10, day(-1))
    events = lg.close(day(31))
    assert len(of(events, BillBecameOverdue)) == 2
    assert of(events, FirstPaymentDefaulted) == []


def test_repeated_partial_payments_warn_every_third_in_a_row() -> None:
    lg = ledger_with_bill(100_000)
    lg.close(day(1))
    warnings = []
    for n in range(1, 7):
        warnings += of(lg.pay(f"P{n}", 100, day(n + 1)), RepeatedPartialPayments)
        lg.close(day(n + 1))
    assert [w.payment_ids for w in warnings] == [["P1", "P2", "P3"], ["P4", "P5", "P6"]]


def test_clearing_the_past_due_balance_restarts_the_partial_count() -> None:
    lg = Ledger()
    lg.bill("B1", 1_000, D)
    lg.bill("B2", 1_000, day(60))
    lg.close(day(1))
    lg.pay("P1", 100, day(2))
    lg.pay("P2", 100, day(2))
    assert len(lg.account.partial_streak) == 2
    lg.pay("P3", 5_000, day(2))  # clears the past-due bill
    assert lg.account.partial_streak == []


# -- relief: deferral, re-installment, waiver; pause and resume --------------------------


def test_a_deferral_moves_unpaid_due_dates_and_cures() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(5))
    events = lg.do("apply_deferral", "PL1", 2)
    assert types(events) == ["DueDatesDeferred", "DelinquencyBucketChanged", "AccountCured"]
    (deferred,) = of(events, DueDatesDeferred)
    assert [(m.from_date, m.to_date) for m in deferred.moves] == [(D, date(2026, 5, 10))]
    assert lg.account.days_past_due == 0
    # the moved bill is reported overdue again the day after its new due date
    assert of(lg.close(date(2026, 5, 10)), BillBecameOverdue) == []
    assert of(lg.close(date(2026, 5, 11)), BillBecameOverdue)[0].due_date == date(2026, 5, 10)


def test_deferral_is_limited_to_13_months_per_account() -> None:
    lg = ledger_with_bill(1_000)
    lg.do("apply_deferral", "PL1", 12)
    before = copy.deepcopy(lg.account)
    with pytest.raises(Rejected, match="14 months deferred in total, more than the 13"):
        lg.account.apply_deferral("PL2", 2)
    assert lg.account == before
    lg.do("apply_deferral", "PL2", 1)
    assert lg.account.deferred_months == 13


def test_reinstallment_replaces_the_overdue_balance_with_bills_summing_to_it() -> None:
    lg = Ledger()
    lg.bill("B1", 10_000, D, interest=101)
    lg.bill("B2", 5_000, day(60))  # not overdue: untouched
    lg.close(day(4))
    overdue = lg.account.bills["B1"].outstanding
    events = lg.do("apply_reinstallment", "PL1", 3, date(2026, 4, 15))
    (re,) = of(events, BalanceReinstalled)
    assert re.amount == overdue
    assert sum(i.principal + i.interest + i.fees + i.late_fee for i in re.installments) == overdue
    assert [i.due_date for i in re.installments] == [
        date(2026, 4, 15), date(2026, 5, 15), date(2026, 6, 15),
    ]  # fmt: skip
    assert lg.account.bills["B1"].outstanding == 0
    assert lg.account.bills["B2"].outstanding == 5_000
    assert (lg.account.bucket, lg.account.days_past_due) == ("current", 0)
    assert of(events, AccountCured)


def test_reinstallment_with_a_monthly_rate_adds_the_rounded_fee_to_each_bill() -> None:
    lg = ledger_with_bill(10_001)
    lg.close(day(1))
    overdue = lg.account.bills["B1"].outstanding  # 10,001 + 5 late fee
    (re,) = of(lg.do("apply_reinstallment", "PL1", 2, day(30), "0.005"), BalanceReinstalled)
    fee = int((Decimal(overdue) * Decimal("0.005")).quantize(Decimal(1), "ROUND_HALF_UP"))
    assert sum(i.interest for i in re.installments) == 2 * fee
    assert sum(i.principal + i.late_fee for i in re.installments) == overdue


def test_a_waiver_reduces_late_fee_first() -> None:
    lg = ledger_with_bill(100_000, fees=1_000)
    lg.close(day(2))  # late fee 2 * 51
    (w,) = of(lg.do("apply_waiver", "PL1", 150, reason="unemployment certificate"), FeesWaived)
    (part,) = w.waived
    assert (part.late_fee, part.fees, w.amount) == (102, 48, 150)
    bill = lg.account.bills["B1"]
    assert (bill.unpaid("late_fee"), bill.unpaid("fees")) == (0, 952)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"amount": 10**9}, "exceeds the"),
        ({"components": ("principal",)}, "cannot waive principal"),
        ({"amount": 0}, "more than zero"),
    ],
)
def test_a_bad_waiver_is_refused(kwargs: dict[str, object], reason: str) -> None:
    lg = ledger_with_bill(1_000, fees=100)
    before = copy.deepcopy(lg.account)
    with pytest.raises(Rejected, match=reason):
        lg.account.apply_waiver("PL1", **kwargs)  # type: ignore[arg-type]
    assert lg.account == before


def test_relief_is_refused_when_there_is_nothing_to_relieve() -> None:
    lg = ledger_with_bill(1_000)
    with pytest.raises(Rejected, match="nothing to reinstall"):
        lg.account.apply_reinstallment("PL1", 3, day(30))
    with pytest.raises(Rejected, match="nothing to waive"):
        lg.account.apply_waiver("PL1")
    lg.pay("P1", 1_000, day(-1))
    with pytest.raises(Rejected, match="nothing to defer"):
        lg.account.apply_deferral("PL1", 1)


def test_a_pause_stops_late_fees_and_worsening_and_dpd_then_resumes_when_broken() -> None:
    lg = ledger_with_bill(100_000)
    lg.close(day(30))  # DPD 30, bucket 1-30
    (paused,) = of(lg.do("start_plan", "PL1"), DelinquencyPaused)
    assert paused.business_date == day(31)
    during = lg.close(day(60))
    assert of(during, LateFeeAccrued) == [] and of(during, DelinquencyBucketChanged) == []
    assert {c.days_past_due for c in of(during, AccountDayClosed)} == {30}
    assert all(c.paused for c in of(during, AccountDayClosed))
    (resumed,) = of(lg.do("end_plan", "PL1", "broken"), DelinquencyResumed)
    assert resumed.business_date == day(61)
    after = lg.close(day(61))
    (change,) = of(after, DelinquencyBucketChanged)
    assert (change.to_bucket, change.days_past_due) == ("31-60", 31)
    assert len(of(after, LateFeeAccrued)) == 1
    assert lg.replay() == lg.account


def test_a_bucket_may_improve_while_paused() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(40))
    lg.do("start_plan", "PL1")
    lg.do("apply_deferral", "PL1", 3)
    assert lg.account.bucket == "current"


def test_plans_cannot_start_twice_or_end_when_not_active() -> None:
    lg = ledger_with_bill()
    lg.do("start_plan", "PL1")
    with pytest.raises(Rejected, match="already active"):
        lg.account.start_plan("PL1")
    with pytest.raises(Rejected, match="not active"):
        lg.account.end_plan("PL2")


def test_the_same_relief_of_a_plan_is_applied_once() -> None:
    lg = ledger_with_bill()
    lg.do("apply_deferral", "PL1", 1)
    with pytest.raises(Rejected, match="already applied"):
        lg.account.apply_deferral("PL1", 1)


# -- backdated payments ------------------------------------------------------------------


def test_a_backdated_payment_reverses_late_fees_and_cures_by_compensating_events() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(40))
    history = list(lg.events)
    events = lg.pay("P1", 1_000, day(-1))  # paid before the due date, reported 41 days late
    a = allocated(events)
    assert a.backdated and a.business_date == day(-1)
    assert (a.allocations[0].principal, a.unallocated) == (1_000, 0)
    (reversed_,) = of(events, LateFeeReversed)
    assert reversed_.amount == 40 and reversed_.as_of == day(-1)  # D+1 .. D+40
    (change,) = of(events, DelinquencyBucketChanged)
    assert (change.from_bucket, change.to_bucket, change.correction) == ("31-60", "current", True)
    assert of(events, AccountCured)[0].correction
    assert lg.events[: len(history)] == history  # nothing edited
    assert lg.account.bills["B1"].outstanding == 0
    assert lg.account.days_past_due == 0


def test_the_payments_time_zone_decides_its_business_date() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(D)
    # 23:30 UTC on D is 07:30 on D+1 in Shanghai: after D's close, so on time.
    late_utc = datetime.combine(D, datetime.min.time(), UTC) + timedelta(hours=23, minutes=30)
    events = lg.pay("P1", 500, D, paid_at=late_utc)
    assert allocated(events).business_date == day(1) and not allocated(events).backdated
    # 15:00 UTC on D is 23:00 on D in Shanghai: before D's close, so backdated.
    early_utc = datetime.combine(D, datetime.min.time(), UTC) + timedelta(hours=15)
    assert allocated(lg.pay("P2", 100, D, paid_at=early_utc)).backdated


def test_a_backdated_payment_reallocates_later_payments() -> None:
    lg = ledger_with_bill(100_000)
    lg.close(day(10))
    lg.pay("P-late", 100_000, day(11))  # pays late fees first, leaves principal
    lg.close(day(12))
    events = lg.pay("P-early", 100_000, day(-2))
    assert "PaymentReallocated" in types(events)
    assert lg.account.bills["B1"].outstanding == 0
    assert lg.account.credit == 100_000
    assert lg.account.bills["B1"].charged["late_fee"] == 0


def test_a_backdated_payment_cannot_reach_behind_relief() -> None:
    lg = ledger_with_bill(1_000)
    lg.close(day(5))
    lg.do("apply_waiver", "PL1")
    lg.close(day(6))
    events = lg.pay("P1", 1_000, day(-1))  # takes effect right after the waiver
    waived = lg.account.bills["B1"].waived["late_fee"]
    assert waived == 5  # D+1..D+5, one fen a day: waived, and stays waived
    (reversed_,) = of(events, LateFeeReversed)
    assert reversed_.amount == 1  # only D+6's fee, accrued after the waiver, is reversed
    assert lg.account.bills["B1"].outstanding == 0


# -- refusals change nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    ("bill", "reason"),
    [
        (dict(bill_id="B1"), "already exists"),
        (dict(bill_id="B9", currency="USD"), "currency USD"),
        (dict(bill_id="B9", due_date=D), "not after the last closed business date"),
        (dict(bill_id="B9", due_date=day(-2), issued_on=day(-9)), "not after the last closed"),
        (dict(bill_id="B9", principal=0), "more than zero"),
    ],
)
def test_a_refused_bill_changes_nothing(bill: dict[str, object], reason: str) -> None:
    lg = ledger_with_bill(1_000)
    lg.close(D)
    data = {"currency": "CNY", "principal": 1, "issued_on": D, "due_date": day(30), **bill}
    before = copy.deepcopy(lg.account)
    with pytest.raises(Rejected, match=reason):
        lg.account.issue_bill(BillIssued.model_validate(data))
    assert lg.account == before


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        (dict(payment_id="P1"), "already received"),
        (dict(payment_id="P9", currency="EUR"), "currency EUR"),
        (dict(payment_id="P9", bill_id="nope"), "unknown bill nope"),
    ],
)
def test_a_refused_payment_changes_nothing(payment: dict[str, object], reason: str) -> None:
    lg = ledger_with_bill(1_000)
    lg.pay("P1", 10, day(-1))
    lg.close(D)
    data = {"currency": "CNY", "amount": 5, "paid_at": "2026-03-01T00:00:00+08:00", **payment}
    before = copy.deepcopy(lg.account)
    with pytest.raises(Rejected, match=reason):
        lg.account.receive_payment(PaymentReceived.model_validate(data))
    assert lg.account == before


def test_a_v1_payment_allocated_upcasts_and_is_itemised_on_replay() -> None:
    from shared.catalogue import new_envelope
    from shared.events import default_catalogue
    from shared.events.accounts import PaymentAllocatedV1, upcast_payment_allocated_v1_v2

    v1 = {"payment_id": "P1", "currency": "CNY", "amount": 600, "unallocated": 0,
          "allocations": [{"bill_id": "B1", "amount": 600}]}  # fmt: skip
    v2 = upcast_payment_allocated_v1_v2(v1)
    assert v2["allocations"][0]["principal"] is None and v2["backdated"] is False
    lg = ledger_with_bill(1_000, fees=100)
    old = new_envelope(
        PaymentAllocatedV1.model_validate(v1),
        account_id="A1",
        occurred_at=datetime(2026, 3, 2, tzinfo=UTC),
        source="legacy",
    )
    assert default_catalogue().upcast(old).schema_version == 2
    events = [*lg.events, old]
    account = type(lg.account).from_events("A1", events, len(events))
    bill = account.bills["B1"]
    assert (bill.paid_by["fees"], bill.paid_by["principal"]) == (100, 500)  # policy order


def test_the_issue_example_dpd_late_fee_days_and_the_bucket_boundary_agree() -> None:
    # Issue 11: a bill due 2026-01-10, unpaid, closed daily from 2026-01-11.
    due = date(2026, 1, 10)
    lg = Ledger()
    lg.bill("B1", 100_000, due)
    closes: dict[date, AccountDayClosed] = {}
    changes: list[DelinquencyBucketChanged] = []
    overdue: list[BillBecameOverdue] = []
    fee_days: list[date] = []
    on = date(2026, 1, 11)
    while on <= date(2026, 2, 15):
        events = lg.close(on)
        closes.update({c.business_date: c for c in of(events, AccountDayClosed)})
        changes += of(events, DelinquencyBucketChanged)
        overdue += of(events, BillBecameOverdue)
        fee_days += [f.business_date for f in of(events, LateFeeAccrued)]
        on += timedelta(days=1)
    assert closes[date(2026, 1, 11)].days_past_due == 1
    assert closes[date(2026, 2, 15)].days_past_due == 36
    assert [o.days_past_due for o in overdue] == [1]
    assert len(fee_days) == 36 == closes[date(2026, 2, 15)].days_past_due
    assert closes[date(2026, 2, 9)].bucket == "1-30"
    assert [(c.to_bucket, c.business_date, c.days_past_due) for c in changes] == [
        ("1-30", date(2026, 1, 11), 1),
        ("31-60", date(2026, 2, 10), 31),
    ]
