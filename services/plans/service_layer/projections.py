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
fact or appends a plan's events; the rebuild calls the same ones on temporary tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select, update

from services.plans.adapters.tables import (
    account_standings,
    inbox,
    known_accounts,
    plan_bills,
    plan_index,
    platform,
)
from services.plans.domain.plan import TERMINAL, Plan
from shared.envelope import Envelope, decode_envelope
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Projection, Target

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


def stream_id(plan_id: str) -> str:
    """The event stream of one plan."""
    return f"plan-{plan_id}"


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


async def apply_fact(t: Target, fact: Fact) -> None:
    """Project one consumed fact onto known_accounts, account_standings or plan_bills."""
    d = fact.data
    if fact.type == "AccountOpened":
        k = t[known_accounts]
        found = await t.execute(select(k.c.account_id).where(k.c.account_id == fact.account_id))
        if found.first() is None:
            values = {"currency": d["currency"], "product": d["product"]}
            await t.execute(insert(k).values(account_id=fact.account_id, **values))
    elif fact.type == "AccountDayClosed" and d.get("balances") is not None:
        assert fact.business_date is not None
        await _set_standing(t, fact.account_id, fact.business_date, d)
    elif fact.type == "PaymentAllocated":
        s = t[account_standings]
        await t.execute(
            update(s).where(s.c.account_id == fact.account_id).values(moved_since_close=True)
        )
    elif fact.type == "BalanceReinstalled":
        b = t[plan_bills]
        rows = await t.execute(select(b.c.bill_id).where(b.c.plan_id == d["plan_id"]))
        known = {r[0] for r in rows}
        new = [{"plan_id": d["plan_id"], "bill_id": i} for i in d["bill_ids"] if i not in known]
        if new:
            await t.execute(insert(b).values(new))


async def _set_standing(t: Target, account_id: str, day: date, data: dict[str, Any]) -> None:
    """Keep the account's standing at its latest close (an older close never wins)."""
    s = t[account_standings]
    current = (
        await t.execute(select(s.c.business_date).where(s.c.account_id == account_id))
    ).first()
    if current is not None and current[0] >= day:
        return
    await t.execute(delete(s).where(s.c.account_id == account_id))
    await t.execute(
        insert(s).values(
            account_id=account_id,
            business_date=day,
            bucket=data["bucket"],
            days_past_due=data["days_past_due"],
            balances=json.dumps(data["balances"]),
            overdue=json.dumps(data["overdue"]),
            deferral_months_used=data.get("deferral_months_used") or 0,
        )
    )


async def index_plan(t: Target, plan: Plan, on: date) -> None:
    """Keep the plan's row in step with its state (`on`: the business date of the change)."""
    p = t[plan_index]
    found = (await t.execute(select(p.c.state).where(p.c.plan_id == plan.plan_id))).first()
    if found is None:
        await t.execute(
            insert(p).values(
                plan_id=plan.plan_id,
                account_id=plan.account_id,
                plan_type=plan.plan_type,
                state=plan.state,
                requested_on=on,
            )
        )
        return
    changes: dict[str, Any] = {"state": plan.state}
    if plan.activated is not None:
        changes["activated_on"] = plan.activated.activated_on
    if plan.state in TERMINAL and found.state not in TERMINAL:
        changes["ended_on"] = on
    await t.execute(update(p).where(p.c.plan_id == plan.plan_id).values(**changes))


async def set_offer_basis(t: Target, plan_id: str, basis: str) -> None:
    """Remember which standing the plan's offer was priced from."""
    p = t[plan_index]
    await t.execute(update(p).where(p.c.plan_id == plan_id).values(offer_basis=basis))


async def _close(t: Target, *, balances: bool = False, **where: Any) -> Any:
    """The first day close in the inbox matching `where` (event id, or account and date)."""
    c = inbox.c
    query = select(inbox).where(
        c.type == "AccountDayClosed", *(c[k] == v for k, v in where.items())
    )
    if balances:
        query = query.where(c.data != "{}")
    return (await t.execute(query.order_by(c.position).limit(1))).first()


async def _on(t: Target, env: Envelope, plan: Plan, paid_on: date | None) -> date:
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
    close = await _close(t, event_id=str(env.causation_id))
    if close is None:
        raise LookupError(f"{env.type} {env.id}: its day close is not in the inbox")
    day: date = close.business_date
    return day


async def apply_plan(t: Target, env: Envelope) -> None:
    """Index a whole plan stream (met at its `PlanRequested`) as the live path did."""
    assert t.catalogue is not None
    e = platform.events
    rows = await t.execute(
        select(e.c.envelope)
        .where(e.c.stream_id == stream_id(env.data["plan_id"]))
        .order_by(e.c.stream_version)
    )
    stream = [t.catalogue.upcast(decode_envelope(r.envelope)) for r in rows]
    paid_on: date | None = None
    for n, event in enumerate(stream, start=1):
        plan = Plan.from_events(event.account_id, [t.catalogue.parse(x) for x in stream[:n]])
        if event.type == "PlanPaymentApplied":
            paid_on = date.fromisoformat(event.data["paid_on"])
        on = await _on(t, event, plan, paid_on) if n == 1 or plan.state in TERMINAL else date.min
        await index_plan(t, plan, on)
        if event.type == "PlanOffered":
            offered_on = date.fromisoformat(event.data["offered_on"])
            # The standing priced from: that date's first close with balances.
            close = await _close(
                t, account_id=event.account_id, business_date=offered_on, balances=True
            )
            if close is not None:
                standing = {"business_date": offered_on, **json.loads(close.data)}
                await set_offer_basis(t, plan.plan_id, standing_basis(standing))
            elif (basis := await _baseline_basis(t, plan)) is not None:
                await set_offer_basis(t, plan.plan_id, basis)


async def _baseline_basis(t: Target, plan: Plan) -> str | None:
    """The basis of an offer made before the inbox began (migration 0008 kept it)."""
    c = inbox.c
    rows = await t.execute(
        select(c.data).where(c.type == BASELINE_BASIS, c.account_id == plan.account_id)
    )
    for row in rows:
        data = json.loads(row.data)
        if data["plan_id"] == plan.plan_id:
            return str(data["basis"])
    return None


PROJECTION = Projection(
    tables=(known_accounts, account_standings, plan_bills, plan_index),
    types=("PlanRequested",),
    apply=apply_plan,
    inbox=inbox,
    facts=apply_fact,
)
"""What `arrears rebuild plans` rebuilds: the inbox's facts, then every plan stream."""
