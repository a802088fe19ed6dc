"""Events the plans service publishes to `arrears.plans`."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.bounds import MAX_ITEMS, Ref
from shared.catalogue import EventData, Personal, Upcaster
from shared.money import Currency, NonNegativeMinor, PositiveMinor

PlanType = Literal["deferral", "reinstallment", "waiver", "personalised"]
Channel = Literal["agent", "app", "web", "phone", "branch"]
Role = Literal["borrower", "agent", "supervisor", "system"]
EvidenceKind = Literal["unemployment", "medical", "disaster", "other"]
WaivableComponent = Literal["late_fee", "interest"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", max_length=64)]
ActorId = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=500)]
WrittenReason = Annotated[str, Personal("text"), Field(min_length=1, max_length=500)]
"""A reason a person wrote about the borrower's case: personal data (anything may be in it)."""


class ScheduledInstallment(BaseModel):
    """One installment of a plan: what the borrower owes, and when."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int = Field(ge=1, le=36)
    due_date: date
    amount: PositiveMinor = Field(description="principal share plus the installment fee")
    fee: NonNegativeMinor = Field(description="the plan's fee within `amount`")


class EvidenceRef(BaseModel):
    """A hardship document, stored content-addressed by the plans service."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: Sha256
    kind: EvidenceKind
    media_type: str = Field(max_length=100)
    size: PositiveMinor = Field(description="bytes")


class PlanTerms(BaseModel):
    """A plan's terms: the relief measures, the schedule and its cost.

    `amount` and `months` mean what PlanAgreed v1 means to the accounts service: the
    balance covered (for a waiver: the amount waived) and the deferral months or the
    number of installments (0 for a waiver).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    plan_type: PlanType
    currency: Currency
    amount: NonNegativeMinor = Field(description="the balance the plan covers, in fen")
    months: int = Field(ge=0, le=36)
    monthly_rate: Decimal = Field(default=Decimal(0), ge=0, lt=1, max_digits=20)
    deferral_months: int = Field(default=0, ge=0, le=36)
    waiver_amount: NonNegativeMinor = 0
    waiver_components: list[WaivableComponent] = Field(default_factory=list, max_length=10)
    installments: list[ScheduledInstallment] = Field(default_factory=list, max_length=MAX_ITEMS)
    fees: NonNegativeMinor = Field(default=0, description="every fee the plan charges")
    total_repayable: NonNegativeMinor = Field(
        default=0,
        description="what the borrower repays on the account: all unpaid, less the waiver, "
        "plus the plan's fees",
    )


class PlanAgreed(EventData):
    """The borrower agreed a relief plan on the stated terms."""

    event_type: ClassVar[str] = "PlanAgreed"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    plan_type: PlanType
    currency: Currency
    amount: NonNegativeMinor = Field(description="the balance the plan covers, in fen")
    months: int = Field(ge=0, le=36)
    channel: Channel


class PlanBroken(EventData):
    """The borrower missed a plan installment beyond the grace: the plan no longer holds."""

    event_type: ClassVar[str] = "PlanBroken"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    reason: str = Field(max_length=500)


class PlanCompleted(EventData):
    """Every installment of the plan was met."""

    event_type: ClassVar[str] = "PlanCompleted"
    schema_version: ClassVar[int] = 1

    plan_id: Ref


class PlanRequested(EventData):
    """A borrower or an agent asked for a relief plan of a type."""

    event_type: ClassVar[str] = "PlanRequested"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    plan_type: PlanType
    requested_by: ActorId
    role: Role
    channel: Channel
    requested_on: date


class PlanOffered(EventData):
    """Terms were offered, open until `expires_on` (inclusive); the disclosure is hashed.

    `approval_required` lists why a supervisor must approve before it can be accepted
    (empty: no approval needed). `grace_days` is part of the disclosure.
    """

    event_type: ClassVar[str] = "PlanOffered"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    terms: PlanTerms
    offered_on: date
    expires_on: date
    grace_days: int = Field(ge=0, le=365)
    cooling_off_days: int = Field(ge=0, le=3650)
    disclosure_sha256: Sha256
    proposed_by: ActorId
    role: Role
    evidence: list[EvidenceRef] = Field(default_factory=list, max_length=MAX_ITEMS)
    approval_required: list[Reason] = Field(default_factory=list, max_length=MAX_ITEMS)


class PlanApprovalRequested(EventData):
    """An offer waits for a supervisor (maker-checker) for the reasons given."""

    event_type: ClassVar[str] = "PlanApprovalRequested"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    proposed_by: ActorId
    reasons: list[Reason] = Field(min_length=1, max_length=MAX_ITEMS)


class PlanApproved(EventData):
    """A supervisor other than the proposer approved the offer."""

    event_type: ClassVar[str] = "PlanApproved"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    approved_by: ActorId
    approved_on: date


class PlanRejected(EventData):
    """A supervisor other than the proposer rejected the offer; the plan ends."""

    event_type: ClassVar[str] = "PlanRejected"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    rejected_by: ActorId
    rejected_on: date
    reason: WrittenReason


class PlanAccepted(EventData):
    """The borrower accepted the offer after being shown the disclosure with this hash."""

    event_type: ClassVar[str] = "PlanAccepted"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    accepted_by: ActorId
    role: Role
    channel: Channel
    disclosure_sha256: Sha256
    accepted_on: date


class PlanDeclined(EventData):
    """The borrower declined the offer."""

    event_type: ClassVar[str] = "PlanDeclined"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    declined_by: ActorId
    channel: Channel
    declined_on: date
    reason: Annotated[str, Personal("text")] | None = Field(default=None, max_length=500)


class PlanExpired(EventData):
    """The offer was not accepted by its expiry date (or, with no offer, the request lapsed
    unanswered)."""

    event_type: ClassVar[str] = "PlanExpired"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    expired_on: date


class PlanActivated(PlanTerms, EventData):
    """The accepted plan took effect on these exact terms, which the accounts service applies.

    `plan_id`, `plan_type`, `currency`, `amount` and `months` mean what they mean in
    PlanAgreed v1; the installments are dated from `activated_on` (first one month later).
    """

    event_type: ClassVar[str] = "PlanActivated"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    activated_on: date
    first_due_date: date | None = None


class PlanPaymentApplied(EventData):
    """A payment counted toward the plan, applied to its unmet installments in order."""

    event_type: ClassVar[str] = "PlanPaymentApplied"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    payment_id: Ref | None = None
    amount: PositiveMinor
    paid_on: date


class InstallmentMet(EventData):
    """Payments recorded against the plan covered one installment in full."""

    event_type: ClassVar[str] = "InstallmentMet"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    number: int = Field(ge=1, le=36)
    due_date: date
    amount: PositiveMinor
    met_on: date
    late: bool = False


class InstallmentMissed(EventData):
    """An installment's due date passed with part of it unpaid; the grace runs from here."""

    event_type: ClassVar[str] = "InstallmentMissed"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    number: int = Field(ge=1, le=36)
    due_date: date
    unpaid: PositiveMinor
    grace_until: date


class PlanCancelled(EventData):
    """The plan was withdrawn before completion."""

    event_type: ClassVar[str] = "PlanCancelled"
    schema_version: ClassVar[int] = 1

    plan_id: Ref
    cancelled_by: ActorId
    cancelled_on: date
    reason: WrittenReason


class HardshipEvidenceReceived(EventData):
    """A hardship document was received and stored content-addressed under its SHA-256."""

    event_type: ClassVar[str] = "HardshipEvidenceReceived"
    schema_version: ClassVar[int] = 1

    evidence: EvidenceRef
    received_by: ActorId
    role: Role


MODELS: list[type[EventData]] = [
    PlanAgreed,
    PlanBroken,
    PlanCompleted,
    PlanRequested,
    PlanOffered,
    PlanApprovalRequested,
    PlanApproved,
    PlanRejected,
    PlanAccepted,
    PlanDeclined,
    PlanExpired,
    PlanActivated,
    PlanPaymentApplied,
    InstallmentMet,
    InstallmentMissed,
    PlanCancelled,
    HardshipEvidenceReceived,
]
UPCASTERS: dict[tuple[str, int], Upcaster] = {}
