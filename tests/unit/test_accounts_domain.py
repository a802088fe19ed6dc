"""The account aggregate allocates payments, reports overdue bills once, and replays exactly."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.accounts.domain.model import Account
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.accounts import BillBecameOverdue, PaymentAllocated
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived

AT = datetime(2026, 3, 1, 1, 0, tzinfo=UTC)
ISSUED = date(2026, 3, 1)


class History:
    """An account plus the event stream that made it, built as the handler would."""

    def __init__(self, account_id: str = "A1", currency: str = "CNY") -> None:
        self.account = Account(account_id)
        self.events: list[Envelope] = []
        opened = AccountOpened(
            customer_id="C1", product="consumer_credit", currency=currency, time_zone="Asia/Tokyo"
        )
        self.account.open(opened)
        self._record(opened)

    def _record(self, data: EventData) -> None:
        env = new_envelope(
            data, account_id=self.account.account_id, occurred_at=AT, recorded_at=AT, source="t"
        )
        self.account.apply(env)
        self.events.append(env)
        self.account.version = len(self.events)

    def bill(self, bill_id: str, amount: int, due: date, currency: str = "CNY") -> None:
        data = BillIssued(
            bill_id=bill_id,
            currency=currency,
            principal=amount,
            issued_on=min(ISSUED, due),
            due_date=due,
        )
        follows = self.account.issue_bill(data)
        self._record(data)
        for event in follows:
            self._record(event)

    def pay(
        self, payment_id: str, amount: int, bill_id: str | None = None, currency: str = "CNY"
    ) -> PaymentAllocated:
        data = payment_of(payment_id, amount, bill_id, currency)
        events = self.account.receive_payment(data)
        self._record(data)
        for event in events:
            self._record(event)
        allocated = events[0]
        assert isinstance(allocated, PaymentAllocated)
        return allocated

    def close(self, business_date: date) -> list[str]:
        events = self.account.close_day(business_date)
        for event in events:
            self._record(event)
        return [o.bill_id for o in overdue_in(events)]

    def outstanding(self) -> dict[str, int]:
        return {b.bill_id: b.outstanding for b in self.account.bills.values()}


def overdue_in(events: list[EventData]) -> list[BillBecameOverdue]:
    """The BillBecameOverdue among a close's events (a close now reports more than these)."""
    return [e for e in events if isinstance(e, BillBecameOverdue)]


def payment_of(
    payment_id: str, amount: int, bill_id: str | None = None, currency: str = "CNY"
) -> PaymentReceived:
    return PaymentReceived(
        payment_id=payment_id, currency=currency, amount=amount, paid_at=AT, bill_id=bill_id
    )


def three_bills() -> History:
    h = History()
    h.bill("B-late", 300, date(2026, 5, 10))
    h.bill("B-early", 100, date(2026, 3, 10))
    h.bill("B-mid", 200, date(2026, 4, 10))
    return h


def allocations(event: PaymentAllocated) -> list[tuple[str, int]]:
    return [(a.bill_id, a.amount) for a in event.allocations]


# -- allocation ---------------------------------------------------------------------------


def test_a_payment_pays_the_oldest_due_bill_first() -> None:
    h = three_bills()
    assert allocations(h.pay("P1", 250)) == [("B-early", 100), ("B-mid", 150)]
    assert h.outstanding() == {"B-late": 300, "B-early": 0, "B-mid": 50}


def test_bills_due_the_same_day_are_paid_in_bill_id_order() -> None:
    h = History()
    h.bill("B2", 100, date(2026, 3, 10))
    h.bill("B1", 100, date(2026, 3, 10))
    assert allocations(h.pay("P1", 150)) == [("B1", 100), ("B2", 50)]


def test_a_payment_for_a_named_bill_pays_that_bill_first_then_oldest_first() -> None:
    h = three_bills()
    assert allocations(h.pay("P1", 350, bill_id="B-late")) == [("B-late", 300), ("B-early", 50)]


def test_a_payment_naming_a_paid_bill_goes_to_the_oldest_unpaid() -> None:
    h = three_bills()
    h.pay("P1", 100, bill_id="B-early")
    assert allocations(h.pay("P2", 20, bill_id="B-early")) == [("B-mid", 20)]


def test_overpayment_becomes_unallocated_credit() -> None:
    h = three_bills()
    allocated = h.pay("P1", 1_000)
    assert sum(a.amount for a in allocated.allocations) == 600
    assert allocated.unallocated == 400
    assert h.account.credit == 400
    assert set(h.outstanding().values()) == {0}


def test_a_payment_with_no_bills_is_all_credit() -> None:
    h = History()
    allocated = h.pay("P1", 75)
    assert allocated.allocations == []
    assert allocated.unallocated == 75
    assert h.account.credit == 75


def test_a_payment_of_exactly_the_balance_pays_every_bill_and_leaves_no_credit() -> None:
    h = three_bills()
    allocated = h.pay("P1", 600)
    assert allocations(allocated) == [("B-early", 100), ("B-mid", 200), ("B-late", 300)]
    assert allocated.unallocated == 0
    assert h.account.credit == 0


# -- refusals change nothing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("payment", "reason"),
    [
        (payment_of("P9", 100, currency="USD"), "currency USD"),
        (payment_of("P9", 100, bill_id="B-nope"), "unknown bill B-nope"),
        (payment_of("P1", 100), "payment P1 was already received"),
    ],
    ids=["currency-mismatch", "unknown-bill", "duplicate-payment-id"],
)
def test_a_refused_payment_is_rejected_and_changes_nothing(
    payment: PaymentReceived, reason: str
) -> None:
    h = three_bills()
    h.pay("P1", 50)
    before = copy.deepcopy(h.account)
    with pytest.raises(Rejected) as info:
        h.account.receive_payment(payment)
    assert reason in info.value.reason
    assert h.account == before


def test_a_payment_to_an_account_never_opened_is_rejected() -> None:
    account = Account("ghost")
    with pytest.raises(Rejected, match="unknown account ghost"):
        account.receive_payment(payment_of("P1", 100))
    assert account == Account("ghost")


def test_a_bill_on_an_account_never_opened_is_rejected() -> None:
    account = Account("ghost")
    bill = BillIssued(bill_id="B1", currency="CNY", principal=1, issued_on=ISSUED, due_date=ISSUED)
    with pytest.raises(Rejected, match="unknown account ghost"):
        account.issue_bill(bill)


@pytest.mark.parametrize(
    ("bill", "reason"),
    [
        (
            BillIssued(
                bill_id="B-early", currency="CNY", principal=1, issued_on=ISSUED, due_date=ISSUED
            ),
            "already exists",
        ),
        (
            BillIssued(
                bill_id="B-new", currency="EUR", principal=1, issued_on=ISSUED, due_date=ISSUED
            ),
            "currency EUR",
        ),
        (
            BillIssued(
                bill_id="B-new", currency="CNY", principal=0, issued_on=ISSUED, due_date=ISSUED
            ),
            "more than zero",
        ),
    ],
    ids=["duplicate-bill", "currency-mismatch", "zero-bill"],
)
def test_a_refused_bill_is_rejected_and_changes_nothing(bill: BillIssued, reason: str) -> None:
    h = three_bills()
    before = copy.deepcopy(h.account)
    with pytest.raises(Rejected) as info:
        h.account.issue_bill(bill)
    assert reason in info.value.reason
    assert h.account == before


def test_an_account_cannot_be_opened_twice() -> None:
    h = History()
    again = AccountOpened(
        customer_id="C2", product="cash_loan", currency="CNY", time_zone="Asia/Shanghai"
    )
    with pytest.raises(Rejected, match="already open"):
        h.account.open(again)
    assert h.account.customer_id == "C1"


# -- closing the day ----------------------------------------------------------------------


def test_an_unpaid_bill_is_not_overdue_on_its_due_date_and_dpd_1_the_day_after() -> None:
    h = History()
    h.bill("B1", 100, date(2026, 3, 10))
    assert overdue_in(h.account.close_day(date(2026, 3, 10))) == []  # the borrower has the day
    assert h.account.days_past_due_on(date(2026, 3, 10)) == 0
    (overdue,) = overdue_in(h.account.close_day(date(2026, 3, 11)))
    assert overdue.bill_id == "B1"
    assert overdue.days_past_due == 1
    assert overdue.overdue_amount == 100
    assert (overdue.due_date, overdue.business_date) == (date(2026, 3, 10), date(2026, 3, 11))
    assert overdue.currency == "CNY"


@pytest.mark.parametrize("days_late", [1, 2, 30, 365])
def test_days_past_due_is_the_business_date_minus_the_due_date(days_late: int) -> None:
    due = date(2026, 3, 10)
    h = History()
    h.bill("B1", 100, due)
    business_date = due + timedelta(days=days_late)
    (overdue,) = overdue_in(h.account.close_day(business_date))
    assert overdue.days_past_due == (business_date - due).days == days_late


def test_each_bill_is_reported_overdue_once() -> None:
    h = History()
    h.bill("B1", 100, date(2026, 3, 10))
    assert h.close(date(2026, 3, 11)) == ["B1"]
    assert h.close(date(2026, 3, 11)) == []
    assert h.close(date(2026, 3, 12)) == []
    assert h.account.bills["B1"].overdue_reported


def test_the_overdue_amount_is_what_is_still_unpaid() -> None:
    h = History()
    h.bill("B1", 100, date(2026, 3, 10))
    h.pay("P1", 30)
    (overdue,) = overdue_in(h.account.close_day(date(2026, 3, 12)))
    assert overdue.overdue_amount == 70
    assert overdue.days_past_due == 2


def test_bills_due_later_or_fully_paid_are_not_overdue() -> None:
    h = History()
    h.bill("B-paid", 100, date(2026, 3, 1))
    h.bill("B-due", 100, date(2026, 3, 5))
    h.bill("B-future", 100, date(2026, 3, 11))
    h.pay("P1", 100, bill_id="B-paid")
    assert h.close(date(2026, 3, 11)) == ["B-due"]
    assert h.close(date(2026, 3, 12)) == ["B-future"]


def test_overdue_bills_are_reported_oldest_due_first() -> None:
    h = three_bills()
    assert h.close(date(2026, 6, 1)) == ["B-early", "B-mid", "B-late"]


def test_closing_a_day_on_an_account_never_opened_reports_nothing() -> None:
    assert Account("ghost").close_day(date(2026, 3, 10)) == []  # not even AccountDayClosed


def test_the_overdue_flag_survives_a_replay() -> None:
    h = History()
    h.bill("B1", 100, date(2026, 3, 10))
    assert h.close(date(2026, 3, 11)) == ["B1"]
    replayed = Account.from_events("A1", h.events, len(h.events))
    assert overdue_in(replayed.close_day(date(2026, 3, 12))) == []


# -- properties ---------------------------------------------------------------------------

bills_strategy = st.lists(
    st.tuples(st.integers(1, 10_000), st.integers(0, 60)),  # (amount, days after issue)
    min_size=0,
    max_size=6,
)
payments_strategy = st.lists(
    st.tuples(st.integers(1, 20_000), st.one_of(st.none(), st.integers(0, 5))),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bills=bills_strategy, payments=payments_strategy)
def test_allocations_conserve_money_and_never_overpay_a_bill(
    bills: list[tuple[int, int]], payments: list[tuple[int, int | None]]
) -> None:
    h = History()
    for i, (amount, days) in enumerate(bills):
        h.bill(f"B{i}", amount, ISSUED + timedelta(days=days))
    for n, (amount, named) in enumerate(payments):
        bill_id = f"B{named}" if named is not None and named < len(bills) else None
        owed = h.outstanding()
        owed_before = sum(owed.values())
        credit_before = h.account.credit
        allocated = h.pay(f"P{n}", amount, bill_id=bill_id)

        applied = sum(a.amount for a in allocated.allocations)
        assert applied == min(amount, owed_before)
        assert applied + allocated.unallocated == amount == allocated.amount
        assert all(0 < a.amount <= owed[a.bill_id] for a in allocated.allocations)
        assert len({a.bill_id for a in allocated.allocations}) == len(allocated.allocations)
        assert all(v >= 0 for v in h.outstanding().values())
        assert sum(h.outstanding().values()) == owed_before - applied
        assert h.account.credit == credit_before + allocated.unallocated
        # Greedy: every bill paid into except the last one is now paid off.
        assert all(h.outstanding()[a.bill_id] == 0 for a in allocated.allocations[:-1])
        if bill_id is not None and owed[bill_id] > 0:
            first = allocated.allocations[0]
            assert (first.bill_id, first.amount) == (bill_id, min(amount, owed[bill_id]))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bills=bills_strategy,
    payments=payments_strategy,
    close_after=st.integers(0, 90),
)
def test_replaying_the_stream_reproduces_the_state(
    bills: list[tuple[int, int]], payments: list[tuple[int, int | None]], close_after: int
) -> None:
    h = History()
    for i, (amount, days) in enumerate(bills):
        h.bill(f"B{i}", amount, ISSUED + timedelta(days=days))
    for n, (amount, named) in enumerate(payments):
        bill_id = f"B{named}" if named is not None and named < len(bills) else None
        h.pay(f"P{n}", amount, bill_id=bill_id)
    h.close(ISSUED + timedelta(days=close_after))

    replayed = Account.from_events("A1", h.events, len(h.events))

    assert replayed == h.account
    assert {b: (x.paid, x.overdue_reported) for b, x in replayed.bills.items()} == {
        b: (x.paid, x.overdue_reported) for b, x in h.account.bills.items()
    }
    assert replayed.credit == h.account.credit
    assert replayed.payment_ids == {f"P{n}" for n in range(len(payments))}
    assert replayed.version == len(h.events)


# -- deciding on a scratch copy -------------------------------------------------------------


def _mutable_parts(value: object) -> list[object]:
    """Every mutable container reachable from `value` (dataclasses, dicts, lists, sets)."""
    found: list[object] = []
    if isinstance(value, dict | list | set):
        found.append(value)
        for item in value.values() if isinstance(value, dict) else value:
            found += _mutable_parts(item)
    elif dataclasses.is_dataclass(value) and not type(value).__dataclass_params__.frozen:  # type: ignore[attr-defined]
        found.append(value)
        for f in dataclasses.fields(value):
            if f.name != "policies":  # immutable configuration, shared on purpose
                found += _mutable_parts(getattr(value, f.name))
    return found


def test_a_scratch_copy_shares_no_mutable_state_with_the_account() -> None:
    # A refusal half-way through a decision must leave the real account untouched, so
    # every field added to Account must be copied by scratch(), not shared.
    h = three_bills()
    h.pay("P1", 250)
    h.close(date(2026, 3, 20))
    account = h.account
    scratch = account.scratch()
    assert scratch == account
    original = {
        id(part)
        for name in account.__dataclass_fields__
        if name != "policies"
        for part in _mutable_parts(getattr(account, name))
    }
    copied = {
        id(part)
        for name in scratch.__dataclass_fields__
        if name != "policies"
        for part in _mutable_parts(getattr(scratch, name))
    }
    assert original and not original & copied
