"""Relief plans of an account: request, read, and every step of the lifecycle.

POST /v1/accounts/{account_id}/plans                     request (borrower: may pick an option)
GET  /v1/accounts/{account_id}/plans                     the account's plans
GET  /v1/accounts/{account_id}/plans/{plan_id}           one plan, with its disclosure
POST /v1/accounts/{account_id}/plans/{plan_id}/offer     offer or re-offer a quoted option
POST .../approve | .../reject                            a supervisor's decision
POST .../accept | .../decline                            the borrower's answer
POST .../cancel                                          withdraw
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from services.plans.domain.plan import Actor, Plan
from services.plans.entrypoints.bodies import (
    AccountId,
    Command,
    Declaration,
    EvidenceHashes,
    OptionId,
    PlanId,
    Text,
    capped,
)
from services.plans.entrypoints.dependencies import Runtime
from services.plans.service_layer import lifecycle
from services.plans.service_layer.lifecycle import OfferChoice
from shared.auth import Principal
from shared.bounds import QueryInt
from shared.events.plans import Channel, PlanType, Sha256
from shared.security import CurrentPrincipal

STAFF = {"agent", "supervisor"}
ACCESS = {
    "request_plan": {*STAFF, "borrower"},
    "list_plans": {*STAFF, "compliance", "borrower"},
    "get_plan": {*STAFF, "compliance", "borrower"},
    "offer_plan": {*STAFF, "borrower"},
    "approve_plan": {"supervisor"},
    "reject_plan": {"supervisor"},
    "accept_plan": {*STAFF, "borrower"},
    "decline_plan": {*STAFF, "borrower"},
    "cancel_plan": {*STAFF, "borrower"},
}
MAX_PAGE = 200

router = APIRouter(prefix="/v1/accounts", tags=["plans"], route_class=capped(ACCESS))


class Option(Declaration):
    """A quoted option and what pricing it needs: income for a personalised plan,
    evidence (hashes of uploaded documents) for a waiver above the threshold."""

    option_id: OptionId
    evidence: EvidenceHashes = []

    def choice(self) -> OfferChoice:
        return OfferChoice(self.option_id, self.income(), self.with_waiver, tuple(self.evidence))


class PlanRequest(Command):
    """A plan of a type; `option` (from a quote) has it offered at once."""

    plan_type: PlanType
    channel: Channel
    option: Option | None = None


class Acceptance(Command):
    """The borrower's yes, quoting the hash of the disclosure they were shown."""

    channel: Channel
    disclosure_sha256: Sha256


class Declining(Command):
    """The borrower's no, and why if they said."""

    channel: Channel
    reason: Text | None = None


class WithReason(Command):
    """A decision that must say why."""

    reason: Text


def actor(principal: Principal) -> Actor:
    """The domain's actor for the caller (route rules already limit the roles)."""
    return Actor(principal.subject, principal.role)  # type: ignore[arg-type]


def view(plan: Plan) -> dict[str, Any]:
    """A plan as the API shows it: state, terms, the disclosure to show, and tracking."""

    def dump(event: BaseModel | None) -> dict[str, Any] | None:
        return None if event is None else event.model_dump(mode="json")

    offer = dump(plan.offered)
    if offer is not None:
        offer["disclosure"] = plan.disclosure()
    return {
        "plan_id": plan.plan_id,
        "account_id": plan.account_id,
        "plan_type": plan.plan_type,
        "state": plan.state,
        "approval": plan.approval,
        "requested": dump(plan.requested),
        "offer": offer,
        "accepted": dump(plan.accepted),
        "activated": dump(plan.activated),
        "installments": [
            {
                "number": i.number,
                "due_date": i.due_date.isoformat(),
                "amount": i.amount,
                "paid": i.paid,
                "met_on": i.met_on.isoformat() if i.met_on else None,
                "missed": i.missed,
            }
            for i in plan.installments
        ],
        "version": plan.version,
    }


Step = Callable[..., Awaitable[Plan]]
"""A lifecycle handler: (unit of work, topics, *arguments) -> the plan it changed."""


async def _step(runtime: Runtime, step: Step, *args: Any) -> dict[str, Any]:
    """Run one lifecycle step in a unit of work, commit, and wake the relay."""
    async with runtime.uow() as uow:
        plan = await step(uow, runtime.settings.topics, *args)
        await uow.commit()
    runtime.notify_relay()
    return view(plan)


@router.post("/{account_id}/plans", status_code=201)
async def request_plan(
    account_id: AccountId, body: PlanRequest, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Request a plan; eligibility is checked now and a refusal names the rule."""
    choice = body.option.choice() if body.option else None
    return await _step(
        runtime,
        lifecycle.request_plan,
        account_id,
        body.plan_type,
        actor(principal),
        body.channel,
        choice,
    )


@router.get("/{account_id}/plans")
async def list_plans(
    account_id: AccountId,
    runtime: Runtime,
    offset: Annotated[QueryInt, Query()] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """The account's plans, newest first, a page at a time."""
    async with runtime.uow() as uow:
        rows = await uow.plan_rows(account_id, offset=offset, limit=limit)
    return {
        "account_id": account_id,
        "plans": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in rows
        ],
        "next_offset": offset + limit if len(rows) == limit else None,
    }


@router.get("/{account_id}/plans/{plan_id}")
async def get_plan(account_id: AccountId, plan_id: PlanId, runtime: Runtime) -> dict[str, Any]:
    """One plan: state, offered terms with the disclosure text and its hash, tracking."""
    async with runtime.uow() as uow:
        plan = await uow.plan(account_id, plan_id)
    if plan is None:
        raise lifecycle.UnknownPlan(f"no plan {plan_id} on account {account_id}")
    return view(plan)


@router.post("/{account_id}/plans/{plan_id}/offer")
async def offer_plan(
    account_id: AccountId,
    plan_id: PlanId,
    body: Option,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Offer (or re-offer) a quoted option priced from today's standing."""
    return await _step(
        runtime, lifecycle.offer_plan, account_id, plan_id, body.choice(), actor(principal)
    )


@router.post("/{account_id}/plans/{plan_id}/approve")
async def approve_plan(
    account_id: AccountId, plan_id: PlanId, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Approve an offer waiting for a supervisor; nobody approves their own proposal."""
    return await _step(runtime, lifecycle.approve_plan, account_id, plan_id, actor(principal))


@router.post("/{account_id}/plans/{plan_id}/reject")
async def reject_plan(
    account_id: AccountId,
    plan_id: PlanId,
    body: WithReason,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Reject an offer waiting for a supervisor; the plan ends."""
    return await _step(
        runtime, lifecycle.reject_plan, account_id, plan_id, actor(principal), body.reason
    )


@router.post("/{account_id}/plans/{plan_id}/accept")
async def accept_plan(
    account_id: AccountId,
    plan_id: PlanId,
    body: Acceptance,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Accept the offer shown (its disclosure hash); the plan activates at once."""
    return await _step(
        runtime,
        lifecycle.accept_plan,
        account_id,
        plan_id,
        actor(principal),
        body.channel,
        body.disclosure_sha256,
    )


@router.post("/{account_id}/plans/{plan_id}/decline")
async def decline_plan(
    account_id: AccountId,
    plan_id: PlanId,
    body: Declining,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Decline the offer."""
    return await _step(
        runtime,
        lifecycle.decline_plan,
        account_id,
        plan_id,
        actor(principal),
        body.channel,
        body.reason,
    )


@router.post("/{account_id}/plans/{plan_id}/cancel")
async def cancel_plan(
    account_id: AccountId,
    plan_id: PlanId,
    body: WithReason,
    runtime: Runtime,
    principal: CurrentPrincipal,
) -> dict[str, Any]:
    """Withdraw the plan; a borrower only before it is active."""
    return await _step(
        runtime, lifecycle.cancel_plan, account_id, plan_id, actor(principal), body.reason
    )
