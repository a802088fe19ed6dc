"""GET /v1/accounts/{account_id}/case: the account's open collection case."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.contact.entrypoints.dependencies import Runtime
from shared.security import secured

ACCESS = {"get_case": {"agent", "supervisor", "compliance", "borrower"}}

router = APIRouter(prefix="/v1/accounts", tags=["cases"], route_class=secured(ACCESS))


@router.get("/{account_id}/case")
async def get_case(account_id: str, runtime: Runtime) -> dict[str, Any]:
    """The open case of an account, or 404 when it has none."""
    async with runtime.uow() as uow:
        case_file = await uow.case_file(account_id)
    if case_file.open_case_id is None:
        raise HTTPException(404, f"account {account_id} has no open collection case")
    return {
        "account_id": account_id,
        "case_id": case_file.open_case_id,
        "status": "open",
        "opened_on": case_file.opened_on.isoformat() if case_file.opened_on else None,
    }
