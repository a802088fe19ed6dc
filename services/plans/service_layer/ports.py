"""What the plans service layer needs of storage: the ports its repositories implement.

`services.plans.adapters.repository` implements them on SQL; the tests' in-memory fakes
implement them too, and one contract suite per port runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

from services.plans.domain.plan import Evidence, Plan
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact

Row = dict[str, Any]
"""A read model's row as its table has it (a standing's balances and overdue decoded)."""


class PlanRepository(Protocol):
    """Plans rebuilt from their streams, and their new events."""

    async def prefetch(self, plan_ids: Sequence[str]) -> None:
        """Load several plans at once, for `get` to return without a read."""
        ...

    async def get(self, account_id: str, plan_id: str) -> Plan | None:
        """The account's plan as its stream says; None if the account has no such plan."""
        ...

    async def add(self, plan: Plan, envelopes: Sequence[Envelope]) -> None:
        """Stage the events `plan` has just applied after the version it had before them."""
        ...

    async def stream(self, plan_id: str) -> list[tuple[Envelope, Plan]]:
        """Each event of the plan's stream, in order, with the plan as that event left it."""
        ...


class ReadModels(Protocol):
    """The read models plans projects (known accounts, standings, plan rows, plan bills)
    and the inbox of consumed facts they are projected from."""

    async def prefetch(self, account_ids: Sequence[str], plan_ids: Sequence[str] = ()) -> None:
        """Load every read model's rows of these accounts (and these plans' bills) at once."""
        ...

    async def note(self, fact: Fact) -> None:
        """Keep a consumed fact in the inbox, in the order noted."""
        ...

    async def known_account(self, account_id: str) -> Row | None:
        """The account's currency and product, or None if plans never heard of it."""
        ...

    async def add_known_account(self, account_id: str, currency: str, product: str | None) -> None:
        """Remember an opened account."""
        ...

    async def standing(self, account_id: str) -> Row | None:
        """The account's standing at its latest close, or None."""
        ...

    async def put_standing(self, row: Row) -> None:
        """Replace the account's standing with `row`."""
        ...

    async def plans(self, account_id: str) -> list[Row]:
        """Every plan row of the account, in no particular order."""
        ...

    async def plan(self, plan_id: str) -> Row | None:
        """One plan's row, or None."""
        ...

    async def put_plan(self, row: Row) -> None:
        """Replace (or add) one plan's row; at commit, a null activation date, end date or
        offer basis keeps the one stored (a row read before another writer set it)."""
        ...

    async def bills(self, plan_id: str) -> list[str]:
        """The bills accounts issued for the plan's installments."""
        ...

    async def add_bills(self, plan_id: str, bill_ids: Sequence[str]) -> None:
        """Remember more bills of the plan."""
        ...

    async def page(self, account_id: str, *, offset: int, limit: int) -> list[Row]:
        """A page of the account's plan rows, newest requests first."""
        ...

    async def close(self, event_id: str) -> Fact | None:
        """The day close in the inbox with this event id."""
        ...

    async def first_close(self, account_id: str, business_date: date) -> Fact | None:
        """The account's first close of the date in the inbox that kept a standing."""
        ...

    async def facts(self, type_: str, account_id: str) -> list[Fact]:
        """The account's facts of one type in the inbox, in the order consumed."""
        ...

    async def flush(self) -> None:
        """Write what is staged now (still inside the transaction)."""
        ...


class EvidenceRecords(Protocol):
    """The documents received for each account."""

    async def remember(self, account_id: str, doc: Evidence, received_by: str) -> bool:
        """Note a document received for the account; False if it was already noted."""
        ...

    async def get(self, account_id: str, sha256: str) -> Evidence | None:
        """A document received for this account (another account's is not found)."""
        ...

    async def list(self, account_id: str) -> list[Row]:
        """Every document received for the account, oldest first."""
        ...
