"""Relief agreed in the plans service: deferral, re-installment, waiver, and the pause."""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from services.accounts.domain.bills import Bill, to_allocation, zero
from services.accounts.domain.payments import improve
from shared.errors import Rejected
from shared.events.accounts import (
    COMPONENTS,
    BalanceReinstalled,
    DelinquencyPaused,
    DelinquencyResumed,
    DueDateMove,
    DueDatesDeferred,
    FeesWaived,
    Installment,
)
from shared.events.plans import PlanActivated
from shared.money import add_months, round_fen, split_by_component

if TYPE_CHECKING:
    from services.accounts.domain.model import Account

WAIVABLE = ("late_fee", "fees", "interest")


def start_plan(account: Account, plan_id: str) -> None:
    """Pause delinquency for an agreed plan."""
    if plan_id in account.active_plans:
        raise Rejected(f"plan {plan_id} is already active")
    account.emit(DelinquencyPaused(plan_id=plan_id, business_date=account.today))


def end_plan(account: Account, plan_id: str, reason: str) -> None:
    """End a plan; delinquency resumes from the next business date if no plan is left."""
    if plan_id not in account.active_plans:
        raise Rejected(f"plan {plan_id} is not active on account {account.account_id}")
    if reason not in ("broken", "completed", "cancelled"):
        raise Rejected(f"a plan ends 'broken', 'completed' or 'cancelled', not {reason!r}")
    account.emit(DelinquencyResumed(plan_id=plan_id, reason=reason, business_date=account.today))  # type: ignore[arg-type]


def apply_terms(account: Account, plan: PlanActivated) -> None:
    """Every measure of an activated plan, in the order its terms were priced: the waiver
    first (a personalised plan re-spreads what is left), then deferral, re-installment."""
    if plan.waiver_amount:
        waive(
            account,
            plan.plan_id,
            plan.waiver_amount,
            tuple(plan.waiver_components),
            f"{plan.plan_type} plan {plan.plan_id}",
        )
    if plan.deferral_months:
        defer(account, plan.plan_id, plan.deferral_months)
    if plan.plan_type in ("reinstallment", "personalised") and plan.installments:
        assert plan.first_due_date is not None
        covered = plan.amount - plan.waiver_amount
        overdue = sum(b.outstanding for b in account.past_due_bills())
        if overdue != covered:
            # The plan's installments were priced from this balance; anything else would
            # make the borrower's schedule disagree with the disclosure they accepted.
            raise Rejected(
                f"plan {plan.plan_id} re-spreads {covered} fen but {overdue} fen is past due "
                "now; the plan must be re-offered"
            )
        reinstall(
            account, plan.plan_id, len(plan.installments), plan.first_due_date, plan.monthly_rate
        )
    if plan.installments:
        start_plan(account, plan.plan_id)


def defer(account: Account, plan_id: str, months: int) -> None:
    """Move every unpaid bill's due date `months` later, within the account's total limit."""
    _once(account, "deferral", plan_id)
    limit = account.policy.max_deferral_months
    if months < 1:
        raise Rejected(f"a deferral is for at least 1 month, not {months}")
    used = account.deferred_months + months
    if used > limit:
        raise Rejected(
            f"deferral of {months} months refused: the account would have {used} months "
            f"deferred in total, more than the {limit} allowed"
        )
    unpaid = [b for b in account.sorted_bills() if b.outstanding > 0]
    if not unpaid:
        raise Rejected("nothing to defer: no bill has anything unpaid")
    moves = [
        DueDateMove(bill_id=b.bill_id, from_date=b.due_date, to_date=add_months(b.due_date, months))
        for b in unpaid
    ]
    account.emit(DueDatesDeferred(plan_id=plan_id, months=months, moves=moves, months_used=used))
    improve(account, f"deferral {plan_id}")


def reinstall(
    account: Account, plan_id: str, count: int, first_due_date: date, monthly_rate: Any
) -> None:
    """Replace the past-due balance by `count` monthly bills whose components sum to it."""
    _once(account, "reinstallment", plan_id)
    rate = _rate(monthly_rate)
    if not 1 <= count <= account.policy.max_installments:
        raise Rejected(
            f"a re-installment has 1 to {account.policy.max_installments} installments, not {count}"
        )
    overdue = account.past_due_bills()
    if not overdue or account.today is None:
        raise Rejected("nothing to reinstall: no bill is past due")
    if first_due_date < account.today:
        raise Rejected(
            f"first due date {first_due_date} is before the business date {account.today}"
        )
    ids = [f"{plan_id}-{i + 1}" for i in range(count)]
    taken = [i for i in ids if i in account.bills]
    if taken:
        raise Rejected(f"bill {taken[0]} already exists on account {account.account_id}")
    replaced = [to_allocation(b.bill_id, b.unpaid_by_component()) for b in overdue]
    totals = {c: sum(b.unpaid(c) for b in overdue) for c in COMPONENTS}
    amount = sum(totals.values())
    shares = split_by_component({c: totals[c] for c in COMPONENTS}, count)
    fee = round_fen(amount * rate)  # the one rounding rule, once per installment
    installments = [
        Installment(
            bill_id=ids[i],
            due_date=add_months(first_due_date, i),
            principal=shares["principal"][i],
            interest=shares["interest"][i] + fee,
            fees=shares["fees"][i],
            late_fee=shares["late_fee"][i],
        )
        for i in range(count)
    ]
    account.emit(
        BalanceReinstalled(
            plan_id=plan_id,
            currency=account.currency,
            amount=amount,
            replaced=replaced,
            installments=installments,
            monthly_rate=rate,
            first_due_date=first_due_date,
            issued_on=account.today,
        )
    )
    improve(account, f"re-installment {plan_id}")


def waive(
    account: Account,
    plan_id: str,
    amount: int | None,
    components: tuple[str, ...],
    reason: str,
) -> None:
    """Waive up to `amount` of the named components, component by component, oldest bill first."""
    _once(account, "waiver", plan_id)
    if not components:
        raise Rejected("a waiver names at least one component")
    for c in components:
        if c not in WAIVABLE:
            raise Rejected(f"cannot waive {c}: only {', '.join(WAIVABLE)} may be waived")
    bills = account.sorted_bills()
    waivable = sum(b.unpaid(c) for b in bills for c in components)
    if waivable == 0:
        raise Rejected(f"nothing to waive: no unpaid {', '.join(components)}")
    if amount is not None and amount <= 0:
        raise Rejected(f"a waiver is for more than zero, not {amount}")
    if amount is not None and amount > waivable:
        raise Rejected(f"waiver of {amount} exceeds the {waivable} waivable")
    left = waivable if amount is None else amount
    by_bill: dict[str, dict[str, int]] = {}
    for c in components:
        for b in bills:
            part = min(left, b.unpaid(c))
            if part > 0:
                by_bill.setdefault(b.bill_id, zero())[c] += part
                left -= part
    account.emit(
        FeesWaived(
            plan_id=plan_id,
            currency=account.currency,
            amount=waivable if amount is None else amount,
            waived=[to_allocation(bill_id, parts) for bill_id, parts in by_bill.items()],
            requested=amount,
            components=list(components),  # type: ignore[arg-type]
            reason=reason,
        )
    )
    improve(account, f"waiver {plan_id}")


def apply_relief(account: Account, e: DueDatesDeferred | BalanceReinstalled | FeesWaived) -> None:
    """State change of a relief event."""
    match e:
        case DueDatesDeferred():
            for move in e.moves:
                bill = account.bills[move.bill_id]
                bill.due_date = move.to_date
                # A new due date deserves its own reminder and overdue report.
                bill.due_soon_reported = bill.overdue_reported = False
            account.deferred_months = e.months_used
            account.reliefs.add(f"deferral:{e.plan_id}")
        case BalanceReinstalled():
            for r in e.replaced:
                for c, v in r.components().items():
                    account.bills[r.bill_id].reinstalled[c] += v
            for i in e.installments:
                charged: dict[str, int] = {c: getattr(i, c) for c in COMPONENTS}
                account.bills[i.bill_id] = Bill(i.bill_id, i.due_date, e.issued_on, charged)
            account.reliefs.add(f"reinstallment:{e.plan_id}")
        case FeesWaived():
            for w in e.waived:
                for c, v in w.components().items():
                    account.bills[w.bill_id].waived[c] += v
            account.reliefs.add(f"waiver:{e.plan_id}")


def _once(account: Account, kind: str, plan_id: str) -> None:
    if f"{kind}:{plan_id}" in account.reliefs:
        raise Rejected(f"{kind} of plan {plan_id} was already applied")


def _rate(value: Any) -> Decimal:
    if isinstance(value, float | bool):
        raise Rejected(f"monthly rate must be a Decimal or string, not {value!r}")
    try:
        rate = Decimal(value)
    except (InvalidOperation, TypeError):
        raise Rejected(f"monthly rate {value!r} is not a number") from None
    if not rate.is_finite() or rate < 0 or rate >= 1:
        raise Rejected(f"monthly rate {rate} must be in [0, 1)")
    return rate
