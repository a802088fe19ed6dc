"""Checking a contact before it happens, and recording it after; both become events.

Every check is recorded, allowed or blocked, with the rule ids and the reason, so the
audit trail shows blocked attempts too. An attempt can only be recorded as made if a
check allowed it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from services.contact.domain.compliance import (
    DEFAULT_PACKS,
    AgreedException,
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    Decision,
    RecordedAttempt,
    check,
)
from services.contact.domain.compliance.events import decision_event, recorded_attempt
from services.contact.service_layer.unit_of_work import ContactUnitOfWork, contact_stream
from shared.catalogue import new_envelope
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.topics import Topics

SOURCE = "contact"
US_ZONE_PREFIXES = ("America/", "US/", "Pacific/Honolulu")


def jurisdiction_for(time_zone: str) -> str:
    """The rule pack of a borrower: US for US zones, CN otherwise (arrears' two packs)."""
    return "US" if time_zone.startswith(US_ZONE_PREFIXES) else "CN"


async def on_inbound(uow: ContactUnitOfWork, env: Envelope) -> None:
    """Learn each borrower's time zone from AccountOpened."""
    if env.type == "AccountOpened":
        zone = env.data["time_zone"]
        await uow.remember_borrower(env.account_id, zone, jurisdiction_for(zone))


def consumer_state(time_zone: str, events: list[Envelope]) -> ConsumerState:
    """What the borrower asked for, from their contact stream (lost contact: not yet)."""
    opted_out: set[str] = set()
    disputed: set[str] = set()
    cease = False
    exceptions: list[AgreedException] = []
    for env in events:
        match env.type:
            case "ContactChannelOptedOut":
                opted_out.add(env.data["channel"])
            case "ContactCeaseRequested":
                cease = True
            case "DebtDisputed":
                disputed.add(env.data["debt_id"])
            case "CallbackAgreed":
                d = env.data
                exceptions.append(
                    AgreedException(
                        exception_id=d["exception_id"],
                        slot_start=datetime.fromisoformat(d["slot_start"]),
                        channel=d["channel"],
                        debt_id=d.get("debt_id"),
                    )
                )
    return ConsumerState(
        time_zone=time_zone,
        cease_requested=cease,
        disputed_debts=frozenset(disputed),
        opted_out_channels=frozenset(opted_out),  # type: ignore[arg-type]
        exceptions=tuple(exceptions),
    )


async def borrower_request(
    uow: ContactUnitOfWork, topics: Topics, account_id: str, data: Any, actor: dict[str, str]
) -> None:
    """Record a borrower's opt-out, cease request, dispute or agreed callback."""
    if await uow.borrower(account_id) is None:
        raise LookupError(f"no account {account_id}")
    _, version = await uow.contact_log(account_id)
    await _record(uow, topics, account_id, version, data, actor)


async def check_attempt(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    attempt: ContactAttempt,
    actor: dict[str, str],
) -> Decision:
    """Decide on a planned contact and record the decision (the caller commits)."""
    where = await uow.borrower(account_id)
    if where is None:
        raise LookupError(f"no account {account_id}")
    zone, jurisdiction = where
    events, version = await uow.contact_log(account_id)
    decision = check(
        attempt,
        ContactLedger.from_events(events),
        consumer_state(zone, events),
        DEFAULT_PACKS.for_jurisdiction(jurisdiction),
    )
    await _record(uow, topics, account_id, version, decision_event(decision), actor)
    return decision


async def record_attempt(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    made: RecordedAttempt,
    duration_seconds: int,
    actor: dict[str, str],
) -> None:
    """Record a contact that was made; only a contact a check allowed may be recorded."""
    events, version = await uow.contact_log(account_id)
    checks = [
        e
        for e in events
        if e.type == "ContactAttemptChecked" and e.data["attempt_id"] == made.attempt_id
    ]
    if not checks or checks[-1].data["decision"] != "allowed":
        raise Rejected(f"attempt {made.attempt_id} was not allowed by a compliance check")
    if any(
        e.type == "ContactAttemptRecorded" and e.data["attempt_id"] == made.attempt_id
        for e in events
    ):
        raise Rejected(f"attempt {made.attempt_id} is already recorded")
    # The exception the check used is spent by this contact, whatever the client sent.
    made = replace(made, exception_id=checks[-1].data.get("exception_id"))
    event = recorded_attempt(made, duration_seconds=duration_seconds, agent=actor["subject"])
    await _record(uow, topics, account_id, version, event, actor)


async def _record(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    version: int,
    data: Any,
    actor: dict[str, str],
) -> None:
    at: datetime = uow.now
    env = new_envelope(
        data,
        account_id=account_id,
        occurred_at=at,
        recorded_at=at,
        source=SOURCE,
        metadata={"actor": actor},
    )
    await uow.record(contact_stream(account_id), version, [env], topics.contact)
