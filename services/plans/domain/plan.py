"""The Plan aggregate: a relief plan's life from request to completion, event-sourced.

    requested ─offer─▶ offered ─accept─▶ accepted ─activate─▶ active ─▶ completed
        │ └─expire (unanswered, close_day) ─▶ expired
        │          (re-offer)│ ├─decline─▶ declined                 ├─▶ broken (close_day)
        │                │ ├─expire──▶ expired (close_day)      └─cancel─▶ cancelled
        │                │ └─reject──▶ rejected (supervisor)
        └─cancel─────────┴─cancel (also from accepted) ─▶ cancelled

An offer may be re-offered while open: new terms priced from the account's current
standing replace the old ones (a new disclosure, approval decided afresh), which is how a
stale offer is renewed once late fees or payments moved the balance.

An offer that needs a supervisor (`approval_required`) stays `offered` but cannot be
accepted until approved (maker-checker); nobody approves their own proposal.

Each command checks, returns the events (past tense) and applies them; `from_events`
rebuilds a plan from its stream. Illegal transitions raise `IllegalTransition`, a
`Rejected` the API maps to 409 with the reason.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, get_args

from services.plans.domain.eligibility import AccountSnapshot, NotEligible, Refusal, check
from services.plans.domain.policy import PlansPolicy
from services.plans.domain.quotes import dated
from shared.catalogue import EventData
from shared.errors import Rejected
from shared.events.plans import (
    Channel,
    EvidenceKind,
    EvidenceRef,
    InstallmentMet,
    InstallmentMissed,
    PlanAccepted,
    PlanActivated,
    PlanAgreed,
    PlanApprovalRequested,
    PlanApproved,
    PlanBroken,
    PlanCancelled,
    PlanCompleted,
    PlanDeclined,
    PlanExpired,
    PlanOffered,
    PlanPaymentApplied,
    PlanRejected,
    PlanRequested,
    PlanTerms,
    PlanType,
    Role,
)

State = Literal[
    "requested",
    "offered",
    "accepted",
    "declined",
    "expired",
    "rejected",
    "active",
    "completed",
    "broken",
    "cancelled",
]
Action = Literal[
    "offer",
    "approve",
    "reject",
    "accept",
    "decline",
    "expire",
    "activate",
    "record_payment",
    "complete",
    "break",
    "cancel",
]

TRANSITIONS: dict[Action, dict[State, State]] = {
    "offer": {"requested": "offered", "offered": "offered"},
    "approve": {"offered": "offered"},
    "reject": {"offered": "rejected"},
    "accept": {"offered": "accepted"},
    "decline": {"offered": "declined"},
    "expire": {"requested": "expired", "offered": "expired"},
    "activate": {"accepted": "active"},
    "record_payment": {"active": "active"},
    "complete": {"active": "completed"},
    "break": {"active": "broken"},
    "cancel": {
        "requested": "cancelled",
        "offered": "cancelled",
        "accepted": "cancelled",
        "active": "cancelled",
    },
}
"""Every legal transition: action → from-state → to-state. Anything else is illegal."""

STATES: tuple[State, ...] = get_args(State)
TERMINAL: frozenset[State] = frozenset(
    {"declined", "expired", "rejected", "completed", "broken", "cancelled"}
)
PROPOSERS: frozenset[Role] = frozenset({"agent", "supervisor", "system"})
RESPONDERS: frozenset[Role] = frozenset({"borrower", "agent", "supervisor"})
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class IllegalTransition(Rejected):
    """A command the plan's state does not allow (HTTP 409, with the reason)."""

    def __init__(self, plan_id: str, action: str, state: str, why: str = "") -> None:
        super().__init__(
            f"cannot {action} plan {plan_id}: it is {state}" + (f"; {why}" if why else "")
        )
        self.plan_id, self.action, self.state = plan_id, action, state


class OfferExpired(IllegalTransition):
    """The offer's expiry date has passed."""


class AwaitingApproval(IllegalTransition):
    """The offer needs a supervisor's approval before it can be accepted."""


class SelfApproval(Rejected):
    """The proposer of an offer tried to approve or reject it (maker-checker)."""


class NotPermitted(Rejected):
    """The actor's role may not do this to a plan (HTTP 403)."""


class DisclosureMismatch(Rejected):
    """Acceptance named a disclosure other than the offer's (the borrower saw other terms)."""


class InvalidEvidence(Rejected):
    """An uploaded document of a type, size or description policy does not accept."""


@dataclass(frozen=True)
class Actor:
    """Who does something: the token's subject and role."""

    id: str
    role: Role

    def __post_init__(self) -> None:
        if not self.id or len(self.id) > 200:
            raise Rejected("actor id must be 1 to 200 characters")
        if self.role not in get_args(Role):
            raise Rejected(f"unknown role {self.role!r}")


@dataclass(frozen=True)
class Evidence:
    """A hardship document: its content hash, media type, size in bytes and kind."""

    sha256: str
    media_type: str
    size: int
    kind: EvidenceKind

    @classmethod
    def of(
        cls, sha256: str, media_type: str, size: int, kind: str, policy: PlansPolicy
    ) -> Evidence:
        """Validated evidence; InvalidEvidence names what is wrong."""
        if not _SHA256.match(sha256 or ""):
            raise InvalidEvidence("evidence sha256: must be 64 lowercase hex digits")
        if media_type not in policy.evidence_media_types:
            raise InvalidEvidence(
                f"evidence media type {media_type!r} is not accepted "
                f"(evidence_media_types: {list(policy.evidence_media_types)})"
            )
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidEvidence(f"evidence size must be a positive number of bytes, not {size!r}")
        if size > policy.evidence_max_bytes:
            raise InvalidEvidence(
                f"evidence of {size} bytes is larger than the {policy.evidence_max_bytes} "
                "allowed (evidence_max_bytes)"
            )
        if kind not in get_args(EvidenceKind):
            raise InvalidEvidence(
                f"evidence kind {kind!r} is not one of {list(get_args(EvidenceKind))}"
            )
        return cls(sha256, media_type, size, kind)  # type: ignore[arg-type]

    def ref(self) -> EvidenceRef:
        """The reference events carry."""
        return EvidenceRef(
            sha256=self.sha256, kind=self.kind, media_type=self.media_type, size=self.size
        )


def approval_reasons(terms: PlanTerms, policy: PlansPolicy) -> list[str]:
    """Why a supervisor must approve these terms (empty: an agent's offer stands alone):
    the plan type's threshold on the amount covered, and any waived amount, whatever plan
    carries it, against the waiver's approval and evidence thresholds."""
    reasons = []
    limit = policy.approval_thresholds[terms.plan_type]
    if terms.amount > limit:
        reasons.append(
            f"amount {terms.amount} fen is above approval_thresholds.{terms.plan_type} "
            f"({limit} fen)"
        )
    # A waiver plan's amount is its waiver, checked above; in a mix the waiver gives money
    # up just the same, so it needs the approval a waiver plan would.
    waiver_limit = policy.approval_thresholds["waiver"]
    if terms.plan_type != "waiver" and terms.waiver_amount > waiver_limit:
        reasons.append(
            f"a waiver of {terms.waiver_amount} fen in a {terms.plan_type} plan is above "
            f"approval_thresholds.waiver ({waiver_limit} fen)"
        )
    if terms.waiver_amount > policy.evidence_threshold:
        reasons.append(
            f"waiver of {terms.waiver_amount} fen is above evidence_threshold "
            f"({policy.evidence_threshold} fen): the evidence must be checked"
        )
    return reasons


def disclosure_for(offer: PlanOffered) -> str:
    """The fee disclosure (贷前信息披露) the borrower is shown before accepting an offer:
    total cost, fees, schedule, and the consequences of breaking the plan."""
    t = offer.terms
    lines = [
        f"Relief plan offer {offer.plan_id}: {t.plan_type}",
        f"All amounts in fen ({t.currency}).",
        f"Balance covered: {t.amount}",
    ]
    if t.deferral_months:
        lines.append(f"Due dates of every unpaid bill move {t.deferral_months} months later.")
    if t.waiver_amount:
        lines.append(f"Waived: {t.waiver_amount} of {', '.join(t.waiver_components)}.")
    if t.installments:
        lines.append(f"Installments: {len(t.installments)}; fee rate {t.monthly_rate} a month.")
        for i in t.installments:
            days = (i.due_date - offer.offered_on).days
            when = (
                f"{i.number} month(s) after activation"
                if t.plan_type in ("reinstallment", "personalised")
                else f"{t.deferral_months} month(s) after activation"
                if t.plan_type == "deferral"
                else f"{days} days after activation"
            )
            lines.append(f"  {i.number}. {i.amount} (fee {i.fee}), due {when}")
    lines += [
        f"Total fees of the plan: {t.fees}",
        f"Total repayable on the account under the plan: {t.total_repayable}",
        f"Offer valid until {offer.expires_on} inclusive.",
        f"If an installment is unpaid {offer.grace_days} days after its due date the plan "
        "breaks: delinquency, late fees and collection resume, and no new plan is possible "
        f"for {offer.cooling_off_days} days.",
    ]
    return "\n".join(lines) + "\n"


def disclosure_sha256(text: str) -> str:
    """The SHA-256 (hex) of a disclosure's UTF-8 text, which acceptance must quote."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Installment:
    """Tracking of one installment of an active plan."""

    number: int
    due_date: date
    amount: int
    paid: int = 0
    met_on: date | None = None
    missed: bool = False

    @property
    def unpaid(self) -> int:
        """What is still owed on it."""
        return self.amount - self.paid


@dataclass
class Plan:
    """One relief plan of one account, rebuilt from its events."""

    account_id: str
    plan_id: str = ""
    plan_type: PlanType = "deferral"
    state: State = "requested"
    requested: PlanRequested | None = None
    offered: PlanOffered | None = None
    approval: Literal["none", "pending", "approved"] = "none"
    accepted: PlanAccepted | None = None
    activated: PlanActivated | None = None
    installments: list[Installment] = field(default_factory=list)
    log: list[EventData] = field(default_factory=list, repr=False)
    """Every event the plan applied, oldest first (its stream as far as this object knows)."""

    @property
    def version(self) -> int:
        """How many events the plan has applied: the expected version of its stream."""
        return len(self.log)

    # ---- construction ----------------------------------------------------------------

    @classmethod
    def request(
        cls,
        *,
        plan_id: str,
        account_id: str,
        plan_type: PlanType,
        by: Actor,
        channel: Channel,
        on: date,
    ) -> tuple[Plan, list[EventData]]:
        """A new plan, requested by a borrower (self-service) or staff: PlanRequested."""
        if not plan_id:
            raise Rejected("plan_id must not be empty")
        plan = cls(account_id=account_id)
        event = PlanRequested(
            plan_id=plan_id,
            plan_type=plan_type,
            requested_by=by.id,
            role=by.role,
            channel=channel,
            requested_on=on,
        )
        return plan, plan._emit([event])

    @classmethod
    def from_events(cls, account_id: str, events: Iterable[EventData]) -> Plan:
        """A plan as its stream of events leaves it."""
        plan = cls(account_id=account_id)
        for e in events:
            plan._apply(e)
        return plan

    # ---- commands ----------------------------------------------------------------------

    def offer(
        self,
        terms: PlanTerms,
        *,
        snapshot: AccountSnapshot,
        policy: PlansPolicy,
        by: Actor,
        evidence: Sequence[Evidence] = (),
    ) -> list[EventData]:
        """Offer `terms` (from a quote) on the snapshot's date, open `offer_expiry_days`:
        PlanOffered, plus PlanApprovalRequested when a supervisor must approve. An open
        offer is replaced (re-offer) and its approval, if any, no longer counts."""
        self._require("offer")
        if by.role not in PROPOSERS:
            raise NotPermitted(f"a {by.role} cannot propose a plan's terms")
        if terms.plan_type != self.plan_type:
            raise Rejected(f"plan {self.plan_id} is a {self.plan_type}, not a {terms.plan_type}")
        if snapshot.account_id != self.account_id:
            raise Rejected(f"snapshot is of account {snapshot.account_id}, not {self.account_id}")
        if terms.currency != snapshot.currency:
            raise Rejected(f"terms in {terms.currency}, the account is in {snapshot.currency}")
        check(snapshot, policy, terms.plan_type)
        if terms.waiver_amount > policy.evidence_threshold and not evidence:
            raise NotEligible(
                Refusal(
                    terms.plan_type,
                    "evidence_threshold",
                    f"a waiver of {terms.waiver_amount} fen is above "
                    f"{policy.evidence_threshold} fen and needs evidence",
                )
            )
        on = snapshot.today
        draft = PlanOffered(
            plan_id=self.plan_id,
            terms=terms,
            offered_on=on,
            expires_on=on + timedelta(days=policy.offer_expiry_days),
            grace_days=policy.grace_days,
            cooling_off_days=policy.cooling_off_days,
            disclosure_sha256="0" * 64,
            proposed_by=by.id,
            role=by.role,
            evidence=[e.ref() for e in evidence],
            approval_required=approval_reasons(terms, policy),
        )
        offered = draft.model_copy(
            update={"disclosure_sha256": disclosure_sha256(disclosure_for(draft))}
        )
        events: list[EventData] = [offered]
        if offered.approval_required:
            events.append(
                PlanApprovalRequested(
                    plan_id=self.plan_id,
                    proposed_by=by.id,
                    reasons=offered.approval_required,
                )
            )
        return self._emit(events)

    def approve(self, *, by: Actor, on: date) -> list[EventData]:
        """A supervisor other than the proposer approves the pending offer: PlanApproved."""
        self._check_approver("approve", by)
        return self._emit([PlanApproved(plan_id=self.plan_id, approved_by=by.id, approved_on=on)])

    def reject(self, *, by: Actor, on: date, reason: str) -> list[EventData]:
        """A supervisor other than the proposer rejects the pending offer: PlanRejected."""
        self._check_approver("reject", by)
        return self._emit(
            [PlanRejected(plan_id=self.plan_id, rejected_by=by.id, rejected_on=on, reason=reason)]
        )

    def accept(
        self, *, by: Actor, channel: Channel, disclosure_sha256: str, on: date
    ) -> list[EventData]:
        """The borrower accepts, quoting the hash of the disclosure shown: PlanAccepted."""
        self._require("accept")
        offer = self._offer()
        if by.role not in RESPONDERS:
            raise NotPermitted(f"a {by.role} cannot accept an offer")
        if self.approval == "pending":
            raise AwaitingApproval(
                self.plan_id, "accept", self.state, "the offer awaits a supervisor's approval"
            )
        if on > offer.expires_on:
            raise OfferExpired(
                self.plan_id, "accept", self.state, f"the offer expired after {offer.expires_on}"
            )
        if not disclosure_sha256:
            raise DisclosureMismatch("an offer cannot be accepted without its disclosure hash")
        if disclosure_sha256 != offer.disclosure_sha256:
            raise DisclosureMismatch(
                f"disclosure {disclosure_sha256[:12]}… is not the offer's "
                f"({offer.disclosure_sha256[:12]}…): show the current disclosure again"
            )
        return self._emit(
            [
                PlanAccepted(
                    plan_id=self.plan_id,
                    accepted_by=by.id,
                    role=by.role,
                    channel=channel,
                    disclosure_sha256=disclosure_sha256,
                    accepted_on=on,
                )
            ]
        )

    def decline(
        self, *, by: Actor, channel: Channel, on: date, reason: str | None = None
    ) -> list[EventData]:
        """The borrower declines the offer: PlanDeclined."""
        self._require("decline")
        if by.role not in RESPONDERS:
            raise NotPermitted(f"a {by.role} cannot decline an offer")
        return self._emit(
            [
                PlanDeclined(
                    plan_id=self.plan_id,
                    declined_by=by.id,
                    channel=channel,
                    declined_on=on,
                    reason=reason,
                )
            ]
        )

    def activate(self, *, on: date) -> list[EventData]:
        """The accepted plan takes effect, its schedule dated from `on`: PlanActivated
        (the exact terms accounts applies), and PlanCompleted if nothing is left to pay."""
        self._require("activate")
        assert self.accepted is not None
        if on < self.accepted.accepted_on:
            raise Rejected(f"activation on {on} is before acceptance ({self.accepted.accepted_on})")
        offer = self._offer()
        terms = dated(offer.terms, on, offer.offered_on)
        first = terms.installments[0].due_date if terms.installments else None
        events: list[EventData] = [
            PlanActivated(
                plan_id=self.plan_id, activated_on=on, first_due_date=first, **dict(terms)
            )
        ]
        if not terms.installments:
            events.append(PlanCompleted(plan_id=self.plan_id))
        return self._emit(events)

    def record_payment(
        self, amount: int, on: date, payment_id: str | None = None
    ) -> list[EventData]:
        """A payment toward the plan, applied to unmet installments in due order:
        PlanPaymentApplied, InstallmentMet for each one now paid, PlanCompleted when all are.
        What exceeds the plan's unpaid total is not the plan's (accounts keeps it as credit)."""
        self._require("record_payment")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise Rejected(f"a payment is a positive number of fen, not {amount!r}")
        owed = sum(i.unpaid for i in self.installments)
        applied = min(amount, owed)
        if applied == 0:
            return []
        events: list[EventData] = [
            PlanPaymentApplied(
                plan_id=self.plan_id, payment_id=payment_id, amount=applied, paid_on=on
            )
        ]
        left = applied
        for i in self.installments:
            if i.met_on is not None or left == 0:
                continue
            take = min(left, i.unpaid)
            left -= take
            if take == i.unpaid:
                events.append(
                    InstallmentMet(
                        plan_id=self.plan_id,
                        number=i.number,
                        due_date=i.due_date,
                        amount=i.amount,
                        met_on=on,
                        late=on > i.due_date,
                    )
                )
        if applied == owed:
            events.append(PlanCompleted(plan_id=self.plan_id))
        return self._emit(events)

    def close_day(self, day: date, request_expiry_days: int = 7) -> list[EventData]:
        """The business date `day` is over: a request nobody offered terms for within
        `request_expiry_days`, or an offer past its expiry, expires (PlanExpired); an
        active plan's unpaid installment due by `day` is missed (InstallmentMissed) and,
        once `day` reaches its due date + grace, the plan breaks (PlanBroken). Other
        states: nothing. Closing a day twice changes nothing."""
        if self.state == "requested":
            assert self.requested is not None
            lapses = self.requested.requested_on + timedelta(days=request_expiry_days)
            if day > lapses:
                return self._emit([PlanExpired(plan_id=self.plan_id, expired_on=lapses)])
            return []
        if self.state == "offered":
            offer = self._offer()
            if day > offer.expires_on:
                return self._emit([PlanExpired(plan_id=self.plan_id, expired_on=offer.expires_on)])
            return []
        if self.state != "active":
            return []
        grace = self._offer().grace_days
        events: list[EventData] = []
        for i in self.installments:
            if i.met_on is not None or day < i.due_date:
                continue
            until = i.due_date + timedelta(days=grace)
            if not i.missed:
                events.append(
                    InstallmentMissed(
                        plan_id=self.plan_id,
                        number=i.number,
                        due_date=i.due_date,
                        unpaid=i.unpaid,
                        grace_until=until,
                    )
                )
            if day > until:
                events.append(
                    PlanBroken(
                        plan_id=self.plan_id,
                        reason=f"installment {i.number} due {i.due_date} still owes {i.unpaid} "
                        f"fen after the {grace}-day grace (until {until})",
                    )
                )
                break
        return self._emit(events)

    def cancel(self, *, by: Actor, on: date, reason: str) -> list[EventData]:
        """Withdraw the plan: PlanCancelled. A borrower may withdraw only before it is active."""
        self._require("cancel")
        if by.role == "borrower" and self.state == "active":
            raise NotPermitted("a borrower cannot cancel an active plan; ask an agent")
        return self._emit(
            [
                PlanCancelled(
                    plan_id=self.plan_id, cancelled_by=by.id, cancelled_on=on, reason=reason
                )
            ]
        )

    # ---- queries -----------------------------------------------------------------------

    def disclosure(self) -> str:
        """The disclosure text of the current offer."""
        return disclosure_for(self._offer())

    def agreement(self) -> PlanAgreed:
        """The active plan stated as PlanAgreed v1, for consumers of the older contract."""
        if self.activated is None or self.accepted is None:
            raise IllegalTransition(self.plan_id, "state the agreement of", self.state)
        a = self.activated
        return PlanAgreed(
            plan_id=self.plan_id,
            plan_type=a.plan_type,
            currency=a.currency,
            amount=a.amount,
            months=a.months,
            channel=self.accepted.channel,
        )

    def allows(self, action: Action) -> bool:
        """Whether the state allows `action` (other checks may still refuse it)."""
        return self.state in TRANSITIONS[action]

    # ---- internals ---------------------------------------------------------------------

    def _require(self, action: Action) -> None:
        if not self.allows(action):
            raise IllegalTransition(self.plan_id, action, self.state)

    def _offer(self) -> PlanOffered:
        if self.offered is None:
            raise IllegalTransition(self.plan_id, "use the offer of", self.state, "no offer")
        return self.offered

    def _check_approver(self, action: Action, by: Actor) -> None:
        self._require(action)
        offer = self._offer()
        if self.approval != "pending":
            raise IllegalTransition(
                self.plan_id, action, self.state, "the offer is not awaiting approval"
            )
        if by.role != "supervisor":
            raise NotPermitted(f"only a supervisor may {action} an offer, not a {by.role}")
        if by.id == offer.proposed_by:
            raise SelfApproval(f"{by.id} proposed plan {self.plan_id} and cannot {action} it")

    def _emit(self, events: list[EventData]) -> list[EventData]:
        for e in events:
            self._apply(e)
        return events

    def _apply(self, e: EventData) -> None:
        match e:
            case PlanRequested():
                self.plan_id, self.plan_type, self.state = e.plan_id, e.plan_type, "requested"
                self.requested = e
            case PlanOffered():
                self.offered, self.state = e, "offered"
                self.approval = "pending" if e.approval_required else "none"
            case PlanApprovalRequested():
                pass  # the offer already says approval is required
            case PlanApproved():
                self.approval = "approved"
            case PlanRejected():
                self.state = "rejected"
            case PlanAccepted():
                self.accepted, self.state = e, "accepted"
            case PlanDeclined():
                self.state = "declined"
            case PlanExpired():
                self.state = "expired"
            case PlanActivated():
                self.activated, self.state = e, "active"
                self.installments = [
                    Installment(i.number, i.due_date, i.amount) for i in e.installments
                ]
            case PlanPaymentApplied():
                left = e.amount
                for i in self.installments:
                    take = min(left, i.unpaid)
                    i.paid += take
                    left -= take
            case InstallmentMet():
                self.installments[e.number - 1].met_on = e.met_on
            case InstallmentMissed():
                self.installments[e.number - 1].missed = True
            case PlanCompleted():
                self.state = "completed"
            case PlanBroken():
                self.state = "broken"
            case PlanCancelled():
                self.state = "cancelled"
            case _:
                raise Rejected(f"a plan does not apply {e.event_type}")
        self.log.append(e)
