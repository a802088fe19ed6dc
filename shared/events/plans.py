"""Events the plans service publishes to `arrears.plans`."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from shared.catalogue import EventData, Upcaster
from shared.money import Currency, NonNegativeMinor

PlanType = Literal["deferral", "reinstallment", "waiver", "personalised"]
Channel = Literal["agent", "app", "web", "phone", "branch"]


class PlanAgreed(EventData):
    """The borrower agreed a relief plan on the stated terms."""

    event_type: ClassVar[str] = "PlanAgreed"
    schema_version: ClassVar[int] = 1

    plan_id: str
    plan_type: PlanType
    currency: Currency
    amount: NonNegativeMinor = Field(description="the balance the plan covers, in fen")
    months: int = Field(ge=0, le=36)
    channel: Channel


class PlanBroken(EventData):
    """The borrower missed a plan installment beyond the grace: the plan no longer holds."""

    event_type: ClassVar[str] = "PlanBroken"
    schema_version: ClassVar[int] = 1

    plan_id: str
    reason: str = Field(max_length=500)


class PlanCompleted(EventData):
    """Every installment of the plan was met."""

    event_type: ClassVar[str] = "PlanCompleted"
    schema_version: ClassVar[int] = 1

    plan_id: str


MODELS: list[type[EventData]] = [PlanAgreed, PlanBroken, PlanCompleted]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
