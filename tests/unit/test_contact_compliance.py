"""The contact-compliance engine: every rule at its boundaries, on explicit clocks."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from pydantic import ValidationError

from services.contact.domain.compliance import (
    CN_DEFAULT,
    US_DEFAULT,
    AgreedException,
    ContactLedger,
    Decision,
    check,
    decision_event,
    recorded_attempt,
)
from shared.catalogue import new_envelope
from shared.events import default_catalogue
from shared.events.contact import ContactAttemptChecked, ContactAttemptCheckedV1
from tests.unit.contact_compliance_kit import (
    NY,
    SH,
    UTC,
    attempt,
    ledger,
    local,
    made,
    state,
    utc,
)

EMPTY = ContactLedger()


def cn(when: datetime, lg: ContactLedger = EMPTY, tz: str = SH, **kw: object) -> Decision:
    channel = kw.pop("channel", "call")
    st_kw = kw.pop("st", {})
    assert isinstance(st_kw, dict)
    return check(attempt(when, channel, **kw), lg, state(tz, **st_kw), CN_DEFAULT)


def us(when: datetime, lg: ContactLedger = EMPTY, tz: str = NY, **kw: object) -> Decision:
    channel = kw.pop("channel", "call")
    st_kw = kw.pop("st", {})
    assert isinstance(st_kw, dict)
    return check(attempt(when, channel, **kw), lg, state(tz, **st_kw), US_DEFAULT)


# -- CN: quiet hours 22:00-08:00 local ------------------------------------------------------


@pytest.mark.parametrize("channel", ["call", "sms", "email", "app_push"])
@pytest.mark.parametrize(
    ("hh", "mm", "allowed"),
    [(21, 59, True), (22, 0, False), (23, 59, False), (0, 0, False), (7, 59, False),
     (8, 0, True), (12, 0, True)],
)  # fmt: skip
def test_cn_quiet_hours_boundaries(channel: str, hh: int, mm: int, allowed: bool) -> None:
    d = cn(local(SH, 2026, 3, 3, hh, mm), channel=channel)
    assert d.allowed is allowed
    assert d.rule_ids == (() if allowed else ("CN.quiet_hours",))


def test_cn_quiet_hours_are_the_borrowers_local_time_not_the_servers() -> None:
    instant = local(SH, 2026, 3, 3, 21, 30)  # 22:30 in Tokyo
    assert cn(instant, tz=SH).allowed
    blocked = cn(instant, tz="Asia/Tokyo")
    assert blocked.rule_ids == ("CN.quiet_hours",)
    assert "22:30" in blocked.explanation and "Asia/Tokyo" in blocked.explanation


def test_a_letter_has_no_quiet_hours() -> None:
    assert cn(local(SH, 2026, 3, 3, 23, 0), channel="letter").allowed


def test_an_allowed_decision_says_what_was_checked() -> None:
    d = cn(local(SH, 2026, 3, 3, 10, 0))
    assert d.allowed and d.exception_id is None
    assert d.rules_checked == (
        "CN.cease", "CN.dispute", "CN.third_party", "CN.opt_out", "CN.quiet_hours",
        "CN.inconvenient_time", "CN.3_calls_per_day",
    )  # fmt: skip
    assert d.explanation.startswith("Allowed under the CN rules; checked CN.cease")


# -- CN: 3 voice calls per debtor per local day ---------------------------------------------


def test_cn_third_call_allowed_fourth_blocked_across_debts_and_agencies() -> None:
    day = [
        made(local(SH, 2026, 3, 3, 9), debt="D1", agency="lender"),
        made(local(SH, 2026, 3, 3, 10), debt="D2", agency="agency-a", outcome="reached"),
    ]
    assert cn(local(SH, 2026, 3, 3, 11), ledger(*day)).allowed
    day.append(made(local(SH, 2026, 3, 3, 11), debt="D3", agency="agency-b"))
    d = cn(local(SH, 2026, 3, 3, 21, 59), ledger(*day), debt="D9")
    assert d.rule_ids == ("CN.3_calls_per_day",)
    assert "3 already made on 2026-03-03" in d.explanation
    # Messages are no voice calls: they neither count nor are limited.
    assert cn(local(SH, 2026, 3, 3, 21, 0), ledger(*day), channel="sms").allowed
    with_sms = ledger(*day[:2], made(local(SH, 2026, 3, 3, 11), channel="sms"))
    assert cn(local(SH, 2026, 3, 3, 12), with_sms).allowed
    # The next local day starts afresh.
    assert cn(local(SH, 2026, 3, 4, 8, 0), ledger(*day)).allowed


def test_cn_calls_at_2359_and_0001_count_for_different_local_days() -> None:
    # 23:59 and 00:01 Shanghai are 15:59Z and 16:01Z: one UTC day, two local days.
    # (Such late calls happen only with an agreed exception; the ledger records them.)
    late = made(local(SH, 2026, 3, 3, 23, 59))
    early = made(local(SH, 2026, 3, 4, 0, 1))
    assert late.at.astimezone(UTC).date() == early.at.astimezone(UTC).date()
    morning = [made(local(SH, 2026, 3, 4, 8, 30)), made(local(SH, 2026, 3, 4, 9))]
    assert cn(local(SH, 2026, 3, 4, 10), ledger(late, *morning)).allowed
    d = cn(local(SH, 2026, 3, 4, 10), ledger(early, *morning))
    assert d.rule_ids == ("CN.3_calls_per_day",)


# -- CN: listed contacts only when the debtor is lost, never told about the debt ------------

LOST = {"lost_contact": True, "listed_contacts": frozenset({"K1"})}


@pytest.mark.parametrize(
    ("st_kw", "contact", "discloses", "allowed"),
    [
        (LOST, "K1", False, True),
        (LOST, "K1", None, False),  # not declared
        (LOST, "K1", True, False),
        (LOST, "K2", False, False),  # not listed
        (LOST, None, False, False),
        ({"listed_contacts": frozenset({"K1"})}, "K1", False, False),  # debtor reachable
    ],
)
def test_cn_third_party(st_kw: dict, contact: str | None, discloses: bool | None,
                        allowed: bool) -> None:  # fmt: skip
    d = cn(
        local(SH, 2026, 3, 3, 10),
        party="third_party",
        contact_id=contact,
        discloses_debt=discloses,
        st=st_kw,
    )
    assert d.allowed is allowed
    assert d.rule_ids == (() if allowed else ("CN.third_party",))


def test_cn_third_party_reasons_are_all_named() -> None:
    d = cn(local(SH, 2026, 3, 3, 10), party="third_party", contact_id="X", discloses_debt=True)
    assert "listed" in d.explanation and "reachable" in d.explanation
    assert "told nothing" in d.explanation


def test_the_debtor_may_be_contacted_whatever_lost_contact_says() -> None:
    assert cn(local(SH, 2026, 3, 3, 10), st=LOST).allowed


# -- agreed exceptions: "call me back at 22:30 on 3 March" ----------------------------------

CALLBACK = AgreedException("X1", local(SH, 2026, 3, 3, 22, 30))


@pytest.mark.parametrize(
    ("when", "allowed"),
    [
        (local(SH, 2026, 3, 3, 22, 29), False),
        (local(SH, 2026, 3, 3, 22, 30), True),
        (local(SH, 2026, 3, 3, 22, 44), True),
        (local(SH, 2026, 3, 3, 22, 45), False),
        (local(SH, 2026, 3, 4, 22, 30), False),  # another day
        (local(SH, 2026, 3, 2, 22, 30), False),
    ],
)
def test_an_agreed_callback_opens_only_its_slot(when: datetime, allowed: bool) -> None:
    d = cn(when, st={"exceptions": (CALLBACK,)})
    assert d.allowed is allowed
    if allowed:
        assert d.exception_id == "X1"
        assert "Agreed exception X1 used to lift CN.quiet_hours" in d.explanation
    else:
        assert d.rule_ids == ("CN.quiet_hours",)


def test_an_agreed_callback_allows_one_contact_only() -> None:
    st_kw = {"exceptions": (CALLBACK,)}
    used = made(local(SH, 2026, 3, 3, 22, 31), exception_id="X1")
    assert cn(local(SH, 2026, 3, 3, 22, 40), ledger(used), st=st_kw).rule_ids == ("CN.quiet_hours",)


def test_an_agreed_callback_is_for_its_channel_and_debt_only() -> None:
    on_d1 = AgreedException("X2", local(SH, 2026, 3, 3, 22, 30), debt_id="D1")
    at = local(SH, 2026, 3, 3, 22, 35)
    assert not cn(at, channel="sms", st={"exceptions": (CALLBACK,)}).allowed
    assert not cn(at, debt="D2", st={"exceptions": (on_d1,)}).allowed
    assert cn(at, debt="D1", st={"exceptions": (on_d1,)}).allowed


def test_an_exception_in_a_slot_not_closed_is_not_used() -> None:
    noon = AgreedException("X3", local(SH, 2026, 3, 3, 12, 0))
    d = cn(local(SH, 2026, 3, 3, 12, 5), st={"exceptions": (noon,)})
    assert d.allowed and d.exception_id is None


def test_an_exception_lifts_the_closed_window_but_not_the_daily_call_limit() -> None:
    three = ledger(*(made(local(SH, 2026, 3, 3, h)) for h in (9, 10, 11)))
    d = cn(local(SH, 2026, 3, 3, 22, 30), three, st={"exceptions": (CALLBACK,)})
    assert d.rule_ids == ("CN.quiet_hours", "CN.3_calls_per_day")
    assert d.exception_id is None


# -- US: inconvenient times, before 08:00 and from 21:00 local ------------------------------


@pytest.mark.parametrize("channel", ["call", "sms", "email"])
@pytest.mark.parametrize(
    ("hh", "mm", "allowed"),
    [(7, 59, False), (8, 0, True), (20, 59, True), (21, 0, False), (23, 0, False),
     (2, 0, False)],
)  # fmt: skip
def test_us_quiet_hours_boundaries(channel: str, hh: int, mm: int, allowed: bool) -> None:
    d = us(local(NY, 2026, 6, 10, hh, mm), channel=channel)
    assert d.allowed is allowed
    assert d.rule_ids == (() if allowed else ("US.quiet_hours",))


# Spring forward: 2026-03-08 02:00 EST -> 03:00 EDT. Fall back: 2026-11-01 02:00 EDT -> 01:00.
@pytest.mark.parametrize(
    ("instant", "allowed"),
    [
        (utc(2026, 3, 7, 12, 30), False),  # 07:30 EST the day before
        (utc(2026, 3, 8, 11, 59), False),  # 07:59 EDT
        (utc(2026, 3, 8, 12, 0), True),  # 08:00 EDT (an hour earlier in UTC than yesterday)
        (utc(2026, 3, 8, 7, 30), False),  # 03:30 EDT, just after the missing hour
        (utc(2026, 3, 9, 0, 59), True),  # 20:59 EDT
        (utc(2026, 3, 9, 1, 0), False),  # 21:00 EDT
        (utc(2026, 11, 1, 12, 59), False),  # 07:59 EST
        (utc(2026, 11, 1, 13, 0), True),  # 08:00 EST
        (utc(2026, 11, 1, 5, 30), False),  # 01:30 EDT, first pass
        (utc(2026, 11, 1, 6, 30), False),  # 01:30 EST, second pass
        (utc(2026, 11, 2, 1, 59), True),  # 20:59 EST
        (utc(2026, 11, 2, 2, 0), False),  # 21:00 EST
    ],
)
def test_us_quiet_hours_on_dst_change_days(instant: datetime, allowed: bool) -> None:
    d = us(instant)
    assert d.allowed is allowed, d.explanation


# -- US: more than 7 calls about a debt within 7 consecutive days ---------------------------


def seven_calls() -> list:
    # Jun 1 (x1), Jun 3 (x3), Jun 5 (x3), all unanswered.
    return [
        made(local(NY, 2026, 6, 1, 9)),
        *(made(local(NY, 2026, 6, 3, h)) for h in (9, 12, 15)),
        *(made(local(NY, 2026, 6, 5, h)) for h in (9, 12, 15)),
    ]


def test_us_seventh_call_allowed_eighth_blocked() -> None:
    calls = seven_calls()
    assert us(local(NY, 2026, 6, 7, 10), ledger(*calls[:6])).allowed
    d = us(local(NY, 2026, 6, 7, 20, 59), ledger(*calls))
    assert d.rule_ids == ("US.7_in_7",)
    assert "7 already made from 2026-06-01 to 2026-06-07" in d.explanation


def test_us_eighth_call_allowed_once_the_first_leaves_the_window() -> None:
    assert us(local(NY, 2026, 6, 8, 8, 0), ledger(*seven_calls())).allowed


def test_us_7_in_7_is_per_debt_and_counts_calls_only() -> None:
    calls = seven_calls()
    assert us(local(NY, 2026, 6, 7, 10), ledger(*calls), debt="D2").allowed
    assert us(local(NY, 2026, 6, 7, 10), ledger(*calls), channel="sms").allowed
    texts = [made(local(NY, 2026, 6, 2, h), channel="sms") for h in (9, 10, 11, 12)]
    assert us(local(NY, 2026, 6, 7, 10), ledger(*calls[:6], *texts)).allowed


def test_us_7_in_7_counts_local_days_across_spring_forward() -> None:
    # Seven calls on Mar 2 (EST); the window Mar 2..8 spans the change to EDT.
    calls = [made(local(NY, 2026, 3, 2, h)) for h in range(9, 16)]
    assert us(utc(2026, 3, 9, 0, 59), ledger(*calls)).rule_ids == ("US.7_in_7",)  # 20:59 EDT
    assert us(utc(2026, 3, 9, 12, 0), ledger(*calls)).allowed  # Mar 9 08:00 EDT


def test_us_7_in_7_counts_local_days_across_fall_back() -> None:
    calls = [made(local(NY, 2026, 10, 26, h)) for h in range(9, 16)]
    assert us(utc(2026, 11, 2, 1, 59), ledger(*calls)).rule_ids == ("US.7_in_7",)  # Nov 1 20:59
    assert us(utc(2026, 11, 2, 13, 0), ledger(*calls)).allowed  # Nov 2 08:00 EST


# -- US: no call within 7 days after a telephone conversation -------------------------------


def test_us_day_7_after_a_conversation_blocked_day_8_allowed() -> None:
    talk = made(local(NY, 2026, 6, 1, 10), outcome="reached")  # day 1
    d = us(local(NY, 2026, 6, 7, 20, 59), ledger(talk))  # day 7
    assert d.rule_ids == ("US.7_days_after_conversation",)
    assert "calls may resume on 2026-06-08" in d.explanation
    assert us(local(NY, 2026, 6, 8, 8, 0), ledger(talk)).allowed  # day 8
    # The same day, after the conversation, is within the 7 days.
    assert not us(local(NY, 2026, 6, 1, 11), ledger(talk)).allowed


@pytest.mark.parametrize(
    ("outcome", "blocks"),
    [("reached", True), ("promise_to_pay", True), ("refused", True),
     ("callback_requested", True), ("dispute", True), ("no_answer", False),
     ("wrong_number", False)],
)  # fmt: skip
def test_us_which_outcomes_are_conversations(outcome: str, blocks: bool) -> None:
    lg = ledger(made(local(NY, 2026, 6, 1, 10), outcome=outcome))
    assert us(local(NY, 2026, 6, 3, 10), lg).allowed is not blocks


def test_us_after_conversation_is_per_debt_and_calls_only() -> None:
    lg = ledger(made(local(NY, 2026, 6, 1, 10), outcome="reached"))
    assert us(local(NY, 2026, 6, 2, 10), lg, debt="D2").allowed
    assert us(local(NY, 2026, 6, 2, 10), lg, channel="email").allowed
    # A "reached" e-mail is no telephone conversation.
    mail = ledger(made(local(NY, 2026, 6, 1, 10), channel="email", outcome="reached"))
    assert us(local(NY, 2026, 6, 2, 10), mail).allowed


def test_us_after_conversation_across_spring_forward_uses_local_days() -> None:
    # Mar 1 23:30 EST (a callback the borrower asked for) = Mar 2 04:30Z.
    talk = made(local(NY, 2026, 3, 1, 23, 30), outcome="reached")
    assert not us(local(NY, 2026, 3, 7, 20, 0), ledger(talk)).allowed  # day 7
    # Mar 8 08:00 EDT is day 8 locally, though only 6 days 7.5 hours later.
    day8 = utc(2026, 3, 8, 12, 0)
    assert day8 - talk.at < timedelta(days=7)
    assert us(day8, ledger(talk)).allowed


def test_us_after_conversation_across_fall_back_uses_local_days() -> None:
    talk = made(local(NY, 2026, 10, 26, 8, 0), outcome="reached")
    assert not us(utc(2026, 11, 2, 1, 59), ledger(talk)).allowed  # Nov 1 20:59 EST, day 7
    day8 = utc(2026, 11, 2, 13, 0)  # Nov 2 08:00 EST
    assert day8 - talk.at > timedelta(days=7)
    assert us(day8, ledger(talk)).allowed


# -- CN: cease, dispute, opt-out ------------------------------------------------------------


def test_cn_cease_stops_collection_contact_but_not_statutory_notices() -> None:
    when = local(SH, 2026, 6, 10, 10)
    st_kw = {"cease_requested": True}
    for channel in ("call", "sms", "email", "letter", "app_push"):
        assert cn(when, channel=channel, st=st_kw).rule_ids == ("CN.cease",)
    for purpose in ("collection", "termination_notice", "remedy_notice", "verification"):
        assert cn(when, channel="letter", purpose=purpose, st=st_kw).rule_ids == ("CN.cease",)
    assert cn(when, channel="letter", purpose="statutory_notice", st=st_kw).allowed
    assert cn(when, channel="sms", purpose="statutory_notice", st=st_kw).allowed
    # The rule names the exception the law keeps.
    assert "only statutory notice may still be sent" in cn(when, st=st_kw).explanation
    assert cn(when).allowed  # no cease, no block


def test_cn_a_statutory_notice_still_keeps_the_quiet_hours() -> None:
    st_kw = {"cease_requested": True}
    d = cn(local(SH, 2026, 6, 10, 22, 0), channel="sms", purpose="statutory_notice", st=st_kw)
    assert d.rule_ids == ("CN.quiet_hours",)


def test_cn_an_open_dispute_pauses_contact_about_that_debt_only() -> None:
    when = local(SH, 2026, 6, 10, 10)
    st_kw = {"disputed_debts": frozenset({"D1"})}
    d = cn(when, st=st_kw)
    assert d.rule_ids == ("CN.dispute",) and "until the dispute is answered" in d.explanation
    assert cn(when, channel="sms", st=st_kw).rule_ids == ("CN.dispute",)
    assert cn(when, debt="D2", st=st_kw).allowed
    assert cn(when, channel="letter", purpose="verification", st=st_kw).allowed
    assert cn(when, channel="letter", purpose="statutory_notice", st=st_kw).allowed
    assert cn(when, purpose="termination_notice", st=st_kw).rule_ids == ("CN.dispute",)


def test_cn_an_opted_out_channel_is_blocked_and_only_that_one() -> None:
    when = local(SH, 2026, 6, 10, 10)
    st_kw = {"opted_out_channels": frozenset({"sms"})}
    d = cn(when, channel="sms", st=st_kw)
    assert d.rule_ids == ("CN.opt_out",) and "opted out of sms" in d.explanation
    assert cn(when, channel="sms", purpose="statutory_notice", st=st_kw).rule_ids == ("CN.opt_out",)
    for channel in ("call", "email", "app_push", "letter"):
        assert cn(when, channel=channel, st=st_kw).allowed
    # A CN collection message needs no opt-out line of its own (unlike Regulation F).
    assert cn(when, channel="sms", carries_opt_out=False).allowed


def test_cn_no_agreed_callback_lifts_a_cease_dispute_or_opt_out() -> None:
    cb = AgreedException("X9", local(SH, 2026, 6, 10, 22, 30))
    at = local(SH, 2026, 6, 10, 22, 30)
    assert cn(at, st={"exceptions": (cb,)}).allowed
    assert not cn(at, st={"exceptions": (cb,), "cease_requested": True}).allowed
    assert not cn(at, st={"exceptions": (cb,), "disputed_debts": frozenset({"D1"})}).allowed
    assert not cn(at, st={"exceptions": (cb,), "opted_out_channels": frozenset({"call"})}).allowed


# -- US: cease, dispute, opt-out -----------------------------------------------------------


def test_us_cease_stops_all_contact_but_the_allowed_notices() -> None:
    when = local(NY, 2026, 6, 10, 10)
    st_kw = {"cease_requested": True}
    for channel in ("call", "sms", "email", "letter", "app_push"):
        assert us(when, channel=channel, st=st_kw).rule_ids == ("US.cease",)
    assert us(when, channel="letter", purpose="termination_notice", st=st_kw).allowed
    assert us(when, channel="email", purpose="remedy_notice", st=st_kw).allowed
    assert "asked us to stop" in us(when, st=st_kw).explanation


def test_us_an_open_dispute_pauses_collection_of_that_debt() -> None:
    when = local(NY, 2026, 6, 10, 10)
    st_kw = {"disputed_debts": frozenset({"D1"})}
    assert us(when, st=st_kw).rule_ids == ("US.dispute",)
    assert us(when, debt="D2", st=st_kw).allowed
    assert us(when, channel="letter", purpose="verification", st=st_kw).allowed


def test_us_sms_and_email_must_carry_an_opt_out() -> None:
    when = local(NY, 2026, 6, 10, 10)
    for channel in ("sms", "email"):
        assert us(when, channel=channel, carries_opt_out=False).rule_ids == ("US.opt_out",)
        assert us(when, channel=channel, carries_opt_out=True).allowed
    assert us(when, channel="call").allowed  # calls need no opt-out text


def test_us_an_opted_out_channel_is_blocked() -> None:
    when = local(NY, 2026, 6, 10, 10)
    st_kw = {"opted_out_channels": frozenset({"email"})}
    d = us(when, channel="email", st=st_kw)
    assert d.rule_ids == ("US.opt_out",) and "opted out of email" in d.explanation
    assert us(when, channel="sms", st=st_kw).allowed


def test_us_third_party_only_for_location_without_disclosure() -> None:
    when = local(NY, 2026, 6, 10, 10)
    ok = {"party": "third_party", "contact_id": "K1", "discloses_debt": False}
    assert us(when, st=LOST, **ok).allowed
    assert us(when, st={"listed_contacts": frozenset({"K1"})}, **ok).rule_ids == ("US.third_party",)


def test_us_a_blocked_decision_lists_every_rule_broken() -> None:
    talk = made(local(NY, 2026, 6, 1, 10), outcome="reached")
    st_kw = {"cease_requested": True, "disputed_debts": frozenset({"D1"})}
    d = us(local(NY, 2026, 6, 2, 22, 0), ledger(talk), st=st_kw)
    assert d.rule_ids == (
        "US.cease",
        "US.dispute",
        "US.quiet_hours",
        "US.7_days_after_conversation",
    )
    assert d.explanation.count(".") >= 4


def test_us_an_agreed_callback_lifts_the_window_and_the_call_frequency_limits() -> None:
    talk = made(local(NY, 2026, 6, 1, 10), outcome="callback_requested")
    cb = AgreedException("X9", local(NY, 2026, 6, 1, 21, 30))
    d = us(local(NY, 2026, 6, 1, 21, 30), ledger(talk), st={"exceptions": (cb,)})
    assert d.allowed and d.exception_id == "X9"
    assert d.lifted[0].rule_id == "US.quiet_hours"
    # ...but never a cease request.
    st_kw = {"exceptions": (cb,), "cease_requested": True}
    assert not us(local(NY, 2026, 6, 1, 21, 30), ledger(talk), st=st_kw).allowed


# -- events ---------------------------------------------------------------------------------


def test_decisions_become_valid_contact_attempt_checked_events() -> None:
    catalogue = default_catalogue()
    blocked = cn(local(SH, 2026, 3, 3, 22, 0))
    allowed = cn(local(SH, 2026, 3, 3, 22, 30), st={"exceptions": (CALLBACK,)})
    for d, decision in ((blocked, "blocked"), (allowed, "allowed")):
        data = decision_event(d)
        env = new_envelope(data, account_id="A1", occurred_at=utc(2026, 3, 3, 14), source="contact")
        parsed = catalogue.parse(catalogue.validate(env))
        assert isinstance(parsed, ContactAttemptChecked)
        assert parsed.decision == decision
        assert parsed.explanation == d.explanation
    assert decision_event(blocked).rule_ids == ["CN.quiet_hours"]
    assert decision_event(allowed).exception_id == "X1"


def test_a_v1_check_upcasts_to_v2_and_only_v2_knows_statutory_notices() -> None:
    catalogue = default_catalogue()
    data = decision_event(cn(local(SH, 2026, 3, 3, 22, 0))).model_dump(mode="json")
    env = new_envelope(
        ContactAttemptCheckedV1.model_validate(data),
        account_id="A1",
        occurred_at=utc(2026, 3, 3, 14),
        source="contact",
    )
    assert env.schema_version == 1
    up = catalogue.validate(env)
    assert up.schema_version == 2 and up.data == data
    statutory = {**data, "purpose": "statutory_notice"}
    with pytest.raises(ValidationError, match="purpose"):
        ContactAttemptCheckedV1.model_validate(statutory)
    ok = env.model_copy(update={"data": statutory, "schema_version": 2})
    assert catalogue.validate(ok).data["purpose"] == "statutory_notice"


@pytest.mark.parametrize(
    "change",
    [{"decision": "blocked", "rule_ids": []}, {"decision": "allowed", "rule_ids": ["CN.x"]},
     {"decision": "blocked", "rule_ids": ["CN.x"], "exception_id": "X1"},
     {"planned_at": "2026-03-03T22:00:00"}],
)  # fmt: skip
def test_contact_attempt_checked_refuses_inconsistent_decisions(change: dict) -> None:
    data = decision_event(cn(local(SH, 2026, 3, 3, 22, 0))).model_dump(mode="json")
    with pytest.raises(ValueError):
        ContactAttemptChecked.model_validate({**data, **change})


def test_the_ledger_is_built_from_recorded_attempt_events() -> None:
    first = made(local(SH, 2026, 3, 3, 9), agency="agency-a", exception_id=None)
    second = made(local(SH, 2026, 3, 3, 22, 31), outcome="reached", exception_id="X1")
    envs = [
        new_envelope(
            recorded_attempt(a, duration_seconds=42, agent="ag-7"),
            account_id="A1",
            occurred_at=a.at,
            source="contact",
        )
        for a in (first, second)
    ]
    lg = ContactLedger.from_events(envs)
    assert lg.attempts == (first, second)
    assert lg.used_exceptions() == frozenset({"X1"})
    assert lg.record(first) is lg  # an attempt id counts once
    assert lg.for_debt("D1") == (first, second) and lg.for_debt("D2") == ()


def test_naive_datetimes_and_unknown_zones_are_refused() -> None:
    with pytest.raises(ValueError, match="planned_at"):
        attempt(datetime(2026, 3, 3, 10))
    with pytest.raises(ValueError, match="at: must be timezone-aware"):
        made(datetime(2026, 3, 3, 10))
    with pytest.raises(ValueError, match="time_zone"):
        state("Mars/Olympus_Mons")


# -- inconvenient times the borrower stated ("not at work, 09:00-18:00") --------------------

WORK = {"inconvenient_hours": ((time(9), time(18)),)}
NIGHT_SHIFT = {"inconvenient_hours": ((time(20), time(2)),)}  # spans midnight


@pytest.mark.parametrize(
    ("hh", "mm", "allowed"), [(8, 59, True), (9, 0, False), (17, 59, False), (18, 0, True)]
)
def test_stated_inconvenient_hours_block_in_either_pack(hh: int, mm: int, allowed: bool) -> None:
    d = cn(local(SH, 2026, 3, 3, hh, mm), st=WORK)
    assert d.rule_ids == (() if allowed else ("CN.inconvenient_time",))
    d = us(local(NY, 2026, 3, 3, hh, mm), st=WORK)
    assert d.rule_ids == (() if allowed else ("US.inconvenient_time",))
    if not allowed:
        assert "said 09:00 to 18:00 is an inconvenient time" in d.explanation


def test_an_inconvenient_window_may_span_midnight_and_letters_are_not_times() -> None:
    assert cn(local(SH, 2026, 3, 3, 20, 0), st=NIGHT_SHIFT).rule_ids == ("CN.inconvenient_time",)
    assert cn(local(SH, 2026, 3, 3, 19, 59), st=NIGHT_SHIFT).allowed
    assert cn(local(SH, 2026, 3, 3, 20, 30), channel="letter", st=NIGHT_SHIFT).allowed


def test_a_callback_the_borrower_asked_for_lifts_their_own_inconvenient_time() -> None:
    noon = AgreedException("X9", local(SH, 2026, 3, 3, 12, 0))
    d = cn(local(SH, 2026, 3, 3, 12, 5), st={**WORK, "exceptions": (noon,)})
    assert d.allowed and d.exception_id == "X9"


def test_a_window_stored_with_an_offset_is_read_as_its_wall_clock_hours() -> None:
    # The API once accepted "09:00:00Z"; such events are history and must not break checks.
    aware = {"inconvenient_hours": ((time(9, tzinfo=UTC), time(18, tzinfo=UTC)),)}
    assert state(SH, **aware).inconvenient_hours == ((time(9), time(18)),)
    assert cn(local(SH, 2026, 3, 3, 9, 0), st=aware).rule_ids == ("CN.inconvenient_time",)
    assert cn(local(SH, 2026, 3, 3, 18, 0), st=aware).allowed
    assert us(local(NY, 2026, 3, 3, 8, 59), st=aware).allowed
