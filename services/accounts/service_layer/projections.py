"""The accounts read models that are projections of its own event store, and those that are not.

- `account_index` (who opened which account, when): one row per `AccountOpened` fact on
  an account's stream. A projection; `arrears rebuild accounts` rebuilds it.
- `submissions` (what became of each event an integrator posted over HTTP, rejections
  included): primary state. A rejected submission leaves no event behind, so the store
  cannot say it happened; the rebuild leaves the table alone.
- `book_closes` (which dates a close of every account covered, per scope): primary
  state. The fan-out books a `*` close there and nowhere else (it is on no account's
  stream), so the store cannot rebuild it; the rebuild leaves it alone.
- `snapshots`: a cache of account aggregates, not a read model. Each is checked against
  its stream's version and encoding when loaded and rebuilt from events when it does not
  fit, so the rebuild leaves them; deleting them all is always safe.

The live path stages these rows in `AccountsUnitOfWork.save`, from the events it appends,
with the very function the rebuild uses.
"""

from __future__ import annotations

from services.accounts.adapters.tables import account_index
from shared.envelope import Envelope
from shared.eventstore.rebuild import Projection, Rows


def account_rows(env: Envelope) -> Rows:
    """The read-model rows one event appended to an account's stream yields."""
    if env.type == "AccountOpened":
        # Who opened it: the integrator's token subject (HTTP) or the inbound source.
        yield (
            account_index,
            {
                "account_id": env.account_id,
                "opened_at": env.occurred_at,
                "opened_by": env.source,
            },
        )


PROJECTION = Projection(tables=(account_index,), types=("AccountOpened",), rows=account_rows)
"""What `arrears rebuild accounts` rebuilds."""
