"""GET /v1/accounts/{account_id}: an account's bills and balances."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.accounts.entrypoints.dependencies import Runtime
from shared.security import secured

ACCESS = {"get_account": {"agent", "supervisor", "compliance", "borrower"}}

router = APIRouter(prefix="/v1/accounts", tags=["accounts"], route_class=secured(ACCESS))


@router.get("/{account_id}")
async def get_account(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """The account summary: currency, bills with what is unpaid, credit balance."""
    async with runtime.uow() as uow:
        account = await uow.accounts.get(account_id)
    if not account.opened:
        raise HTTPException(404, f"no account {account_id}")
    return {
        "account_id": account.account_id,
        "product": account.product,
        "currency": account.currency,
        "time_zone": account.time_zone,
        "credit": account.credit,
        "outstanding": sum(b.outstanding for b in account.bills.values()),
        "bills": [
            {
                "bill_id": b.bill_id,
                "due_date": b.due_date.isoformat(),
                "amount": b.amount,
                "paid": b.paid,
                "outstanding": b.outstanding,
                "overdue": b.overdue_reported,
            }
            for b in sorted(account.bills.values(), key=lambda b: (b.due_date, b.bill_id))
        ],
    }
