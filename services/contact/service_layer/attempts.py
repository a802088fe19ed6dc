"""Checking a contact before it happens, and recording it after; both become events.

Every check is recorded, allowed or blocked, with the rule ids and the reason, so the
audit trail shows blocked attempts too. An attempt can only be recorded as made if a
check allowed it. Recording one may also record a promise to pay, invalidate a wrong
number, and find the borrower unreachable (失联).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from services.contact.domain.compliance import (
    ContactAttempt,
    ContactLedger,
    Decision,
    RecordedAttempt,
    check,
)
from services.contact.domain.compliance.events import decision_event, recorded_attempt
from services.contact.domain.contact_points import Attempt, ContactBook
from services.contact.service_layer import cases
from services.contact.service_layer.projections import borrower_fact
from services.contact.service_layer.streams import (
    SOURCE,
    append_contact,
    consumer_state,
    open_disputes,
)
from services.contact.service_layer.unit_of_work import ContactUnitOfWork
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.contact import DebtDisputed, DisputeResolved
from shared.topics import Topics

__all__ = ["SOURCE", "consumer_state"]
US_ZONE_PREFIXES = ("America/", "US/", "Pacific/Honolulu")


def jurisdiction_for(time_zone: str) -> str:
    """The rule pack of a borrower: US for US zones, CN otherwise (arrears' two packs)."""
    return "US" if time_zone.startswith(US_ZONE_PREFIXES) else "CN"


async def on_inbound(uow: ContactUnitOfWork, env: Envelope) -> None:
    """Learn each borrower's time zone, rule pack and currency from AccountOpened (the
    integrator's stated jurisdiction wins over the one the time zone suggests)."""
    if env.type == "AccountOpened":
        zone = env.data["time_zone"]
        pack = env.data.get("jurisdiction") or jurisdiction_for(zone)
        await uow.accounts.take_in(borrower_fact(env, zone, pack, env.data.get("currency")))


async def borrower_request(
    uow: ContactUnitOfWork, topics: Topics, account_id: str, data: Any, actor: dict[str, str]
) -> None:
    """Record a borrower's opt-out, cease request, dispute or agreed callback."""
    if await uow.accounts.borrower(account_id) is None:
        raise LookupError(f"no account {account_id}")
    _, version = await uow.contact_log(account_id)
    await append_contact(uow, topics, account_id, version, [data], actor=actor)
    if isinstance(data, DebtDisputed):
        # A dispute pauses collection: the case goes to the specialists at once.
        case_file = await uow.case_file(account_id)
        await cases.refresh(
            uow, topics, case_file, reason=f"debt {data.debt_id} disputed", actor=actor
        )


async def resolve_dispute(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    data: DisputeResolved,
    actor: dict[str, str],
) -> None:
    """Record staff's answer to an open dispute; contact about the debt may resume."""
    if await uow.accounts.borrower(account_id) is None:
        raise LookupError(f"no account {account_id}")
    events, version = await uow.contact_log(account_id)
    if data.debt_id not in open_disputes(events):
        raise cases.Conflict(f"debt_id: debt {data.debt_id} has no open dispute to resolve")
    await append_contact(uow, topics, account_id, version, [data], actor=actor)
    # The case leaves the specialists' dispute queue unless another dispute stays open.
    case_file = await uow.case_file(account_id)
    await cases.refresh(
        uow,
        topics,
        case_file,
        reason=f"dispute of debt {data.debt_id} resolved ({data.finding})",
        actor=actor,
    )


async def check_attempt(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    attempt: ContactAttempt,
    actor: dict[str, str],
) -> Decision:
    """Decide on a planned contact and record the decision (the caller commits)."""
    where = await uow.accounts.borrower(account_id)
    if where is None:
        raise LookupError(f"no account {account_id}")
    zone, jurisdiction = where
    events, version = await uow.contact_log(account_id)
    decision = check(
        attempt,
        ContactLedger.from_events(events),
        consumer_state(zone, events),
        uow.packs.for_jurisdiction(jurisdiction),
    )
    await append_contact(uow, topics, account_id, version, [decision_event(decision)], actor=actor)
    return decision


async def record_attempt(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    made: RecordedAttempt,
    duration_seconds: int,
    actor: dict[str, str],
    *,
    contact_point_id: str | None = None,
    promise: tuple[int, date] | None = None,
) -> None:
    """Record a contact that was made; only a contact a check allowed may be recorded.

    `promise` (amount in fen, due date) goes with a `promise_to_pay` outcome, and only
    with it.
    """
    if (made.outcome == "promise_to_pay") != (promise is not None):
        raise Rejected(
            "promise_amount and promise_date are required with outcome promise_to_pay"
            if promise is None
            else "promise_amount and promise_date go only with outcome promise_to_pay"
        )
    if made.outcome == "sent" and made.channel == "call":
        # `sent` is a written message handed to a provider; a call that happened was
        # answered or not, and the call rules count it by that.
        raise Rejected("outcome sent is for written messages (sms, email, app_push, letter)")
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
    book = ContactBook.from_events(events)
    if contact_point_id is not None:
        book.check_point_for(contact_point_id, made.channel)
    # The exception the check used is spent by this contact, whatever the client sent.
    made = replace(made, exception_id=checks[-1].data.get("exception_id"))
    event = recorded_attempt(made, duration_seconds=duration_seconds, agent=actor["subject"])
    event = event.model_copy(update={"contact_point_id": contact_point_id})
    where = await uow.accounts.borrower(account_id)
    zone = ZoneInfo(where[0]) if where else None
    if promise is not None:
        if zone is None:
            raise LookupError(f"no account {account_id}")
        amount, due_on = promise
        await cases.make_promise(
            uow,
            topics,
            account_id,
            amount=amount,
            due_on=due_on,
            at=made.at,
            zone=zone,
            made_by=actor["subject"],
            attempt_id=made.attempt_id,
            actor=actor,
        )
    decided: list[Any] = [event]
    attempt = Attempt(
        attempt_id=made.attempt_id,
        channel=made.channel,
        at=made.at,
        outcome=made.outcome,
        party=made.party,
        contact_point_id=contact_point_id,
    )
    book.attempts.append(attempt)
    if made.party == "debtor" and (invalid := book.after_wrong_number(attempt)) is not None:
        decided.append(invalid)
        book.points[invalid.point_id].status = "invalid"
    lost = book.lost_contact(uow.policy.lost_contact, uow.now, zone) if zone else None
    if lost is not None:
        decided.append(lost)
    # Recording it refreshes the assignee's claim on the case (ContactUnitOfWork.record).
    await append_contact(uow, topics, account_id, version, decided, actor=actor)
    if lost is not None:
        case_file = await uow.case_file(account_id)
        await cases.refresh(uow, topics, case_file, reason="contact lost", actor=actor)
