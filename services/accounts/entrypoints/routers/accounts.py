"""Account queries: summary, bills, payment allocations and delinquency history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from services.accounts.domain.model import Account
from services.accounts.entrypoints.dependencies import Runtime
from shared.bounds import QueryInt
from shared.security import secured

READERS = {"agent", "supervisor", "compliance", "borrower"}
ACCESS = {
    "get_account": READERS,
    "list_bills": READERS,
    "list_allocations": READERS,
    "delinquency_history": READERS,
}
MAX_PAGE = 500
DELINQUENCY_TYPES = (
    "BillBecameOverdue",
    "DelinquencyBucketChanged",
    "LateFeeAccrued",
    "LateFeeReversed",
    "DelinquencyPaused",
    "DelinquencyResumed",
    "AccountChargedOff",
    "AccountCured",
    "FirstPaymentDefaulted",
    "RepeatedPartialPayments",
    "DueDatesDeferred",
    "BalanceReinstalled",
    "FeesWaived",
    "PlanTermsRefused",
)

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=secured(ACCESS))


async def _account(runtime: Runtime, account_id: str) -> Account:
    async with runtime.uow() as uow:
        account = await uow.accounts.get(account_id)
    if not account.opened:
        raise HTTPException(404, f"no account {account_id}")
    return account


@router.get("/{account_id}")
async def get_account(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """Balances by component, days past due, bucket and active relief."""
    account = await _account(runtime, account_id)
    balances = account.balances()
    return {
        "account_id": account.account_id,
        "product": account.product,
        "currency": account.currency,
        "time_zone": account.time_zone,
        "balances": balances,
        "outstanding": sum(balances.values()),
        "credit": account.credit,
        "days_past_due": account.days_past_due,
        "bucket": account.bucket or "current",
        "last_closed_business_date": account.last_closed.isoformat()
        if account.last_closed
        else None,
        "charged_off_on": account.charged_off_on.isoformat() if account.charged_off_on else None,
        "relief": {
            "active_plans": sorted(account.active_plans),
            "delinquency_paused": account.paused,
            "deferred_months_used": account.deferred_months,
        },
        "bills": [
            {
                "bill_id": b.bill_id,
                "due_date": b.due_date.isoformat(),
                "amount": b.amount,
                "paid": b.paid,
                "outstanding": b.outstanding,
                "overdue": b.overdue_reported,
            }
            for b in account.sorted_bills()
        ],
    }


@router.get("/{account_id}/bills")
async def list_bills(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """Every bill with what was charged, paid, waived and re-installed, per component."""
    account = await _account(runtime, account_id)
    return {
        "account_id": account_id,
        "currency": account.currency,
        "bills": [
            {
                "bill_id": b.bill_id,
                "issued_on": b.issued_on.isoformat(),
                "due_date": b.due_date.isoformat(),
                "charged": b.charged,
                "paid": b.paid_by,
                "waived": b.waived,
                "reinstalled": b.reinstalled,
                "unpaid": b.unpaid_by_component(),
                "outstanding": b.outstanding,
            }
            for b in account.sorted_bills()
        ],
    }


@router.get("/{account_id}/allocations")
async def list_allocations(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """How each payment (and applied credit) is allocated now, per bill and component."""
    account = await _account(runtime, account_id)
    return {
        "account_id": account_id,
        "currency": account.currency,
        "allocations": [
            {
                "source_id": source,
                "kind": record.kind,
                "amount": record.amount,
                "allocated": record.allocated,
                "by_bill": record.by_bill,
            }
            for source, record in account.allocations.items()
        ],
    }


@router.get("/{account_id}/delinquency")
async def delinquency_history(
    account_id: str,
    runtime: Runtime,
    offset: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 200,
) -> dict[str, Any]:
    """Overdue, bucket, late-fee, pause, relief, cure and charge-off events, oldest first."""
    await _account(runtime, account_id)
    async with runtime.uow() as uow:
        entries = await uow.accounts.history(account_id, DELINQUENCY_TYPES, offset, limit)
    return {
        "account_id": account_id,
        "entries": [
            {
                "event_id": str(e.id),
                "type": e.type,
                "occurred_at": e.occurred_at.isoformat(),
                "recorded_at": e.recorded_at.isoformat() if e.recorded_at else None,
                "data": e.data,
            }
            for e in entries
        ],
        "next_offset": offset + limit if len(entries) == limit else None,
    }
