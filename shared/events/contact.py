"""Events the contact service publishes to `arrears.contact`."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.bounds import MAX_DAYS, Count, Ref
from shared.catalogue import EventData, Personal, Upcaster
from shared.money import Currency, NonNegativeMinor, PositiveMinor

ContactChannel = Literal["call", "sms", "email", "app_push", "letter"]
"""How a borrower (or a listed contact) is reached; `call` includes AI voice calls."""

ContactOutcome = Literal[
    "reached",
    "no_answer",
    "wrong_number",
    "refused",
    "promise_to_pay",
    "dispute",
    "callback_requested",
    "sent",
]
"""What came of a contact attempt; `sent` is a written message handed to its provider
(an automated reminder): nobody was talked to, and it is no call."""

ContactParty = Literal["debtor", "third_party"]
"""Whom an attempt addresses: the debtor, or a contact the debtor listed."""

ContactPurpose = Literal[
    "collection",
    "validation_notice",
    "verification",
    "termination_notice",
    "remedy_notice",
    "statutory_notice",
]
"""Why an attempt is made; the notices stay allowed after a cease request or dispute.
`statutory_notice` is a notice the law requires whatever the borrower asked (in CN, e.g. of
a debt's assignment, or before negative credit information is reported)."""
ContactPurposeV1 = Literal[
    "collection", "validation_notice", "verification", "termination_notice", "remedy_notice"
]
"""The purposes before `statutory_notice`."""

Jurisdiction = Literal["CN", "US"]
"""The rule pack a contact is checked under, chosen per account."""

CaseSegment = Literal["standard", "hardship", "dispute", "lost_contact", "broken_promise"]
"""Why a case needs a particular treatment beyond its bucket (the strategy table's rows)."""

ContactPointKind = Literal["phone", "email"]
"""What kind of address a contact point is; a phone serves calls and SMS."""

ContactPointSource = Literal["integrator", "agent", "borrower", "skip_trace"]
"""Who told us about a contact point."""

BorrowerText = Annotated[str, Personal("text")]
"""Free text the borrower wrote (personal data: anything, a phone number too, may be in it)."""


class CollectionCaseOpened(EventData):
    """A collection case was opened because the account went overdue."""

    event_type: ClassVar[str] = "CollectionCaseOpened"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    reason: str = Field(max_length=200)
    bill_id: Ref
    opened_on: date


class ContactAttemptChecked(EventData):
    """A scheduled or imminent contact was checked against the account's rule pack.

    One type for both outcomes, so a reader of the trail sees every decision in one
    stream: `decision` is `allowed` (no `rule_ids`; `rules_checked` lists what held,
    `exception_id` the agreed exception that lifted a closed window, if any) or
    `blocked` (`rule_ids` lists every rule the contact would break). `explanation` is
    one readable sentence per rule.
    """

    event_type: ClassVar[str] = "ContactAttemptChecked"
    schema_version: ClassVar[int] = 2

    attempt_id: Ref = Field(min_length=1, max_length=100)
    debt_id: Ref = Field(min_length=1, max_length=100)
    channel: ContactChannel
    party: ContactParty
    purpose: ContactPurpose
    planned_at: AwareDatetime
    jurisdiction: Jurisdiction
    decision: Literal["allowed", "blocked"]
    rule_ids: list[Ref] = Field(default_factory=list, max_length=20)
    rules_checked: list[Ref] = Field(default_factory=list, max_length=20)
    explanation: str = Field(min_length=1, max_length=2000)
    exception_id: Ref | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _decision_matches_rules(self) -> ContactAttemptChecked:
        if self.decision == "blocked" and not self.rule_ids:
            raise ValueError("a blocked decision names at least one rule")
        if self.decision == "blocked" and self.exception_id is not None:
            raise ValueError("a blocked decision uses no exception")
        if self.decision == "allowed" and self.rule_ids:
            raise ValueError("an allowed decision breaks no rule")
        return self


class ContactAttemptCheckedV1(ContactAttemptChecked):
    """A contact was checked against the account's rule pack (v1: no `statutory_notice`)."""

    schema_version: ClassVar[int] = 1

    purpose: ContactPurposeV1


def upcast_contact_attempt_checked_v1_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Every v1 purpose is a v2 purpose; v2 only adds `statutory_notice`."""
    return dict(data)


class ContactAttemptRecorded(EventData):
    """A contact attempt was made, with what came of it.

    `at` is when it was made; `exception_id` names the agreed exception it used, so one
    exception allows one contact only.
    """

    event_type: ClassVar[str] = "ContactAttemptRecorded"
    schema_version: ClassVar[int] = 1

    attempt_id: Ref = Field(min_length=1, max_length=100)
    debt_id: Ref = Field(min_length=1, max_length=100)
    agency: str = Field(min_length=1, max_length=100)
    channel: ContactChannel
    party: ContactParty = "debtor"
    outcome: ContactOutcome
    duration_seconds: int = Field(default=0, ge=0, le=86_400, strict=True)
    agent: str | None = Field(default=None, max_length=100)
    at: AwareDatetime
    exception_id: Ref | None = Field(default=None, max_length=100)
    contact_point_id: Ref | None = Field(default=None, max_length=100)


class CollectionCaseClosed(EventData):
    """The account's collection case was closed: cured, charged off, or settled by a plan."""

    event_type: ClassVar[str] = "CollectionCaseClosed"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    reason: Literal["cured", "charged_off", "plan"]
    closed_on: date | None = None


class ContactChannelOptedOut(EventData):
    """The borrower opted out of being contacted on a channel."""

    event_type: ClassVar[str] = "ContactChannelOptedOut"
    schema_version: ClassVar[int] = 1

    channel: ContactChannel


class ContactCeaseRequested(EventData):
    """The borrower asked, in writing, that collection contact stop (Reg F: stop)."""

    event_type: ClassVar[str] = "ContactCeaseRequested"
    schema_version: ClassVar[int] = 1

    reason: BorrowerText = Field(default="", max_length=500)


class DebtDisputed(EventData):
    """The borrower disputes a debt; collection of it pauses until the dispute is resolved."""

    event_type: ClassVar[str] = "DebtDisputed"
    schema_version: ClassVar[int] = 1

    debt_id: Ref = Field(min_length=1, max_length=64)
    reason: BorrowerText = Field(default="", max_length=500)


class DisputeResolved(EventData):
    """Staff answered the borrower's dispute of a debt: `verified` as billed, or `corrected`
    (the correction itself is the lender's, in accounts); collection of it may resume."""

    event_type: ClassVar[str] = "DisputeResolved"
    schema_version: ClassVar[int] = 1

    debt_id: Ref = Field(min_length=1, max_length=64)
    finding: Literal["verified", "corrected"]
    # Staff may quote what the borrower wrote, so the answer is personal like the reason.
    answer: BorrowerText = Field(default="", max_length=500)


class CallbackAgreed(EventData):
    """The borrower asked to be called at a time, which may lie in quiet hours."""

    event_type: ClassVar[str] = "CallbackAgreed"
    schema_version: ClassVar[int] = 1

    exception_id: Ref = Field(max_length=100)
    slot_start: AwareDatetime
    channel: ContactChannel = "call"
    debt_id: Ref | None = Field(default=None, max_length=64)


class HourWindow(BaseModel):
    """Local wall-clock hours from `start` (inclusive) to `end` (exclusive); start after
    end spans midnight."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> HourWindow:
        if self.start == self.end:
            raise ValueError("end: must differ from start")
        return self


class ContactPreferencesSet(EventData):
    """The borrower said how to reach them: channels in order of preference, and local
    hours that are inconvenient (which compliance then blocks). Replaces earlier ones."""

    event_type: ClassVar[str] = "ContactPreferencesSet"
    schema_version: ClassVar[int] = 1

    preferred_channels: list[ContactChannel] = Field(default_factory=list, max_length=5)
    inconvenient_hours: list[HourWindow] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _channels_once(self) -> ContactPreferencesSet:
        if len(set(self.preferred_channels)) != len(self.preferred_channels):
            raise ValueError("preferred_channels: name each channel once")
        return self


class PromiseToPayMade(EventData):
    """The borrower promised to pay `amount` by `due_on` (inclusive) during a contact.

    Payments dated from `made_on` (the borrower's local date of the contact) to `due_on`
    count toward it.
    """

    event_type: ClassVar[str] = "PromiseToPayMade"
    schema_version: ClassVar[int] = 1

    promise_id: Ref = Field(min_length=1, max_length=100)
    case_id: Ref
    amount: PositiveMinor
    currency: Currency
    made_on: date
    due_on: date
    made_by: str = Field(max_length=100)
    attempt_id: Ref | None = Field(default=None, max_length=100)


class PromiseToPayKept(EventData):
    """Payments dated within a promise's days reached its amount by its due date."""

    event_type: ClassVar[str] = "PromiseToPayKept"
    schema_version: ClassVar[int] = 1

    promise_id: Ref = Field(min_length=1, max_length=100)
    case_id: Ref
    paid: PositiveMinor
    business_date: date


class PromiseToPayBroken(EventData):
    """A promise's due date closed with less paid than promised."""

    event_type: ClassVar[str] = "PromiseToPayBroken"
    schema_version: ClassVar[int] = 1

    promise_id: Ref = Field(min_length=1, max_length=100)
    case_id: Ref
    amount: PositiveMinor
    paid: NonNegativeMinor
    due_on: date
    business_date: date


class CollectionCaseEscalated(EventData):
    """The case moved up the strategy's tiers (queues); `to_tier` may equal the top tier."""

    event_type: ClassVar[str] = "CollectionCaseEscalated"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    from_tier: str | None = Field(default=None, max_length=40)
    to_tier: str = Field(max_length=40)
    reason: str = Field(max_length=200)


class CollectionCaseRouted(EventData):
    """The strategy table put the case in a new queue, for its bucket and segment."""

    event_type: ClassVar[str] = "CollectionCaseRouted"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    queue: str = Field(max_length=40)
    from_queue: str | None = Field(default=None, max_length=40)
    segment: CaseSegment
    bucket: str = Field(max_length=40)
    channels: list[ContactChannel] = Field(default_factory=list, max_length=5)
    reason: str = Field(max_length=200)


class CollectionCaseReclassified(EventData):
    """The open case's bucket or segment changed while the strategy kept it in its queue."""

    event_type: ClassVar[str] = "CollectionCaseReclassified"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    queue: str = Field(max_length=40)
    segment: CaseSegment
    from_segment: CaseSegment | None = None
    bucket: str = Field(max_length=40)
    from_bucket: str | None = Field(default=None, max_length=40)
    reason: str = Field(max_length=200)


class CollectionCaseAssigned(EventData):
    """An agent claimed the case from its queue and now works it."""

    event_type: ClassVar[str] = "CollectionCaseAssigned"
    schema_version: ClassVar[int] = 1

    case_id: Ref
    queue: str = Field(max_length=40)
    agent: str = Field(min_length=1, max_length=100)
    previous_agent: str | None = Field(default=None, max_length=100)


class ContactPointAdded(EventData):
    """A phone number or e-mail address of the borrower became known, unverified (personal data)."""

    event_type: ClassVar[str] = "ContactPointAdded"
    schema_version: ClassVar[int] = 1

    point_id: Ref = Field(min_length=1, max_length=100)
    kind: ContactPointKind
    value: Annotated[str, Personal(kind_from="kind")] = Field(min_length=3, max_length=254)
    source: ContactPointSource
    request_id: Ref | None = Field(default=None, max_length=100)


class ContactPointVerified(EventData):
    """A contact point was shown to reach the borrower (OTP passed, or an integrator said so)."""

    event_type: ClassVar[str] = "ContactPointVerified"
    schema_version: ClassVar[int] = 1

    point_id: Ref = Field(min_length=1, max_length=100)
    method: Literal["otp", "integrator"]


class ContactPointVerificationFailed(EventData):
    """A one-time password sent to a contact point was not confirmed."""

    event_type: ClassVar[str] = "ContactPointVerificationFailed"
    schema_version: ClassVar[int] = 1

    point_id: Ref = Field(min_length=1, max_length=100)
    method: Literal["otp"] = "otp"


class ContactPointInvalidated(EventData):
    """A contact point was found not to reach the borrower (a wrong-number outcome)."""

    event_type: ClassVar[str] = "ContactPointInvalidated"
    schema_version: ClassVar[int] = 1

    point_id: Ref = Field(min_length=1, max_length=100)
    reason: str = Field(max_length=200)
    attempt_id: Ref | None = Field(default=None, max_length=100)


class ContactLost(EventData):
    """Every known contact point failed repeatedly: the borrower is unreachable (失联).

    A skip-trace request `request_id` goes out with it; the points found come back as
    `ContactPointAdded` (source `skip_trace`), unverified.
    """

    event_type: ClassVar[str] = "ContactLost"
    schema_version: ClassVar[int] = 1

    request_id: Ref = Field(min_length=1, max_length=100)
    failed_attempts: Count
    window_days: int = Field(ge=1, le=MAX_DAYS)
    point_ids: list[Ref] = Field(default_factory=list, max_length=100)


class SkipTraceCompleted(EventData):
    """A skip-trace provider answered a request with `found` new contact points."""

    event_type: ClassVar[str] = "SkipTraceCompleted"
    schema_version: ClassVar[int] = 1

    request_id: Ref = Field(min_length=1, max_length=100)
    provider: str = Field(max_length=100)
    found: Count


class HardshipReported(EventData):
    """The borrower gave hardship evidence to the plans service: the case needs a specialist.

    Only the document's kind and hash travel; the document stays with plans.
    """

    event_type: ClassVar[str] = "HardshipReported"
    schema_version: ClassVar[int] = 1

    kind: str = Field(min_length=1, max_length=32)
    evidence_sha256: str = Field(pattern=r"^[0-9a-f]{64}$", max_length=64)


class ContactDetailsShown(EventData):
    """A person was shown the borrower's unmasked contact details (who, in which role, which
    points), so compliance can answer who saw them."""

    event_type: ClassVar[str] = "ContactDetailsShown"
    schema_version: ClassVar[int] = 1

    viewer: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=20)
    point_ids: list[Ref] = Field(min_length=1, max_length=100)


MODELS: list[type[EventData]] = [
    CollectionCaseOpened,
    CollectionCaseClosed,
    ContactAttemptCheckedV1,
    ContactAttemptChecked,
    ContactAttemptRecorded,
    ContactChannelOptedOut,
    ContactCeaseRequested,
    DebtDisputed,
    DisputeResolved,
    CallbackAgreed,
    PromiseToPayMade,
    PromiseToPayKept,
    PromiseToPayBroken,
    CollectionCaseEscalated,
    CollectionCaseRouted,
    CollectionCaseReclassified,
    CollectionCaseAssigned,
    ContactPointAdded,
    ContactPointVerified,
    ContactPointVerificationFailed,
    ContactPointInvalidated,
    ContactLost,
    SkipTraceCompleted,
    HardshipReported,
    ContactPreferencesSet,
    ContactDetailsShown,
]
UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("ContactAttemptChecked", 1): upcast_contact_attempt_checked_v1_v2
}
