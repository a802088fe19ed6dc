"""An account's collection case file. Pure: no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Literal

from shared.envelope import Envelope
from shared.events.contact import CollectionCaseClosed, CollectionCaseOpened

CloseReason = Literal["cured", "charged_off", "plan"]


@dataclass
class CaseFile:
    """The collection cases of one account; at most one is open at a time."""

    account_id: str
    open_case_id: str | None = None
    opened_on: date | None = None
    version: int = 0

    @classmethod
    def from_events(cls, account_id: str, events: list[Envelope], version: int) -> CaseFile:
        """Replay a stream into state."""
        case_file = cls(account_id)
        for env in events:
            case_file.apply(env)
        case_file.version = version
        return case_file

    def apply(self, env: Envelope) -> None:
        """Change state by one event."""
        if env.type == "CollectionCaseOpened":
            self.open_case_id = env.data["case_id"]
            self.opened_on = date.fromisoformat(env.data["opened_on"])
        elif env.type == "CollectionCaseClosed":
            self.open_case_id, self.opened_on = None, None

    def on_settled(self, reason: CloseReason, on: date | None) -> CollectionCaseClosed | None:
        """Close the open case when the account is cured, charged off or put on a plan."""
        if self.open_case_id is None:
            return None
        return CollectionCaseClosed(case_id=self.open_case_id, reason=reason, closed_on=on)

    def on_overdue(self, bill_id: str, business_date: date) -> CollectionCaseOpened | None:
        """Open a case when the account goes overdue, unless one is already open."""
        if self.open_case_id is not None:
            return None
        return CollectionCaseOpened(
            case_id=str(uuid.uuid4()),
            reason=f"bill {bill_id} overdue",
            bill_id=bill_id,
            opened_on=business_date,
        )
