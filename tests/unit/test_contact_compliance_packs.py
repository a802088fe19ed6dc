"""Rule packs: the notes' defaults, settings validated with the key named, rules off by null."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest

from services.contact.domain.compliance import (
    CN_DEFAULT,
    DEFAULT_PACKS,
    US_DEFAULT,
    ContactLedger,
    RulePack,
    RulePackError,
    RulePacks,
    check,
)
from tests.unit.contact_compliance_kit import NY, SH, attempt, local, made, state

SAMPLE: dict[str, Any] = {
    "CN": {
        "quiet_hours": {"start": "21:30", "end": "08:30"},
        "calls_per_day": {"max_calls": 2},
        "exception_slot_minutes": 10,
    },
    "US": {
        "quiet_hours": {"start": "21:00", "end": "08:00", "channels": ["call", "sms", "email"]},
        "calls_in_window": {"max_calls": 7, "days": 7},
        "after_conversation": {"days": 7, "outcomes": ["reached", "promise_to_pay"]},
        "opt_out": {"required_on": ["sms", "email"]},
        "dispute": None,
        "exception_overrides": ["quiet_hours"],
    },
}


def test_the_defaults_are_the_notes() -> None:
    assert CN_DEFAULT.enabled() == (
        "cease", "dispute", "third_party", "opt_out", "quiet_hours", "inconvenient_time",
        "3_calls_per_day",
    )  # fmt: skip
    assert CN_DEFAULT.quiet_hours is not None and CN_DEFAULT.calls_per_day is not None
    assert (CN_DEFAULT.quiet_hours.start, CN_DEFAULT.quiet_hours.end) == (time(22), time(8))
    assert CN_DEFAULT.calls_per_day.max_calls == 3
    assert US_DEFAULT.enabled() == (
        "cease", "dispute", "third_party", "opt_out", "quiet_hours", "inconvenient_time",
        "7_in_7", "7_days_after_conversation",
    )  # fmt: skip
    assert US_DEFAULT.quiet_hours is not None and US_DEFAULT.calls_in_window is not None
    assert (US_DEFAULT.quiet_hours.start, US_DEFAULT.quiet_hours.end) == (time(21), time(8))
    assert (US_DEFAULT.calls_in_window.max_calls, US_DEFAULT.calls_in_window.days) == (7, 7)
    assert DEFAULT_PACKS.for_jurisdiction("US") is US_DEFAULT
    assert RulePacks.from_mapping({}) == DEFAULT_PACKS


def test_settings_change_windows_and_counts() -> None:
    packs = RulePacks.from_mapping(SAMPLE)
    cn, us = packs.for_jurisdiction("CN"), packs.for_jurisdiction("US")
    assert check(attempt(local(SH, 2026, 3, 3, 21, 29)), ContactLedger(), state(SH), cn).allowed
    d = check(attempt(local(SH, 2026, 3, 3, 21, 30)), ContactLedger(), state(SH), cn)
    assert d.rule_ids == ("CN.quiet_hours",) and "21:30 and 08:30" in d.explanation
    two = ContactLedger((made(local(SH, 2026, 3, 3, 9)), made(local(SH, 2026, 3, 3, 10))))
    assert check(attempt(local(SH, 2026, 3, 3, 11)), two, state(SH), cn).rule_ids == (
        "CN.3_calls_per_day",
    )
    assert cn.exception_slot_minutes == 10
    assert "dispute" not in us.enabled()
    disputed = state(NY, disputed_debts=frozenset({"D1"}))
    assert check(attempt(local(NY, 2026, 6, 1, 10)), ContactLedger(), disputed, us).allowed
    # Only the configured outcomes are conversations now.
    talk = ContactLedger((made(local(NY, 2026, 6, 1, 10), outcome="refused"),))
    assert check(attempt(local(NY, 2026, 6, 2, 10)), talk, state(NY), us).allowed


def test_a_rule_switched_off_can_be_switched_on_again_with_defaults() -> None:
    off = RulePack.from_mapping({"calls_per_day": None}, CN_DEFAULT)
    assert "3_calls_per_day" not in off.enabled()
    on = RulePack.from_mapping({"calls_per_day": {}}, off)
    assert on.calls_per_day is not None and on.calls_per_day.max_calls == 3


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({"XX": {}}, "XX: unknown jurisdiction"),
        ({"CN": []}, "CN.must be a mapping"),
        ({"CN": {"quiet": {}}}, "CN.quiet: unknown rule-pack key"),
        ({"CN": {"quiet_hours": {"start": "10pm"}}}, "CN.quiet_hours.start: must be a local time"),
        ({"CN": {"quiet_hours": {"start": "25:00"}}}, "CN.quiet_hours.start: must be a local"),
        ({"CN": {"quiet_hours": {"start": "08:00"}}}, "CN.quiet_hours.end: must differ"),
        ({"CN": {"quiet_hours": {"channels": ["fax"]}}}, "CN.quiet_hours.channels: unknown 'fax'"),
        ({"CN": {"quiet_hours": {"from": "22:00"}}}, "CN.quiet_hours.from: unknown key"),
        ({"CN": {"quiet_hours": "22-08"}}, "CN.quiet_hours: must be a mapping or null"),
        ({"CN": {"calls_per_day": {"max_calls": "3"}}}, "CN.calls_per_day.max_calls: must be an"),
        ({"CN": {"calls_per_day": {"max_calls": True}}}, "CN.calls_per_day.max_calls: must be an"),
        ({"CN": {"calls_per_day": {"max_calls": -1}}}, "CN.calls_per_day.max_calls: must not"),
        ({"US": {"calls_in_window": {"days": 0}}}, "US.calls_in_window.days: must be between"),
        ({"US": {"after_conversation": {"days": 0}}}, "US.after_conversation.days: must be"),
        ({"US": {"after_conversation": {"outcomes": ["chat"]}}},
         "US.after_conversation.outcomes: unknown 'chat'"),
        ({"US": {"cease": {"allowed_purposes": "all"}}}, "US.cease.allowed_purposes: must be a"),
        ({"US": {"third_party": {"requires_lost_contact": 1}}},
         "US.third_party.requires_lost_contact: must be true or false"),
        ({"US": {"exception_slot_minutes": 0}}, "US.exception_slot_minutes: must be between"),
        ({"US": {"exception_overrides": ["x"]}}, "US.exception_overrides: unknown 'x'"),
        ({"US": {"exception_overrides": ["quiet_hours", "cease"]}},
         "US.exception_overrides: unknown 'cease'"),
    ],
)  # fmt: skip
def test_bad_settings_name_the_key(raw: dict[str, Any], key: str) -> None:
    with pytest.raises(RulePackError) as info:
        RulePacks.from_mapping(raw)
    assert str(info.value).startswith(key), str(info.value)


def test_an_unknown_jurisdiction_has_no_pack_rather_than_no_rules() -> None:
    with pytest.raises(RulePackError, match="no rule pack for 'DE'"):
        DEFAULT_PACKS.for_jurisdiction("DE")


def test_no_exception_may_ever_lift_a_cease_request_dispute_opt_out_or_third_party_rule() -> None:
    for name in ("cease", "dispute", "opt_out", "third_party"):
        with pytest.raises(RulePackError, match="exception_overrides"):
            RulePack(jurisdiction="US", exception_overrides=frozenset({name}))
