"""Events the accounts service publishes to `arrears.accounts`."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.catalogue import EventData, Upcaster
from shared.money import Currency, NonNegativeMinor, PositiveMinor


class Allocation(BaseModel):
    """Part of a payment applied to one bill."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bill_id: str
    amount: PositiveMinor


class PaymentAllocated(EventData):
    """A received payment was applied to bills, oldest due first; any rest is credit."""

    event_type: ClassVar[str] = "PaymentAllocated"
    schema_version: ClassVar[int] = 1

    payment_id: str
    currency: Currency
    amount: PositiveMinor
    allocations: list[Allocation]
    unallocated: NonNegativeMinor


class BillBecameOverdue(EventData):
    """A bill was still unpaid when its due date's business day closed."""

    event_type: ClassVar[str] = "BillBecameOverdue"
    schema_version: ClassVar[int] = 1

    bill_id: str
    currency: Currency
    due_date: date
    business_date: date
    overdue_amount: PositiveMinor
    days_past_due: int = Field(ge=1)


MODELS: list[type[EventData]] = [PaymentAllocated, BillBecameOverdue]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
