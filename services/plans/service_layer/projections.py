"""The plans read models: what each is projected from, and what is not a projection.

Projections, rebuilt by `arrears rebuild plans` from plans' own database:

- `known_accounts`: from `AccountOpened` (inbound topic), kept in the inbox
  (`consumed_facts`) as its currency and product only; the borrower's `customer_id`,
  personal data, is not copied.
- `account_standings`: from each account's `AccountDayClosed` (accounts topic; its
  business date, bucket, DPD, balances, overdue and deferral months), and
  `moved_since_close` from a `PaymentAllocated` after it; both kept in the inbox, in the
  order consumed. An older close never replaces a newer one.
- `plan_bills`: from accounts' `BalanceReinstalled`, kept in the inbox (plan and bill ids).
- `plan_index`: from plans' own plan streams. Two columns also read the inbox: `ended_on`
  of a plan that expired or broke at a day close is that close's business date (the
  close is the plan event's cause), and `offer_basis` is the fingerprint of the account's
  standing at the close of the offer's `offered_on` (for an offer made before the
  inbox began, the basis migration 0008 kept).

Not projections, left alone by a rebuild:

- `evidence`: primary state, the record of documents received (the bytes live in the
  evidence store); no event but the document itself says what it is.
- the platform tables: the event store and the inbox themselves (the record), the
  outbox, the processed-events ledger, dead letters, parked records, consumer positions
  and gaps (each consumer's own progress), leases and rate buckets (operational state).

The live path writes every projected row through the functions below, as it consumes a
fact or appends a plan's events, on the unit of work's `ReadModels`; the rebuild calls
the same ones on read models whose tables are its temporary copies.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from services.plans.adapters.repository import rebuild_ports, stream_id
from services.plans.adapters.tables import (
    account_standings,
    inbox,
    known_accounts,
    plan_bills,
    plan_index,
)
from services.plans.domain.plan import TERMINAL, Plan
from services.plans.service_layer.ports import PlanRepository, ReadModels
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Projection, Target

__all__ = ["PROJECTION", "apply_fact", "fact_of", "index_plan", "standing_basis", "stream_id"]

STANDING_FIELDS = (
    "bucket",
    "days_past_due",
    "balances",
    "overdue",
    "deferral_months_used",
)
"""What plans keeps of a day close that carries balances."""
BASELINE_BASIS = "PlanOfferBasis"
"""The inbox's record of an offer's basis from before the inbox (no close behind it)."""


def standing_basis(standing: dict[str, Any]) -> str:
    """A fingerprint of the balances a quote was priced from."""
    basis = {k: standing[k] for k in ("business_date", "balances", "overdue")}
    return hashlib.sha256(json.dumps(basis, sort_keys=True, default=str).encode()).hexdigest()


def fact_of(env: Envelope) -> Fact | None:
    """What plans keeps of a consumed event, or None when no read model reads it."""
    d = env.data
    day = date.fromisoformat(d["business_date"]) if d.get("business_date") else None
    if env.type == "AccountOpened":
        return Fact.of(env, currency=d["currency"], product=d["product"])
    if env.type == "AccountDayClosed":
        kept = {k: d.get(k) for k in STANDING_FIELDS} if d.get("balances") is not None else {}
        return Fact.of(env, day, **kept)
    if env.type == "PaymentAllocated":
        return Fact.of(env, day)
    if env.type == "BalanceReinstalled":
        bills = [i["bill_id"] for i in d["installments"]]
        return Fact.of(env, plan_id=d["plan_id"], bill_ids=bills)
    return None


async def apply_fact(models: ReadModels, fact: Fact) -> None:
    """Project one consumed fact onto known_accounts, account_standings or plan_bills."""
    d = fact.data
    if fact.type == "AccountOpened":
        if await models.known_account(fact.account_id) is None:
            await models.add_known_account(fact.account_id, d["currency"], d["product"])
    elif fact.type == "AccountDayClosed" and d.get("balances") is not None:
        assert fact.business_date is not None
        await _set_standing(models, fact.account_id, fact.business_date, d)
    elif fact.type == "PaymentAllocated":
        standing = await models.standing(fact.account_id)
        if standing is not None:
            await models.put_standing({**standing, "moved_since_close": True})
    elif fact.type == "BalanceReinstalled":
        known = set(await models.bills(d["plan_id"]))
        new = [b for b in dict.fromkeys(d["bill_ids"]) if b not in known]
        if new:
            await models.add_bills(d["plan_id"], new)


async def _set_standing(
    models: ReadModels, account_id: str, day: date, data: dict[str, Any]
) -> None:
    """Keep the account's standing at its latest close (an older close never wins)."""
    current = await models.standing(account_id)
    if current is not None and current["business_date"] >= day:
        return
    await models.put_standing(
        {
            "account_id": account_id,
            "business_date": day,
            "bucket": data["bucket"],
            "days_past_due": data["days_past_due"],
            "balances": data["balances"],
            "overdue": data["overdue"],
            "deferral_months_used": data.get("deferral_months_used") or 0,
            "moved_since_close": False,
        }
    )


async def index_plan(models: ReadModels, plan: Plan, on: date) -> None:
    """Keep the plan's row in step with its state (`on`: the business date of the change)."""
    found = await models.plan(plan.plan_id)
    if found is None:
        await models.put_plan(
            {
                "plan_id": plan.plan_id,
                "account_id": plan.account_id,
                "plan_type": plan.plan_type,
                "state": plan.state,
                "requested_on": on,
                "activated_on": None,
                "ended_on": None,
                "offer_basis": None,
            }
        )
        return
    changes: dict[str, Any] = {"state": plan.state}
    if plan.activated is not None:
        changes["activated_on"] = plan.activated.activated_on
    if plan.state in TERMINAL and found["state"] not in TERMINAL:
        changes["ended_on"] = on
    await models.put_plan({**found, **changes})


async def set_offer_basis(models: ReadModels, plan_id: str, basis: str) -> None:
    """Remember which standing the plan's offer was priced from."""
    found = await models.plan(plan_id)
    if found is not None:
        await models.put_plan({**found, "offer_basis": basis})


async def _on(models: ReadModels, env: Envelope, plan: Plan, paid_on: date | None) -> date:
    """The business date the live path indexed this plan event on."""
    d = env.data
    for name in ("requested_on", "rejected_on", "declined_on", "cancelled_on"):
        if name in d:
            return date.fromisoformat(d[name])
    if env.type == "PlanCompleted":
        # Completed by the payment just applied, else at activation (nothing to pay).
        assert plan.activated is not None
        return paid_on or plan.activated.activated_on
    # Expiry and breaking happen at a day close: the plan event's cause.
    close = await models.close(str(env.causation_id))
    if close is None or close.business_date is None:
        raise LookupError(f"{env.type} {env.id}: its day close is not in the inbox")
    return close.business_date


async def index_stream(plans: PlanRepository, models: ReadModels, env: Envelope) -> None:
    """Index a whole plan stream (met at its `PlanRequested`) as the live path did."""
    paid_on: date | None = None
    for n, (event, plan) in enumerate(await plans.stream(env.data["plan_id"]), start=1):
        if event.type == "PlanPaymentApplied":
            paid_on = date.fromisoformat(event.data["paid_on"])
        on = (
            await _on(models, event, plan, paid_on)
            if n == 1 or plan.state in TERMINAL
            else date.min
        )
        await index_plan(models, plan, on)
        if event.type == "PlanOffered":
            offered_on = date.fromisoformat(event.data["offered_on"])
            # The standing priced from: that date's first close with balances.
            close = await models.first_close(event.account_id, offered_on)
            if close is not None:
                standing = {"business_date": offered_on, **close.data}
                await set_offer_basis(models, plan.plan_id, standing_basis(standing))
            elif (basis := await _baseline_basis(models, plan)) is not None:
                await set_offer_basis(models, plan.plan_id, basis)


async def _baseline_basis(models: ReadModels, plan: Plan) -> str | None:
    """The basis of an offer made before the inbox began (migration 0008 kept it)."""
    for fact in await models.facts(BASELINE_BASIS, plan.account_id):
        if fact.data["plan_id"] == plan.plan_id:
            return str(fact.data["basis"])
    return None


async def _rebuild_plan(t: Target, env: Envelope) -> None:
    plans, models = rebuild_ports(t)
    await index_stream(plans, models, env)
    await models.flush()


async def _rebuild_fact(t: Target, fact: Fact) -> None:
    _, models = rebuild_ports(t)
    await apply_fact(models, fact)
    await models.flush()


PROJECTION = Projection(
    tables=(known_accounts, account_standings, plan_bills, plan_index),
    types=("PlanRequested",),
    apply=_rebuild_plan,
    inbox=inbox,
    facts=_rebuild_fact,
)
"""What `arrears rebuild plans` rebuilds: the inbox's facts, then every plan stream."""
