"""GET /v1/accounts/{account_id}/history: the account's trail, in order."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.audit.entrypoints.dependencies import Runtime
from shared.security import secured

ACCESS = {"get_history": {"compliance"}}

router = APIRouter(prefix="/v1/accounts", tags=["history"], route_class=secured(ACCESS))

MAX_PAGE = 1000


@router.get("/{account_id}/history")
async def get_history(
    account_id: str,
    runtime: Runtime,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 200,
) -> dict[str, Any]:
    """Entries after `after_seq` (a page at most `limit` long); `next_after_seq` pages on."""
    async with runtime.uow() as uow:
        entries = await uow.history(account_id, after_seq, limit)
    return {
        "account_id": account_id,
        "entries": entries,
        "next_after_seq": entries[-1]["seq"] if len(entries) == limit else None,
    }
