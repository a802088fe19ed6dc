"""Payments and credit: allocation in policy order, and how allocations change state."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from services.accounts.domain.bills import AllocationRecord, Bill, to_allocation, zero
from shared.events.accounts import (
    AccountCured,
    CreditApplied,
    DelinquencyBucketChanged,
    PaymentAllocated,
    PaymentReallocated,
    RepeatedPartialPayments,
)
from shared.events.inbound import PaymentReceived

if TYPE_CHECKING:
    from services.accounts.domain.model import Account


def take(bill: Bill, amount: int, order: tuple[str, ...]) -> dict[str, int]:
    """Up to `amount` of the bill's unpaid components, in `order`."""
    parts, left = zero(), amount
    for component in order:
        parts[component] = min(left, bill.unpaid(component))
        left -= parts[component]
    return parts


def allocate(account: Account, payment: PaymentReceived, on: date) -> None:
    """Allocate a payment now; then warn of repeated partial payments and improve the bucket."""
    order = [b for b in account.sorted_bills() if b.outstanding > 0]
    if payment.bill_id is not None:
        named = [b for b in order if b.bill_id == payment.bill_id]
        order = named + [b for b in order if b.bill_id != payment.bill_id]
    left, allocations = payment.amount, []
    for bill in order:
        parts = take(bill, left, account.policy.allocation_order)
        if sum(parts.values()) > 0:
            allocations.append(to_allocation(bill.bill_id, parts))
            left -= sum(parts.values())
    closed = account.last_closed
    account.emit(
        PaymentAllocated(
            payment_id=payment.payment_id,
            currency=payment.currency,
            amount=payment.amount,
            allocations=allocations,
            unallocated=left,
            business_date=on,
            backdated=closed is not None and on <= closed,
        )
    )
    streak, every = account.partial_streak, account.policy.partial_payment_streak
    if streak and streak[-1] == payment.payment_id and len(streak) % every == 0:
        account.emit(
            RepeatedPartialPayments(
                currency=account.currency,
                payment_ids=streak[-every:],
                overdue_outstanding=sum(b.outstanding for b in account.past_due_bills()),
                business_date=on,
            )
        )
    improve(account, f"payment {payment.payment_id}", payment.payment_id)


def improve(account: Account, reason: str, payment_id: str | None = None) -> None:
    """Classify in real time after a payment or relief: a better bucket is recorded at once.

    Only improvements: worsening waits for a day close. Charged-off accounts stay put.
    """
    if account.last_closed is None or account.charged_off_on is not None:
        return
    policy, dpd = account.policy, account.days_past_due
    to = policy.bucket_for(dpd).name
    if policy.rank(to) >= policy.rank(account.bucket):
        return
    was = account.bucket
    account.emit(
        DelinquencyBucketChanged(
            from_bucket=was,
            to_bucket=to,
            business_date=account.last_closed,
            days_past_due=dpd,
            reason=reason,
        )
    )
    if to == policy.current:
        account.emit(
            AccountCured(business_date=account.last_closed, from_bucket=was, payment_id=payment_id)
        )


def apply_credit(account: Account, bill_id: str) -> None:
    """Apply any credit balance to a newly issued bill."""
    if account.credit <= 0:
        return
    parts = take(account.bills[bill_id], account.credit, account.policy.allocation_order)
    amount = sum(parts.values())
    if amount > 0:
        account.emit(
            CreditApplied(
                bill_id=bill_id,
                currency=account.currency,
                amount=amount,
                allocation=to_allocation(bill_id, parts),
                remaining_credit=account.credit - amount,
            )
        )


def apply_allocated(account: Account, e: PaymentAllocated) -> None:
    """State change of PaymentAllocated, including the partial-payment streak."""
    overdue_before = sum(b.outstanding for b in account.past_due_bills())
    record = AllocationRecord("payment", e.amount)
    for a in e.allocations:
        bill = account.bills[a.bill_id]
        # v1 allocations were not itemised: itemise them in policy order as they apply.
        parts = (
            a.components() if a.itemised else take(bill, a.amount, account.policy.allocation_order)
        )
        _add(account, record, a.bill_id, parts)
    account.allocations[e.payment_id] = record
    account.credit += e.unallocated
    if overdue_before > 0:
        overdue_after = sum(b.outstanding for b in account.past_due_bills())
        if overdue_after > 0:
            account.partial_streak.append(e.payment_id)
        else:
            account.partial_streak.clear()


def apply_reallocated(account: Account, e: PaymentReallocated) -> None:
    """State change of PaymentReallocated: undo the source's allocation, then do the new one."""
    old = account.allocations.get(e.source_id)
    if old is not None:
        for bill_id, parts in old.by_bill.items():
            for c, v in parts.items():
                account.bills[bill_id].paid_by[c] -= v
        account.credit += old.allocated if old.kind == "credit" else -old.unallocated
    allocated = sum(a.amount for a in e.allocations)
    amount = allocated + e.unallocated if e.kind == "payment" else allocated
    record = AllocationRecord(e.kind, amount)
    for a in e.allocations:
        _add(account, record, a.bill_id, a.components())
    account.allocations[e.source_id] = record
    account.credit += e.unallocated if e.kind == "payment" else -allocated


def apply_credit_applied(account: Account, e: CreditApplied) -> None:
    """State change of CreditApplied."""
    record = AllocationRecord("credit", e.amount)
    _add(account, record, e.bill_id, e.allocation.components())
    account.allocations[credit_source(e.bill_id)] = record
    account.credit -= e.amount


def credit_source(bill_id: str) -> str:
    """The allocation source id of credit applied to a bill."""
    return f"credit:{bill_id}"


def _add(account: Account, record: AllocationRecord, bill_id: str, parts: dict[str, int]) -> None:
    held = record.by_bill.setdefault(bill_id, zero())
    for c, v in parts.items():
        account.bills[bill_id].paid_by[c] += v
        held[c] += v
