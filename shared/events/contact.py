"""Events the contact service publishes to `arrears.contact`."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from shared.catalogue import EventData, Upcaster


class CollectionCaseOpened(EventData):
    """A collection case was opened because the account went overdue."""

    event_type: ClassVar[str] = "CollectionCaseOpened"
    schema_version: ClassVar[int] = 1

    case_id: str
    reason: str = Field(max_length=200)
    bill_id: str
    opened_on: date


MODELS: list[type[EventData]] = [CollectionCaseOpened]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
