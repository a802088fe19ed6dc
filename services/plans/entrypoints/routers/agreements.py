"""Plan agreements: POST and GET under /v1/accounts/{account_id}/plans."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from services.plans.entrypoints.dependencies import Runtime
from services.plans.service_layer import handlers
from shared.events.plans import Channel, PlanType
from shared.money import Currency, NonNegativeMinor
from shared.security import CurrentPrincipal, secured

ACCESS = {
    "post_agreement": {"agent", "supervisor", "borrower"},
    "list_plans": {"agent", "supervisor", "compliance", "borrower"},
}
MAX_PAGE = 200

router = APIRouter(prefix="/v1/accounts", tags=["plans"], route_class=secured(ACCESS))


class AgreementRequest(BaseModel):
    """The terms a borrower agreed; server-owned fields (ids, times, source) are not accepted."""

    model_config = ConfigDict(extra="forbid")

    plan_type: PlanType
    currency: Currency
    amount: NonNegativeMinor
    months: int = Field(ge=0, le=36)
    channel: Channel


@router.post("/{account_id}/plans/agreements", status_code=201)
async def post_agreement(
    account_id: str, body: AgreementRequest, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Record that the borrower agreed a plan; the accounts service applies it."""
    async with runtime.uow() as uow:
        event = await handlers.agree(
            uow, runtime.settings.topics, account_id, body.model_dump(), principal.actor()
        )
        await uow.commit()
    runtime.notify_relay()
    return event.model_dump(mode="json")


@router.get("/{account_id}/plans")
async def list_plans(
    account_id: str,
    runtime: Runtime,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """The account's plan events, oldest first, a page at a time."""
    async with runtime.uow() as uow:
        events = await uow.plans_of(account_id, offset=offset, limit=limit)
    return {
        "account_id": account_id,
        "events": [e.model_dump(mode="json") for e in events],
        "next_offset": offset + limit if len(events) == limit else None,
    }
