"""Plans handlers for other services' events: the accounts plans may serve, their standing
at each day close, and the payments and day closes that track active plans."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from services.plans.domain.eligibility import AccountSnapshot
from services.plans.domain.plan import Actor
from services.plans.domain.quotes import Income, Quote, quote
from services.plans.service_layer.lifecycle import UnknownPlan, account_snapshot, record_plan_events
from services.plans.service_layer.unit_of_work import PlansUnitOfWork
from shared.envelope import Envelope
from shared.topics import Topics

FACTS = ("AccountDayClosed", "PaymentAllocated", "BalanceReinstalled")
"""What plans keeps of the accounts topic for its read models."""
ACCOUNTS = Actor("accounts", "system")
"""Who cancels a plan whose terms the accounts service refused."""


async def on_inbound(uow: PlansUnitOfWork, env: Envelope) -> None:
    """Learn of opened accounts; other inbound events are not plans' business."""
    if env.type == "AccountOpened":
        await uow.take_in(env)


class AccountsHandler:
    """Keeps each account's standing and tracks its plans against what accounts reports.

    A day close expires stale offers and marks installments missed (breaking a plan after
    the grace); a payment counts toward the active plan's installments in due order: for a
    plan with bills of its own (re-installment, personalised), what accounts allocated to
    those bills; for a deferral or a waiver, the whole payment.
    """

    def __init__(self, topics: Topics) -> None:
        self._topics = topics

    async def __call__(self, uow: PlansUnitOfWork, env: Envelope) -> None:
        if env.type in FACTS:
            await uow.take_in(env)
        if env.type == "AccountDayClosed":
            await self._day_closed(uow, env)
        elif env.type == "PaymentAllocated":
            await self._paid(uow, env)
        elif env.type == "PlanTermsRefused":
            await self._refused(uow, env)

    async def _day_closed(self, uow: PlansUnitOfWork, env: Envelope) -> None:
        day = date.fromisoformat(env.data["business_date"])
        for plan_id, _ in await uow.open_plans(env.account_id):
            plan = await uow.plan(env.account_id, plan_id)
            if plan is None:
                raise UnknownPlan(f"plan {plan_id} is indexed but has no stream")
            await record_plan_events(
                uow,
                self._topics,
                plan,
                plan.close_day(day, uow.policy.request_expiry_days),
                day,
                None,
                cause=env,
            )

    async def _refused(self, uow: PlansUnitOfWork, env: Envelope) -> None:
        plan = await uow.plan(env.account_id, env.data["plan_id"])
        if plan is None or not plan.allows("cancel"):
            return  # already ended: the refusal changes nothing
        closed = env.data.get("business_date")
        on = date.fromisoformat(closed) if closed else date.min
        if plan.activated is not None:
            on = max(on, plan.activated.activated_on)
        reason = f"the accounts service refused the terms: {env.data['reason']}"
        events = plan.cancel(by=ACCOUNTS, on=on, reason=reason[:500])
        await record_plan_events(uow, self._topics, plan, events, on, ACCOUNTS, cause=env)

    async def _paid(self, uow: PlansUnitOfWork, env: Envelope) -> None:
        paid_on = env.data.get("business_date")
        for plan_id, state in await uow.open_plans(env.account_id):
            if state != "active":
                continue
            plan = await uow.plan(env.account_id, plan_id)
            assert plan is not None and plan.activated is not None
            on = date.fromisoformat(paid_on) if paid_on else plan.activated.activated_on
            if on < plan.activated.activated_on:
                continue  # a backdated payment from before the plan is not the plan's
            amount = await self._toward(uow, plan_id, env.data)
            if amount == 0:
                continue
            events = plan.record_payment(amount, on, env.data["payment_id"])
            await record_plan_events(uow, self._topics, plan, events, on, None, cause=env)

    @staticmethod
    async def _toward(uow: PlansUnitOfWork, plan_id: str, payment: dict[str, Any]) -> int:
        """What of a payment meets the plan: with bills of its own (a re-installment), what
        accounts allocated to them; otherwise the whole payment, which pays the overdue
        bills the plan covers first (oldest due first)."""
        bills = set(await uow.plan_bills(plan_id))
        if not bills:
            return int(payment["amount"])
        return sum(int(a["amount"]) for a in payment["allocations"] if a["bill_id"] in bills)


async def quote_account(
    uow: PlansUnitOfWork, account_id: str, income: Income | None, with_waiver: bool
) -> tuple[Quote, AccountSnapshot]:
    """Every option the account is eligible for today, priced, and the snapshot priced from;
    changes nothing."""
    snapshot = await account_snapshot(uow, account_id)
    priced = quote(snapshot, uow.policy, income, with_waiver=with_waiver)
    standing = await uow.standing(account_id)
    if standing is not None and standing["moved_since_close"]:
        note = (
            f"a payment reached the account after the close of {snapshot.today}: these "
            "prices are as of that close and can be offered again after the next one"
        )
        priced = replace(priced, notes=(*priced.notes, note))
    return priced, snapshot
