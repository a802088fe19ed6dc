"""Collection cases: routing by the strategy table, promises to pay, agents pulling work.

Every change is an event in the account's case stream (`cases-<account>`); the
`open_cases` table follows in the same transaction so agents can pull work quickly.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.contact.domain.compliance import ContactAttempt, ContactLedger, check
from services.contact.domain.compliance.events import decision_event
from services.contact.domain.contact_points import ContactBook
from services.contact.domain.model import CaseFile, Promise
from services.contact.domain.strategy import segment_of
from services.contact.service_layer.streams import (
    append_contact,
    consumer_state,
    envelope_of,
    open_disputes,
    preferred_channels,
)
from services.contact.service_layer.unit_of_work import ContactUnitOfWork, stream_id
from shared.catalogue import EventData
from shared.envelope import Envelope
from shared.errors import ArrearsError
from shared.events.contact import CaseSegment
from shared.topics import Topics

UNKNOWN_BUCKET = "current"
"""The bucket of an account accounts has not classified yet: a case opens at the day close
that classifies it, a moment before the bucket change arrives."""


class Conflict(ArrearsError):
    """A request that cannot be served in the current state (HTTP 409)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def append_case(
    uow: ContactUnitOfWork,
    topics: Topics,
    case_file: CaseFile,
    decided: Sequence[EventData],
    *,
    cause: Envelope | None = None,
    actor: dict[str, str] | None = None,
) -> None:
    """Append decided events to the case stream and apply them to `case_file`."""
    if not decided:
        return
    envs = [envelope_of(uow, case_file.account_id, d, cause=cause, actor=actor) for d in decided]
    case_file.version = await uow.record(
        stream_id(case_file.account_id), case_file.version, envs, topics.contact
    )
    for env in envs:
        case_file.apply(env)


def segment_for(case_file: CaseFile, contact_events: list[Envelope]) -> CaseSegment:
    """The segment of the open case from both of the account's streams."""
    return segment_of(
        disputed=bool(open_disputes(contact_events)),
        hardship=any(e.type == "HardshipReported" for e in contact_events),
        lost_contact=ContactBook.from_events(contact_events).lost,
        broken_promise=case_file.broken_promise,
    )


async def refresh(
    uow: ContactUnitOfWork,
    topics: Topics,
    case_file: CaseFile,
    *,
    reason: str,
    escalation: str | None = None,
    cause: Envelope | None = None,
    actor: dict[str, str] | None = None,
) -> None:
    """Route the open case for its bucket and segment now, and keep the read model in step.

    `escalation` (a reason) records a `CollectionCaseEscalated` first: a broken promise.
    A `CollectionCaseRouted` follows only when the queue changes; a new bucket or segment
    in the same queue is a `CollectionCaseReclassified`.
    """
    account_id = case_file.account_id
    if case_file.open_case_id is None:
        return
    bucket = await uow.accounts.bucket(account_id) or UNKNOWN_BUCKET
    contact_events, _ = await uow.contact_log(account_id)
    segment = segment_for(case_file, contact_events)
    strategy = uow.policy.strategy
    decided: list[EventData] = []
    if escalation is not None:
        escalated = case_file.escalate(strategy, bucket=bucket, segment=segment, reason=escalation)
        if escalated is not None:
            decided.append(escalated)
    moved: EventData | None = case_file.route(
        strategy, bucket=bucket, segment=segment, reason=reason
    )
    if moved is None:
        moved = case_file.reclassify(bucket=bucket, segment=segment, reason=reason)
    if moved is not None:
        decided.append(moved)
    # Recording the events keeps the open-cases row in step (ContactUnitOfWork.record).
    await append_case(uow, topics, case_file, decided, cause=cause, actor=actor)


# -- promises -------------------------------------------------------------------------------


async def make_promise(
    uow: ContactUnitOfWork,
    topics: Topics,
    account_id: str,
    *,
    amount: int,
    due_on: date,
    at: datetime,
    zone: ZoneInfo,
    made_by: str,
    attempt_id: str,
    actor: dict[str, str],
) -> None:
    """Record a promise made during a contact; the case waits for it until its due date."""
    case_file = await uow.case_file(account_id)
    made = case_file.make_promise(
        amount=amount,
        currency=await uow.accounts.currency(account_id),
        made_on=at.astimezone(zone).date(),
        due_on=due_on,
        today=uow.now.astimezone(zone).date(),
        max_days=uow.policy.promises.max_days,
        made_by=made_by,
        attempt_id=attempt_id,
    )
    # The case waits for it (its row's next action, as the event is recorded): no point
    # calling about the debt while the borrower has a promise running.
    await append_case(uow, topics, case_file, [made], actor=actor)


async def settle_promises(
    uow: ContactUnitOfWork,
    topics: Topics,
    case_file: CaseFile,
    business_date: date,
    *,
    closed: bool,
    cause: Envelope,
) -> tuple[bool, bool]:
    """Keep what payments covered; at a day close, break what they did not.

    Returns whether any promise was kept, and whether any was broken.
    """
    if not case_file.open_promises():
        return False, False
    paid = await uow.accounts.payments(case_file.account_id)
    kept = case_file.promises_kept(paid, business_date)
    await append_case(uow, topics, case_file, kept, cause=cause)
    broken = case_file.promises_broken(paid, business_date) if closed else []
    await append_case(uow, topics, case_file, broken, cause=cause)
    return bool(kept), bool(broken)


def promise_view(p: Promise) -> dict[str, Any]:
    """A promise as the API shows it."""
    return {
        "promise_id": p.promise_id,
        "case_id": p.case_id,
        "amount": p.amount,
        "currency": p.currency,
        "made_on": p.made_on.isoformat(),
        "due_on": p.due_on.isoformat(),
        "made_by": p.made_by,
        "status": p.status,
    }


# -- agents pulling work ---------------------------------------------------------------------


async def claim_next(
    uow: ContactUnitOfWork, topics: Topics, queue: str, agent: str, actor: dict[str, str]
) -> dict[str, Any] | None:
    """Assign the caller the oldest free case of `queue` that may be contacted right now.

    A case the compliance engine would block now (quiet hours, a cap reached, a dispute)
    is skipped, not handed out; the pre-check of the case handed out is recorded, so
    its attempt id can record the contact. None: nothing ready in the queue.
    """
    rules = uow.policy.queues
    known = uow.policy.strategy.queues
    if queue not in known:
        raise LookupError(f"no queue {queue!r} (known: {', '.join(known)})")
    stale_before = uow.now - timedelta(minutes=rules.stale_after_minutes)
    held = await uow.cases.held_by(agent, stale_before)
    if held >= rules.max_open_per_agent:
        raise Conflict(
            f"agent {agent} already holds {held} open cases (the limit is "
            f"{rules.max_open_per_agent}); work those before claiming more"
        )
    for row in await uow.cases.claimable(queue, stale_before, rules.scan_limit):
        account_id = row["account_id"]
        where = await uow.accounts.borrower(account_id)
        case_file = await uow.case_file(account_id)
        if where is None or case_file.open_case_id != row["case_id"] or case_file.bill_id is None:
            continue  # cannot be checked (borrower unknown) or the row is behind the stream
        zone, jurisdiction = where
        events, version = await uow.contact_log(account_id)
        channels = uow.policy.strategy.treatment(row["bucket"], row["segment"]).channels
        # The borrower's preferred channel if the treatment uses it; else a call if it may.
        liked = [c for c in preferred_channels(events) if c in channels]
        channel = liked[0] if liked else "call" if "call" in channels else channels[0]
        attempt = ContactAttempt(
            attempt_id=str(uuid.uuid4()),
            channel=channel,
            planned_at=uow.now,
            debt_id=case_file.bill_id,
            carries_opt_out=channel in ("sms", "email"),
            # A disputed case is worked to answer the dispute, which no dispute rule blocks.
            purpose="verification" if row["segment"] == "dispute" else "collection",
        )
        decision = check(
            attempt,
            ContactLedger.from_events(events),
            consumer_state(zone, events),
            uow.packs.for_jurisdiction(jurisdiction),
        )
        if not decision.allowed:
            continue
        if not await uow.cases.take(account_id, row["case_id"], agent, stale_before):
            continue  # another agent took it a moment ago
        await append_case(uow, topics, case_file, [case_file.assign(agent)], actor=actor)
        await append_contact(
            uow, topics, account_id, version, [decision_event(decision)], actor=actor
        )
        return {
            "account_id": account_id,
            "case_id": case_file.open_case_id,
            "queue": queue,
            "segment": row["segment"],
            "bucket": row["bucket"],
            "assigned_to": agent,
            "opened_on": case_file.opened_on.isoformat() if case_file.opened_on else None,
            "channels": list(channels),
            "pre_check": {
                "attempt_id": attempt.attempt_id,
                "channel": channel,
                "debt_id": attempt.debt_id,
                "purpose": attempt.purpose,
                "planned_at": attempt.planned_at.isoformat(),
                "decision": "allowed",
                "jurisdiction": decision.jurisdiction,
                "rules_checked": list(decision.rules_checked),
                "explanation": decision.explanation,
            },
        }
    return None


async def queue_overview(uow: ContactUnitOfWork) -> dict[str, Any]:
    """Counts per queue (every queue of the strategy, empty ones too) and cases per agent."""
    stale_before = uow.now - timedelta(minutes=uow.policy.queues.stale_after_minutes)
    counts = await uow.cases.queue_counts(stale_before)
    empty = {"open": 0, "unassigned": 0, "ready": 0}
    queues = {q: counts.get(q, dict(empty)) for q in uow.policy.strategy.queues}
    queues.update({q: c for q, c in counts.items() if q not in queues})
    return {"as_of": uow.now.isoformat(), "queues": queues, "agents": await uow.cases.agent_loads()}
