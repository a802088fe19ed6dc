"""Which contact read models its own event store could rebuild: none yet, table by table why.

Contact's store holds contact's own events (collection cases, contact attempts and
compliance decisions, per account). Its read models are fed by what it consumes and does
not keep, or are work queues whose state is no event's:

- `borrowers`: from `AccountOpened` on the inbound topic. Not in contact's store, and
  keeping it there would copy the borrower's `customer_id` (personal data) into one more
  store kept forever; rebuildable only by re-reading the inbound topic.
- `standings`: the latest bucket and DPD from accounts' `DelinquencyBucketChanged` and
  `AccountDayClosed`. A cache of accounts' state, rewritten at every close.
- `payments`: from accounts' `PaymentAllocated`. Not in contact's store.
- `open_cases`: the case id, queue, segment and assignee follow contact's own case
  events, but `bucket` is the standing's at the last routing (from `standings`),
  `claimed_at` is when an agent last worked the case (the clock, not an event) and
  `next_action_at` is derived in the borrower's time zone (from `borrowers`).
- `reminders`: a work queue (status, tries, next try), the reminder worker's own state;
  the messages themselves are events, the queue is not a projection of them.

`arrears rebuild contact` says so and changes nothing.
"""

from __future__ import annotations

from shared.eventstore.rebuild import Projection

PROJECTION: Projection | None = None
"""Nothing of contact is a projection of its own store alone (see above)."""
