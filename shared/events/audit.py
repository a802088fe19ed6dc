"""Audit's own events: entries it chains onto an account's trail itself (they reach readers
only through its API and bundles), and the order it chained in, on `arrears.audit`."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_DAYS, MAX_INT64, MAX_ITEMS, Instant
from shared.catalogue import EventData, Upcaster
from shared.envelope import ACCOUNT_ID_PATTERN, MAX_ACCOUNT_ID_LENGTH


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


class ChainedEntry(BaseModel):
    """One event as audit chained it: onto which account's trail, at which seq, with
    which resulting hash."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: str = Field(
        min_length=1, max_length=MAX_ACCOUNT_ID_LENGTH, pattern=ACCOUNT_ID_PATTERN
    )
    seq: int = Field(ge=1, le=MAX_INT64)
    event_id: str = Field(min_length=1, max_length=36)
    hash: str = Field(pattern=r"^[0-9a-f]{64}$", min_length=64, max_length=64)


class TrailChained(EventData):
    """Audit chained these events onto their accounts' trails, in this order, in one
    transaction (published on `arrears.audit` through audit's outbox in that transaction).

    It is the order the chains were built in, which no source topic holds (an account's
    events arrive on several topics and partitions): `arrears audit rebuild` replays the
    topics in it, so a rebuild reproduces the live trail's heads and root. The account id
    of its envelope is `*`.
    """

    event_type: ClassVar[str] = "TrailChained"
    schema_version: ClassVar[int] = 1

    entries: list[ChainedEntry] = Field(min_length=1, max_length=MAX_ITEMS)


MODELS: list[type[EventData]] = [PersonalDataErased, TrailChained]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
