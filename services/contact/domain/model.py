"""An account's collection case file: cases, promises to pay, routing. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from services.contact.domain.strategy import Strategy
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.contact import (
    CaseSegment,
    CollectionCaseAssigned,
    CollectionCaseClosed,
    CollectionCaseEscalated,
    CollectionCaseOpened,
    CollectionCaseReclassified,
    CollectionCaseRouted,
    PromiseToPayBroken,
    PromiseToPayKept,
    PromiseToPayMade,
)

CloseReason = Literal["cured", "charged_off", "plan"]
PromiseStatus = Literal["open", "kept", "broken"]


@dataclass(frozen=True)
class Payment:
    """A payment on the account as contact counts it: its business date and amount (fen)."""

    business_date: date
    amount: int


@dataclass
class Promise:
    """A promise to pay and how it ended."""

    promise_id: str
    case_id: str
    amount: int
    currency: str
    made_on: date
    due_on: date
    made_by: str
    status: PromiseStatus = "open"

    def paid(self, payments: Iterable[Payment]) -> int:
        """What was paid toward it: payments dated from the day it was made to its due date."""
        return sum(p.amount for p in payments if self.made_on <= p.business_date <= self.due_on)


@dataclass
class CaseFile:
    """The collection cases of one account; at most one is open at a time."""

    account_id: str
    open_case_id: str | None = None
    opened_on: date | None = None
    bill_id: str | None = None
    queue: str | None = None
    segment: CaseSegment | None = None
    bucket: str | None = None
    assigned_to: str | None = None
    promises: dict[str, Promise] = field(default_factory=dict)
    broken_promise: bool = False
    """The last promise of the open case that ended was broken."""
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
        d = env.data
        match env.type:
            case "CollectionCaseOpened":
                self.open_case_id = d["case_id"]
                self.opened_on = date.fromisoformat(d["opened_on"])
                self.bill_id = d["bill_id"]
                self.queue = self.segment = self.bucket = self.assigned_to = None
                self.broken_promise = False
            case "CollectionCaseClosed":
                self.open_case_id, self.opened_on, self.bill_id = None, None, None
                self.queue = self.segment = self.bucket = self.assigned_to = None
                self.broken_promise = False
            case "PromiseToPayMade":
                self.promises[d["promise_id"]] = Promise(
                    promise_id=d["promise_id"],
                    case_id=d["case_id"],
                    amount=d["amount"],
                    currency=d["currency"],
                    made_on=date.fromisoformat(d["made_on"]),
                    due_on=date.fromisoformat(d["due_on"]),
                    made_by=d["made_by"],
                )
            case "PromiseToPayKept":
                self.promises[d["promise_id"]].status = "kept"
                if d["case_id"] == self.open_case_id:
                    self.broken_promise = False
            case "PromiseToPayBroken":
                self.promises[d["promise_id"]].status = "broken"
                if d["case_id"] == self.open_case_id:
                    self.broken_promise = True
            case "CollectionCaseRouted":
                self.queue, self.segment, self.bucket = d["queue"], d["segment"], d["bucket"]
                self.assigned_to = None  # a new queue is worked by its own people
            case "CollectionCaseReclassified":
                self.segment, self.bucket = d["segment"], d["bucket"]
            case "CollectionCaseAssigned":
                self.assigned_to = d["agent"]

    # -- opening and closing ----------------------------------------------------------

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

    # -- promises to pay ----------------------------------------------------------------

    def open_promises(self) -> list[Promise]:
        """Promises not yet kept or broken, oldest first."""
        return [p for p in self.promises.values() if p.status == "open"]

    def make_promise(
        self,
        *,
        amount: int,
        currency: str,
        made_on: date,
        due_on: date,
        today: date,
        max_days: int,
        made_by: str,
        attempt_id: str | None = None,
    ) -> PromiseToPayMade:
        """A promise on the open case, dated from today to at most `max_days` after it was made.

        One promise at a time: a second while one is open would make "kept" ambiguous.
        """
        if self.open_case_id is None:
            raise Rejected(
                f"account {self.account_id} has no open collection case; a promise to pay "
                "belongs to one"
            )
        if amount <= 0:
            raise Rejected(f"promise_amount: must be a positive amount in fen, got {amount}")
        if due_on < today:
            raise Rejected(f"promise_date: {due_on} is in the past (today is {today})")
        latest = made_on + timedelta(days=max_days)
        if due_on > latest:
            raise Rejected(
                f"promise_date: {due_on} is more than {max_days} days after the promise was "
                f"made ({made_on}); the latest allowed is {latest}"
            )
        for p in self.open_promises():
            raise Rejected(
                f"promise {p.promise_id} ({p.amount} fen by {p.due_on}) is still open; "
                "it must be kept or broken before another is made"
            )
        return PromiseToPayMade(
            promise_id=str(uuid.uuid4()),
            case_id=self.open_case_id,
            amount=amount,
            currency=currency,
            made_on=made_on,
            due_on=due_on,
            made_by=made_by,
            attempt_id=attempt_id,
        )

    def promises_kept(self, payments: Iterable[Payment], on: date) -> list[PromiseToPayKept]:
        """The open promises that payments dated within their days now cover."""
        paid = list(payments)
        out = []
        for p in self.open_promises():
            total = p.paid(paid)
            if total >= p.amount:
                out.append(
                    PromiseToPayKept(
                        promise_id=p.promise_id, case_id=p.case_id, paid=total, business_date=on
                    )
                )
        return out

    def promises_broken(
        self, payments: Iterable[Payment], business_date: date
    ) -> list[PromiseToPayBroken]:
        """At a day close after a promise's due date, the open promises paid short.

        The due date's own close breaks nothing: a payment dated that day still counts.
        """
        paid = list(payments)
        out = []
        for p in self.open_promises():
            if business_date > p.due_on and (total := p.paid(paid)) < p.amount:
                out.append(
                    PromiseToPayBroken(
                        promise_id=p.promise_id,
                        case_id=p.case_id,
                        amount=p.amount,
                        paid=total,
                        due_on=p.due_on,
                        business_date=business_date,
                    )
                )
        return out

    # -- routing ----------------------------------------------------------------------

    def route(
        self, strategy: Strategy, *, bucket: str, segment: CaseSegment, reason: str
    ) -> CollectionCaseRouted | None:
        """Put the open case in the queue the strategy gives it, when that queue changed.

        A change of bucket or segment within the same queue is no new routing.
        """
        if self.open_case_id is None:
            return None
        treatment = strategy.treatment(bucket, segment)
        if treatment.queue == self.queue:
            return None
        return CollectionCaseRouted(
            case_id=self.open_case_id,
            queue=treatment.queue,
            from_queue=self.queue,
            segment=segment,
            bucket=bucket,
            channels=list(treatment.channels),
            reason=reason,
        )

    def reclassify(
        self, *, bucket: str, segment: CaseSegment, reason: str
    ) -> CollectionCaseReclassified | None:
        """Record a new bucket or segment of the open case that kept its queue.

        The queues agents pull from show both, so each change is a fact on the stream.
        """
        if self.open_case_id is None or self.queue is None:
            return None
        if (bucket, segment) == (self.bucket, self.segment):
            return None
        return CollectionCaseReclassified(
            case_id=self.open_case_id,
            queue=self.queue,
            segment=segment,
            from_segment=self.segment,
            bucket=bucket,
            from_bucket=self.bucket,
            reason=reason,
        )

    def escalate(
        self, strategy: Strategy, *, bucket: str, segment: CaseSegment, reason: str
    ) -> CollectionCaseEscalated | None:
        """The escalation of the open case: from its queue to the one its new segment gets."""
        if self.open_case_id is None:
            return None
        to = strategy.treatment(bucket, segment).queue
        return CollectionCaseEscalated(
            case_id=self.open_case_id, from_tier=self.queue, to_tier=to, reason=reason
        )

    def assign(self, agent: str) -> CollectionCaseAssigned:
        """The open case claimed by `agent` from its queue."""
        if self.open_case_id is None or self.queue is None:
            raise Rejected(f"account {self.account_id} has no open, routed collection case")
        return CollectionCaseAssigned(
            case_id=self.open_case_id,
            queue=self.queue,
            agent=agent,
            previous_agent=self.assigned_to,
        )
