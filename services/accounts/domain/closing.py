"""Closing one business date of one account: reminders, overdue, late fees, buckets."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from services.accounts.domain.money import daily_late_fee
from shared.events.accounts import (
    COMPONENTS,
    AccountChargedOff,
    AccountCured,
    AccountDayClosed,
    BillBecameOverdue,
    DelinquencyBucketChanged,
    FirstPaymentDefaulted,
    LateFeeAccrued,
    PaymentDueSoon,
)
from shared.money import round_fen

if TYPE_CHECKING:
    from services.accounts.domain.bills import Bill
    from services.accounts.domain.model import Account


def close_one(account: Account, day: date) -> None:
    """Emit the events of closing `day`, which must be the account's next business date."""
    _remind(account, day)
    _report_overdue(account, day)
    paused = account.is_paused(day)
    if not paused and account.charged_off_on is None:
        _accrue_late_fees(account, day)
    dpd = account.days_past_due_on(day)
    if account.charged_off_on is None:
        _classify(account, day, dpd, paused)
    overdue: dict[str, int] = {c: 0 for c in COMPONENTS}
    for bill in account.sorted_bills():
        if account.bill_dpd(bill, day) >= 1:
            for component, unpaid in bill.unpaid_by_component().items():
                overdue[component] += unpaid
    account.emit(
        AccountDayClosed(
            business_date=day,
            days_past_due=dpd,
            bucket=account.bucket,
            paused=paused,
            balances=account.balances(),
            overdue=overdue,
            deferral_months_used=account.deferred_months,
        )
    )


def _remind(account: Account, day: date) -> None:
    soon = account.policy.due_soon_days
    for bill in account.sorted_bills():
        until = (bill.due_date - day).days
        if bill.outstanding > 0 and not bill.due_soon_reported and 1 <= until <= soon:
            account.emit(
                PaymentDueSoon(
                    bill_id=bill.bill_id,
                    currency=account.currency,
                    due_date=bill.due_date,
                    business_date=day,
                    days_until_due=until,
                    amount_due=bill.outstanding,
                )
            )


def _report_overdue(account: Account, day: date) -> None:
    for bill in account.sorted_bills():
        dpd = account.bill_dpd(bill, day)
        if dpd < 1 or bill.overdue_reported:
            continue
        account.emit(
            BillBecameOverdue(
                bill_id=bill.bill_id,
                currency=account.currency,
                due_date=bill.due_date,
                business_date=day,
                overdue_amount=bill.outstanding,
                days_past_due=dpd,
            )
        )
        first = bill.bill_id == account.first_bill_id
        if first and bill.paid == 0 and not account.first_default_reported:
            account.emit(
                FirstPaymentDefaulted(
                    bill_id=bill.bill_id,
                    currency=account.currency,
                    due_date=bill.due_date,
                    business_date=day,
                    amount_due=bill.outstanding,
                )
            )


def _accrue_late_fees(account: Account, day: date) -> None:
    fee_policy = account.policy.late_fee
    for bill in account.sorted_bills():
        if account.bill_dpd(bill, day) < 1:
            continue
        base = bill.late_fee_base
        fee = daily_late_fee(base, fee_policy.daily_rate, fee_policy.minimum, _room(account, bill))
        if fee > 0:
            account.emit(
                LateFeeAccrued(
                    bill_id=bill.bill_id,
                    currency=account.currency,
                    business_date=day,
                    amount=fee,
                    base=base,
                    daily_rate=fee_policy.daily_rate,
                )
            )


def _room(account: Account, bill: Bill) -> int | None:
    # The cap bounds the bill's total late fee, so what was charged already uses it up.
    cap_rate = account.policy.late_fee.cap_rate
    if cap_rate is None:
        return None
    return round_fen(bill.charged["principal"] * cap_rate) - bill.charged["late_fee"]


def _classify(account: Account, day: date, dpd: int, paused: bool) -> None:
    policy = account.policy
    to = policy.bucket_for(dpd).name
    if paused and policy.rank(to) > policy.rank(account.bucket):
        to = account.bucket  # a pause never lets the bucket worsen
    if to != account.bucket:
        was = account.bucket
        account.emit(
            DelinquencyBucketChanged(
                from_bucket=was, to_bucket=to, business_date=day, days_past_due=dpd
            )
        )
        if to == policy.current:
            account.emit(AccountCured(business_date=day, from_bucket=was))
    if dpd > policy.charge_off_dpd:
        outstanding = sum(b.outstanding for b in account.bills.values())
        account.emit(
            AccountChargedOff(
                currency=account.currency,
                business_date=day,
                days_past_due=dpd,
                outstanding=outstanding,
            )
        )
