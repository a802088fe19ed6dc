"""The account's state reconstructed from its trail as of a point on either time axis."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.audit.entrypoints.dependencies import Purpose, Runtime
from services.audit.service_layer import views
from shared.bounds import Instant
from shared.security import CurrentPrincipal, secured

ACCESS = {"get_state": {"compliance"}}

router = APIRouter(prefix="/v1", tags=["audit"], route_class=secured(ACCESS))


@router.get("/accounts/{account_id}/state")
async def get_state(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    as_of_occurred: Instant | None = None,
    as_of_recorded: Instant | None = None,
) -> dict[str, Any]:
    """Balances, bucket and DPD, active plan, case, contact attempts in the trailing 7 days.

    Give one of `as_of_recorded` (what the system knew then) or `as_of_occurred` (what had
    happened by then); neither means now. Each fact names the event it comes from.
    """
    if as_of_occurred is not None and as_of_recorded is not None:
        # One point in time anchors the 7-day contact window; two axes give two points.
        raise HTTPException(422, "give as_of_recorded or as_of_occurred, not both")
    async with runtime.uow() as uow:
        if as_of_recorded is not None:
            axis: views.Axis = "recorded"
            at = as_of_recorded
        elif as_of_occurred is not None:
            axis, at = "occurred", as_of_occurred
        else:
            axis, at = "now", uow.now
        reader = views.Reader(principal.role)
        state = await views.state_view(uow, account_id, axis, at, reader)
        await uow.access.log(
            principal, "state", purpose, account_id, {"axis": axis, "as_of": at.isoformat()}
        )
        await uow.commit()
    if state is None:
        raise HTTPException(404, f"no trail for account {account_id}")
    return {"account_id": account_id, "axis": axis, **state}
