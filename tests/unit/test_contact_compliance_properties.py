"""Property: no sequence of attempts ever yields an allowed contact that breaks a rule.

The oracle below is written independently of the engine, by brute force and with the
notes' numbers hard-coded: minutes since local midnight for quiet hours, every window of
seven local days enumerated as a set of dates, every earlier attempt scanned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from services.contact.domain.compliance import (
    DEFAULT_PACKS,
    AgreedException,
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    RecordedAttempt,
    check,
)

UTC = ZoneInfo("UTC")
FAST = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])

ZONES = [
    "America/New_York",
    "Asia/Shanghai",
    "Australia/Lord_Howe",  # half-hour DST
    "America/St_Johns",  # half-hour offset
    "Europe/London",
    "Pacific/Apia",  # skipped a whole day in 2011; UTC+13 today
]
ANCHORS = [  # a few days before DST changes, and a quiet summer week
    datetime(2026, 3, 5, 0, 0, tzinfo=UTC),
    datetime(2026, 10, 22, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 26, 0, 0, tzinfo=UTC),
    datetime(2026, 4, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 6, 1, 0, 0, tzinfo=UTC),
]

# -- the oracle ------------------------------------------------------------------------------

QUIET = {"CN": (22 * 60, 8 * 60), "US": (21 * 60, 8 * 60)}
CONVERSATIONS = {"reached", "refused", "promise_to_pay", "dispute", "callback_requested"}
LIFTABLE = {
    "CN": {"quiet_hours"},
    "US": {"quiet_hours", "7_in_7", "7_days_after_conversation"},
}
SLOT = timedelta(minutes=15)


@dataclass(frozen=True)
class World:
    jurisdiction: str
    state: ConsumerState

    def day(self, t: datetime) -> date:
        return t.astimezone(ZoneInfo(self.state.time_zone)).date()


def broken(w: World, a: ContactAttempt, prior: list[RecordedAttempt]) -> set[str]:
    """Every rule `a` breaks given the attempts made before it (names without prefix)."""
    s, out = w.state, set()
    local = a.planned_at.astimezone(ZoneInfo(s.time_zone))
    minute = local.hour * 60 + local.minute
    start, end = QUIET[w.jurisdiction]
    if a.channel != "letter" and (minute >= start or minute < end):
        out.add("quiet_hours")
    if a.party == "third_party" and not (
        s.lost_contact and a.contact_id in s.listed_contacts and a.discloses_debt is False
    ):
        out.add("third_party")
    today = w.day(a.planned_at)
    calls = [p for p in prior if p.channel == "call"]
    if w.jurisdiction == "CN" and a.channel == "call":
        if len([p for p in calls if w.day(p.at) == today]) >= 3:
            out.add("3_calls_per_day")
    # What still may go out after a cease request, or about a disputed debt.
    after_cease, in_dispute = {
        "CN": ({"statutory_notice"}, {"verification", "statutory_notice"}),
        "US": ({"termination_notice", "remedy_notice"}, {"verification", "termination_notice"}),
    }[w.jurisdiction]
    if s.cease_requested and a.purpose not in after_cease:
        out.add("cease")
    if a.debt_id in s.disputed_debts and a.purpose not in in_dispute:
        out.add("dispute")
    if a.channel in s.opted_out_channels:
        out.add("opt_out")
    if w.jurisdiction == "US":
        if a.channel in {"sms", "email"} and not a.carries_opt_out:
            out.add("opt_out")
        if a.channel == "call":
            same = [p for p in calls if p.debt_id == a.debt_id]
            for first_back in range(7):
                window = {today - timedelta(days=first_back - i) for i in range(7)}
                if len([p for p in same if w.day(p.at) in window]) + 1 > 7:
                    out.add("7_in_7")
            for p in same:
                talked = w.day(p.at)
                if p.outcome in CONVERSATIONS and talked <= today < talked + timedelta(days=7):
                    out.add("7_days_after_conversation")
    return out


def usable_exception(w: World, a: ContactAttempt, prior: list[RecordedAttempt]) -> str | None:
    used = {p.exception_id for p in prior}
    for e in w.state.exceptions:
        if (
            e.exception_id not in used
            and e.channel == a.channel
            and (e.debt_id is None or e.debt_id == a.debt_id)
            and e.slot_start <= a.planned_at < e.slot_start + SLOT
        ):
            return e.exception_id
    return None


# -- random worlds and attempts ----------------------------------------------------------------

step_st = st.tuples(
    st.one_of(  # minutes since the previous attempt: mostly the same day, sometimes days
        st.integers(0, 90), st.integers(0, 90), st.integers(0, 720), st.integers(0, 60 * 40)
    ),
    st.sampled_from(["call"] * 5 + ["sms", "email", "app_push", "letter"]),
    st.sampled_from(["D1", "D1", "D2"]),
    st.sampled_from(["debtor"] * 6 + ["third_party"]),
    st.sampled_from(["K1", "K2", None]),
    st.sampled_from([False, None, True]),  # discloses_debt
    st.booleans(),  # carries_opt_out
    st.sampled_from(
        ["collection"] * 6 + ["termination_notice", "verification", "statutory_notice"]
    ),
    st.sampled_from(["no_answer"] * 12 + ["reached", "wrong_number", "promise_to_pay"]),
    st.one_of(st.none(), st.integers(0, 3)),  # jump to an exception's slot
    st.integers(0, 20),  # minutes into the slot
)
exception_st = st.tuples(
    st.integers(0, 14 * 24 * 60 // 15).map(lambda q: q * 15),
    st.sampled_from(["call", "call", "sms"]),
    st.sampled_from([None, "D1", "D2"]),
)


@st.composite
def worlds(draw: st.DrawFn) -> tuple[World, datetime, int]:
    anchor = draw(st.sampled_from(ANCHORS))
    exceptions = tuple(
        AgreedException(f"X{i}", anchor + timedelta(minutes=m), channel=c, debt_id=d)
        for i, (m, c, d) in enumerate(draw(st.lists(exception_st, max_size=4)))
    )
    state = ConsumerState(
        time_zone=draw(st.sampled_from(ZONES)),
        cease_requested=draw(st.sampled_from([False] * 5 + [True])),
        disputed_debts=frozenset(draw(st.sampled_from([(), (), (), ("D1",), ("D2",)]))),
        opted_out_channels=frozenset(draw(st.sets(st.sampled_from(["sms", "email"]), max_size=1))),
        lost_contact=draw(st.booleans()),
        listed_contacts=frozenset({"K1"}),
        exceptions=exceptions,
    )
    pace = draw(st.sampled_from([1, 6]))  # divides the gaps: busy weeks reach the counts
    return World(draw(st.sampled_from(["CN", "US"])), state), anchor, pace


@FAST
@given(world=worlds(), steps=st.lists(step_st, min_size=8, max_size=80))
def test_no_allowed_attempt_breaks_a_rule(world: tuple[World, datetime, int], steps: list) -> None:
    run(*world, steps)


call_step_st = st.tuples(
    st.one_of(st.integers(0, 120), st.integers(0, 60 * 20)),
    st.just("call"),
    st.sampled_from(["D1", "D1", "D1", "D2"]),
    st.just("debtor"),
    st.none(),
    st.none(),
    st.just(False),
    st.just("collection"),
    st.sampled_from(["no_answer"] * 25 + ["reached", "callback_requested"]),
    st.one_of(st.none(), st.integers(0, 3)),
    st.integers(0, 20),
)


@st.composite
def call_storms(draw: st.DrawFn) -> tuple[World, datetime, int]:
    anchor = draw(st.sampled_from(ANCHORS))
    exceptions = tuple(
        AgreedException(f"X{i}", anchor + timedelta(minutes=m), debt_id=d)
        for i, (m, _, d) in enumerate(draw(st.lists(exception_st, max_size=4)))
    )
    zone = draw(st.sampled_from(["America/New_York", "America/Los_Angeles", *ZONES]))
    state = ConsumerState(time_zone=zone, exceptions=exceptions)
    return World(draw(st.sampled_from(["US", "US", "CN"])), state), anchor, 1


@FAST
@given(world=call_storms(), steps=st.lists(call_step_st, min_size=8, max_size=80))
def test_no_call_storm_breaks_the_frequency_rules(
    world: tuple[World, datetime, int], steps: list
) -> None:
    run(*world, steps)


def run(w: World, clock: datetime, pace: int, steps: list) -> None:
    """Check each attempt in time order, record the allowed ones, compare with the oracle."""
    pack = DEFAULT_PACKS.for_jurisdiction(w.jurisdiction)
    ledger = ContactLedger()
    made: list[RecordedAttempt] = []
    for n, (gap, channel, debt, party, contact, discloses, opt_out, purpose, outcome, jump,
            into_slot) in enumerate(steps):  # fmt: skip
        clock += timedelta(minutes=gap // pace)
        if jump is not None and jump < len(w.state.exceptions):
            clock = max(clock, w.state.exceptions[jump].slot_start + timedelta(minutes=into_slot))
        a = ContactAttempt(
            attempt_id=f"T{n}",
            channel=channel,
            planned_at=clock,
            debt_id=debt,
            party=party,
            contact_id=contact,
            discloses_debt=discloses,
            carries_opt_out=opt_out,
            purpose=purpose,
        )
        decision = check(a, ledger, w.state, pack)

        # The engine agrees with the oracle, rule for rule.
        rules = broken(w, a, made)
        exception = usable_exception(w, a, made)
        if not rules:
            assert decision.allowed and decision.exception_id is None, decision
        elif rules <= LIFTABLE[w.jurisdiction] and exception is not None:
            assert decision.allowed and decision.exception_id == exception, decision
        else:
            assert not decision.allowed, (rules, decision)
            assert set(decision.rule_ids) == {f"{w.jurisdiction}.{r}" for r in rules}
        for rule_id in decision.rule_ids:
            event(rule_id)
        if decision.exception_id:
            event("exception used")

        if decision.allowed:
            rec = RecordedAttempt(
                attempt_id=a.attempt_id,
                channel=a.channel,
                at=a.planned_at,
                outcome=outcome if a.channel == "call" else "no_answer",
                debt_id=a.debt_id,
                party=a.party,
                exception_id=decision.exception_id,
            )
            ledger = ledger.record(rec)
            made.append(rec)

    assert_history_is_lawful(w, made)


def assert_history_is_lawful(w: World, made: list[RecordedAttempt]) -> None:
    """Whole-history invariants over what was actually done."""
    s = w.state
    exception_ids = [m.exception_id for m in made if m.exception_id is not None]
    assert len(exception_ids) == len(set(exception_ids)), "an exception was used twice"
    by_id = {e.exception_id: e for e in s.exceptions}
    for m in made:
        local = m.at.astimezone(ZoneInfo(s.time_zone))
        start, end = QUIET[w.jurisdiction]
        minute = local.hour * 60 + local.minute
        if m.channel != "letter" and (minute >= start or minute < end):
            e = by_id[m.exception_id] if m.exception_id else None
            assert e is not None and e.slot_start <= m.at < e.slot_start + SLOT, m
        if m.party == "third_party":
            assert s.lost_contact, m
    calls = [m for m in made if m.channel == "call"]
    days = {w.day(m.at) for m in made}
    if w.jurisdiction == "CN":
        for d in days:
            assert len([c for c in calls if w.day(c.at) == d]) <= 3, d
    else:
        for debt in ("D1", "D2"):
            plain = [c for c in calls if c.debt_id == debt and c.exception_id is None]
            for d in days:
                window = {d + timedelta(days=i) for i in range(7)}
                assert len([c for c in plain if w.day(c.at) in window]) <= 7, (debt, d)
            talks = [c for c in calls if c.debt_id == debt and c.outcome in CONVERSATIONS]
            for c in plain:
                for t in talks:
                    if t.at < c.at:
                        assert (w.day(c.at) - w.day(t.at)).days >= 7, (t, c)
        if s.opted_out_channels:
            assert not [m for m in made if m.channel in s.opted_out_channels]
