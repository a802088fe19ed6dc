"""GET /v1/accounts/{account_id}/case: the account's open case, with its whole story.

Contact points are personal data, shown as the caller's role may see them (shared.pii);
a borrower reaches only their own account (shared.security answers others with 404).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from services.contact.domain.contact_points import ContactBook
from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import PathId
from services.contact.service_layer import contact_points
from services.contact.service_layer.cases import promise_view
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.pii import PII_ROLES, mask_for
from shared.security import CurrentPrincipal, secured

ACCESS = {"get_case": {"agent", "supervisor", "compliance", "borrower"}}

router = APIRouter(prefix="/v1/accounts", tags=["cases"], route_class=secured(ACCESS))

DECISION_FIELDS = (
    "attempt_id", "debt_id", "channel", "party", "purpose", "planned_at", "decision",
    "rule_ids", "explanation", "exception_id",
)  # fmt: skip
ATTEMPT_FIELDS = (
    "attempt_id", "debt_id", "channel", "party", "outcome", "at", "agent",
    "duration_seconds", "contact_point_id",
)  # fmt: skip


def preferences(events: list[Envelope]) -> dict[str, Any] | None:
    """The borrower's latest stated contact preferences, if any."""
    latest = [e for e in events if e.type == "ContactPreferencesSet"]
    if not latest:
        return None
    data = latest[-1].data
    return {"preferred_channels": data["preferred_channels"],
            "inconvenient_hours": data["inconvenient_hours"]}  # fmt: skip


async def _log_reveal(
    runtime: Runtime, account_id: str, point_ids: list[str], actor: dict[str, str]
) -> None:
    # Two views at once race for the access stream's next version: the loser tries again.
    for attempt in range(3):
        try:
            async with runtime.uow() as uow:
                await contact_points.details_shown(
                    uow, runtime.settings.topics, account_id, point_ids, actor
                )
                await uow.commit()
            runtime.notify_relay()
            return
        except ConcurrencyError:
            if attempt == 2:
                raise


@router.get("/{account_id}/case")
async def get_case(
    account_id: PathId, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The open case of an account with attempts, decisions, promises and contact points."""
    async with runtime.uow() as uow:
        case_file = await uow.case_file(account_id)
        row = await uow.cases.row(account_id)
        standing = await uow.accounts.standing(account_id)
        events, _ = await uow.contact_log(account_id)
    if case_file.open_case_id is None:
        raise HTTPException(404, f"account {account_id} has no open collection case")
    book = ContactBook.from_events(events)
    role = principal.role
    # Staff seeing a borrower's unmasked details is on record; the borrower's own is not.
    if book.points and role in PII_ROLES and role != "borrower":
        await _log_reveal(runtime, account_id, sorted(book.points), principal.actor())
    return {
        "account_id": account_id,
        "case_id": case_file.open_case_id,
        "status": "open",
        "opened_on": case_file.opened_on.isoformat() if case_file.opened_on else None,
        "bill_id": case_file.bill_id,
        "queue": case_file.queue,
        "segment": row["segment"] if row else case_file.segment,
        "bucket": row["bucket"] if row else case_file.bucket,
        "days_past_due": standing["days_past_due"] if standing else None,
        "as_of": (
            standing["business_date"].isoformat()
            if standing and standing["business_date"]
            else None
        ),
        "assigned_to": case_file.assigned_to,
        "next_action_at": (
            row["next_action_at"].isoformat() if row and row["next_action_at"] else None
        ),
        "lost_contact": book.lost,
        "preferences": preferences(events),
        "promises": [
            promise_view(p)
            for p in case_file.promises.values()
            if p.case_id == case_file.open_case_id
        ],
        "attempts": [
            {k: e.data.get(k) for k in ATTEMPT_FIELDS}
            for e in events
            if e.type == "ContactAttemptRecorded"
        ],
        "decisions": [
            {k: e.data.get(k) for k in DECISION_FIELDS}
            for e in events
            if e.type == "ContactAttemptChecked"
        ],
        "contact_points": [
            {
                "point_id": p.point_id,
                "kind": p.kind,
                "value": mask_for(role, p.value, p.kind),
                "source": p.source,
                "status": p.status,
            }
            for p in book.points.values()
        ],
    }
