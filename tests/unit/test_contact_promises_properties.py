"""Property: a promise to pay ends exactly once, kept if and only if the payments dated
from the day it was made to its due date reach its amount, whatever their order."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.contact.domain.model import Payment
from tests.unit.test_contact_cases_domain import D, fold, open_case, promise

MADE, DUE = D("2026-03-12"), D("2026-03-15")
payments = st.lists(
    st.tuples(st.integers(min_value=-3, max_value=8), st.integers(min_value=1, max_value=200)),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(amount=st.integers(min_value=1, max_value=500), paid=payments)
def test_a_promise_is_kept_iff_payments_in_its_days_reach_it(
    amount: int, paid: list[tuple[int, int]]
) -> None:
    case = promise(open_case(), amount=amount, due=DUE.isoformat())
    seen: list[Payment] = []
    outcomes: list[str] = []
    by_day = sorted((MADE + timedelta(days=offset), fen) for offset, fen in paid)
    # Day by day: the day's payments arrive, then the day closes (as accounts reports).
    day: date = MADE - timedelta(days=3)
    while day <= MADE + timedelta(days=9):
        for when, fen in by_day:
            if when == day:
                seen.append(Payment(when, fen))
                for kept in case.promises_kept(seen, day):
                    fold(case, kept)
                    outcomes.append("kept")
        for broken in case.promises_broken(seen, day):
            fold(case, broken)
            outcomes.append("broken")
        day += timedelta(days=1)

    counted = sum(fen for when, fen in by_day if MADE <= when <= DUE)
    assert outcomes == (["kept"] if counted >= amount else ["broken"])
    (only,) = case.promises.values()
    assert only.status == outcomes[0]
