"""Audit's own entries on an account's trail. Audit publishes no topic: these are chained
onto the trail by audit itself and reach readers only through its API and bundles."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from shared.bounds import MAX_DAYS, MAX_INT64, Instant
from shared.catalogue import EventData, Upcaster


class PersonalDataErased(EventData):
    """The account's personal data was erased after its retention period (PIPL art. 47,
    GDPR art. 17): the values audit kept beside the trail and the account's commitment key
    are deleted; the salted commitments stay in the chain, so every hash still verifies.

    `erased_by` and `role` say who did it, `reason` why; `values_erased` counts the values
    deleted, up to the entry `through_seq`. `last_activity_at` started the retention of
    `retention_days`.
    """

    event_type: ClassVar[str] = "PersonalDataErased"
    schema_version: ClassVar[int] = 1

    erased_by: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=20)
    reason: str = Field(min_length=3, max_length=500)
    values_erased: int = Field(ge=0, le=MAX_INT64)
    through_seq: int = Field(ge=1, le=MAX_INT64)
    last_activity_at: Instant
    retention_days: int = Field(ge=1, le=MAX_DAYS)


MODELS: list[type[EventData]] = [PersonalDataErased]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
