"""Which plans read models its own event store could rebuild: none yet, table by table why.

Plans' store holds only plans' own events (one stream per plan). Every read model but
`plan_index` is fed by events plans consumes and does not keep, and `plan_index` holds
two facts its events do not carry:

- `known_accounts`: from `AccountOpened` on the inbound topic. Not in plans' store, and
  keeping it there would copy the borrower's `customer_id` (personal data) into one more
  store that is kept forever; rebuildable only by re-reading the inbound topic.
- `account_standings`: each account's latest `AccountDayClosed` (and whether a
  `PaymentAllocated` came after it), from the accounts topic. A cache of accounts' state,
  rewritten at every close; keeping every close in plans' store would copy accounts'
  largest stream. The next close of an account puts its row right.
- `plan_bills`: from accounts' `BalanceReinstalled`. Not in plans' store.
- `plan_index`: from plan streams, except `ended_on` of an expired or broken plan (the
  business date of the day close that ended it, which `PlanExpired` and `PlanBroken` do
  not carry) and `offer_basis` (a fingerprint of the standing the offer was priced from,
  which `PlanOffered` does not carry). Rebuilding it needs those two in the events:
  a change of the catalogue (`PlanBroken.broken_on`, `PlanOffered.basis`), not made here.
- `evidence`: primary state, the record of documents received (the bytes live in the
  evidence store); not a projection.

`arrears rebuild plans` says so and changes nothing.
"""

from __future__ import annotations

from shared.eventstore.rebuild import Projection

PROJECTION: Projection | None = None
"""Nothing of plans is a projection of its own store alone (see above)."""
