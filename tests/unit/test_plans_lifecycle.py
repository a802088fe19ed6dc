"""The Plan state machine: every legal and illegal transition, maker-checker, disclosure,
expiry, tracking, and rebuilding from events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from services.plans.domain.plan import (
    STATES,
    TRANSITIONS,
    Action,
    Actor,
    AwaitingApproval,
    DisclosureMismatch,
    Evidence,
    IllegalTransition,
    InvalidEvidence,
    NotPermitted,
    OfferExpired,
    Plan,
    SelfApproval,
    State,
    disclosure_for,
    disclosure_sha256,
)
from services.plans.domain.quotes import (
    Income,
    personalised_terms,
    reinstallment_terms,
    waiver_terms,
)
from shared.catalogue import EventData
from shared.errors import Rejected
from shared.events import default_catalogue
from shared.events.plans import (
    InstallmentMet,
    InstallmentMissed,
    PlanAccepted,
    PlanActivated,
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
)
from tests.unit.plans_kit import (
    AGENT,
    AGENT2,
    BORROWER,
    PDF,
    POLICY,
    SUPERVISOR,
    SUPERVISOR2,
    TODAY,
    active,
    deferral_active,
    hardship,
    in_state,
    offered,
    pending,
    requested,
    snapshot,
)


def _disclosure(plan: Plan) -> str:
    assert plan.offered is not None
    return plan.offered.disclosure_sha256


def _do(plan: Plan, action: Action) -> list[EventData]:
    """Perform `action` with arguments that only the state could make illegal."""
    calls: dict[Action, Callable[[], list[EventData]]] = {
        "offer": lambda: plan.offer(
            reinstallment_terms(snapshot(), POLICY, 3), snapshot=snapshot(), policy=POLICY,
            by=AGENT,
        ),
        "approve": lambda: plan.approve(by=SUPERVISOR, on=TODAY),
        "reject": lambda: plan.reject(by=SUPERVISOR, on=TODAY, reason="no"),
        "accept": lambda: plan.accept(
            by=BORROWER, channel="app",
            disclosure_sha256=plan.offered.disclosure_sha256 if plan.offered else "0" * 64,
            on=TODAY,
        ),
        "decline": lambda: plan.decline(by=BORROWER, channel="app", on=TODAY),
        "activate": lambda: plan.activate(on=TODAY),
        "record_payment": lambda: plan.record_payment(1, TODAY),
        "cancel": lambda: plan.cancel(by=AGENT, on=TODAY, reason="withdrawn"),
    }  # fmt: skip
    return calls[action]()


COMMANDS: tuple[Action, ...] = (
    "offer", "approve", "reject", "accept", "decline", "activate", "record_payment", "cancel",
)  # fmt: skip
ILLEGAL = [(s, a) for a in COMMANDS for s in STATES if s not in TRANSITIONS[a]]


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_with_the_reason(state: State, action: Action) -> None:
    plan = in_state(state)
    version = plan.version
    with pytest.raises(IllegalTransition) as exc:
        _do(plan, action)
    assert exc.value.state == state and exc.value.action == action
    assert f"cannot {action} plan P1: it is {state}" in exc.value.reason
    assert (plan.state, plan.version) == (state, version)


Case = tuple[str, Callable[[], Plan], Callable[[Plan], list[EventData]], State, list[type]]
LEGAL: list[Case] = [
    ("request", lambda: requested(), lambda p: [], "requested", []),
    ("offer", lambda: in_state("requested"), lambda p: _do(p, "offer"), "offered", [PlanOffered]),
    ("offer needing approval", lambda: requested("waiver"),
     lambda p: p.offer(waiver_terms(hardship(), POLICY), snapshot=hardship(), policy=POLICY,
                       by=AGENT, evidence=[PDF]),
     "offered", [PlanOffered, PlanApprovalRequested]),
    ("re-offer", offered, lambda p: _do(p, "offer"), "offered", [PlanOffered]),
    ("approve", pending, lambda p: p.approve(by=SUPERVISOR, on=TODAY), "offered", [PlanApproved]),
    ("reject", pending, lambda p: p.reject(by=SUPERVISOR, on=TODAY, reason="no"), "rejected",
     [PlanRejected]),
    ("accept", offered, lambda p: _do(p, "accept"), "accepted", [PlanAccepted]),
    ("decline", offered, lambda p: _do(p, "decline"), "declined", [PlanDeclined]),
    ("expire", offered, lambda p: p.close_day(TODAY + timedelta(days=8)), "expired",
     [PlanExpired]),
    ("expire unanswered request", requested,
     lambda p: p.close_day(TODAY + timedelta(days=8)), "expired", [PlanExpired]),
    ("activate", lambda: in_state("accepted"), lambda p: _do(p, "activate"), "active",
     [PlanActivated]),
    ("pay part", active, lambda p: p.record_payment(10, TODAY), "active", [PlanPaymentApplied]),
    ("pay one", active, lambda p: p.record_payment(p.installments[0].amount, TODAY), "active",
     [PlanPaymentApplied, InstallmentMet]),
    ("complete", active, lambda p: p.record_payment(10**9, TODAY), "completed",
     [PlanPaymentApplied, InstallmentMet, InstallmentMet, InstallmentMet, PlanCompleted]),
    ("miss", active, lambda p: p.close_day(p.installments[0].due_date), "active",
     [InstallmentMissed]),
    ("break", active,
     lambda p: p.close_day(p.installments[0].due_date + timedelta(days=POLICY.grace_days + 1)),
     "broken", [InstallmentMissed, PlanBroken]),
    ("cancel requested", requested, lambda p: _do(p, "cancel"), "cancelled", [PlanCancelled]),
    ("cancel offered", offered, lambda p: _do(p, "cancel"), "cancelled", [PlanCancelled]),
    ("cancel accepted", lambda: in_state("accepted"), lambda p: _do(p, "cancel"), "cancelled",
     [PlanCancelled]),
    ("cancel active", active, lambda p: _do(p, "cancel"), "cancelled", [PlanCancelled]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "start", "act", "state", "types"), LEGAL, ids=[c[0] for c in LEGAL]
)
def test_every_legal_transition(
    name: str,
    start: Callable[[], Plan],
    act: Callable[[Plan], list[EventData]],
    state: State,
    types: list[type],
) -> None:
    plan = start()
    events = act(plan)
    assert [type(e) for e in events] == types
    assert plan.state == state
    # The stream rebuilds the same plan, and every event is valid in the catalogue.
    history = _history(plan)
    rebuilt = Plan.from_events("A1", history)
    assert (rebuilt.state, rebuilt.approval, rebuilt.version) == (
        plan.state, plan.approval, plan.version,
    )  # fmt: skip
    assert [(i.paid, i.met_on, i.missed) for i in rebuilt.installments] == [
        (i.paid, i.met_on, i.missed) for i in plan.installments
    ]


def test_the_transition_table_covers_every_state() -> None:
    reachable = {s for row in TRANSITIONS.values() for s in (*row, *row.values())}
    assert reachable == set(STATES)


@pytest.mark.parametrize("state", STATES)
def test_closing_a_day_does_nothing_where_nothing_is_due(state: State) -> None:
    plan = in_state(state)
    version = plan.version
    if state in ("requested", "offered", "active"):
        assert plan.close_day(TODAY) == []
    else:
        assert plan.close_day(TODAY + timedelta(days=400)) == []
    assert (plan.state, plan.version) == (state, version)


# ---- maker-checker --------------------------------------------------------------------


def test_self_approval_is_refused() -> None:
    plan = pending(by=SUPERVISOR)
    with pytest.raises(SelfApproval, match="sup-1 proposed plan P1 and cannot approve it"):
        plan.approve(by=SUPERVISOR, on=TODAY)
    with pytest.raises(SelfApproval):
        plan.reject(by=SUPERVISOR, on=TODAY, reason="mine")
    plan.approve(by=SUPERVISOR2, on=TODAY)
    assert plan.approval == "approved"


def test_only_a_supervisor_approves() -> None:
    plan = pending(by=AGENT)
    with pytest.raises(NotPermitted, match="only a supervisor"):
        plan.approve(by=AGENT2, on=TODAY)


def test_an_offer_awaiting_approval_cannot_be_accepted() -> None:
    plan = pending()
    with pytest.raises(AwaitingApproval, match="awaits a supervisor"):
        plan.accept(by=BORROWER, channel="app", disclosure_sha256=_disclosure(plan), on=TODAY)
    plan.approve(by=SUPERVISOR, on=TODAY)
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=_disclosure(plan), on=TODAY)
    assert plan.state == "accepted"


def test_an_offer_within_thresholds_needs_no_approval() -> None:
    plan = offered()
    assert plan.approval == "none"
    with pytest.raises(IllegalTransition, match="not awaiting approval"):
        plan.approve(by=SUPERVISOR, on=TODAY)


def test_a_large_amount_needs_approval_naming_the_threshold() -> None:
    policy = POLICY.from_mapping({"approval_thresholds": {
        "deferral": 0, "reinstallment": 1000, "waiver": 0, "personalised": 0,
    }})  # fmt: skip
    plan = offered(policy=policy)
    assert plan.offered is not None
    assert plan.offered.approval_required == [
        "amount 106700 fen is above approval_thresholds.reinstallment (1000 fen)"
    ]


def _personalised(s: Any, *, with_waiver: bool, evidence: tuple[Evidence, ...] = ()) -> Plan:
    """A personalised plan offered by an agent, priced for an income that fits 12 months."""
    plan = requested("personalised")
    terms = personalised_terms(s, POLICY, Income(40_000), with_waiver=with_waiver)
    plan.offer(terms, snapshot=s, policy=POLICY, by=AGENT, evidence=evidence)
    return plan


def test_a_waiver_inside_a_personalised_plan_waits_for_a_supervisor() -> None:
    plan = _personalised(snapshot(), with_waiver=True)
    assert plan.offered is not None and plan.offered.terms.waiver_amount == 2_100
    assert plan.approval == "pending"
    assert plan.offered.approval_required == [
        "a waiver of 2100 fen in a personalised plan is above approval_thresholds.waiver (0 fen)"
    ]
    assert isinstance(plan.log[-1], PlanApprovalRequested)


def test_a_personalised_plan_without_a_waiver_below_its_threshold_stands_alone() -> None:
    plan = _personalised(snapshot(), with_waiver=False)
    assert plan.offered is not None and plan.offered.terms.waiver_amount == 0
    assert (plan.approval, plan.offered.approval_required) == ("none", [])


def test_a_personalised_plan_waiver_within_the_waiver_threshold_stands_alone() -> None:
    policy = POLICY.from_mapping({"approval_thresholds": {
        "deferral": 0, "reinstallment": 0, "waiver": 2_100, "personalised": 2_000_000,
    }})  # fmt: skip
    plan = requested("personalised")
    terms = personalised_terms(snapshot(), policy, Income(40_000), with_waiver=True)
    plan.offer(terms, snapshot=snapshot(), policy=policy, by=AGENT)
    assert plan.approval == "none"


def test_a_personalised_plan_waiver_above_the_evidence_threshold_needs_evidence() -> None:
    plan = requested("personalised")
    terms = personalised_terms(hardship(), POLICY, Income(40_000), with_waiver=True)
    assert terms.waiver_amount == 10_000 > POLICY.evidence_threshold
    with pytest.raises(Rejected, match="evidence_threshold"):
        plan.offer(terms, snapshot=hardship(), policy=POLICY, by=AGENT)
    assert plan.state == "requested"
    plan = _personalised(hardship(), with_waiver=True, evidence=(PDF,))
    assert plan.offered is not None and plan.approval == "pending"
    assert plan.offered.approval_required == [
        "a waiver of 10000 fen in a personalised plan is above approval_thresholds.waiver (0 fen)",
        "waiver of 10000 fen is above evidence_threshold (5000 fen): the evidence must be checked",
    ]


def test_a_borrower_cannot_propose_terms() -> None:
    plan = requested()
    with pytest.raises(NotPermitted):
        plan.offer(reinstallment_terms(snapshot(), POLICY, 3), snapshot=snapshot(),
                   policy=POLICY, by=BORROWER)  # fmt: skip


def test_a_waiver_above_the_threshold_needs_evidence() -> None:
    plan = requested("waiver")
    with pytest.raises(Rejected, match="evidence_threshold"):
        plan.offer(waiver_terms(hardship(), POLICY), snapshot=hardship(), policy=POLICY, by=AGENT)
    assert plan.state == "requested"


def test_offering_checks_eligibility_and_names_the_rule() -> None:
    plan = requested()
    broken_lately = snapshot(last_broken_plan_on=TODAY - timedelta(days=5))
    with pytest.raises(Rejected, match="cooling_off_days"):
        plan.offer(reinstallment_terms(snapshot(), POLICY, 3), snapshot=broken_lately,
                   policy=POLICY, by=AGENT)  # fmt: skip


def test_offered_terms_must_be_of_the_requested_type() -> None:
    plan = requested("deferral")
    with pytest.raises(Rejected, match="is a deferral, not a reinstallment"):
        _do(plan, "offer")


# ---- disclosure and expiry --------------------------------------------------------------


def test_acceptance_records_who_channel_and_disclosure() -> None:
    plan = offered()
    text = plan.disclosure()
    assert "Total repayable on the account under the plan: 313302" in text
    assert "unpaid 3 days after its due date the plan breaks" in text
    digest = disclosure_sha256(text)
    [event] = plan.accept(by=AGENT, channel="phone", disclosure_sha256=digest, on=TODAY)
    assert isinstance(event, PlanAccepted)
    assert (event.accepted_by, event.role, event.channel, event.disclosure_sha256) == (
        "agent-1", "agent", "phone", digest,
    )  # fmt: skip


@pytest.mark.parametrize("digest", ["", "0" * 64, disclosure_sha256("other terms")])
def test_a_disclosure_hash_that_does_not_match_is_refused(digest: str) -> None:
    plan = offered()
    with pytest.raises(DisclosureMismatch):
        plan.accept(by=BORROWER, channel="app", disclosure_sha256=digest, on=TODAY)
    assert plan.state == "offered"


def test_the_disclosure_is_a_function_of_the_offer() -> None:
    a, b = offered(3), offered(6)
    assert a.offered is not None and b.offered is not None
    assert disclosure_for(a.offered) == a.disclosure() != b.disclosure()
    assert a.offered.disclosure_sha256 == disclosure_sha256(a.disclosure())


def test_an_offer_can_be_accepted_on_its_last_day_not_after() -> None:
    plan = offered()
    assert plan.offered is not None
    last = plan.offered.expires_on
    assert last == TODAY + timedelta(days=POLICY.offer_expiry_days)
    late = offered()
    with pytest.raises(OfferExpired, match=f"expired after {last}"):
        late.accept(by=BORROWER, channel="app", disclosure_sha256=_disclosure(late),
                    on=last + timedelta(days=1))  # fmt: skip
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=_disclosure(plan), on=last)
    assert plan.state == "accepted"


def test_an_offer_expires_after_its_last_day_is_closed() -> None:
    plan = offered()
    assert plan.offered is not None
    assert plan.close_day(plan.offered.expires_on) == []
    [event] = plan.close_day(plan.offered.expires_on + timedelta(days=1))
    assert event == PlanExpired(plan_id="P1", expired_on=plan.offered.expires_on)
    with pytest.raises(IllegalTransition, match="it is expired"):
        _do(plan, "accept")


# ---- activation and tracking -----------------------------------------------------------


def test_activation_states_the_terms_accounts_applies_dated_from_activation() -> None:
    plan = offered(6)
    plan.accept(by=BORROWER, channel="app", disclosure_sha256=_disclosure(plan), on=TODAY)
    later = TODAY + timedelta(days=2)  # 2 June
    [event] = plan.activate(on=later)
    assert isinstance(event, PlanActivated)
    assert (event.plan_id, event.plan_type, event.currency, event.months) == (
        "P1", "reinstallment", "CNY", 6,
    )  # fmt: skip
    assert event.amount == 106_700 and event.monthly_rate == POLICY.reinstallment_monthly_rate
    assert event.first_due_date == later.replace(month=7)
    assert [i.due_date.month for i in event.installments] == [7, 8, 9, 10, 11, 12]
    agreed = plan.agreement()
    assert (agreed.plan_type, agreed.amount, agreed.months, agreed.channel) == (
        "reinstallment", 106_700, 6, "app",
    )  # fmt: skip


def test_payments_meet_installments_in_order_partial_payments_carry() -> None:
    plan = active()
    first, second = plan.installments[0].amount, plan.installments[1].amount
    assert plan.record_payment(first - 1, TODAY)[1:] == []
    events = plan.record_payment(1 + second, TODAY)
    assert [e.number for e in events if isinstance(e, InstallmentMet)] == [1, 2]


def test_a_late_payment_within_grace_keeps_the_plan() -> None:
    plan = active()
    due = plan.installments[0].due_date
    [missed] = plan.close_day(due)
    assert isinstance(missed, InstallmentMissed)
    assert missed.grace_until == due + timedelta(days=POLICY.grace_days)
    assert plan.close_day(due + timedelta(days=POLICY.grace_days)) == []  # missed once only
    events = plan.record_payment(plan.installments[0].amount, due + timedelta(days=2))
    met = [e for e in events if isinstance(e, InstallmentMet)]
    assert met[0].late is True
    assert plan.close_day(plan.installments[1].due_date - timedelta(days=1)) == []
    assert plan.state == "active"


def test_a_missed_installment_beyond_grace_breaks_the_plan_with_the_reason() -> None:
    plan = active()
    due = plan.installments[0].due_date
    events = plan.close_day(due + timedelta(days=POLICY.grace_days + 1))
    assert isinstance(events[-1], PlanBroken)
    assert f"installment 1 due {due}" in events[-1].reason
    assert plan.close_day(due + timedelta(days=90)) == []


def test_a_deferral_tracks_the_overdue_amount_months_later() -> None:
    plan = deferral_active(2)
    [i] = plan.installments
    assert (i.due_date, i.amount) == (TODAY.replace(month=7, day=31), 106_700)
    assert isinstance(plan.record_payment(106_700, TODAY)[-1], PlanCompleted)


def test_a_borrower_cannot_cancel_an_active_plan() -> None:
    with pytest.raises(NotPermitted):
        active().cancel(by=BORROWER, on=TODAY, reason="changed my mind")


def test_payments_must_be_positive_fen() -> None:
    for bad in (0, -5, True):
        with pytest.raises(Rejected, match="positive number of fen"):
            active().record_payment(bad, TODAY)


# ---- evidence --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sha256": "AB" * 32}, "64 lowercase hex"),
        ({"sha256": "ab" * 31}, "64 lowercase hex"),
        ({"media_type": "application/zip"}, "not accepted"),
        ({"size": 0}, "positive number of bytes"),
        ({"size": POLICY.evidence_max_bytes + 1}, "evidence_max_bytes"),
        ({"kind": "horoscope"}, "evidence kind"),
    ],
)
def test_evidence_of_the_wrong_type_or_too_large_is_refused(
    changes: dict[str, Any], message: str
) -> None:
    args: dict[str, Any] = {"sha256": "ab" * 32, "media_type": "image/png", "size": 10,
                            "kind": "medical"}  # fmt: skip
    args.update(changes)
    with pytest.raises(InvalidEvidence, match=message):
        Evidence.of(policy=POLICY, **args)


def test_evidence_is_referenced_from_the_offer_by_hash() -> None:
    plan = pending()
    assert plan.offered is not None
    [ref] = plan.offered.evidence
    assert (ref.sha256, ref.kind, ref.media_type) == (PDF.sha256, "unemployment", "application/pdf")


def test_actors_are_validated() -> None:
    with pytest.raises(Rejected):
        Actor("", "agent")
    with pytest.raises(Rejected):
        Actor("x", "king")  # type: ignore[arg-type]


# ---- the stream ------------------------------------------------------------------------


def _history(plan: Plan) -> list[EventData]:
    """Every event a plan applied, round-tripped through the catalogue as JSON."""
    catalogue = default_catalogue()
    out = []
    for e in plan.log:
        model = catalogue.model(e.event_type, e.schema_version)
        out.append(model.model_validate_json(e.model_dump_json()))
    return out


def test_request_records_who_and_how() -> None:
    plan = requested()
    [event] = plan.log
    assert event == PlanRequested(plan_id="P1", plan_type="reinstallment", requested_by="b-1",
                                  role="borrower", channel="app", requested_on=TODAY)  # fmt: skip


def test_a_plan_rejects_events_it_does_not_know() -> None:
    from shared.events.plans import PlanAgreed

    with pytest.raises(Rejected, match="does not apply PlanAgreed"):
        Plan.from_events("A1", [PlanAgreed(plan_id="P", plan_type="waiver", currency="CNY",
                                           amount=1, months=0, channel="app")])  # fmt: skip


def test_a_re_offer_replaces_the_terms_and_asks_for_approval_again() -> None:
    plan = pending()
    plan.approve(by=SUPERVISOR, on=TODAY)
    assert plan.approval == "approved"
    assert plan.offered is not None
    first = plan.offered.disclosure_sha256
    events = plan.offer(
        waiver_terms(hardship(), POLICY), snapshot=hardship(), policy=POLICY, by=AGENT,
        evidence=[PDF],
    )  # fmt: skip
    assert [type(e) for e in events] == [PlanOffered, PlanApprovalRequested]
    assert plan.approval == "pending" and plan.state == "offered"
    with pytest.raises(AwaitingApproval):
        plan.accept(by=BORROWER, channel="app", disclosure_sha256=first, on=TODAY)


def test_an_unanswered_request_lapses_after_its_last_day_not_before() -> None:
    plan = requested()
    assert plan.close_day(TODAY + timedelta(days=7)) == []
    (expired,) = plan.close_day(TODAY + timedelta(days=8))
    assert isinstance(expired, PlanExpired) and expired.expired_on == TODAY + timedelta(days=7)
    assert plan.state == "expired"
    assert requested().close_day(TODAY + timedelta(days=3), request_expiry_days=2) != []
