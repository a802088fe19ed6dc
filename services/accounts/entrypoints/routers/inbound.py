"""POST /v1/inbound/events: integrators submit events over HTTP."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, Field

from services.accounts.entrypoints.dependencies import Runtime
from services.accounts.service_layer.ingest import IngestResult, ingest
from shared.bounds import QueryInt
from shared.logs import current_correlation
from shared.security import CurrentPrincipal, secured

ACCESS = {
    "post_events": {"integrator"},
    "get_submission": {"integrator"},
    "list_submissions": {"integrator"},
}
MAX_PAGE = 500

router = APIRouter(prefix="/v1/inbound", tags=["inbound"], route_class=secured(ACCESS))


class IngestRequest(BaseModel):
    """A batch of event envelopes (see docs/events.md)."""

    events: list[Any] = Field(min_length=1)


class IngestResponse(BaseModel):
    """One result per submitted event, in the order submitted."""

    accepted: int
    duplicate: int
    rejected: int
    results: list[dict[str, Any]]


@router.post("/events", response_model=IngestResponse)
async def post_events(
    body: IngestRequest, runtime: Runtime, principal: CurrentPrincipal
) -> IngestResponse:
    """Apply each event; an invalid one is rejected with the field and reason, the rest go on."""
    limit = runtime.settings.ingest_max_batch
    if len(body.events) > limit:
        raise HTTPException(413, f"a batch holds at most {limit} events; got {len(body.events)}")
    consumer = runtime.consumers["inbound"]
    results: list[IngestResult] = await ingest(
        body.events,
        uow_factory=runtime.uow,
        handler=consumer.handler,  # type: ignore[arg-type]
        catalogue=runtime.catalogue,
        ledger_name=consumer.name,
        inbound_topic=runtime.settings.topics.inbound,
        principal=principal,
        now=runtime.clock.now(),
        scoped=runtime.settings.integrator_account_scoping,
        correlation_id=current_correlation(),
    )
    runtime.notify_relay()
    counts = {s: sum(r.status == s for r in results) for s in ("accepted", "duplicate", "rejected")}
    return IngestResponse(
        **counts,
        results=[{k: v for k, v in r.__dict__.items() if v is not None} for r in results],
    )


@router.get("/submissions/{event_id}")
async def get_submission(
    event_id: str, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, object]:
    """What became of one event this integrator submitted over HTTP."""
    async with runtime.uow() as uow:
        found = await uow.submissions.get(principal.subject, event_id)
    if found is None:
        raise HTTPException(404, f"you submitted no event {event_id}")
    return found


@router.get("/submissions")
async def list_submissions(
    runtime: Runtime,
    principal: CurrentPrincipal,
    status: Literal["accepted", "rejected"] | None = None,
    offset: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, object]:
    """This integrator's submissions, newest first (e.g. `?status=rejected`)."""
    async with runtime.uow() as uow:
        page = await uow.submissions.list(principal.subject, status, offset, limit)
    return {"submissions": page, "next_offset": offset + limit if len(page) == limit else None}
