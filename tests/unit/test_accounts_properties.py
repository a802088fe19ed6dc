"""Money invariants as properties, and a scenario over several months of business dates."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.events.accounts import (
    AccountCured,
    BillBecameOverdue,
    DelinquencyBucketChanged,
    FirstPaymentDefaulted,
    LateFeeReversed,
    PaymentAllocated,
    PaymentDueSoon,
)
from tests.unit.accounts_kit import Ledger, of

S = date(2026, 3, 1)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

bills_st = st.lists(
    st.tuples(st.integers(1, 50_000), st.integers(1, 40), st.integers(0, 2_000)),
    min_size=1,
    max_size=4,
)
op_st = st.one_of(
    st.tuples(st.just("pay"), st.integers(1, 60_000), st.integers(0, 12), st.booleans()),
    st.tuples(st.just("close"), st.integers(1, 15), st.just(0), st.just(False)),
    st.tuples(st.just("bill"), st.integers(1, 30_000), st.integers(1, 40), st.just(False)),
    st.tuples(st.just("plan"), st.just(0), st.just(0), st.just(False)),
)


def check_invariants(lg: Ledger) -> None:
    a = lg.account
    assert a.credit >= 0
    for bill in a.bills.values():
        for c in bill.charged:
            assert bill.unpaid(c) >= 0, (bill.bill_id, c)
            assert bill.paid_by[c] >= 0 and bill.charged[c] >= 0
    # money is conserved: every fen received is on a bill or in credit
    received = sum(r.amount for r in a.allocations.values() if r.kind == "payment")
    assert sum(b.paid for b in a.bills.values()) + a.credit == received


@FAST
@given(bills=bills_st, ops=st.lists(op_st, min_size=1, max_size=14))
def test_allocations_sum_to_the_payment_nothing_goes_negative_and_replay_is_exact(
    bills: list[tuple[int, int, int]], ops: list[tuple[str, int, int, bool]]
) -> None:
    lg = Ledger()
    for i, (principal, due, fees) in enumerate(bills):
        lg.bill(f"B{i}", principal, S + timedelta(days=due), fees=fees)
    lg.close(S)
    plan_open = False
    for n, (op, x, y, flag) in enumerate(ops):
        today = lg.account.today or S
        if op == "pay":
            named = f"B{n % len(bills)}" if flag else None
            events = lg.pay(f"P{n}", x, today - timedelta(days=y), bill_id=named)
            (alloc,) = of(events, PaymentAllocated)
            assert sum(a.amount for a in alloc.allocations) + alloc.unallocated == x
            for a in alloc.allocations:
                assert a.itemised and sum(a.components().values()) == a.amount
        elif op == "close":
            lg.close(today + timedelta(days=x - 1))
        elif op == "bill":
            lg.bill(f"N{n}", x, today + timedelta(days=y))
        else:
            lg.do("end_plan" if plan_open else "start_plan", "PL")
            plan_open = not plan_open
        check_invariants(lg)
    assert lg.replay() == lg.account


@FAST
@given(
    bills=bills_st,
    others=st.lists(st.tuples(st.integers(1, 70), st.integers(1, 30_000)), max_size=4),
    paid_on=st.integers(1, 60),
    amount=st.integers(1, 80_000),
    late_by=st.integers(0, 40),
)
def test_a_backdated_payment_ends_where_an_on_time_one_would(
    bills: list[tuple[int, int, int]],
    others: list[tuple[int, int]],
    paid_on: int,
    amount: int,
    late_by: int,
) -> None:
    last = paid_on + late_by

    def run(on_time: bool) -> Ledger:
        lg = Ledger()
        for i, (principal, due, fees) in enumerate(bills):
            lg.bill(f"B{i}", principal, S + timedelta(days=due), fees=fees)
        lg.close(S)
        for d in range(1, last + 1):
            for n, (when, value) in enumerate(others):
                if when == d:
                    lg.pay(f"O{n}", value, S + timedelta(days=d))
            if on_time and d == paid_on:
                lg.pay("X", amount, S + timedelta(days=d))
            lg.close(S + timedelta(days=d))
        if not on_time:
            lg.pay("X", amount, S + timedelta(days=paid_on))
        check_invariants(lg)
        return lg

    backdated = run(on_time=False)
    assert backdated.state() == run(on_time=True).state()
    assert backdated.replay() == backdated.account


def test_scenario_over_four_months_of_business_dates() -> None:
    """Three installments; one paid on time, one late and partly, then relief and a cure."""
    lg = Ledger()
    for n, due in enumerate([date(2026, 4, 9), date(2026, 5, 9), date(2026, 6, 9)], start=1):
        lg.bill(f"I{n}", 30_000, due, fees=300, issued=date(2026, 3, 1))
    lg.close(date(2026, 3, 1))

    march = lg.close(date(2026, 4, 6))
    assert [e.bill_id for e in of(march, PaymentDueSoon)] == ["I1"]
    lg.pay("P1", 30_300, date(2026, 4, 8))  # on time
    assert of(lg.close(date(2026, 5, 9)), BillBecameOverdue) == []  # I2 due today

    may = lg.close(date(2026, 5, 10))  # I2 unpaid the day after its due date
    assert [e.bill_id for e in of(may, BillBecameOverdue)] == ["I2"]
    assert of(may, FirstPaymentDefaulted) == []  # the first bill was paid
    lg.pay("P2", 10_000, date(2026, 5, 20))
    lg.close(date(2026, 6, 15))
    assert (lg.account.bucket, lg.account.days_past_due) == ("31-60", 37)  # 15 June - 9 May

    # A payment made on 5 June, reported late, corrects fees and DPD as of that date.
    corrected = lg.pay("P3", 21_000, date(2026, 6, 5))  # clears I2 as of 5 June
    assert of(corrected, LateFeeReversed)
    assert lg.account.days_past_due == 6  # only I3 is past due now (due 9 June)
    assert lg.account.bucket == "1-30"
    assert of(corrected, DelinquencyBucketChanged)[0].correction

    # Relief: the plans service agreed a waiver of late fees and a one-month deferral.
    lg.do("start_plan", "PL1")
    lg.do("apply_waiver", "PL1")
    relief = lg.do("apply_deferral", "PL1", 1)
    assert of(relief, AccountCured)
    assert lg.account.balances()["late_fee"] == 0
    lg.close(date(2026, 7, 8))
    lg.do("end_plan", "PL1", "completed")
    owed = sum(b.outstanding for b in lg.account.bills.values())
    lg.pay("P4", owed, date(2026, 7, 8))
    lg.close(date(2026, 7, 31))
    assert lg.account.balances() == {"late_fee": 0, "fees": 0, "interest": 0, "principal": 0}
    assert (lg.account.bucket, lg.account.days_past_due, lg.account.credit) == ("current", 0, 0)
    assert lg.replay() == lg.account
