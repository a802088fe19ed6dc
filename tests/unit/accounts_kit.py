"""A test kit for the account aggregate: decide, record as envelopes, apply, replay."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from services.accounts.domain.model import Account
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies
from shared.catalogue import EventData, new_envelope
from shared.envelope import Envelope
from shared.events.accounts import PaymentAllocated
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived

ZONE = "Asia/Shanghai"
AT = datetime(2026, 3, 1, 9, 0, tzinfo=ZoneInfo(ZONE))


class Ledger:
    """An account plus the stream that made it, built as the handler builds it."""

    def __init__(
        self,
        policies: Policies = DEFAULT_POLICIES,
        product: str = "consumer_credit",
        zone: str = ZONE,
    ) -> None:
        self.account = Account("A1", policies=policies)
        self.policies = policies
        self.events: list[Envelope] = []
        opened = AccountOpened(customer_id="C1", product=product, currency="CNY", time_zone=zone)  # type: ignore[arg-type]
        self.account.open(opened)
        self._record([opened])

    def _record(self, items: list[EventData]) -> list[EventData]:
        for data in items:
            env = new_envelope(data, account_id="A1", occurred_at=AT, recorded_at=AT, source="test")
            self.account.apply(env)
            self.events.append(env)
        self.account.version = len(self.events)
        return items

    def bill(
        self,
        bill_id: str,
        principal: int,
        due: date,
        *,
        interest: int = 0,
        fees: int = 0,
        issued: date | None = None,
    ) -> list[EventData]:
        """Issue a bill; returns what followed it."""
        data = BillIssued(
            bill_id=bill_id,
            currency="CNY",
            principal=principal,
            interest=interest,
            fees=fees,
            issued_on=issued or min(due, date(2026, 3, 1)),
            due_date=due,
        )
        follows = self.account.issue_bill(data)
        self._record([data])
        return self._record(follows)

    def pay(
        self, payment_id: str, amount: int, on: date, bill_id: str | None = None, **kw: Any
    ) -> list[EventData]:
        """Receive a payment made at noon local time on `on`; returns the decided events."""
        paid_at = kw.pop("paid_at", None) or datetime.combine(on, time(12), ZoneInfo(ZONE))
        data = PaymentReceived(
            payment_id=payment_id, currency="CNY", amount=amount, paid_at=paid_at, bill_id=bill_id
        )
        events = self.account.receive_payment(data)
        self._record([data])
        return self._record(events)

    def close(self, day: date) -> list[EventData]:
        """Close business dates up to `day`."""
        return self._record(self.account.close_day(day))

    def do(self, method: str, *args: Any, **kw: Any) -> list[EventData]:
        """Run any other decision (relief, plans) and record its events."""
        return self._record(getattr(self.account, method)(*args, **kw))

    def replay(self) -> Account:
        """The account rebuilt from its stream."""
        return Account.from_events("A1", self.events, len(self.events), policies=self.policies)

    def state(self) -> dict[str, Any]:
        """What must match between two ways of getting somewhere: balances, DPD, bucket."""
        a = self.account
        return {
            "bills": {b.bill_id: b.unpaid_by_component() for b in a.sorted_bills()},
            "charged": {b.bill_id: dict(b.charged) for b in a.sorted_bills()},
            "credit": a.credit,
            "dpd": a.days_past_due,
            "bucket": a.bucket,
            "last_closed": a.last_closed,
        }


def of(events: list[EventData], kind: type) -> list[Any]:
    """The events of one type."""
    return [e for e in events if isinstance(e, kind)]


def types(events: list[EventData]) -> list[str]:
    """Event type names, in order."""
    return [e.event_type for e in events]


def allocated(events: list[EventData]) -> PaymentAllocated:
    """The PaymentAllocated a payment decision starts with."""
    first = events[0]
    assert isinstance(first, PaymentAllocated)
    return first
