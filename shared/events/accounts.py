"""Events the accounts service publishes to `arrears.accounts`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.bounds import MAX_COUNT, MAX_DAYS, MAX_ITEMS, Count, Days, Ref
from shared.catalogue import EventData, Upcaster
from shared.money import Currency, NonNegativeMinor, PositiveMinor, SignedMinor

Component = Literal["late_fee", "fees", "interest", "principal"]
"""The parts of a bill, in the default order a payment pays them."""

COMPONENTS: tuple[Component, ...] = ("late_fee", "fees", "interest", "principal")


class AllocationV1(BaseModel):
    """Part of a payment applied to one bill (v1: not itemised by component)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bill_id: Ref
    amount: PositiveMinor


class Allocation(BaseModel):
    """Part of an amount applied to one bill, itemised by component.

    The four components are all set and sum to `amount`, or all null: a v1 allocation,
    which the accounts service itemises on replay in the policy's component order.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    bill_id: Ref
    amount: PositiveMinor
    late_fee: NonNegativeMinor | None = None
    fees: NonNegativeMinor | None = None
    interest: NonNegativeMinor | None = None
    principal: NonNegativeMinor | None = None

    @model_validator(mode="after")
    def _components_sum_to_amount(self) -> Allocation:
        parts = [self.late_fee, self.fees, self.interest, self.principal]
        if all(p is None for p in parts):
            return self
        if any(p is None for p in parts):
            raise ValueError("set all four components or none")
        if sum(p for p in parts if p is not None) != self.amount:
            raise ValueError("components do not sum to amount")
        return self

    @property
    def itemised(self) -> bool:
        """Whether the components are known."""
        return self.principal is not None

    def components(self) -> dict[str, int]:
        """The itemised components (zeros included); only for itemised allocations."""
        return {c: getattr(self, c) or 0 for c in COMPONENTS}


class PaymentAllocatedV1(EventData):
    """A received payment was applied to bills, oldest due first; any rest is credit."""

    event_type: ClassVar[str] = "PaymentAllocated"
    schema_version: ClassVar[int] = 1

    payment_id: Ref
    currency: Currency
    amount: PositiveMinor
    allocations: list[AllocationV1] = Field(max_length=MAX_ITEMS)
    unallocated: NonNegativeMinor


class PaymentAllocated(EventData):
    """A received payment was applied in policy order, per bill and component; the rest is credit.

    `business_date` is the payment's date in the account's time zone; `backdated` says it
    fell on a business date already closed, so corrections follow it in the stream.
    """

    event_type: ClassVar[str] = "PaymentAllocated"
    schema_version: ClassVar[int] = 2

    payment_id: Ref
    currency: Currency
    amount: PositiveMinor
    allocations: list[Allocation] = Field(max_length=MAX_ITEMS)
    unallocated: NonNegativeMinor
    business_date: date | None = None
    backdated: bool = False


def upcast_payment_allocated_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 allocations were per bill only: components unknown, no business date."""
    allocations = [
        {**a, "late_fee": None, "fees": None, "interest": None, "principal": None}
        for a in data["allocations"]
    ]
    return {**data, "allocations": allocations, "business_date": None, "backdated": False}


class PaymentReallocated(EventData):
    """A backdated payment changed how an earlier-recorded amount is applied; this replaces it.

    `source_id` is a payment id, or `credit:<bill_id>` for credit applied to a bill. The
    earlier allocation stays in history; from this event on, these allocations count.
    """

    event_type: ClassVar[str] = "PaymentReallocated"
    schema_version: ClassVar[int] = 1

    source_id: Ref
    kind: Literal["payment", "credit"]
    currency: Currency
    allocations: list[Allocation] = Field(max_length=MAX_ITEMS)
    unallocated: NonNegativeMinor
    as_of: date
    reason: str = Field(max_length=200)


class CreditApplied(EventData):
    """Credit from earlier over-payments was applied to a newly issued bill."""

    event_type: ClassVar[str] = "CreditApplied"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    amount: PositiveMinor
    allocation: Allocation
    remaining_credit: NonNegativeMinor


class BillBecameOverdue(EventData):
    """A bill was still unpaid when its due date's business day closed (grace included)."""

    event_type: ClassVar[str] = "BillBecameOverdue"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    due_date: date
    business_date: date
    overdue_amount: PositiveMinor
    days_past_due: int = Field(ge=1, le=MAX_DAYS)


class LateFeeAccrued(EventData):
    """A day's late fee (违约金) on one bill: `base` * `daily_rate`, rounded half up, ≥ the minimum.

    `base` is the bill's unpaid principal + interest + fees. A `correction` (base 0) adds
    fee that a backdated payment showed was due; it has `as_of`, the payment's date.
    """

    event_type: ClassVar[str] = "LateFeeAccrued"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    business_date: date
    amount: PositiveMinor
    base: NonNegativeMinor
    daily_rate: Decimal = Field(ge=0, lt=1, max_digits=20)
    correction: bool = False
    as_of: date | None = None


class LateFeeReversed(EventData):
    """Late fee accrued on a bill after `as_of` would not have accrued: a backdated payment."""

    event_type: ClassVar[str] = "LateFeeReversed"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    amount: PositiveMinor
    business_date: date
    as_of: date
    reason: str = Field(max_length=200)


class DelinquencyBucketChanged(EventData):
    """The account moved from one delinquency bucket to another (history is never edited).

    At a day close, or when a payment improves it in real time (`reason` names the payment).
    A `correction` follows a backdated payment: `as_of` is the payment's business date.
    """

    event_type: ClassVar[str] = "DelinquencyBucketChanged"
    schema_version: ClassVar[int] = 1

    from_bucket: str = Field(max_length=40)
    to_bucket: str = Field(max_length=40)
    business_date: date
    days_past_due: Days
    correction: bool = False
    as_of: date | None = None
    reason: str | None = Field(default=None, max_length=200)


class AccountDayClosed(EventData):
    """The account's close of one business date: its DPD and bucket at that close.

    One per date and account, in date order, so idempotency and catch-up show in history.
    """

    event_type: ClassVar[str] = "AccountDayClosed"
    schema_version: ClassVar[int] = 1

    business_date: date
    days_past_due: Days
    bucket: str = Field(max_length=40)
    paused: bool = False
    # The standing at the close, for services that need it without replaying accounts
    # (plans quotes from it). Optional: closes recorded before it was added lack it.
    balances: dict[Ref, SignedMinor] | None = Field(default=None, max_length=MAX_ITEMS)
    overdue: dict[Ref, SignedMinor] | None = Field(default=None, max_length=MAX_ITEMS)
    deferral_months_used: Count | None = None


class AccountChargedOff(EventData):
    """The account passed the policy's charge-off DPD; late fees stop, buckets freeze."""

    event_type: ClassVar[str] = "AccountChargedOff"
    schema_version: ClassVar[int] = 1

    currency: Currency
    business_date: date
    days_past_due: int = Field(ge=1, le=MAX_DAYS)
    outstanding: NonNegativeMinor


class AccountCured(EventData):
    """An overdue account became current: by a payment, a backdated payment or relief."""

    event_type: ClassVar[str] = "AccountCured"
    schema_version: ClassVar[int] = 1

    business_date: date
    from_bucket: str = Field(max_length=40)
    payment_id: Ref | None = None
    correction: bool = False


class PaymentDueSoon(EventData):
    """Early warning: a bill with something unpaid falls due within the policy's reminder days.

    Sent once per bill and due date, at the first close that is at most N days before it.
    """

    event_type: ClassVar[str] = "PaymentDueSoon"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    due_date: date
    business_date: date
    days_until_due: int = Field(ge=1, le=MAX_DAYS)
    amount_due: PositiveMinor


class FirstPaymentDefaulted(EventData):
    """Early warning: the account's first bill went overdue with nothing paid on it.

    First-payment default is the strongest single fraud and affordability signal.
    """

    event_type: ClassVar[str] = "FirstPaymentDefaulted"
    schema_version: ClassVar[int] = 1

    bill_id: Ref
    currency: Currency
    due_date: date
    business_date: date
    amount_due: PositiveMinor


class RepeatedPartialPayments(EventData):
    """Early warning: N payments in a row (policy, default 3) left overdue bills unpaid.

    Each counted payment met a past-due balance and left some of it; a payment that clears
    the past-due balance restarts the count. Sent at every N-th such payment.
    """

    event_type: ClassVar[str] = "RepeatedPartialPayments"
    schema_version: ClassVar[int] = 1

    currency: Currency
    payment_ids: list[Ref] = Field(max_length=MAX_ITEMS)
    overdue_outstanding: PositiveMinor
    business_date: date | None = None


class DueDateMove(BaseModel):
    """One bill's due date, before and after a deferral."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bill_id: Ref
    from_date: date
    to_date: date


class DueDatesDeferred(EventData):
    """Deferral (延期还款): the due dates of every unpaid bill moved `months` later."""

    event_type: ClassVar[str] = "DueDatesDeferred"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    months: int = Field(ge=1, le=MAX_COUNT)
    moves: list[DueDateMove] = Field(max_length=MAX_ITEMS)
    months_used: int = Field(
        ge=1, le=MAX_COUNT, description="deferral months used on the account, this included"
    )


class Installment(BaseModel):
    """One new bill created by a re-installment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bill_id: Ref
    due_date: date
    principal: NonNegativeMinor
    interest: NonNegativeMinor
    fees: NonNegativeMinor
    late_fee: NonNegativeMinor


class BalanceReinstalled(EventData):
    """Re-installment (二次分期): the overdue balance was replaced by new bills.

    `replaced` itemises what each overdue bill no longer owes; the installments' components
    sum exactly to it, each plus `round(amount * monthly_rate)` as interest.
    """

    event_type: ClassVar[str] = "BalanceReinstalled"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    currency: Currency
    amount: PositiveMinor
    replaced: list[Allocation] = Field(max_length=MAX_ITEMS)
    installments: list[Installment] = Field(max_length=MAX_ITEMS)
    monthly_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1, max_digits=20)
    first_due_date: date
    issued_on: date


class FeesWaived(EventData):
    """Waiver (临时性减免): named fees were reduced, late fee first by default, oldest bill first.

    `requested` is the amount asked for (null: everything waivable in `components`).
    """

    event_type: ClassVar[str] = "FeesWaived"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    currency: Currency
    amount: PositiveMinor
    waived: list[Allocation] = Field(max_length=MAX_ITEMS)
    requested: PositiveMinor | None = None
    components: list[Component] = Field(max_length=MAX_ITEMS)
    reason: str = Field(default="", max_length=200)


class DelinquencyPaused(EventData):
    """A relief plan became active: no late fees, no bucket worsening, DPD does not count.

    Insert-only: a pause is ended by `DelinquencyResumed`, never edited. `business_date` is
    the first business date paused (null before the account's first close).
    """

    event_type: ClassVar[str] = "DelinquencyPaused"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    business_date: date | None = None


class DelinquencyResumed(EventData):
    """A relief plan ended (broken, completed or cancelled): delinquency counts again from
    `business_date`."""

    event_type: ClassVar[str] = "DelinquencyResumed"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    reason: Literal["broken", "completed", "cancelled"]
    business_date: date | None = None


class PlanTermsRefused(EventData):
    """The account could not take an activated plan's terms (the balance moved, a limit
    would be broken); nothing of the plan was applied, and plans cancels it."""

    event_type: ClassVar[str] = "PlanTermsRefused"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    reason: str = Field(max_length=500)
    business_date: date | None = None


MODELS: list[type[EventData]] = [
    PaymentAllocatedV1,
    PaymentAllocated,
    PaymentReallocated,
    CreditApplied,
    BillBecameOverdue,
    LateFeeAccrued,
    LateFeeReversed,
    DelinquencyBucketChanged,
    AccountDayClosed,
    AccountChargedOff,
    AccountCured,
    PaymentDueSoon,
    FirstPaymentDefaulted,
    RepeatedPartialPayments,
    DueDatesDeferred,
    BalanceReinstalled,
    FeesWaived,
    DelinquencyPaused,
    DelinquencyResumed,
    PlanTermsRefused,
]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("PaymentAllocated", 1): upcast_payment_allocated_v1_v2,
}
