"""Which plan types an account may have today, and for each refused type the rule why.

Pure: the caller brings an `AccountSnapshot` (what the accounts service reports about the
account, and the plans history the plans service keeps) and a `PlansPolicy`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from services.plans.domain.policy import PLAN_TYPES, PlansPolicy
from shared.errors import Rejected
from shared.events.plans import PlanType
from shared.money import add_months, floor_fen

COMPONENTS = ("late_fee", "fees", "interest", "principal")


@dataclass(frozen=True)
class AccountSnapshot:
    """An account as the plans domain needs it, on the business date `today`.

    `balances` is everything unpaid by component; `overdue` the past-due part of it (what
    a re-installment re-spreads). Amounts are fen in `currency`.
    """

    account_id: str
    product: str
    currency: str
    bucket: str
    dpd: int
    today: date
    balances: Mapping[str, int] = field(default_factory=dict)
    overdue: Mapping[str, int] = field(default_factory=dict)
    deferral_months_used: int = 0
    last_reinstallment_on: date | None = None
    last_broken_plan_on: date | None = None
    active_plan_id: str | None = None

    def __post_init__(self) -> None:
        for name in ("balances", "overdue"):
            parts: Mapping[str, int] = getattr(self, name)
            for c, v in parts.items():
                if c not in COMPONENTS:
                    raise Rejected(f"{name}.{c}: unknown component (known: {list(COMPONENTS)})")
                if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                    raise Rejected(f"{name}.{c}: must be a non-negative integer, got {v!r}")
        for c, v in self.overdue.items():
            if v > self.balances.get(c, 0):
                raise Rejected(f"overdue.{c}: {v} is more than the {self.balances.get(c, 0)} owed")
        if self.dpd < 0 or self.deferral_months_used < 0:
            raise Rejected("dpd and deferral_months_used must not be negative")

    @property
    def outstanding(self) -> int:
        """Everything unpaid."""
        return sum(self.balances.values())

    @property
    def overdue_amount(self) -> int:
        """Everything past due."""
        return sum(self.overdue.values())

    def overdue_of(self, component: str) -> int:
        """The past-due amount of one component."""
        return self.overdue.get(component, 0)


@dataclass(frozen=True)
class Refusal:
    """Why a plan type is not available: `rule` is the policy key (or fact) that refused."""

    plan_type: PlanType
    rule: str
    reason: str


class NotEligible(Rejected):
    """A plan the rules refuse; carries the refusal (the API maps it to 409/422)."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(f"{refusal.plan_type} refused by {refusal.rule}: {refusal.reason}")
        self.refusal = refusal


def deferral_months_left(snapshot: AccountSnapshot, policy: PlansPolicy) -> int:
    """Deferral months the account may still use over its life."""
    return max(0, policy.max_deferral_months - snapshot.deferral_months_used)


def waivable(snapshot: AccountSnapshot, policy: PlansPolicy) -> int:
    """The unpaid amount of the components policy lets a waiver reduce."""
    return sum(snapshot.balances.get(c, 0) for c in policy.waiver_components)


def waiver_cap(snapshot: AccountSnapshot, policy: PlansPolicy) -> int:
    """The largest waiver in the account's bucket (rounded down: a cap is never exceeded)."""
    return floor_fen(waivable(snapshot, policy) * policy.waiver_cap(snapshot.bucket))


def refusals(snapshot: AccountSnapshot, policy: PlansPolicy, plan_type: PlanType) -> list[Refusal]:
    """Every rule refusing `plan_type` to the account today (empty: eligible)."""
    out: list[Refusal] = []

    def refuse(rule: str, reason: str) -> None:
        out.append(Refusal(plan_type, rule, reason))

    s = snapshot
    if s.active_plan_id is not None:
        refuse("active_plan", f"plan {s.active_plan_id} is already active on the account")
    if plan_type not in policy.allowed(s.product, s.bucket):
        refuse(
            "eligibility",
            f"eligibility.{s.product}.{s.bucket} does not allow {plan_type} "
            f"(allowed: {list(policy.allowed(s.product, s.bucket))})",
        )
    if s.last_broken_plan_on is not None:
        until = s.last_broken_plan_on + timedelta(days=policy.cooling_off_days)
        if s.today < until:
            refuse(
                "cooling_off_days",
                f"a plan broke on {s.last_broken_plan_on}; no new plan before {until} "
                f"({policy.cooling_off_days} days)",
            )
    if plan_type in ("reinstallment", "personalised") and s.last_reinstallment_on is not None:
        until = add_months(s.last_reinstallment_on, policy.reinstallment_interval_months)
        if s.today < until:
            refuse(
                "reinstallment_interval_months",
                f"last re-installment on {s.last_reinstallment_on}; one per "
                f"{policy.reinstallment_interval_months} months, next from {until}",
            )
    if plan_type == "deferral":
        left = deferral_months_left(s, policy)
        if left < 1:
            refuse(
                "max_deferral_months",
                f"{s.deferral_months_used} of {policy.max_deferral_months} deferral months "
                "already used",
            )
        if s.outstanding == 0:
            refuse("outstanding_balance", "nothing is unpaid, so there is nothing to defer")
    if plan_type in ("reinstallment", "personalised") and s.overdue_amount == 0:
        refuse("overdue_balance", "nothing is past due, so there is nothing to re-spread")
    if plan_type == "waiver":
        if waivable(s, policy) == 0:
            refuse(
                "waiver_components",
                f"nothing unpaid in {', '.join(policy.waiver_components)} to waive",
            )
        elif waiver_cap(s, policy) == 0:
            refuse(
                "waiver_caps",
                f"waiver_caps.{s.bucket} is {policy.waiver_cap(s.bucket)}: nothing may be waived",
            )
    return out


def eligibility(
    snapshot: AccountSnapshot, policy: PlansPolicy
) -> tuple[tuple[PlanType, ...], tuple[Refusal, ...]]:
    """The eligible plan types, and the refusals of every other type."""
    eligible: list[PlanType] = []
    refused: list[Refusal] = []
    for t in PLAN_TYPES:
        found = refusals(snapshot, policy, t)
        if found:
            refused.extend(found)
        else:
            eligible.append(t)
    return tuple(eligible), tuple(refused)


def check(snapshot: AccountSnapshot, policy: PlansPolicy, plan_type: PlanType) -> None:
    """Raise NotEligible with the first refusal, if any rule refuses `plan_type`."""
    found = refusals(snapshot, policy, plan_type)
    if found:
        raise NotEligible(found[0])
