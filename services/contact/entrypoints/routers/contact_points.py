"""A borrower's contact points: added by integrators or agents, verified by OTP results."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from services.contact.entrypoints.dependencies import Runtime
from services.contact.entrypoints.inputs import Address, Flag, PathId
from services.contact.service_layer import contact_points
from services.contact.service_layer.cases import Conflict
from shared.events.contact import ContactPointKind, ContactPointSource
from shared.security import CurrentPrincipal, secured

ACCESS = {
    "add_contact_point": {"integrator", "agent", "supervisor"},
    "record_otp_result": {"integrator", "agent", "supervisor"},
}

router = APIRouter(prefix="/v1/accounts", tags=["contact points"], route_class=secured(ACCESS))


class NewContactPoint(BaseModel):
    """A phone number or e-mail address of the borrower."""

    model_config = ConfigDict(extra="forbid", strict=True)

    kind: ContactPointKind
    value: Address
    verified: Flag = Field(
        default=False, description="only an integrator may vouch that it reaches the borrower"
    )


class OtpResult(BaseModel):
    """Whether the borrower confirmed a one-time password sent to the point."""

    model_config = ConfigDict(extra="forbid", strict=True)

    passed: Flag
    method: Literal["otp"] = "otp"


@router.post("/{account_id}/contact-points", status_code=201)
async def add_contact_point(
    account_id: PathId, body: NewContactPoint, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, str]:
    """Add a contact point, unverified unless an integrator says it is verified."""
    if body.verified and principal.role != "integrator":
        raise HTTPException(
            422, "verified: only an integrator may add a verified point; others verify by OTP"
        )
    source: ContactPointSource = "integrator" if principal.role == "integrator" else "agent"
    async with runtime.uow() as uow:
        try:
            point_id = await contact_points.add_point(
                uow,
                runtime.settings.topics,
                account_id,
                kind=body.kind,
                value=body.value,
                source=source,
                verified=body.verified,
                actor=principal.actor(),
            )
        except Conflict as exc:
            raise HTTPException(409, exc.reason) from None
        await uow.commit()
    runtime.notify_relay()
    return {"point_id": point_id, "status": "verified" if body.verified else "unverified"}


@router.post("/{account_id}/contact-points/{point_id}/otp-result", status_code=201)
async def record_otp_result(
    account_id: PathId,
    point_id: PathId,
    body: OtpResult,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, str]:
    """Record an OTP result: passed verifies the point; failed is recorded and changes nothing."""
    async with runtime.uow() as uow:
        recorded = await contact_points.otp_result(
            uow, runtime.settings.topics, account_id, point_id, body.passed, principal.actor()
        )
        await uow.commit()
    runtime.notify_relay()
    return {"point_id": point_id, "recorded": recorded}
