"""Borrower self-service (7x24): preferences, opt out, ask contact to stop, dispute, book a
callback.

An agent or supervisor may record the same on the borrower's behalf (a phone request).
Each is an event in the account's contact stream, and the compliance checks obey it.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import Id, IsoDateTime, LocalTime, PathId, Text
from services.contact.service_layer.attempts import borrower_request
from shared.catalogue import EventData
from shared.events.contact import (
    CallbackAgreed,
    ContactCeaseRequested,
    ContactChannel,
    ContactChannelOptedOut,
    ContactPreferencesSet,
    DebtDisputed,
    HourWindow,
)
from shared.security import CurrentPrincipal, secured

WHO = {"borrower", "agent", "supervisor"}
ACCESS = {
    "opt_out": WHO,
    "cease": WHO,
    "dispute": WHO,
    "callback": WHO,
    "preferences": WHO,
}

router = APIRouter(
    prefix="/v1/accounts/{account_id}/self-service",
    tags=["self-service"],
    route_class=secured(ACCESS),
)


class OptOut(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    channel: ContactChannel


class Cease(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    reason: Text = ""


class Dispute(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    debt_id: Id
    reason: Text = ""


class Callback(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    slot_start: IsoDateTime
    channel: ContactChannel = "call"
    debt_id: Id | None = None


class LocalHours(HourWindow):
    """Local wall-clock hours, as HH:MM without an offset (the borrower's zone is known)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    start: LocalTime
    end: LocalTime


class Preferences(BaseModel):
    """Channels in order of preference; local wall-clock hours (no offset) not to be called."""

    model_config = ConfigDict(extra="forbid", strict=True)
    preferred_channels: list[ContactChannel] = Field(default_factory=list, max_length=5)
    inconvenient_hours: list[LocalHours] = Field(default_factory=list, max_length=4)


async def _record(
    runtime: Runtime, account_id: str, data: EventData, principal: CurrentPrincipal
) -> dict[str, str]:
    async with runtime.uow() as uow:
        await borrower_request(uow, runtime.settings.topics, account_id, data, principal.actor())
        await uow.commit()
    runtime.notify_relay()
    return {"account_id": account_id, "recorded": data.event_type}


@router.put("/preferences", status_code=201)
async def preferences(
    account_id: PathId, body: Preferences, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Channels in order of preference, and local hours not to be contacted (replaces the
    earlier preferences; every later check blocks contact in those hours)."""
    try:
        data = ContactPreferencesSet.model_validate(body.model_dump())
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from None
    return await _record(runtime, account_id, data, principal)


@router.post("/opt-out", status_code=201)
async def opt_out(
    account_id: PathId, body: OptOut, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """No more contact on this channel."""
    return await _record(
        runtime, account_id, ContactChannelOptedOut(channel=body.channel), principal
    )


@router.post("/cease", status_code=201)
async def cease(
    account_id: PathId, body: Cease, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Stop collection contact (only the notices the law allows may still go out)."""
    return await _record(runtime, account_id, ContactCeaseRequested(reason=body.reason), principal)


@router.post("/dispute", status_code=201)
async def dispute(
    account_id: PathId, body: Dispute, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Dispute a debt; collection contact about it pauses."""
    return await _record(
        runtime, account_id, DebtDisputed(debt_id=body.debt_id, reason=body.reason), principal
    )


@router.post("/callback", status_code=201)
async def callback(
    account_id: PathId, body: Callback, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Ask to be called at a time, even in quiet hours: an explicit, recorded exception."""
    data = CallbackAgreed(exception_id=f"cb-{uuid.uuid4().hex[:12]}", **body.model_dump())
    return await _record(runtime, account_id, data, principal)
