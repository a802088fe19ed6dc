"""Eligibility and quotes: refusals name the rule; options, costs, recovery, recommendation."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.plans.domain.eligibility import NotEligible, check, eligibility, refusals
from services.plans.domain.policy import PlansPolicy
from services.plans.domain.quotes import (
    Income,
    affordable_installment,
    personalised_terms,
    quote,
    reinstallment_terms,
    spread,
    waiver_terms,
)
from shared.errors import Rejected
from tests.unit.plans_kit import POLICY, TODAY, hardship, snapshot

ZERO = {"principal": 0}


@pytest.mark.parametrize(
    ("changes", "plan_type", "rule"),
    [
        ({"active_plan_id": "P0"}, "deferral", "active_plan"),
        ({"bucket": "180+"}, "deferral", "eligibility"),
        ({"bucket": "current"}, "waiver", "eligibility"),
        ({"product": "mortgage"}, "waiver", "eligibility"),
        ({"last_broken_plan_on": TODAY - timedelta(days=89)}, "waiver", "cooling_off_days"),
        ({"last_reinstallment_on": date(2025, 6, 1)}, "reinstallment",
         "reinstallment_interval_months"),
        ({"last_reinstallment_on": date(2025, 6, 1)}, "personalised",
         "reinstallment_interval_months"),
        ({"deferral_months_used": 13}, "deferral", "max_deferral_months"),
        ({"balances": ZERO, "overdue": ZERO}, "deferral", "outstanding_balance"),
        ({"overdue": ZERO}, "reinstallment", "overdue_balance"),
        ({"overdue": ZERO}, "personalised", "overdue_balance"),
        ({"balances": {"principal": 10}, "overdue": ZERO}, "waiver", "waiver_components"),
        ({"balances": {"late_fee": 1}, "overdue": ZERO}, "waiver", "waiver_caps"),
    ],
)  # fmt: skip
def test_every_refusal_names_its_rule(changes: dict[str, Any], plan_type: str, rule: str) -> None:
    s = snapshot(**changes)
    found = refusals(s, POLICY, plan_type)  # type: ignore[arg-type]
    assert rule in [r.rule for r in found], found
    with pytest.raises(NotEligible) as exc:
        check(s, POLICY, plan_type)  # type: ignore[arg-type]
    assert f"{plan_type} refused by" in exc.value.reason


def test_the_rules_lapse() -> None:
    s = snapshot(
        last_broken_plan_on=TODAY - timedelta(days=90),
        last_reinstallment_on=date(2025, 5, 31),
        deferral_months_used=12,
    )
    eligible, refused = eligibility(s, POLICY)
    assert eligible == ("deferral", "reinstallment", "waiver", "personalised")
    assert refused == ()


def test_a_quote_lists_every_option_with_its_cost() -> None:
    q = quote(snapshot(), POLICY)
    ids = [o.option_id for o in q.options]
    assert ids == [
        "deferral-1", "deferral-3", "deferral-6",
        "reinstallment-3", "reinstallment-6", "reinstallment-12", "reinstallment-24",
        "reinstallment-36", "waiver",
    ]  # fmt: skip
    r12 = q.option("reinstallment-12").terms
    assert r12.amount == 106_700
    assert r12.fees == 12 * 534  # round_half_up(106700 * 0.005) = 534 per installment
    assert r12.total_repayable == 311_700 + r12.fees
    w = q.option("waiver").terms
    assert (w.waiver_amount, w.total_repayable) == (2_100, 311_700 - 2_100)  # 0.5 of 4200
    # Without income the personalised plan is refused, naming why.
    assert [(r.plan_type, r.rule) for r in q.refusals] == [("personalised", "income")]
    assert q.recommendation is not None
    best = q.option(q.recommendation.option_id)
    assert best.expected_recovery == max(o.expected_recovery for o in q.options)
    assert "highest expected recovery" in q.recommendation.reason
    with pytest.raises(Rejected, match="no option"):
        q.option("amnesty")


def test_quoting_a_refused_account_gives_refusals_and_no_recommendation() -> None:
    q = quote(snapshot(active_plan_id="P0"), POLICY)
    assert q.options == () and q.recommendation is None
    assert {r.rule for r in q.refusals} >= {"active_plan"}


def test_deferral_options_stop_at_the_months_left() -> None:
    q = quote(snapshot(deferral_months_used=11), POLICY)
    assert [o.option_id for o in q.options if o.plan_type == "deferral"] == ["deferral-1"]
    q = quote(snapshot(deferral_months_used=12, bucket="current", overdue={}), POLICY)
    assert [o.option_id for o in q.options] == ["deferral-1"]


def test_a_schedule_matches_the_accounts_rounding() -> None:
    # 3 fen of principal and 1 of late fee over 2: the late fee's odd fen goes first and
    # the principal's continues after it (shared.money.split_by_component, as accounts bills).
    s = spread({"principal": 3, "late_fee": 1}, 2, Decimal(0), TODAY)
    assert [i.amount for i in s] == [2, 2]
    assert [i.due_date for i in s] == [date(2026, 6, 30), date(2026, 7, 30)]
    with pytest.raises(Rejected, match="cannot be spread"):
        spread({"principal": 2}, 3, Decimal(0), TODAY)


def test_tiny_balances_skip_terms_they_cannot_fill() -> None:
    tiny = {"principal": 5}
    q = quote(snapshot(balances=tiny, overdue=tiny), POLICY.from_mapping(
        {"reinstallment_monthly_rate": "0"}))  # fmt: skip
    assert [o.option_id for o in q.options if o.plan_type == "reinstallment"] == ["reinstallment-3"]
    assert any("reinstallment-6 not quoted" in n for n in q.notes)


def test_affordability() -> None:
    income = Income(800_000, essential_expenses=400_000, other_obligations=100_000)
    assert income.disposable == 300_000
    assert affordable_installment(income, POLICY) == 150_000
    assert Income(1, 5, 5).disposable == 0
    assert affordable_installment(Income(3), POLICY) == 1  # 1.5 rounds down
    with pytest.raises(Rejected, match="monthly_income"):
        Income(-1)


@pytest.mark.parametrize("field", ["monthly_income", "essential_expenses", "other_obligations"])
def test_declared_amounts_are_below_2_to_the_53_fen(field: str) -> None:
    with pytest.raises(Rejected, match=f"{field}: must be below 2\\^53 fen"):
        Income(**{"monthly_income": 0, field: 2**53})
    with pytest.raises(Rejected, match=field):
        Income(**{"monthly_income": 0, field: 10**30})
    # The largest declarable amounts still price: no precision runs out.
    largest = Income(**{"monthly_income": 2**53 - 1, field: 2**53 - 1})
    assert quote(snapshot(), POLICY, largest).affordable_installment is not None


def test_the_personalised_plan_is_the_shortest_that_fits() -> None:
    income = Income(100_000, 60_000, 0)  # affords 20_000 a month
    terms = personalised_terms(snapshot(), POLICY, income)
    assert terms.months == 6  # 106700/5 + fee > 20000; /6 + 534 = 18318 fits
    assert max(i.amount for i in terms.installments) <= 20_000
    assert terms.waiver_amount == 0
    shorter = spread(snapshot().overdue, 5, POLICY.reinstallment_monthly_rate, TODAY)
    assert max(i.amount for i in shorter) > 20_000


def test_the_personalised_plan_mixes_in_a_waiver_with_hardship() -> None:
    terms = personalised_terms(hardship(), POLICY, Income(100_000, 60_000), with_waiver=True)
    assert terms.waiver_amount == 10_000  # 0.5 of 20000 late fee
    assert terms.amount == 122_500
    assert sum(i.amount - i.fee for i in terms.installments) == 122_500 - 10_000


def test_an_unaffordable_personalised_plan_is_refused_naming_the_rule() -> None:
    with pytest.raises(NotEligible) as exc:
        personalised_terms(snapshot(), POLICY, Income(5_000, 4_000))
    assert exc.value.refusal.rule == "affordability_share"
    q = quote(snapshot(), POLICY, Income(5_000, 4_000))
    assert ("personalised", "affordability_share") in [(r.plan_type, r.rule) for r in q.refusals]
    # Only options within the affordable 500 fen may be recommended, and none is (the
    # longest, 36 months, asks 106700/36 + 534 = 3499 a month): no recommendation, a note.
    assert all(o.affordable is False for o in q.options)
    assert q.recommendation is None
    assert "no option keeps every installment within the affordable 500 fen" in q.notes


def test_with_income_only_affordable_options_are_recommended() -> None:
    q = quote(snapshot(), POLICY, Income(100_000, 60_000))
    assert q.affordable_installment == 20_000
    assert q.recommendation is not None
    best = q.option(q.recommendation.option_id)
    assert best.affordable is True
    assert "affordable installment of 20000 fen" in q.recommendation.reason


def test_waiver_bounds() -> None:
    with pytest.raises(Rejected, match=r"waiver_caps\.31-60"):
        waiver_terms(snapshot(), POLICY, 2_101)
    assert waiver_terms(snapshot(), POLICY, 100).installments[0].amount == 106_600


def test_reinstallment_rate_comes_from_policy() -> None:
    policy = PlansPolicy.from_mapping({"reinstallment_monthly_rate": "0"})
    terms = reinstallment_terms(snapshot(), policy, 3)
    assert terms.fees == 0 and terms.total_repayable == 311_700
