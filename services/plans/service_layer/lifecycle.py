"""Plan lifecycle handlers: request, offer, approve, reject, accept (and activate), decline,
cancel; each loads the plan, lets the domain decide, and records the events it returns.

The caller commits. Business dates come from the account's last day close as the accounts
service published it, the date quotes and offers are priced on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.plans.domain.eligibility import AccountSnapshot, check
from services.plans.domain.plan import Actor, Evidence, IllegalTransition, Plan
from services.plans.domain.quotes import Income, quote
from services.plans.service_layer.unit_of_work import PlansUnitOfWork, standing_basis
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.plans import Channel, PlanType
from shared.topics import Topics

SOURCE = "plans"
SELF_SERVICE = Actor("self-service", "system")
"""Who proposes the terms a borrower picks from a quote: the system, never the borrower."""


class UnknownPlan(LookupError):
    """The account has no plan with this id (another account's plan is not found either)."""


class NotQuotable(LookupError):
    """Plans has no day close of the account yet, so it cannot price anything."""


class PlanAlreadyOpen(IllegalTransition):
    """The account already has a plan in progress; one plan at a time."""


class StaleOffer(IllegalTransition):
    """The balances moved since the offer was priced; it must be re-offered first."""


@dataclass(frozen=True)
class OfferChoice:
    """Which quoted option to offer, and what the quote needs to price it."""

    option_id: str
    income: Income | None = None
    with_waiver: bool = False
    evidence: Sequence[str] = ()


async def account_snapshot(uow: PlansUnitOfWork, account_id: str) -> AccountSnapshot:
    """The account as eligibility sees it today; NotQuotable before plans can price it."""
    if await uow.account_currency(account_id) is None:
        raise NotQuotable(f"no account {account_id}")
    snapshot = await uow.snapshot(account_id)
    if snapshot is None:
        raise NotQuotable(f"no day close of account {account_id} has reached plans yet")
    return snapshot


async def _plan(uow: PlansUnitOfWork, account_id: str, plan_id: str) -> Plan:
    plan = await uow.plan(account_id, plan_id)
    if plan is None:
        raise UnknownPlan(f"no plan {plan_id} on account {account_id}")
    return plan


async def record_plan_events(
    uow: PlansUnitOfWork,
    topics: Topics,
    plan: Plan,
    events: list[EventData],
    on: date,
    by: Actor | None,
    cause: Envelope | None = None,
) -> list[Envelope]:
    """Append the plan's new events to its stream and the outbox; keep its index row."""
    if not events:
        return []
    envelopes = [
        new_envelope(
            e,
            account_id=plan.account_id,
            occurred_at=uow.now if cause is None else cause.occurred_at,
            recorded_at=uow.now,
            source=SOURCE,
            cause=cause,
            metadata={"actor": {"subject": by.id, "role": by.role}} if by else None,
        )
        for e in events
    ]
    await uow.save(plan, envelopes, topics.plans)
    await uow.index(plan, on)
    return envelopes


async def request_plan(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    plan_type: PlanType,
    by: Actor,
    channel: Channel,
    choice: OfferChoice | None = None,
) -> Plan:
    """A new plan of `plan_type`, if the account is eligible and has no plan in progress.

    A borrower who picks a quoted option (`choice`) gets it offered at once by the system,
    so self-service needs nobody at work: the offer still waits for a supervisor when
    policy says so.
    """
    snapshot = await account_snapshot(uow, account_id)
    for plan_id, state in await uow.open_plans(account_id):
        raise PlanAlreadyOpen(
            plan_id, "request a new plan alongside", state, "one plan per account at a time"
        )
    check(snapshot, uow.policy, plan_type)
    plan, events = Plan.request(
        plan_id=str(uuid.uuid4()),
        account_id=account_id,
        plan_type=plan_type,
        by=by,
        channel=channel,
        on=snapshot.today,
    )
    await record_plan_events(uow, topics, plan, events, snapshot.today, by)
    if choice is not None:
        await _offer(uow, topics, plan, snapshot, choice, SELF_SERVICE)
    return plan


async def offer_plan(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    plan_id: str,
    choice: OfferChoice,
    by: Actor,
) -> Plan:
    """Offer (or re-offer) a quoted option, priced now; a borrower's pick is proposed by the
    system."""
    plan = await _plan(uow, account_id, plan_id)
    snapshot = await account_snapshot(uow, account_id)
    proposer = SELF_SERVICE if by.role == "borrower" else by
    await _offer(uow, topics, plan, snapshot, choice, proposer)
    return plan


async def _offer(
    uow: PlansUnitOfWork,
    topics: Topics,
    plan: Plan,
    snapshot: AccountSnapshot,
    choice: OfferChoice,
    by: Actor,
) -> None:
    # The active plan that blocks new plans is this one's own never: it is not active yet.
    documents: list[Evidence] = []
    for sha in choice.evidence:
        doc = await uow.evidence(plan.account_id, sha)
        if doc is None:
            raise Rejected(f"evidence {sha}: not received for account {plan.account_id}")
        documents.append(doc)
    standing = await uow.standing(plan.account_id)
    assert standing is not None
    _require_fresh(plan, "offer", standing)
    priced = quote(snapshot, uow.policy, choice.income, with_waiver=choice.with_waiver)
    option = priced.option(choice.option_id)
    events = plan.offer(
        option.terms, snapshot=snapshot, policy=uow.policy, by=by, evidence=documents
    )
    await record_plan_events(uow, topics, plan, events, snapshot.today, by)
    await uow.set_offer_basis(plan.plan_id, standing_basis(standing))


def _require_fresh(plan: Plan, action: str, standing: dict[str, Any]) -> None:
    """Refuse to price or accept terms from a standing a payment has since changed: the
    accounts service would refuse them, and the disclosure would not tell the truth."""
    if standing.get("moved_since_close") and plan.allows(action):  # type: ignore[arg-type]
        raise StaleOffer(
            plan.plan_id,
            action,
            plan.state,
            f"a payment reached the account after the close of {standing['business_date']}; "
            "terms are priced again from the next day close",
        )


async def _decide(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    plan_id: str,
    by: Actor,
    decide: Callable[[Plan, date], list[EventData]],
) -> Plan:
    """Load the plan, let the domain decide on today's business date, record the events."""
    plan = await _plan(uow, account_id, plan_id)
    today = (await account_snapshot(uow, account_id)).today
    await record_plan_events(uow, topics, plan, decide(plan, today), today, by)
    return plan


async def approve_plan(
    uow: PlansUnitOfWork, topics: Topics, account_id: str, plan_id: str, by: Actor
) -> Plan:
    """A supervisor other than the proposer approves the pending offer."""
    return await _decide(
        uow, topics, account_id, plan_id, by, lambda p, on: p.approve(by=by, on=on)
    )


async def reject_plan(
    uow: PlansUnitOfWork, topics: Topics, account_id: str, plan_id: str, by: Actor, reason: str
) -> Plan:
    """A supervisor other than the proposer rejects the pending offer."""
    return await _decide(
        uow, topics, account_id, plan_id, by, lambda p, on: p.reject(by=by, on=on, reason=reason)
    )


async def accept_plan(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    plan_id: str,
    by: Actor,
    channel: Channel,
    disclosure_sha256: str,
) -> Plan:
    """The borrower accepts the offer whose disclosure they were shown; the plan activates
    at once, its exact terms published for the accounts service to apply.

    An offer priced from balances that have moved since (late fees accrued, a payment
    arrived) is refused as stale: its disclosure no longer tells the truth.
    """
    plan = await _plan(uow, account_id, plan_id)
    snapshot = await account_snapshot(uow, account_id)
    standing = await uow.standing(account_id)
    assert standing is not None
    _require_fresh(plan, "accept", standing)
    if plan.state == "offered" and await uow.offer_basis(plan_id) != standing_basis(standing):
        raise StaleOffer(
            plan_id,
            "accept",
            plan.state,
            f"the balances moved since it was priced (last close {snapshot.today}); "
            "ask for a new offer of the same option, then accept its disclosure",
        )
    accepted = plan.accept(
        by=by, channel=channel, disclosure_sha256=disclosure_sha256, on=snapshot.today
    )
    await record_plan_events(uow, topics, plan, accepted, snapshot.today, by)
    activated = plan.activate(on=snapshot.today)
    await record_plan_events(uow, topics, plan, activated, snapshot.today, None)
    return plan


async def decline_plan(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    plan_id: str,
    by: Actor,
    channel: Channel,
    reason: str | None,
) -> Plan:
    """The borrower declines the offer."""
    return await _decide(
        uow,
        topics,
        account_id,
        plan_id,
        by,
        lambda p, on: p.decline(by=by, channel=channel, on=on, reason=reason),
    )


async def cancel_plan(
    uow: PlansUnitOfWork, topics: Topics, account_id: str, plan_id: str, by: Actor, reason: str
) -> Plan:
    """Withdraw a plan that has not ended (a borrower: only before it is active)."""
    return await _decide(
        uow, topics, account_id, plan_id, by, lambda p, on: p.cancel(by=by, on=on, reason=reason)
    )
