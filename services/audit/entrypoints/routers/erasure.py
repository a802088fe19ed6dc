"""Erasing an account's personal data after its retention period (PIPL art. 47, GDPR art. 17)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.audit.entrypoints.dependencies import Runtime
from services.audit.service_layer import erasure
from shared.security import CurrentPrincipal, secured

ACCESS = {
    # Compliance decides and answers for erasure; nobody else may destroy evidence values.
    "erase_personal_data": {"compliance"},
}

router = APIRouter(prefix="/v1", tags=["erasure"], route_class=secured(ACCESS))


class ErasureRequest(BaseModel):
    """Why the account's personal data is erased (recorded on the trail and in the access log)."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=500, examples=["retention ended; ticket 42"])


@router.post("/accounts/{account_id}/personal-data/erasure")
async def erase_personal_data(
    account_id: str, body: ErasureRequest, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Delete the account's personal values and commitment key; record who and why.

    Refused with 409 (naming the date) until `AUDIT_RETENTION_DAYS` have passed since the
    account's last event. Every chain still verifies afterwards; reads show the values as
    erased, and a rebuild keeps them erased.
    """
    days = runtime.settings.audit_retention_days
    async with runtime.uow() as uow:
        erased = await erasure.erase_personal_data(
            uow, account_id, by=principal, reason=body.reason, retention_days=days
        )
        await uow.access.log(
            principal,
            "erase-personal-data",
            body.reason,
            account_id,
            {"values_erased": erased.values_erased, "seq": erased.seq},
        )
        await uow.commit()
    return {
        "account_id": account_id,
        "values_erased": erased.values_erased,
        "entry": {"seq": erased.seq, "hash": erased.hash},
        "retention_ended": erased.retention_ends.isoformat(),
    }
