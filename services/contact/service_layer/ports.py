"""What the contact service layer needs of storage: the ports its repositories implement.

`services.contact.adapters.repository` implements them on SQL; the tests' in-memory fakes
(`tests.fakes.contact`) implement them too, and one contract suite runs against both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from services.contact.domain.model import Payment
from services.contact.domain.reminders import ReminderKey
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact

__all__ = ["AccountFacts", "OpenCases", "ReminderKey", "Reminders"]


class AccountFacts(Protocol):
    """What contact learnt of each account from other services: its borrower (zone, rule
    pack, currency), its latest standing and its payments, kept as consumed facts."""

    async def take_in(self, fact: Fact) -> bool:
        """Keep a consumed fact and project it; True when the account's bucket changed."""
        ...

    async def borrower(self, account_id: str) -> tuple[str, str] | None:
        """(time zone, jurisdiction) of an account, or None if contact never heard of it."""
        ...

    async def currency(self, account_id: str) -> str:
        """The account's currency; LookupError for an unknown account."""
        ...

    async def standing(self, account_id: str) -> dict[str, Any] | None:
        """The account's latest bucket, DPD and the business date they are as of."""
        ...

    async def bucket(self, account_id: str) -> str | None:
        """The account's latest bucket, or None before accounts reported one."""
        ...

    async def payments(self, account_id: str) -> list[Payment]:
        """Every payment of the account contact heard of."""
        ...


class OpenCases(Protocol):
    """One row per open case, projected from contact's own events, that agents claim."""

    async def project(self, envelopes: Sequence[Envelope]) -> None:
        """Apply recorded events to the rows (events of other types change nothing)."""
        ...

    async def row(self, account_id: str) -> dict[str, Any] | None:
        """The row of an account's open case, or None."""
        ...

    async def claimable(
        self, queue: str, stale_before: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Cases of a queue nobody holds (or held by a stale claim) and due now, oldest first."""
        ...

    async def take(self, account_id: str, case_id: str, agent: str, stale_before: datetime) -> bool:
        """Assign a case to `agent` if it is still free; False when someone was quicker."""
        ...

    async def held_by(self, agent: str, stale_before: datetime) -> int:
        """How many open cases an agent holds (claims gone stale do not count)."""
        ...

    async def queue_counts(self, stale_before: datetime) -> dict[str, dict[str, int]]:
        """Per queue: open cases, those nobody holds, and those ready to claim now."""
        ...

    async def agent_loads(self) -> dict[str, int]:
        """Open cases per agent holding any."""
        ...


class Reminders(Protocol):
    """Automated reminders, one per bill, due date and kind: the worker's queue."""

    async def schedule(self, key: ReminderKey, *, amount_due: int, currency: str) -> bool:
        """A pending reminder, due now; False (nothing changes) if it ever existed."""
        ...

    async def has_pending(self, account_id: str, bill_id: str) -> bool:
        """Whether a reminder about the bill still waits to go out."""
        ...

    async def skip_pending(self, account_id: str, bill_ids: list[str], reason: str) -> None:
        """Pending reminders about these bills will not go out, for `reason`."""
        ...

    async def due(self, limit: int) -> list[ReminderKey]:
        """Pending reminders whose next try is due now, the longest waiting first."""
        ...

    async def get(self, key: ReminderKey) -> dict[str, Any] | None:
        """One reminder's row."""
        ...

    async def of(self, account_id: str) -> list[dict[str, Any]]:
        """Every reminder of an account, by due date."""
        ...

    async def update(self, key: ReminderKey, **values: Any) -> None:
        """Change a reminder's status, tries, next try or reason."""
        ...
