"""Plans invariants as properties: exact schedules, affordability, recovery, tracking."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from services.plans.domain.eligibility import NotEligible, refusals
from services.plans.domain.plan import Plan
from services.plans.domain.policy import PLAN_TYPES, PlansPolicy
from services.plans.domain.quotes import (
    Income,
    affordable_installment,
    expected_recovery,
    personalised_terms,
    quote,
    reinstallment_terms,
    spread,
)
from shared.events.plans import PlanBroken, PlanCompleted
from tests.unit.plans_kit import AGENT, BORROWER, snapshot

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

component = st.integers(0, 5_000_000)
overdue_st = st.fixed_dictionaries(
    {"principal": component, "interest": component, "fees": component, "late_fee": component}
)
rate_st = st.decimals(min_value=0, max_value=Decimal("0.05"), places=4)
day_st = st.dates(date(2024, 1, 1), date(2030, 12, 31))


@FAST
@given(overdue=overdue_st, months=st.sampled_from([3, 6, 12, 24, 36]), rate=rate_st, on=day_st)
def test_a_reinstallment_schedule_sums_exactly_to_the_restructured_balance(
    overdue: dict[str, int], months: int, rate: Decimal, on: date
) -> None:
    balance = sum(overdue.values())
    assume(balance >= months)
    policy = PlansPolicy(reinstallment_monthly_rate=rate)
    s = snapshot(balances=overdue, overdue=overdue, today=on)
    terms = reinstallment_terms(s, policy, months)
    shares = [i.amount - i.fee for i in terms.installments]
    assert sum(shares) == balance == terms.amount
    assert sum(i.amount for i in terms.installments) == balance + terms.fees
    assert terms.total_repayable == balance + terms.fees
    # Shares of each component differ by at most a fen, odd fen first: totals never grow.
    assert all(a >= b for a, b in itertools.pairwise(shares))
    assert max(shares) - min(shares) <= 4
    dues = [i.due_date for i in terms.installments]
    assert dues == sorted(dues) and dues[0] > on and len(set(dues)) == months


@FAST
@given(
    overdue=overdue_st,
    income=st.integers(0, 3_000_000),
    expenses=st.integers(0, 2_000_000),
    other=st.integers(0, 1_000_000),
    share=st.decimals(min_value=Decimal("0.01"), max_value=1, places=2),
    with_waiver=st.booleans(),
)
def test_affordability_plans_never_exceed_the_affordable_installment(
    overdue: dict[str, int], income: int, expenses: int, other: int, share: Decimal,
    with_waiver: bool,
) -> None:  # fmt: skip
    assume(sum(overdue.values()) > 0)
    policy = PlansPolicy(affordability_share=share)
    declared = Income(income, expenses, other)
    affordable = affordable_installment(declared, policy)
    assert affordable <= declared.disposable * share
    s = snapshot(balances=overdue, overdue=overdue)
    try:
        terms = personalised_terms(s, policy, declared, with_waiver=with_waiver)
    except NotEligible as exc:
        assert exc.refusal.rule == "affordability_share"
        if not with_waiver:  # nothing fits: not even the longest schedule that can be made
            longest = min(36, sum(overdue.values()))
            schedule = spread(overdue, longest, policy.reinstallment_monthly_rate, s.today)
            assert max(i.amount for i in schedule) > affordable
        return
    assert max(i.amount for i in terms.installments) <= affordable
    assert sum(i.amount - i.fee for i in terms.installments) + terms.waiver_amount == terms.amount
    # The shortest: one month fewer would not fit.
    if terms.months > 1:
        parts = dict(overdue)
        left = terms.waiver_amount
        for c in policy.waiver_components:
            take = min(left, parts[c])
            parts[c] -= take
            left -= take
        shorter = spread(parts, terms.months - 1, policy.reinstallment_monthly_rate, s.today)
        assert max(i.amount for i in shorter) > affordable


@FAST
@given(
    amounts=st.lists(st.integers(1, 10_000_000), min_size=1, max_size=36),
    p=st.decimals(min_value=0, max_value=1, places=3),
    q=st.decimals(min_value=0, max_value=1, places=3),
    rate=rate_st,
)
def test_expected_recovery_is_monotone_in_cure_probability(
    amounts: list[int], p: Decimal, q: Decimal, rate: Decimal
) -> None:
    installments = spread({"principal": sum(amounts)}, len(amounts), Decimal(0), date(2026, 1, 31))
    lo, hi = sorted((p, q))
    low = expected_recovery(installments, date(2026, 1, 31), lo, rate)
    high = expected_recovery(installments, date(2026, 1, 31), hi, rate)
    assert 0 <= low <= high <= sum(amounts)


@FAST
@given(
    overdue=overdue_st,
    bucket=st.sampled_from(["current", "1-30", "31-60", "61-90", "180+"]),
    used=st.integers(0, 13),
    broke_days_ago=st.none() | st.integers(0, 200),
    reinstalled_days_ago=st.none() | st.integers(0, 500),
    income=st.none() | st.integers(0, 1_000_000),
)
def test_every_type_is_either_quoted_or_refused_by_a_named_rule(
    overdue: dict[str, int],
    bucket: str,
    used: int,
    broke_days_ago: int | None,
    reinstalled_days_ago: int | None,
    income: int | None,
) -> None:
    s = snapshot(
        balances=overdue, overdue=overdue, bucket=bucket, deferral_months_used=used,
        last_broken_plan_on=None if broke_days_ago is None
        else date(2026, 5, 31) - timedelta(days=broke_days_ago),
        last_reinstallment_on=None if reinstalled_days_ago is None
        else date(2026, 5, 31) - timedelta(days=reinstalled_days_ago),
    )  # fmt: skip
    policy = PlansPolicy()
    q = quote(s, policy, None if income is None else Income(income))
    quoted = {o.plan_type for o in q.options}
    refused = {r.plan_type for r in q.refusals}
    for t in PLAN_TYPES:
        assert t in quoted or t in refused or (t == "reinstallment" and q.notes)
        if t in quoted:
            assert not refusals(s, policy, t)
    known_rules = {f for f in policy.__dataclass_fields__} | {
        "active_plan", "outstanding_balance", "overdue_balance", "income",
    }  # fmt: skip
    assert {r.rule for r in q.refusals} <= known_rules
    if q.recommendation is not None:
        assert q.recommendation.option_id in {o.option_id for o in q.options}


@FAST
@given(
    months=st.sampled_from([3, 6, 12]),
    payments=st.lists(st.tuples(st.integers(0, 40), st.integers(1, 60_000)), max_size=30),
)
def test_tracking_ends_completed_or_broken_and_replays(
    months: int, payments: list[tuple[int, int]]
) -> None:
    s = snapshot()
    plan, _ = Plan.request(plan_id="P", account_id="A1", plan_type="reinstallment", by=BORROWER,
                           channel="app", on=s.today)  # fmt: skip
    plan.offer(reinstallment_terms(s, PlansPolicy(), months), snapshot=s, policy=PlansPolicy(),
               by=AGENT)  # fmt: skip
    assert plan.offered is not None
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=plan.offered.disclosure_sha256,
                on=s.today)  # fmt: skip
    plan.activate(on=s.today)
    day, paid = s.today, 0
    by_day = sorted(payments)
    for offset in range(0, 31 * (months + 1)):
        day = s.today + timedelta(days=offset)
        for when, amount in by_day:
            if when * 7 == offset and plan.state == "active":
                before = sum(i.paid for i in plan.installments)
                plan.record_payment(amount, day)
                paid += sum(i.paid for i in plan.installments) - before
        plan.close_day(day)
        if plan.state != "active":
            break
    total = sum(i.amount for i in plan.installments)
    assert paid <= total
    assert plan.state in ("active", "completed", "broken")
    if plan.state == "completed":
        assert paid == total and isinstance(plan.log[-1], PlanCompleted)
    if plan.state == "broken":
        assert isinstance(plan.log[-1], PlanBroken)
    rebuilt = Plan.from_events("A1", plan.log)
    assert (rebuilt.state, rebuilt.version) == (plan.state, plan.version)
    assert [i.paid for i in rebuilt.installments] == [i.paid for i in plan.installments]
