"""Plans handlers: agreements over HTTP, and the accounts plans learn of from the inbound topic."""

from __future__ import annotations

import uuid
from typing import Any

from services.plans.domain.eligibility import AccountSnapshot
from services.plans.domain.model import agree_plan
from services.plans.domain.policy import DEFAULT_POLICY
from services.plans.domain.quotes import Income, Quote, quote
from services.plans.service_layer.unit_of_work import PlansUnitOfWork, stream_id
from shared.catalogue import new_envelope
from shared.envelope import Envelope
from shared.topics import Topics

SOURCE = "plans"


class UnknownAccount(LookupError):
    """Plans has not seen this account opened."""


async def on_inbound(uow: PlansUnitOfWork, env: Envelope) -> None:
    """Learn of opened accounts; other inbound events are not plans' business."""
    if env.type == "AccountOpened":
        await uow.remember_account(env.account_id, env.data["currency"], env.data["product"])


async def on_accounts(uow: PlansUnitOfWork, env: Envelope) -> None:
    """Keep each account's standing from its day closes (what quotes are made from)."""
    if env.type == "AccountDayClosed" and env.data.get("balances") is not None:
        await uow.set_standing(env.account_id, env.data)


def quote_for(standing: dict[str, Any], income: Income | None, with_waiver: bool) -> Quote:
    """Every option the account is eligible for, priced; changes nothing."""
    snapshot = AccountSnapshot(
        account_id=standing["account_id"],
        product=standing["product"] or "consumer_credit",
        currency=standing["currency"],
        bucket=standing["bucket"],
        dpd=standing["days_past_due"],
        today=standing["business_date"],
        balances=standing["balances"],
        overdue=standing["overdue"],
        deferral_months_used=standing["deferral_months_used"],
    )
    return quote(snapshot, DEFAULT_POLICY, income, with_waiver=with_waiver)


async def agree(
    uow: PlansUnitOfWork,
    topics: Topics,
    account_id: str,
    terms: dict[str, Any],
    actor: dict[str, str] | None = None,
) -> Envelope:
    """Record an agreed plan and queue it for the accounts service; the caller commits."""
    currency = await uow.account_currency(account_id)
    if currency is None:
        raise UnknownAccount(f"no account {account_id}")
    plan_id = str(uuid.uuid4())
    agreed = agree_plan(plan_id=plan_id, account_currency=currency, **terms)
    event = new_envelope(
        agreed,
        account_id=account_id,
        occurred_at=uow.now,
        recorded_at=uow.now,
        source=SOURCE,
        metadata={"actor": actor} if actor else None,
    )
    await uow.record(stream_id(plan_id), 0, [event], topics.plans)
    return event
