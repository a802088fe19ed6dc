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
from pydantic import BaseModel, ConfigDict, Field

from services.plans.domain.plan import Actor, Plan
from services.plans.domain.quotes import Income
from services.plans.entrypoints.bodies import capped
from services.plans.entrypoints.dependencies import Runtime
from services.plans.service_layer import lifecycle
from services.plans.service_layer.lifecycle import OfferChoice
from shared.auth import Principal
from shared.events.plans import Channel, PlanType, Sha256
from shared.money import NonNegativeMinor
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
Reason = Annotated[str, Field(min_length=1, max_length=500)]

router = APIRouter(prefix="/v1/accounts", tags=["plans"], route_class=capped(ACCESS))


class Option(BaseModel):
    """A quoted option and what pricing it needs: income for a personalised plan,
    evidence (hashes of uploaded documents) for a waiver above the threshold."""

    model_config = ConfigDict(extra="forbid")

    option_id: str = Field(min_length=1, max_length=64)
    monthly_income: NonNegativeMinor | None = None
    essential_expenses: NonNegativeMinor = 0
    other_obligations: NonNegativeMinor = 0
    with_waiver: bool = False
    evidence: list[Sha256] = Field(default_factory=list, max_length=20)

    def choice(self) -> OfferChoice:
        income = (
            Income(self.monthly_income, self.essential_expenses, self.other_obligations)
            if self.monthly_income is not None
            else None
        )
        return OfferChoice(self.option_id, income, self.with_waiver, tuple(self.evidence))


class PlanRequest(BaseModel):
    """A plan of a type; `option` (from a quote) has it offered at once."""

    model_config = ConfigDict(extra="forbid")

    plan_type: PlanType
    channel: Channel
    option: Option | None = None


class Acceptance(BaseModel):
    """The borrower's yes, quoting the hash of the disclosure they were shown."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    disclosure_sha256: Sha256


class Declining(BaseModel):
    """The borrower's no, and why if they said."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    reason: str | None = Field(default=None, max_length=500)


class WithReason(BaseModel):
    """A decision that must say why."""

    model_config = ConfigDict(extra="forbid")

    reason: Reason


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
    account_id: str, body: PlanRequest, runtime: Runtime, principal: CurrentPrincipal
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
    account_id: str,
    runtime: Runtime,
    offset: Annotated[int, Query(ge=0)] = 0,
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
async def get_plan(account_id: str, plan_id: str, runtime: Runtime) -> dict[str, Any]:
    """One plan: state, offered terms with the disclosure text and its hash, tracking."""
    async with runtime.uow() as uow:
        plan = await uow.plan(account_id, plan_id)
    if plan is None:
        raise lifecycle.UnknownPlan(f"no plan {plan_id} on account {account_id}")
    return view(plan)


@router.post("/{account_id}/plans/{plan_id}/offer")
async def offer_plan(
    account_id: str, plan_id: str, body: Option, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Offer (or re-offer) a quoted option priced from today's standing."""
    return await _step(
        runtime, lifecycle.offer_plan, account_id, plan_id, body.choice(), actor(principal)
    )


@router.post("/{account_id}/plans/{plan_id}/approve")
async def approve_plan(
    account_id: str, plan_id: str, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Approve an offer waiting for a supervisor; nobody approves their own proposal."""
    return await _step(runtime, lifecycle.approve_plan, account_id, plan_id, actor(principal))


@router.post("/{account_id}/plans/{plan_id}/reject")
async def reject_plan(
    account_id: str, plan_id: str, body: WithReason, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Reject an offer waiting for a supervisor; the plan ends."""
    return await _step(
        runtime, lifecycle.reject_plan, account_id, plan_id, actor(principal), body.reason
    )


@router.post("/{account_id}/plans/{plan_id}/accept")
async def accept_plan(
    account_id: str, plan_id: str, body: Acceptance, runtime: Runtime, principal: CurrentPrincipal
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
    account_id: str, plan_id: str, body: Declining, runtime: Runtime, principal: CurrentPrincipal
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
    account_id: str, plan_id: str, body: WithReason, runtime: Runtime, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Withdraw the plan; a borrower only before it is active."""
    return await _step(
        runtime, lifecycle.cancel_plan, account_id, plan_id, actor(principal), body.reason
    )
