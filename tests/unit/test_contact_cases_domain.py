"""The case file's promises and routing, the strategy table and the contact policy: pure."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from services.contact.bootstrap import bootstrap
from services.contact.domain.model import CaseFile, Payment
from services.contact.domain.policy import ContactPolicy
from services.contact.domain.strategy import DEFAULT_STRATEGY, Strategy, segment_of
from shared.catalogue import EventData, new_envelope
from shared.errors import Rejected
from shared.policy_values import PolicyError
from shared.settings import SettingsError
from tests.support import settings_for

D = date.fromisoformat


def fold(case: CaseFile, *events: EventData) -> CaseFile:
    for data in events:
        env = new_envelope(
            data, account_id=case.account_id, occurred_at=datetime.now(UTC), source="test"
        )
        case.apply(env)
    return case


def open_case(**routing: Any) -> CaseFile:
    case = CaseFile("A1")
    opened = case.on_overdue("B1", D("2026-03-11"))
    assert opened is not None
    fold(case, opened)
    routed = case.route(DEFAULT_STRATEGY, bucket="1-30", segment="standard", reason="opened")
    assert routed is not None
    return fold(case, routed)


def promise(case: CaseFile, amount: int = 300, due: str = "2026-03-15", **kw: Any) -> CaseFile:
    args: dict[str, Any] = {
        "amount": amount,
        "currency": "CNY",
        "made_on": D("2026-03-12"),
        "due_on": D(due),
        "today": D("2026-03-12"),
        "max_days": 14,
        "made_by": "agent-7",
    }
    made = case.make_promise(**{**args, **kw})
    return fold(case, made)


# -- making a promise -----------------------------------------------------------------------


def test_a_promise_needs_an_open_case() -> None:
    with pytest.raises(Rejected, match="no open collection case"):
        promise(CaseFile("A1"))


@pytest.mark.parametrize(
    ("due", "ok"),
    [("2026-03-11", False), ("2026-03-12", True), ("2026-03-26", True), ("2026-03-27", False)],
)
def test_a_promise_is_dated_from_today_to_the_horizon(due: str, ok: bool) -> None:
    if ok:
        assert promise(open_case(), due=due).open_promises()[0].due_on == D(due)
    else:
        with pytest.raises(Rejected, match="promise_date"):
            promise(open_case(), due=due)


def test_the_horizon_counts_from_the_day_the_promise_was_made() -> None:
    # Recorded on the 13th about a call on the 12th: 14 days from the 12th.
    with pytest.raises(Rejected, match="latest allowed is 2026-03-26"):
        promise(open_case(), due="2026-03-27", today=D("2026-03-13"))


def test_one_open_promise_at_a_time() -> None:
    case = promise(open_case())
    with pytest.raises(Rejected, match="still open"):
        promise(case, due="2026-03-20")


# -- keeping and breaking ---------------------------------------------------------------------


def pay(day: str, amount: int) -> Payment:
    return Payment(D(day), amount)


def test_only_payments_dated_from_the_promise_to_its_due_date_count() -> None:
    case = promise(open_case(), amount=300)
    before, after = pay("2026-03-11", 1000), pay("2026-03-16", 1000)
    assert case.promises_kept([before, after, pay("2026-03-12", 299)], D("2026-03-13")) == []
    [kept] = case.promises_kept(
        [before, pay("2026-03-12", 299), pay("2026-03-15", 1)], D("2026-03-15")
    )
    assert (kept.paid, kept.business_date) == (300, D("2026-03-15"))


def test_the_due_dates_close_breaks_nothing_the_next_close_breaks_a_short_promise() -> None:
    case = promise(open_case(), amount=300)
    paid = [pay("2026-03-14", 100)]
    assert case.promises_broken(paid, D("2026-03-15")) == []
    [broken] = case.promises_broken(paid, D("2026-03-16"))
    assert (broken.amount, broken.paid, broken.due_on) == (300, 100, D("2026-03-15"))
    fold(case, broken)
    assert case.broken_promise and case.open_promises() == []
    # A kept promise later ends the broken-promise segment.
    promise(case, due="2026-03-20", today=D("2026-03-16"), made_on=D("2026-03-16"))
    fold(case, *case.promises_kept([pay("2026-03-17", 300)], D("2026-03-17")))
    assert not case.broken_promise


def test_a_kept_promise_is_never_broken_afterwards() -> None:
    case = promise(open_case(), amount=300)
    fold(case, *case.promises_kept([pay("2026-03-13", 300)], D("2026-03-13")))
    assert case.promises_broken([], D("2026-03-20")) == []


# -- routing and escalation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bucket", "segment", "queue"),
    [
        ("current", "standard", "reminders"),
        ("1-30", "standard", "reminders"),
        ("31-60", "standard", "agents"),
        ("61-90", "standard", "senior"),
        ("a-bucket-of-another-product", "standard", "senior"),
        ("1-30", "broken_promise", "agents"),
        ("31-60", "broken_promise", "senior"),
        ("1-30", "dispute", "specialist"),
        ("91-120", "hardship", "specialist"),
        ("1-30", "lost_contact", "senior"),
    ],
)
def test_the_default_strategy(bucket: str, segment: str, queue: str) -> None:
    assert DEFAULT_STRATEGY.treatment(bucket, segment).queue == queue


def test_reminders_are_automated_channels_agents_call() -> None:
    assert DEFAULT_STRATEGY.treatment("1-30", "standard").channels == ("app_push", "sms", "email")
    assert DEFAULT_STRATEGY.treatment("31-60", "standard").channels[0] == "call"


def test_segments_most_delicate_first() -> None:
    every = {"disputed": True, "hardship": True, "lost_contact": True, "broken_promise": True}
    assert segment_of(**every) == "dispute"
    assert segment_of(**{**every, "disputed": False}) == "hardship"
    assert segment_of(**{**every, "disputed": False, "hardship": False}) == "lost_contact"
    none = dict.fromkeys(every, False)
    assert segment_of(**{**none, "broken_promise": True}) == "broken_promise"
    assert segment_of(**none) == "standard"


def test_routing_happens_only_when_the_queue_changes() -> None:
    case = open_case()
    assert case.queue == "reminders"
    assert case.route(DEFAULT_STRATEGY, bucket="current", segment="standard", reason="x") is None
    moved = case.route(DEFAULT_STRATEGY, bucket="31-60", segment="standard", reason="bucket 31-60")
    assert moved is not None and (moved.from_queue, moved.queue) == ("reminders", "agents")
    fold(case, case.assign("agent-7"))
    assert case.assigned_to == "agent-7"
    fold(case, moved)
    assert case.assigned_to is None  # the new queue's people pick it up


def test_escalation_names_both_tiers() -> None:
    case = open_case()
    up = case.escalate(DEFAULT_STRATEGY, bucket="31-60", segment="broken_promise", reason="r")
    assert up is not None and (up.from_tier, up.to_tier) == ("reminders", "senior")


# -- configuration ---------------------------------------------------------------------


def test_a_strategy_table_from_settings() -> None:
    table = Strategy.from_mapping(
        {
            "rows": [
                {"segment": "dispute", "queue": "legal", "channels": ["letter"]},
                {"bucket": "1-30", "queue": "bots", "channels": ["sms"]},
                {"bucket": "*", "segment": "*", "queue": "people", "channels": ["call"]},
            ],
            "tiers": ["bots", "people"],
        }
    )
    assert table.treatment("1-30", "dispute").queue == "legal"
    assert table.treatment("1-30", "standard").queue == "bots"
    assert table.treatment("61-90", "hardship").queue == "people"
    assert table.queues == ("legal", "bots", "people")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "strategy: must be a mapping"),
        ({"rows": []}, "strategy.rows: must be a non-empty list"),
        ({"row": []}, "strategy.row: unknown key"),
        (
            {"rows": [{"bucket": "1-30", "queue": "q", "channels": ["sms"]}], "tiers": []},
            "strategy.rows[0]: the last row must match every case",
        ),
        (
            {"rows": [{"queue": "q", "channels": ["fax"]}]},
            "strategy.rows[0].channels: unknown 'fax'",
        ),
        ({"rows": [{"queue": "q", "channels": []}]}, "strategy.rows[0].channels: must be"),
        ({"rows": [{"queue": "Big Q", "channels": ["sms"]}]}, "strategy.rows[0].queue"),
        (
            {"rows": [{"segment": "vip", "queue": "q", "channels": ["sms"]}]},
            "segment: unknown 'vip'",
        ),
        (
            {"rows": [{"queue": "q", "channels": ["sms"]}], "tiers": ["q", "nope"]},
            "strategy.tiers[1]: 'nope' is no queue",
        ),
    ],
)
def test_a_bad_strategy_names_the_key(raw: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Strategy.from_mapping(raw)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"promises": {"max_days": 0}}, "promises.max_days: must be between 1 and 366, got 0"),
        ({"promises": {"max_days": "14"}}, "promises.max_days: must be an integer"),
        ({"promise": {}}, "promise: unknown key"),
        ({"lost_contact": {"window": 3}}, "lost_contact.window: unknown key"),
        ({"skip_trace": {"provider": "http"}}, "skip_trace.url: required"),
        ({"skip_trace": {"provider": "ftp"}}, "skip_trace.provider: must be"),
        ({"skip_trace": {"url": "file:///etc"}}, "skip_trace.url: must be an http"),
        ({"queues": {"max_open_per_agent": 0}}, "queues.max_open_per_agent: must be between"),
    ],
)
def test_a_bad_contact_policy_names_the_key(raw: Any, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        ContactPolicy.from_mapping(raw)


def test_the_policy_file_configures_the_service_and_a_bad_one_stops_it(tmp_path: Path) -> None:
    good = tmp_path / "contact.json"
    good.write_text(json.dumps({"promises": {"max_days": 7}, "lost_contact": {"window_days": 3}}))
    runtime = bootstrap(settings_for("contact", tmp_path, policy_file=good))
    assert runtime.uow_class.policy.promises.max_days == 7
    assert runtime.uow_class.policy.lost_contact.window_days == 3
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"strategy": {"rows": [{"queue": "q", "channels": ["fax"]}]}}))
    with pytest.raises(SettingsError, match=r"strategy.rows\[0\].channels"):
        bootstrap(settings_for("contact", tmp_path, policy_file=bad))
