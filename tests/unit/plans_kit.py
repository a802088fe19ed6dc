"""Builders for plans-domain tests: snapshots, actors, and plans in every state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from services.plans.domain.eligibility import AccountSnapshot
from services.plans.domain.plan import Actor, Evidence, Plan, State
from services.plans.domain.policy import PlansPolicy
from services.plans.domain.quotes import deferral_terms, reinstallment_terms, waiver_terms

TODAY = date(2026, 5, 31)
POLICY = PlansPolicy()
BORROWER = Actor("b-1", "borrower")
AGENT = Actor("agent-1", "agent")
AGENT2 = Actor("agent-2", "agent")
SUPERVISOR = Actor("sup-1", "supervisor")
SUPERVISOR2 = Actor("sup-2", "supervisor")
PDF = Evidence.of("ab" * 32, "application/pdf", 1000, "unemployment", POLICY)


def snapshot(**changes: Any) -> AccountSnapshot:
    """A consumer-credit account 40 days past due, CNY, on TODAY."""
    base: dict[str, Any] = {
        "account_id": "A1",
        "product": "consumer_credit",
        "currency": "CNY",
        "bucket": "31-60",
        "dpd": 40,
        "today": TODAY,
        "balances": {"principal": 300_000, "interest": 6_000, "fees": 1_500, "late_fee": 4_200},
        "overdue": {"principal": 100_000, "interest": 2_000, "fees": 500, "late_fee": 4_200},
    }
    base.update(changes)
    return AccountSnapshot(**base)


def hardship() -> AccountSnapshot:
    """An account whose late fees make the bucket's capped waiver need evidence."""
    return snapshot(
        balances={"principal": 300_000, "interest": 6_000, "fees": 1_500, "late_fee": 20_000},
        overdue={"principal": 100_000, "interest": 2_000, "fees": 500, "late_fee": 20_000},
    )


def requested(plan_type: str = "reinstallment", plan_id: str = "P1") -> Plan:
    plan, _ = Plan.request(
        plan_id=plan_id,
        account_id="A1",
        plan_type=plan_type,  # type: ignore[arg-type]
        by=BORROWER,
        channel="app",
        on=TODAY,
    )
    return plan


def offered(months: int = 3, *, by: Actor = AGENT, policy: PlansPolicy = POLICY) -> Plan:
    plan = requested()
    plan.offer(reinstallment_terms(snapshot(), policy, months), snapshot=snapshot(),
               policy=policy, by=by)  # fmt: skip
    return plan


def pending(by: Actor = AGENT) -> Plan:
    """An offered waiver above the evidence threshold: it awaits a supervisor."""
    plan = requested("waiver")
    s = hardship()
    plan.offer(waiver_terms(s, POLICY), snapshot=s, policy=POLICY, by=by, evidence=[PDF])
    assert plan.approval == "pending"
    return plan


def accepted() -> Plan:
    plan = offered()
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=_hash(plan), on=TODAY)
    return plan


def active() -> Plan:
    plan = accepted()
    plan.activate(on=TODAY)
    return plan


def deferral_active(months: int = 2) -> Plan:
    plan = requested("deferral")
    plan.offer(deferral_terms(snapshot(), POLICY, months), snapshot=snapshot(), policy=POLICY,
               by=AGENT)  # fmt: skip
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=_hash(plan), on=TODAY)
    plan.activate(on=TODAY)
    return plan


def _hash(plan: Plan) -> str:
    assert plan.offered is not None
    return plan.offered.disclosure_sha256


def in_state(state: State) -> Plan:
    """A plan brought to `state` by legal commands."""
    builders: dict[State, Callable[[], Plan]] = {
        "requested": requested,
        "offered": offered,
        "accepted": accepted,
        "active": active,
    }
    if state in builders:
        return builders[state]()
    plan: Plan
    if state == "declined":
        plan = offered()
        plan.decline(by=BORROWER, channel="app", on=TODAY)
    elif state == "expired":
        plan = offered()
        plan.close_day(TODAY + timedelta(days=POLICY.offer_expiry_days + 1))
    elif state == "rejected":
        plan = pending()
        plan.reject(by=SUPERVISOR, on=TODAY, reason="evidence unreadable")
    elif state == "completed":
        plan = active()
        plan.record_payment(sum(i.amount for i in plan.installments), TODAY)
    elif state == "broken":
        plan = active()
        plan.close_day(TODAY + timedelta(days=200))
    else:
        plan = requested()
        plan.cancel(by=AGENT, on=TODAY, reason="duplicate request")
    assert plan.state == state
    return plan
