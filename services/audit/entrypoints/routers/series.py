"""The chart's series: balance owed, days past due and late fees after each event, with
plan periods and contact attempts (the console draws it; no business rule runs in it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.audit.domain.filters import HistoryFilters
from services.audit.entrypoints.dependencies import Purpose, Runtime
from services.audit.service_layer import views
from shared.bounds import Instant
from shared.security import CurrentPrincipal, secured

ACCESS = {"get_series": {"compliance"}}

router = APIRouter(prefix="/v1", tags=["audit"], route_class=secured(ACCESS))


@router.get("/accounts/{account_id}/series")
async def get_series(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    as_of_occurred: Instant | None = None,
    as_of_recorded: Instant | None = None,
) -> dict[str, Any]:
    """`points` (after each event that may move them: seq, `at` on a never-decreasing
    occurred axis, `occurred_at`, outstanding, late_fee, days_past_due), `plans` (periods,
    `to` null while running) and `contacts` (`allowed` or `blocked`, with the rules).

    Cut "as of" either axis (or both) like the story; the read is logged.
    """
    filters = HistoryFilters(as_of_occurred=as_of_occurred, as_of_recorded=as_of_recorded)
    async with runtime.uow() as uow:
        view = await views.series_view(uow, account_id, filters, views.Reader(principal.role))
        await uow.access.log(principal, "series", purpose, account_id, filters.describe())
        await uow.commit()
    if view is None:
        raise HTTPException(404, f"no trail for account {account_id}")
    return {"account_id": account_id, **view}
