"""The account aggregate: rebuilt from its events, deciding new ones. Pure: no I/O.

State changes only in `apply`/`apply_data` (by one event); decisions run on a scratch
copy and return the events they produced, which the caller appends after the fact that
caused them and applies back. `timeline` keeps the account's root facts (bills, payments,
day closes, relief) in *effective* order, so a backdated payment can be re-simulated as if
it had arrived on time and the difference emitted as compensating events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from services.accounts.domain import backdating, closing, payments, relief
from services.accounts.domain.bills import AllocationRecord, Bill, zero
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies, Policy
from shared.catalogue import EventData
from shared.delinquency import bill_days_past_due, paused_days
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events import accounts as account_events
from shared.events import default_catalogue
from shared.events import inbound as inbound_events
from shared.events.accounts import (
    COMPONENTS,
    AccountChargedOff,
    AccountDayClosed,
    BalanceReinstalled,
    BillBecameOverdue,
    CreditApplied,
    DelinquencyBucketChanged,
    DelinquencyPaused,
    DelinquencyResumed,
    DueDatesDeferred,
    FeesWaived,
    FirstPaymentDefaulted,
    LateFeeAccrued,
    LateFeeReversed,
    PaymentAllocated,
    PaymentDueSoon,
    PaymentReallocated,
)
from shared.events.inbound import AccountOpened, BillIssued, PaymentReceived
from shared.events.plans import PlanActivated

__all__ = ["Account", "Bill"]

DEFAULT_WAIVER = ("late_fee", "fees")


@cache
def _account_types() -> frozenset[str]:
    return frozenset(m.event_type for m in (*inbound_events.MODELS, *account_events.MODELS))


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
    allocations: dict[str, AllocationRecord] = field(default_factory=dict)
    credit: int = 0
    last_closed: date | None = None
    bucket: str = ""
    charged_off_on: date | None = None
    active_plans: set[str] = field(default_factory=set)
    pauses: list[tuple[date, date | None]] = field(default_factory=list)
    deferred_months: int = 0
    reliefs: set[str] = field(default_factory=set)
    first_bill_id: str | None = None
    first_default_reported: bool = False
    partial_streak: list[str] = field(default_factory=list)
    timeline: list[EventData] = field(default_factory=list, repr=False)
    barrier: int = 0
    policies: Policies = field(default=DEFAULT_POLICIES, repr=False)
    version: int = 0
    _out: list[EventData] | None = field(default=None, repr=False, compare=False)

    # -- reading ------------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """Whether an AccountOpened is on the stream."""
        return bool(self.customer_id)

    @property
    def policy(self) -> Policy:
        """The policy of this account's product."""
        return self.policies.for_product(self.product)

    @property
    def today(self) -> date | None:
        """The open business date: the day after the last closed one (None before any close)."""
        return None if self.last_closed is None else self.last_closed + timedelta(days=1)

    @property
    def days_past_due(self) -> int:
        """DPD at the last close, pauses excluded (0 before any close)."""
        return 0 if self.last_closed is None else self.days_past_due_on(self.last_closed)

    @property
    def paused(self) -> bool:
        """Whether a relief plan is active, pausing delinquency."""
        return bool(self.active_plans)

    def sorted_bills(self) -> list[Bill]:
        """Bills oldest due first (bill id breaks ties): the allocation and reporting order."""
        return sorted(self.bills.values(), key=lambda b: (b.due_date, b.bill_id))

    def balances(self) -> dict[str, int]:
        """What is still owed across all bills, per component."""
        return {c: sum(b.unpaid(c) for b in self.bills.values()) for c in COMPONENTS}

    def is_paused(self, day: date) -> bool:
        """Whether `day` falls in a pause of delinquency."""
        return any(start <= day and (end is None or day < end) for start, end in self.pauses)

    def paused_days(self, first: date, last: date) -> int:
        """How many days of [first, last] were paused."""
        return paused_days(self.pauses, first, last)

    def bill_dpd(self, bill: Bill, on: date) -> int:
        """The bill's days past due at the close of `on` (shared.delinquency's rule): every
        late-fee day is a DPD day."""
        return bill_days_past_due(
            bill.due_date, self.policy.grace_days, bill.outstanding, on, self.pauses
        )

    def days_past_due_on(self, on: date) -> int:
        """The account's DPD at the close of `on`: that of its oldest unpaid bill."""
        return max((self.bill_dpd(b, on) for b in self.bills.values()), default=0)

    def past_due_bills(self) -> list[Bill]:
        """Unpaid bills past due at the last close (DPD ≥ 1), oldest first."""
        if self.last_closed is None:
            return []
        last = self.last_closed
        return [b for b in self.sorted_bills() if self.bill_dpd(b, last) >= 1]

    def business_date_of(self, at: datetime) -> date:
        """The business date of an instant in the account's time zone."""
        return at.astimezone(ZoneInfo(self.time_zone or "UTC")).date()

    # -- replaying ----------------------------------------------------------------------

    @classmethod
    def from_events(
        cls,
        account_id: str,
        events: list[Envelope],
        version: int,
        policies: Policies = DEFAULT_POLICIES,
    ) -> Account:
        """Replay a stream into state."""
        account = cls(account_id, policies=policies)
        for env in events:
            account.apply(env)
        account.version = version
        return account

    def apply(self, env: Envelope) -> None:
        """Change state by one event envelope (upcast and parsed; other types ignored)."""
        if env.type not in _account_types():
            return
        catalogue = default_catalogue()
        self.apply_data(catalogue.parse(catalogue.upcast(env)))

    def apply_data(self, e: EventData) -> None:
        """Change state by one event (never decides anything)."""
        match e:
            case AccountOpened():
                self.customer_id, self.product = e.customer_id, e.product
                self.currency, self.time_zone = e.currency, e.time_zone
                self.bucket = self.policy.current
                self.timeline.append(e)
            case BillIssued():
                charged = {**zero(), "principal": e.principal, "interest": e.interest}
                charged["fees"] = e.fees
                self.bills[e.bill_id] = Bill(e.bill_id, e.due_date, e.issued_on, charged)
                self.first_bill_id = self.first_bill_id or e.bill_id
                self.timeline.append(e)
            case PaymentReceived():
                self.payment_ids.add(e.payment_id)
                at = self.effective_index(self.business_date_of(e.paid_at))
                self.timeline.insert(at, e)
            case PaymentAllocated():
                payments.apply_allocated(self, e)
            case PaymentReallocated():
                payments.apply_reallocated(self, e)
            case CreditApplied():
                payments.apply_credit_applied(self, e)
            case BillBecameOverdue():
                self.bills[e.bill_id].overdue_reported = True
            case PaymentDueSoon():
                self.bills[e.bill_id].due_soon_reported = True
            case FirstPaymentDefaulted():
                self.first_default_reported = True
            case LateFeeAccrued():
                self.bills[e.bill_id].charged["late_fee"] += e.amount
            case LateFeeReversed():
                self.bills[e.bill_id].charged["late_fee"] -= e.amount
            case DelinquencyBucketChanged():
                self.bucket = e.to_bucket
            case AccountChargedOff():
                self.charged_off_on = e.business_date
            case AccountDayClosed():
                self.last_closed = e.business_date
                self.timeline.append(e)
                if self.charged_off_on == e.business_date:
                    # A backdated payment never reaches back across a charge-off.
                    self.barrier = len(self.timeline)
            case DueDatesDeferred() | BalanceReinstalled() | FeesWaived():
                relief.apply_relief(self, e)
                self._relief_root(e)
            case DelinquencyPaused():
                if not self.active_plans:
                    self.pauses.append((e.business_date or date.min, None))
                self.active_plans.add(e.plan_id)
                self._relief_root(e)
            case DelinquencyResumed():
                self.active_plans.discard(e.plan_id)
                if not self.active_plans and self.pauses and self.pauses[-1][1] is None:
                    self.pauses[-1] = (self.pauses[-1][0], e.business_date or date.min)
                self._relief_root(e)
            case _:
                pass  # AccountCured, RepeatedPartialPayments: facts with no state of their own

    def _relief_root(self, e: EventData) -> None:
        # A plan was agreed on the balance as it then stood: backdating stops here.
        self.timeline.append(e)
        self.barrier = len(self.timeline)

    def effective_index(self, business_date: date) -> int:
        """Where a payment of `business_date` belongs in the timeline: before that date's close.

        Never before the barrier (the last relief or charge-off): such a payment takes
        effect right after it instead.
        """
        if self.last_closed is None or business_date > self.last_closed:
            return len(self.timeline)
        for i in range(self.barrier, len(self.timeline)):
            root = self.timeline[i]
            if isinstance(root, AccountDayClosed) and root.business_date >= business_date:
                return i
        return len(self.timeline)

    # -- deciding -----------------------------------------------------------------------

    def open(self, event: AccountOpened) -> None:
        """Check an account may be opened."""
        if self.opened:
            raise Rejected(f"account {self.account_id} is already open")

    def issue_bill(self, bill: BillIssued) -> list[EventData]:
        """Check a bill may be issued; return what follows it (credit applied to it, if any)."""
        self._require_open()
        self._require_currency(bill.currency)
        if bill.bill_id in self.bills:
            raise Rejected(f"bill {bill.bill_id} already exists on account {self.account_id}")
        if bill.principal + bill.interest + bill.fees == 0:
            raise Rejected("a bill must be for more than zero")
        if self.last_closed is not None and bill.due_date <= self.last_closed:
            raise Rejected(
                f"bill {bill.bill_id} is due {bill.due_date}, which is not after the last "
                f"closed business date {self.last_closed}"
            )
        return self._decide(bill, lambda s: payments.apply_credit(s, bill.bill_id))

    def receive_payment(self, payment: PaymentReceived) -> list[EventData]:
        """Allocate a payment; return [PaymentAllocated, then any warnings or corrections].

        Order: the named bill first, then oldest due first; within a bill the policy's
        component order (late fee, fees, interest, principal); the rest becomes credit. A
        payment dated on a closed business date is allocated as of that date, and the
        events that differ from an on-time arrival are corrected after it.
        """
        self._require_open()
        self._require_currency(payment.currency)
        if payment.payment_id in self.payment_ids:
            raise Rejected(f"payment {payment.payment_id} was already received")
        if payment.bill_id is not None and payment.bill_id not in self.bills:
            raise Rejected(f"unknown bill {payment.bill_id} on account {self.account_id}")
        on = self.business_date_of(payment.paid_at)
        on_time = self.effective_index(on) == len(self.timeline)

        def run(s: Account) -> None:
            if on_time:
                payments.allocate(s, payment, on)
            else:
                backdating.correct(s, payment, on)

        return self._decide(payment, run)

    def close_day(self, business_date: date, max_days: int | None = None) -> list[EventData]:
        """Close every business date after the last closed one up to `business_date`, in order
        (at most `max_days` of them: the caller continues from `last_closed`).

        Closing a date already closed returns nothing. An account's first close closes only
        that date. Per date: reminders, overdue bills, late fees, bucket change, charge-off,
        then AccountDayClosed.
        """
        if not self.opened or (self.last_closed is not None and business_date <= self.last_closed):
            return []
        first = self.today or business_date
        days = (business_date - first).days + 1
        if max_days is not None:
            days = min(days, max_days)

        def run(s: Account) -> None:
            for n in range(days):
                closing.close_one(s, first + timedelta(days=n))

        return self._decide(None, run)

    def start_plan(self, plan_id: str) -> list[EventData]:
        """A relief plan became active: pause delinquency (DelinquencyPaused)."""
        self._require_open()
        return self._decide(None, lambda s: relief.start_plan(s, plan_id))

    def end_plan(self, plan_id: str, reason: str = "broken") -> list[EventData]:
        """A plan was `broken` or `completed`: delinquency resumes once no plan is active."""
        self._require_open()
        return self._decide(None, lambda s: relief.end_plan(s, plan_id, reason))

    def apply_plan(self, plan: PlanActivated) -> list[EventData]:
        """Apply an activated plan's exact terms: its waiver, deferral and re-installment,
        then pause delinquency while the plan has installments to meet."""
        self._require_open()
        self._require_currency(plan.currency)
        return self._decide(None, lambda s: relief.apply_terms(s, plan))

    def apply_deferral(self, plan_id: str, months: int) -> list[EventData]:
        """Move every unpaid bill's due date `months` later (DueDatesDeferred)."""
        self._require_open()
        return self._decide(None, lambda s: relief.defer(s, plan_id, months))

    def apply_reinstallment(
        self, plan_id: str, installments: int, first_due_date: date, monthly_rate: Any = 0
    ) -> list[EventData]:
        """Replace the past-due balance by `installments` monthly bills (BalanceReinstalled)."""
        self._require_open()
        return self._decide(
            None,
            lambda s: relief.reinstall(s, plan_id, installments, first_due_date, monthly_rate),
        )

    def apply_waiver(
        self,
        plan_id: str,
        amount: int | None = None,
        components: tuple[str, ...] = DEFAULT_WAIVER,
        reason: str = "",
    ) -> list[EventData]:
        """Waive `amount` (None: all) of the named components, in that order (FeesWaived)."""
        self._require_open()
        return self._decide(
            None, lambda s: relief.waive(s, plan_id, amount, tuple(components), reason)
        )

    # -- machinery ----------------------------------------------------------------------

    def emit(self, e: EventData) -> None:
        """Apply a decided event to this (scratch) state and collect it."""
        self.apply_data(e)
        if self._out is not None:
            self._out.append(e)

    def _decide(self, fact: EventData | None, run: Callable[[Account], None]) -> list[EventData]:
        # Decide on a copy: a refusal half-way leaves the real state untouched.
        scratch = self.scratch()
        if fact is not None:
            scratch.apply_data(fact)
        scratch._out = []
        run(scratch)
        return scratch._out

    def scratch(self) -> Account:
        """A copy to decide on: its own containers and bills, sharing the immutable events
        and policies (a generic deep copy cost more than the decision itself)."""
        return replace(
            self,
            bills={k: b.copy() for k, b in self.bills.items()},
            payment_ids=set(self.payment_ids),
            allocations={k: a.copy() for k, a in self.allocations.items()},
            active_plans=set(self.active_plans),
            pauses=list(self.pauses),
            reliefs=set(self.reliefs),
            partial_streak=list(self.partial_streak),
            timeline=list(self.timeline),
            _out=None,
        )

    def _require_open(self) -> None:
        if not self.opened:
            raise Rejected(f"unknown account {self.account_id}")

    def _require_currency(self, currency: str) -> None:
        if currency != self.currency:
            raise Rejected(f"currency {currency} does not match the account's {self.currency}")
