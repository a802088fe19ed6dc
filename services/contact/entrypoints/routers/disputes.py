"""Staff answering a borrower's dispute of a debt (the borrower raises it in self-service).

Until it is answered every check blocks collection contact about the debt; the answer is a
`DisputeResolved` event, and the case is routed again for what remains.
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import PathId, Text
from services.contact.service_layer.attempts import resolve_dispute
from services.contact.service_layer.cases import Conflict
from shared.events.contact import DisputeResolved
from shared.security import CurrentPrincipal, secured

ACCESS = {"resolve": {"supervisor", "compliance"}}

router = APIRouter(prefix="/v1/accounts", tags=["disputes"], route_class=secured(ACCESS))


class Resolution(BaseModel):
    """What the lender found: the debt `verified` as billed, or `corrected`; and the answer."""

    model_config = ConfigDict(extra="forbid", strict=True)
    finding: Literal["verified", "corrected"]
    answer: Text = ""


@router.post("/{account_id}/disputes/{debt_id}/resolution", status_code=201)
async def resolve(
    account_id: PathId,
    debt_id: PathId,
    body: Resolution,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, str]:
    """Answer an open dispute (409 when the debt has none); collection about it may resume."""
    data = DisputeResolved(debt_id=debt_id, finding=body.finding, answer=body.answer)
    async with runtime.uow() as uow:
        try:
            await resolve_dispute(uow, runtime.settings.topics, account_id, data, principal.actor())
        except Conflict as exc:
            raise HTTPException(409, exc.reason) from None
        await uow.commit()
    runtime.notify_relay()
    return {"account_id": account_id, "debt_id": debt_id, "recorded": data.event_type}
