"""Backdated payments: re-simulate the account as if the payment had come on time, then
emit the difference as compensating events. History is never edited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from services.accounts.domain import closing, payments, relief
from shared.catalogue import EventData
from shared.events.accounts import (
    AccountCured,
    AccountDayClosed,
    BalanceReinstalled,
    DelinquencyBucketChanged,
    DelinquencyPaused,
    DelinquencyResumed,
    DueDatesDeferred,
    FeesWaived,
    LateFeeAccrued,
    LateFeeReversed,
    PaymentAllocated,
    PaymentReallocated,
)
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived

if TYPE_CHECKING:
    from services.accounts.domain.model import Account


def simulate(account: Account) -> Account:
    """The account as its timeline says it would be with every root fact on time."""
    sim = type(account)(account.account_id, policies=account.policies)
    for root in account.timeline:
        _replay(sim, root)
    return sim


def _replay(sim: Account, root: EventData) -> None:
    match root:
        case AccountOpened():
            sim.apply_data(root)
        case BillIssued():
            sim.apply_data(root)
            payments.apply_credit(sim, root.bill_id)
        case PaymentReceived():
            sim.apply_data(root)
            payments.allocate(sim, root, sim.business_date_of(root.paid_at))
        case AccountDayClosed():
            closing.close_one(sim, root.business_date)
        case DueDatesDeferred():
            relief.defer(sim, root.plan_id, root.months)
        case BalanceReinstalled():
            count = len(root.installments)
            relief.reinstall(sim, root.plan_id, count, root.first_due_date, root.monthly_rate)
        case FeesWaived():
            components = tuple(root.components)
            relief.waive(sim, root.plan_id, root.requested, components, root.reason)
        case DelinquencyPaused():
            relief.start_plan(sim, root.plan_id)
        case DelinquencyResumed():
            relief.end_plan(sim, root.plan_id, root.reason)


def correct(account: Account, payment: PaymentReceived, as_of: date) -> None:
    """Emit the payment's allocation as of `as_of` and every correction that follows from it.

    `account` already holds the payment in its timeline. Corrections: other amounts
    reallocated (PaymentReallocated), late fees that would not have accrued
    (LateFeeReversed, or LateFeeAccrued corrections), the bucket (DelinquencyBucketChanged
    correction) and a cure. Afterwards balances, DPD and bucket equal the on-time ones.
    """
    cf = simulate(account)
    closed = account.last_closed
    assert closed is not None  # only closed dates can be backdated into
    reason = f"backdated payment {payment.payment_id} of {as_of}"
    mine = cf.allocations[payment.payment_id]
    account.emit(
        PaymentAllocated(
            payment_id=payment.payment_id,
            currency=payment.currency,
            amount=payment.amount,
            allocations=mine.allocations(),
            unallocated=mine.unallocated,
            business_date=as_of,
            backdated=True,
        )
    )
    _reallocate(account, cf, payment.payment_id, as_of, reason)
    for bill_id, should in cf.bills.items():
        delta = should.charged["late_fee"] - account.bills[bill_id].charged["late_fee"]
        if delta < 0:
            account.emit(
                LateFeeReversed(
                    bill_id=bill_id,
                    currency=account.currency,
                    amount=-delta,
                    business_date=closed,
                    as_of=as_of,
                    reason=reason,
                )
            )
        elif delta > 0:
            account.emit(
                LateFeeAccrued(
                    bill_id=bill_id,
                    currency=account.currency,
                    business_date=closed,
                    amount=delta,
                    base=0,
                    daily_rate=Decimal(0),
                    correction=True,
                    as_of=as_of,
                )
            )
    if cf.bucket != account.bucket:
        was = account.bucket
        account.emit(
            DelinquencyBucketChanged(
                from_bucket=was,
                to_bucket=cf.bucket,
                business_date=closed,
                days_past_due=cf.days_past_due,
                correction=True,
                as_of=as_of,
                reason=reason,
            )
        )
        if cf.bucket == account.policy.current:
            account.emit(
                AccountCured(
                    business_date=closed,
                    from_bucket=was,
                    payment_id=payment.payment_id,
                    correction=True,
                )
            )


def _reallocate(account: Account, cf: Account, payment_id: str, as_of: date, reason: str) -> None:
    def same(a: dict[str, dict[str, int]], b: dict[str, dict[str, int]]) -> bool:
        return {k: v for k, v in a.items() if any(v.values())} == {
            k: v for k, v in b.items() if any(v.values())
        }

    sources = [s for s in cf.allocations if s != payment_id]
    sources += [s for s in account.allocations if s not in cf.allocations]
    for source in sources:
        have, want = account.allocations.get(source), cf.allocations.get(source)
        if want is None:
            assert have is not None
            kind, allocations, unallocated = (
                have.kind,
                [],
                have.amount if have.kind == "payment" else 0,
            )
        else:
            if have is not None and same(have.by_bill, want.by_bill):
                continue
            kind, allocations, unallocated = want.kind, want.allocations(), want.unallocated
        account.emit(
            PaymentReallocated(
                source_id=source,
                kind=kind,  # type: ignore[arg-type]
                currency=account.currency,
                allocations=allocations,
                unallocated=unallocated,
                as_of=as_of,
                reason=reason,
            )
        )
