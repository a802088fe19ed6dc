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

Projected from contact's own events, in store order (`apply_case_event`):

- `open_cases`: the queues agents pull from, one row per open case. Opened and closed by
  `CollectionCaseOpened`/`Closed`; queue, segment and bucket from `CollectionCaseRouted`
  (which frees the case for the new queue's agents) and `CollectionCaseReclassified`;
  the assignee and their claim's freshness from `CollectionCaseAssigned` and the
  assignee's own `ContactAttemptRecorded` (each at its `recorded_at`); the next action
  from `PromiseToPayMade` (the day after its due date, in the borrower's zone, which
  `borrowers` holds), `CallbackAgreed` (its slot) and a promise kept or broken (none).

Not rebuilt:

- `reminders`: the reminder worker's own queue (status, tries, next try): the messages
  and every decision are events on the contact stream, the queue is not a projection.
- the platform tables: the event store and the inbox themselves (the record), the
  outbox, the processed-events ledger, dead letters, parked records, consumer positions
  and gaps (each consumer's own progress), leases and rate buckets (operational state).

The live path writes the projected rows through `apply_fact` as it consumes each fact, and
through `apply_case_event` as it records each event (`ContactUnitOfWork.record`), both in
`services.contact.adapters.projections` (SQL stays in the adapters); the rebuild calls
the same functions on temporary tables, the facts first, so `borrowers` is
whole before any event is applied (a borrower's zone never changes: the first report wins).
"""

from __future__ import annotations

from datetime import date

from services.contact.adapters.projections import CASE_EVENTS, PROJECTION
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact

__all__ = ["CASE_EVENTS", "PROJECTION", "borrower_fact", "payment_fact", "standing_fact"]


def borrower_fact(env: Envelope, time_zone: str, jurisdiction: str, currency: str | None) -> Fact:
    """What contact keeps of an `AccountOpened`."""
    return Fact.of(env, time_zone=time_zone, jurisdiction=jurisdiction, currency=currency)


def standing_fact(env: Envelope, bucket: str, days_past_due: int, on: date | None) -> Fact:
    """What contact keeps of a bucket change or a day close."""
    return Fact.of(env, on, bucket=bucket, days_past_due=days_past_due)


def payment_fact(env: Envelope, on: date) -> Fact:
    """What contact keeps of a `PaymentAllocated`, counted on business date `on`."""
    return Fact.of(env, on, payment_id=env.data["payment_id"], amount=env.data["amount"])
