"""Erasing an account's personal data once its retention period is over.

The values kept beside the chain and the account's commitment key are deleted; the
chain keeps the salted commitments, which without the key are noise that still hashes
exactly as chained, so every chain, checkpoint and bundle still verifies. A
`PersonalDataErased` entry on the trail records who erased what and why, and the trail
as it then stands is frozen: a rebuild restores it instead of re-reading the erased
values from the topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.audit.service_layer.unit_of_work import SOURCE, AuditUnitOfWork
from shared.auth import Principal
from shared.catalogue import new_envelope
from shared.errors import Rejected
from shared.events.audit import PersonalDataErased


class NoTrail(Rejected):
    """There is no trail for the account (a 404)."""


class RetentionNotOver(Rejected):
    """The account's retention period has not passed yet (a 409, naming the date)."""


@dataclass(frozen=True)
class Erased:
    """What an erasure did: how many values went, and the entry that records it."""

    account_id: str
    values_erased: int
    seq: int
    hash: str
    retention_ends: datetime


async def erase_personal_data(
    uow: AuditUnitOfWork,
    account_id: str,
    *,
    by: Principal,
    reason: str,
    retention_days: int,
) -> Erased:
    """Erase the account's personal data and record it on its trail (the caller commits)."""
    found = await uow.trail.last_activity(account_id)
    if found is None:
        raise NoTrail(f"account_id: no trail for account {account_id}")
    head, last = found
    ends = last + timedelta(days=retention_days)
    if uow.now < ends:
        raise RetentionNotOver(
            f"account_id: the retention of account {account_id} runs until {ends.isoformat()} "
            f"({retention_days} days after its last event at {last.isoformat()}); its "
            "personal data cannot be erased before then"
        )
    erased = await uow.trail.erase_personal_values(account_id)
    env = new_envelope(
        PersonalDataErased(
            erased_by=by.subject,
            role=by.role,
            reason=reason,
            values_erased=erased,
            through_seq=head,
            last_activity_at=last,
            retention_days=retention_days,
        ),
        account_id=account_id,
        occurred_at=uow.now,
        recorded_at=uow.now,
        source=SOURCE,
        metadata={"actor": by.actor()},
    )
    appended = await uow.append_entry(env)
    assert appended is not None  # a new event id is never on the trail yet
    await uow.trail.freeze(account_id)
    seq, hashed = appended
    return Erased(account_id, erased, seq, hashed, ends)
