"""The facts a service consumed from other services' topics, kept so its read models can be
rebuilt from its own database.

A read model fed by another service's events cannot be rebuilt from the service's own
event store: those events are not in it. So the consumer notes each fact it projects in
an append-only inbox, in the transaction of the effects (the processed-events ledger
makes that once per event), and both the live path and `arrears rebuild` apply the
fact to the read models with the same function. The inbox keeps only the fields the
projections read, never an event's personal data, and is never edited.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Date, MetaData, String, Table, Text, insert

from shared.envelope import Envelope
from shared.eventstore.tables import Position, UtcDateTime


def add_inbox_table(metadata: MetaData) -> Table:
    """Define the consumed-facts table (one row per fact, in the order consumed) in `metadata`."""
    return Table(
        "consumed_facts",
        metadata,
        Column("position", Position, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("type", String(100), nullable=False),
        Column("account_id", String(64), nullable=False, index=True),
        # The business date the fact is of, when it has one (a close, an allocation).
        Column("business_date", Date, nullable=True),
        Column("data", Text, nullable=False),
        Column("consumed_at", UtcDateTime(), nullable=False),
    )


@dataclass(frozen=True)
class Fact:
    """What a service keeps of one consumed event: its id, type, account and the fields
    its read models are projected from."""

    event_id: str
    type: str
    account_id: str
    business_date: date | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, env: Envelope, business_date: date | None = None, **data: Any) -> Fact:
        """The fact of a consumed event, keeping only `data`."""
        # As the inbox will give it back (dates as strings): live and rebuild read alike.
        kept = json.loads(json.dumps(data, sort_keys=True, default=str))
        return cls(str(env.id), env.type, env.account_id, business_date, kept)

    @classmethod
    def from_row(cls, row: Any) -> Fact:
        """A fact as the inbox holds it."""
        return cls(row.event_id, row.type, row.account_id, row.business_date, json.loads(row.data))


async def note(conn: Any, inbox: Table, fact: Fact, now: datetime) -> None:
    """Append a consumed fact to the inbox (`conn`: the unit of work's session)."""
    await conn.execute(
        insert(inbox).values(
            event_id=fact.event_id,
            type=fact.type,
            account_id=fact.account_id,
            business_date=fact.business_date,
            data=json.dumps(fact.data, sort_keys=True, default=str),
            consumed_at=now,
        )
    )
