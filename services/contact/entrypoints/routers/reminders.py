"""GET /v1/accounts/{account_id}/reminders: the automated reminders of an account and what
became of each (pending, sent, or skipped and why)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import PathId
from shared.security import secured

ACCESS = {"list_reminders": {"agent", "supervisor", "compliance", "borrower"}}

router = APIRouter(prefix="/v1/accounts", tags=["reminders"], route_class=secured(ACCESS))


@router.get("/{account_id}/reminders")
async def list_reminders(account_id: PathId, runtime: Runtime) -> dict[str, Any]:
    """Every reminder of the account, by due date (one per bill, due date and kind)."""
    async with runtime.uow() as uow:
        rows = await uow.reminders.of(account_id)
    return {
        "account_id": account_id,
        "reminders": [
            {
                "bill_id": r["bill_id"],
                "due_date": r["due_date"].isoformat(),
                "kind": r["kind"],
                "amount_due": r["amount_due"],
                "currency": r["currency"],
                "status": r["status"],
                "tries": r["tries"],
                "next_try_at": r["next_try_at"].isoformat() if r["status"] == "pending" else None,
                "reason": r["last_reason"],
            }
            for r in rows
        ],
    }
