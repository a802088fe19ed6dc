"""The negotiation story: the trail read as one plain sentence per meaningful event.

Same rules as the history: compliance only, a stated purpose, "as of" either time axis,
and every read recorded in the access log.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from services.audit.domain.filters import HistoryFilters
from services.audit.entrypoints.dependencies import Purpose, Reveal, Runtime
from services.audit.service_layer import views
from shared.bounds import Instant, QueryInt
from shared.security import CurrentPrincipal, secured

ACCESS = {"get_story": {"compliance"}}
MAX_PAGE = 1000

router = APIRouter(prefix="/v1", tags=["audit"], route_class=secured(ACCESS))


@router.get("/accounts/{account_id}/story")
async def get_story(
    account_id: str,
    runtime: Runtime,
    principal: CurrentPrincipal,
    purpose: Purpose,
    after_seq: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 200,
    as_of_occurred: Instant | None = None,
    as_of_recorded: Instant | None = None,
    reveal: Reveal = False,
) -> dict[str, Any]:
    """Lines in seq order: due dates, overdue, fees, offers and disclosures, approvals,
    acceptances, waivers and their evidence, contact and blocked contact, promises to pay.

    Each line carries its event's seq, id and hash. `as_of_occurred`: what had happened
    by then; `as_of_recorded`: what the system knew by then (both may be combined).
    Personal fields are masked by their declared kind unless `reveal` (and the role may).
    """
    filters = HistoryFilters(as_of_occurred=as_of_occurred, as_of_recorded=as_of_recorded)
    async with runtime.uow() as uow:
        # The whole story is told even for one page: a sentence may depend on an earlier
        # event (an acceptance is compared with the offer's disclosure hash).
        reader = views.Reader(principal.role, reveal)
        view = await views.story_view(uow, account_id, filters, reader)
        lines, revealed = view or ([], 0)
        await uow.access.log(
            principal,
            "story",
            purpose,
            account_id,
            {**filters.describe(), "after_seq": after_seq, "limit": limit}
            | reader.logged(revealed),
        )
        await uow.commit()
    if view is None:
        raise HTTPException(404, f"no trail for account {account_id}")
    # Lines are in seq order: the page starts after the last line at or before after_seq.
    start = bisect_right(lines, after_seq, key=lambda line: line["seq"])
    page = lines[start : start + limit]
    return {
        "account_id": account_id,
        "lines": page,
        "next_after_seq": page[-1]["seq"] if len(page) == limit else None,
    }
