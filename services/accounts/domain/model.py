"""The account aggregate: rebuilt from its events, deciding new ones. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.accounts import Allocation, BillBecameOverdue, PaymentAllocated
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived


@dataclass
class Bill:
    """One bill and how much of it is still unpaid."""

    bill_id: str
    due_date: date
    amount: int
    paid: int = 0
    overdue_reported: bool = False

    @property
    def outstanding(self) -> int:
        return self.amount - self.paid


@dataclass
class Account:
    """A credit account's state, as its event stream says it is."""

    account_id: str
    customer_id: str = ""
    product: str = ""
    currency: str = ""
    time_zone: str = ""
    bills: dict[str, Bill] = field(default_factory=dict)
    payment_ids: set[str] = field(default_factory=set)
    credit: int = 0
    version: int = 0

    @property
    def opened(self) -> bool:
        return bool(self.customer_id)

    @classmethod
    def from_events(cls, account_id: str, events: list[Envelope], version: int) -> Account:
        """Replay a stream into state."""
        account = cls(account_id)
        for env in events:
            account.apply(env)
        account.version = version
        return account

    def apply(self, env: Envelope) -> None:
        """Change state by one event (never decides anything)."""
        d = env.data
        match env.type:
            case "AccountOpened":
                self.customer_id, self.product = d["customer_id"], d["product"]
                self.currency, self.time_zone = d["currency"], d["time_zone"]
            case "BillIssued":
                amount = d["principal"] + d["interest"] + d["fees"]
                self.bills[d["bill_id"]] = Bill(
                    d["bill_id"], date.fromisoformat(d["due_date"]), amount
                )
            case "PaymentReceived":
                self.payment_ids.add(d["payment_id"])
            case "PaymentAllocated":
                for a in d["allocations"]:
                    self.bills[a["bill_id"]].paid += a["amount"]
                self.credit += d["unallocated"]
            case "BillBecameOverdue":
                self.bills[d["bill_id"]].overdue_reported = True

    # -- decisions ------------------------------------------------------------------

    def open(self, event: AccountOpened) -> None:
        """Check an account may be opened."""
        if self.opened:
            raise Rejected(f"account {self.account_id} is already open")

    def issue_bill(self, bill: BillIssued) -> None:
        """Check a bill may be issued on this account."""
        self._require_open()
        self._require_currency(bill.currency)
        if bill.bill_id in self.bills:
            raise Rejected(f"bill {bill.bill_id} already exists on account {self.account_id}")
        if bill.principal + bill.interest + bill.fees == 0:
            raise Rejected("a bill must be for more than zero")

    def receive_payment(self, payment: PaymentReceived) -> PaymentAllocated:
        """Allocate a payment: the named bill first, then oldest due date first; rest is credit."""
        self._require_open()
        self._require_currency(payment.currency)
        if payment.payment_id in self.payment_ids:
            raise Rejected(f"payment {payment.payment_id} was already received")
        if payment.bill_id is not None and payment.bill_id not in self.bills:
            raise Rejected(f"unknown bill {payment.bill_id} on account {self.account_id}")
        order = sorted(self.bills.values(), key=lambda b: (b.due_date, b.bill_id))
        if payment.bill_id is not None:
            named = self.bills[payment.bill_id]
            order = [named, *(b for b in order if b is not named)]
        left, allocations = payment.amount, []
        for bill in order:
            take = min(left, bill.outstanding)
            if take > 0:
                allocations.append(Allocation(bill_id=bill.bill_id, amount=take))
                left -= take
        return PaymentAllocated(
            payment_id=payment.payment_id,
            currency=payment.currency,
            amount=payment.amount,
            allocations=allocations,
            unallocated=left,
        )

    def close_day(self, business_date: date) -> list[BillBecameOverdue]:
        """At the close of `business_date`, every unpaid bill due on or before it is overdue.

        Days past due count from the day after the due date, so a bill due today that is
        still unpaid at today's close is 1 day past due. Reported once per bill.
        """
        if not self.opened:
            return []
        return [
            BillBecameOverdue(
                bill_id=bill.bill_id,
                currency=self.currency,
                due_date=bill.due_date,
                business_date=business_date,
                overdue_amount=bill.outstanding,
                days_past_due=(business_date - bill.due_date).days + 1,
            )
            for bill in sorted(self.bills.values(), key=lambda b: (b.due_date, b.bill_id))
            if bill.due_date <= business_date and bill.outstanding > 0 and not bill.overdue_reported
        ]

    def _require_open(self) -> None:
        if not self.opened:
            raise Rejected(f"unknown account {self.account_id}")

    def _require_currency(self, currency: str) -> None:
        if currency != self.currency:
            raise Rejected(f"currency {currency} does not match the account's {self.currency}")
