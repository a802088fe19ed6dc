"""Queues: agents pull their next case; supervisors see the load."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import PathId
from services.contact.service_layer import cases
from shared.security import CurrentPrincipal, secured

ACCESS = {"next_case": {"agent", "supervisor"}, "queues": {"supervisor"}}

router = APIRouter(prefix="/v1/queues", tags=["queues"], route_class=secured(ACCESS))


@router.post("/{queue}/next")
async def next_case(queue: PathId, runtime: Runtime, principal: CurrentPrincipal) -> dict[str, Any]:
    """Claim the oldest free case of the queue that may be called now; 404 when none is ready."""
    async with runtime.uow() as uow:
        try:
            claimed = await cases.claim_next(
                uow, runtime.settings.topics, queue, principal.subject, principal.actor()
            )
        except cases.Conflict as exc:
            raise HTTPException(409, exc.reason) from None
        if claimed is None:
            raise HTTPException(
                404, f"queue {queue} has no case that is free and may be contacted now"
            )
        await uow.commit()
    runtime.notify_relay()
    return claimed


@router.get("")
async def queues(runtime: Runtime) -> dict[str, Any]:
    """Open, free and ready cases per queue, and open cases per agent."""
    async with runtime.uow() as uow:
        return await cases.queue_overview(uow)
