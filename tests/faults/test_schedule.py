"""The fault tier's own parts that need no broker: the seeded schedule holds a relay kill
on a close and a stall per round, the actors' calls stay within CN's rules, a stalled
copy is told apart from the first, and the relief check finds what it must."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.faults.actors import Relief, _current_plan, calls_for
from tests.faults.checks import (
    Findings,
    check_relief,
    compare_active_plans,
    plans_still_active,
)
from tests.faults.harness import _newcomer, _without, plan_faults
from tests.faults.workload import Workload


def test_each_round_kills_accounts_during_a_close_relay_and_stalls_a_copy() -> None:
    workload = Workload.generate(7, n_accounts=24, n_days=6)
    steps = workload.steps()
    faults = plan_faults(7, workload, rounds=2)
    relays = [f for f in faults if f.kind == "relay"]
    assert [f.service for f in relays] == ["accounts", "accounts"]
    assert all(steps[f.after_step].name.startswith("close") for f in relays)
    assert len({f.after_step for f in relays}) == 2  # one watcher per close
    assert len([f for f in faults if f.kind == "stall"]) == 2
    assert faults == plan_faults(7, workload, rounds=2)  # the seed reproduces it


def test_actors_use_unpaid_accounts_and_call_within_cn_rules() -> None:
    workload = Workload.generate(11, n_accounts=24, n_days=6)
    plans, contact = workload.plan_accounts(), workload.contact_accounts()
    assert plans and contact
    assert not {a.account_id for a in plans} & {a.account_id for a in contact}
    assert {a.kind for a in plans + contact} == {"unpaid"}
    for a in contact:
        calls = calls_for(workload, a)
        assert len({c.attempt_id for c in calls}) == len(calls)
        assert [c.outcome for c in calls].count("promise_to_pay") == 1
        assert calls[-1].outcome == "promise_to_pay"
        assert [c.released for c in calls].count(True) == 1  # what a kill of contact meets
        per_day = Counter(c.at.date() for c in calls)
        assert max(per_day.values()) <= 3  # CN: at most three calls a day


def test_a_stalled_copy_is_dropped_only_when_none_of_its_members_remain() -> None:
    first = {"g.inbound": {"a1"}, "g.plans": {"a2"}}
    joined = {"g.inbound": {"a1", "b1"}, "g.plans": {"a2", "b2"}}
    assert _newcomer(first, joined)
    assert not _newcomer(first, {"g.inbound": {"a1", "b1"}, "g.plans": {"a2"}})
    theirs = {"g.inbound": {"b1"}, "g.plans": {"b2"}}
    assert not _without(theirs, joined)
    assert not _without(theirs, {"g.inbound": {"a1"}, "g.plans": set()})  # mid-rebalance
    assert _without(theirs, first)


def _entry(type_: str, source: str, **data: Any) -> dict[str, Any]:
    return {"type": type_, "source": source, "data": data}


def test_relief_check_finds_a_doubled_activation_and_a_lost_attempt() -> None:
    relief = Relief(plans={"A": "p1"}, states={"A": "active"}, attempts={"B": {"B-C0": False}})
    once = [_entry(t, "plans", plan_id="p1") for t in ("PlanRequested", "PlanAccepted")]
    trails = {
        "A": [*once, *[_entry("PlanActivated", "plans", plan_id="p1")] * 2],
        "B": [],
    }
    findings = Findings()
    check_relief(findings, relief, trails)
    assert findings.relief == [
        "A: PlanActivated of plan p1 2 times",
        "B: ContactAttemptRecorded of attempt B-C0 0 times, not 1",
    ]
    good = {
        "A": [*once, _entry("PlanActivated", "plans", plan_id="p1")],
        "B": [_entry("ContactAttemptRecorded", "contact", attempt_id="B-C0")],
    }
    findings = Findings()
    check_relief(findings, relief, good)
    assert findings.problems() == []


def test_a_plan_audit_shows_ended_must_be_gone_from_accounts_and_an_active_one_listed() -> None:
    # A long soak breaks and completes plans after they activated (seed 575039 flagged six
    # ended plans as missing from accounts): the check follows audit's ending events.
    relief = Relief(plans={"A": "p1", "B": "p2"}, states={"A": "active", "B": "active"})
    trails = {"A": [_entry("PlanBroken", "plans", plan_id="p1")], "B": []}
    expected = plans_still_active(relief, trails)
    assert expected == {"A": ("p1", False), "B": ("p2", True)}
    findings = Findings()
    compare_active_plans(findings, expected, {"A": [], "B": ["p2"]})
    assert findings.problems() == []
    compare_active_plans(findings, expected, {"A": ["p1"], "B": []})
    assert findings.relief == [
        "A: plan p1 ended in audit, accounts' active plans ['p1']",
        "B: plan p2 active in audit, accounts' active plans []",
    ]


def test_a_borrower_whose_offer_expired_asks_again_and_an_activated_plan_is_kept() -> None:
    # Seed 575039's soak: an offer expired while kills held the borrower up; the flow
    # failed instead of asking again as a borrower would.
    expired = {"plan_id": "p1", "state": "expired", "activated_on": None}
    assert _current_plan([expired]) == []
    fresh = {"plan_id": "p2", "state": "offered", "activated_on": None}
    assert _current_plan([fresh, expired]) == [fresh]
    broken = {"plan_id": "p0", "state": "broken", "activated_on": "2026-03-02"}
    assert _current_plan([expired, broken]) == [broken]
