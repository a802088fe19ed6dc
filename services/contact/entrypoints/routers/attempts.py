"""Contact attempts: check one before it happens, record it after."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.contact.domain.compliance import ContactAttempt, RecordedAttempt
from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import Flag, Id, IsoDate, IsoDateTime, Name, PathId
from services.contact.service_layer import attempts
from shared.events.contact import ContactChannel, ContactOutcome, ContactParty, ContactPurpose
from shared.security import CurrentPrincipal, secured

ACCESS = {"check_contact": {"agent", "supervisor"}, "record_contact": {"agent", "supervisor"}}

router = APIRouter(prefix="/v1/accounts", tags=["contact"], route_class=secured(ACCESS))


class PlannedContact(BaseModel):
    """A contact an agent (or a scheduler) is about to make."""

    model_config = ConfigDict(extra="forbid", strict=True)

    attempt_id: Id = Field(default_factory=lambda: str(uuid.uuid4()))
    channel: ContactChannel
    planned_at: IsoDateTime
    debt_id: Id
    agency: Name = "lender"
    party: ContactParty = "debtor"
    discloses_debt: Flag | None = None
    carries_opt_out: Flag = False
    purpose: ContactPurpose = "collection"


class MadeContact(BaseModel):
    """A contact that happened, with its outcome."""

    model_config = ConfigDict(extra="forbid", strict=True)

    attempt_id: Id
    channel: ContactChannel
    at: IsoDateTime
    outcome: ContactOutcome
    debt_id: Id
    agency: Name = "lender"
    party: ContactParty = "debtor"
    duration_seconds: int = Field(default=0, ge=0, le=86_400)
    contact_point_id: Id | None = Field(
        default=None, description="the phone or e-mail used, if known"
    )
    promise_amount: int | None = Field(
        default=None, gt=0, lt=2**53, description="fen; with outcome promise_to_pay"
    )
    promise_date: IsoDate | None = Field(
        default=None, description="pay by this date (inclusive); with outcome promise_to_pay"
    )

    @model_validator(mode="after")
    def _promise_goes_with_its_outcome(self) -> MadeContact:
        given = [f for f in ("promise_amount", "promise_date") if getattr(self, f) is not None]
        if self.outcome == "promise_to_pay" and len(given) < 2:
            missing = [f for f in ("promise_amount", "promise_date") if f not in given]
            raise ValueError(f"outcome promise_to_pay needs {' and '.join(missing)}")
        if self.outcome != "promise_to_pay" and given:
            raise ValueError(f"{given[0]} goes only with outcome promise_to_pay")
        return self


@router.post("/{account_id}/contact-attempts/check")
async def check_contact(
    account_id: PathId, body: PlannedContact, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Allowed, or blocked with the rule ids and a sentence per rule; recorded either way."""
    attempt = ContactAttempt(**body.model_dump())
    async with runtime.uow() as uow:
        decision = await attempts.check_attempt(
            uow, runtime.settings.topics, account_id, attempt, principal.actor()
        )
        await uow.commit()
    runtime.notify_relay()
    return {
        "attempt_id": attempt.attempt_id,
        "decision": "allowed" if decision.allowed else "blocked",
        "jurisdiction": decision.jurisdiction,
        "rule_ids": list(decision.rule_ids),
        "rules_checked": list(decision.rules_checked),
        "explanation": decision.explanation,
        "exception_id": decision.exception_id,
        "next_allowed_at": (
            decision.next_allowed_at.isoformat() if decision.next_allowed_at else None
        ),
    }


@router.post("/{account_id}/contact-attempts", status_code=201)
async def record_contact(
    account_id: PathId, body: MadeContact, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Record a contact a check allowed (and any promise to pay); anything else is refused."""
    fields = body.model_dump()
    duration = fields.pop("duration_seconds")
    point_id = fields.pop("contact_point_id")
    amount, due_on = fields.pop("promise_amount"), fields.pop("promise_date")
    async with runtime.uow() as uow:
        await attempts.record_attempt(
            uow,
            runtime.settings.topics,
            account_id,
            RecordedAttempt(**fields),
            duration,
            principal.actor(),
            contact_point_id=point_id,
            promise=(amount, due_on) if amount is not None and due_on is not None else None,
        )
        await uow.commit()
    runtime.notify_relay()
    return {"attempt_id": body.attempt_id, "status": "recorded"}
