"""The contact read models: what each is projected from, and what is not (yet) rebuilt.

Projections, rebuilt by `arrears rebuild contact` from the facts contact consumed, kept
in its inbox (`consumed_facts`) in the order consumed:

- `borrowers`: from `AccountOpened` (inbound topic): the time zone, the rule pack (the
  integrator's jurisdiction, else the zone's) and the currency; the borrower's
  `customer_id`, personal data, is not copied. The first report wins.
- `standings`: the latest bucket and DPD from accounts' `DelinquencyBucketChanged` and
  `AccountDayClosed`, the last consumed winning.
- `payments`: from accounts' `PaymentAllocated`, with the business date it counted on
  (a v1 allocation's, the borrower's local date, as resolved when it was consumed).

Not rebuilt:

- `open_cases`: a work queue agents pull from. Its case id, queue and segment follow
  contact's own case events, but `claimed_at` is when an agent last worked the case (the
  clock, written by claims and touches, not by an event), `assigned_to` is cleared by a
  reroute without an event, and `next_action_at` is computed in the borrower's zone from
  promises and callbacks; so a rebuild would have to re-run routing. Not done here.
- `reminders`: the reminder worker's own queue (status, tries, next try): the messages
  and every decision are events on the contact stream, the queue is not a projection.
- the platform tables: the event store and the inbox themselves (the record), the
  outbox, the processed-events ledger, dead letters, parked records, consumer positions
  and gaps (each consumer's own progress), leases and rate buckets (operational state).

The live path writes the projected rows through `apply_fact` as it consumes each fact;
the rebuild calls the same function on temporary tables.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import insert, select, update

from services.contact.adapters.tables import borrowers, inbox, payments, standings
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact
from shared.eventstore.rebuild import Projection, Target


def borrower_fact(env: Envelope, time_zone: str, jurisdiction: str, currency: str | None) -> Fact:
    """What contact keeps of an `AccountOpened`."""
    return Fact.of(env, time_zone=time_zone, jurisdiction=jurisdiction, currency=currency)


def standing_fact(env: Envelope, bucket: str, days_past_due: int, on: date | None) -> Fact:
    """What contact keeps of a bucket change or a day close."""
    return Fact.of(env, on, bucket=bucket, days_past_due=days_past_due)


def payment_fact(env: Envelope, on: date) -> Fact:
    """What contact keeps of a `PaymentAllocated`, counted on business date `on`."""
    return Fact.of(env, on, payment_id=env.data["payment_id"], amount=env.data["amount"])


async def apply_fact(t: Target, fact: Fact) -> bool:
    """Project one consumed fact; True when it changed the account's bucket."""
    d, account_id = fact.data, fact.account_id
    if fact.type == "AccountOpened":
        b = t[borrowers]
        found = await t.execute(select(b.c.account_id).where(b.c.account_id == account_id))
        if found.first() is None:
            await t.execute(insert(b).values(account_id=account_id, **d))
        return False
    if fact.type == "PaymentAllocated":
        p = t[payments]
        known = await t.execute(
            select(p.c.payment_id).where(
                p.c.account_id == account_id, p.c.payment_id == d["payment_id"]
            )
        )
        if known.first() is None:
            values = {"payment_id": d["payment_id"], "amount": d["amount"]}
            await t.execute(
                insert(p).values(account_id=account_id, business_date=fact.business_date, **values)
            )
        return False
    s = t[standings]
    current = (
        await t.execute(select(s.c.bucket).where(s.c.account_id == account_id))
    ).scalar_one_or_none()
    values = {**d, "business_date": fact.business_date}
    if current is None:
        await t.execute(insert(s).values(account_id=account_id, **values))
    else:
        await t.execute(update(s).where(s.c.account_id == account_id).values(**values))
    return bool(current != d["bucket"])


PROJECTION = Projection(
    tables=(borrowers, standings, payments),
    types=(),
    inbox=inbox,
    facts=apply_fact,
)
"""What `arrears rebuild contact` rebuilds: borrowers, standings and payments."""
