"""`check`: may this contact happen now? Pure and deterministic.

Each rule is a function from (attempt, ledger, state, pack) to a Violation or None. All
day arithmetic is on the borrower's local calendar (zoneinfo), so a "day" is a wall-clock
day whatever its length in hours (23 or 25 on DST changes), and "7 consecutive days" is
seven local calendar days.

The ledger is the attempts actually made, as of the check; a contact scheduled ahead is
checked again just before it happens, against the ledger of that moment.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from services.contact.domain.compliance.model import (
    AgreedException,
    ConsumerState,
    ContactAttempt,
    ContactLedger,
    Decision,
    Violation,
)
from services.contact.domain.compliance.packs import (
    AFTER_CONVERSATION,
    CALLS_IN_WINDOW,
    CALLS_PER_DAY,
    CEASE,
    DISPUTE,
    INCONVENIENT_TIME,
    OPT_OUT,
    QUIET_HOURS,
    THIRD_PARTY,
    RulePack,
)

Rule = Callable[[ContactAttempt, ContactLedger, ConsumerState, RulePack], Violation | None]


def check(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Decision:
    """Allowed, or blocked with every rule the attempt would break and why.

    An agreed exception matching the attempt (channel, debt, slot, not used before) lifts
    the violations of the rules the pack lets exceptions override; any other violation
    still blocks.
    """
    names = pack.enabled()
    checked = tuple(pack.rule_id(n) for n in names)
    found = [(n, v) for n in names if (v := _RULES[n](attempt, ledger, state, pack)) is not None]
    if not found:
        return Decision(attempt, pack.jurisdiction, checked)
    if all(n in pack.exception_overrides for n, _ in found):
        exception = _matching_exception(attempt, ledger, state, pack)
        if exception is not None:
            return Decision(
                attempt,
                pack.jurisdiction,
                checked,
                exception_id=exception.exception_id,
                lifted=tuple(v for _, v in found),
            )
    return Decision(attempt, pack.jurisdiction, checked, violations=tuple(v for _, v in found))


def _matching_exception(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> AgreedException | None:
    used = ledger.used_exceptions()
    slot = timedelta(minutes=pack.exception_slot_minutes)
    for exc in state.exceptions:
        if (
            exc.exception_id not in used
            and exc.channel == attempt.channel
            and exc.debt_id in (None, attempt.debt_id)
            and exc.slot_start <= attempt.planned_at < exc.slot_start + slot
        ):
            return exc
    return None


def _hhmm(t: object) -> str:
    return f"{t:%H:%M}"


def _quiet_hours(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.quiet_hours
    assert rule is not None
    if attempt.channel not in rule.channels:
        return None
    local = state.local(attempt.planned_at)
    if not rule.closed_at(local.time()):
        return None
    # Quiet hours end at `end` local time: today if that is still ahead, else tomorrow.
    opens = datetime.combine(local.date(), rule.end, local.tzinfo)
    if opens <= local:
        opens += timedelta(days=1)
    return Violation(
        pack.rule_id(QUIET_HOURS),
        f"No {attempt.channel} contact between {_hhmm(rule.start)} and {_hhmm(rule.end)} in "
        f"the borrower's time ({state.time_zone}); it would be {local:%H:%M} on "
        f"{local:%Y-%m-%d} there.",
        next_allowed_at=opens,
    )


def _inconvenient_time(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.inconvenient_time
    assert rule is not None
    if attempt.channel not in rule.channels:
        return None
    local = state.local(attempt.planned_at)
    now = local.time()
    for start, end in state.inconvenient_hours:
        inside = start <= now < end if start <= end else now >= start or now < end
        if inside:
            return Violation(
                pack.rule_id(INCONVENIENT_TIME),
                f"The borrower said {_hhmm(start)} to {_hhmm(end)} is an inconvenient time "
                f"({state.time_zone}); it would be {local:%H:%M} on {local:%Y-%m-%d} there.",
            )
    return None


def _calls_per_day(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.calls_per_day
    assert rule is not None
    if attempt.channel != "call":
        return None
    day = state.local_date(attempt.planned_at)
    made = sum(1 for a in ledger.attempts if a.channel == "call" and state.local_date(a.at) == day)
    if made + 1 <= rule.max_calls:
        return None
    return Violation(
        pack.rule_id(CALLS_PER_DAY),
        f"At most {rule.max_calls} voice calls per debtor per day across all debts and "
        f"agencies; {made} already made on {day} in the borrower's time.",
    )


def _calls_in_window(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.calls_in_window
    assert rule is not None
    if attempt.channel != "call":
        return None
    day = state.local_date(attempt.planned_at)
    days = [state.local_date(a.at) for a in ledger.for_debt(attempt.debt_id) if a.channel == "call"]
    # Every window of `rule.days` consecutive local days that holds the planned day.
    for offset in range(rule.days):
        first = day - timedelta(days=rule.days - 1 - offset)
        last = first + timedelta(days=rule.days - 1)
        made = sum(1 for d in days if first <= d <= last)
        if made + 1 > rule.max_calls:
            return Violation(
                pack.rule_id(CALLS_IN_WINDOW),
                f"At most {rule.max_calls} calls about debt {attempt.debt_id} within "
                f"{rule.days} consecutive days; {made} already made from {first} to {last}.",
            )
    return None


def _after_conversation(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.after_conversation
    assert rule is not None
    if attempt.channel != "call":
        return None
    day = state.local_date(attempt.planned_at)
    last: date | None = None
    for a in ledger.for_debt(attempt.debt_id):
        if a.channel == "call" and a.outcome in rule.outcomes and a.at <= attempt.planned_at:
            talked = state.local_date(a.at)
            if (day - talked).days < rule.days and (last is None or talked > last):
                last = talked
    if last is None:
        return None
    resume = last + timedelta(days=rule.days)
    return Violation(
        pack.rule_id(AFTER_CONVERSATION),
        f"No call about debt {attempt.debt_id} within {rule.days} days after a telephone "
        f"conversation about it (on {last}); calls may resume on {resume}.",
    )


def _cease(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.cease
    assert rule is not None
    if not state.cease_requested or attempt.purpose in rule.allowed_purposes:
        return None
    return Violation(
        pack.rule_id(CEASE),
        f"The borrower asked us to stop contacting them; only {_purposes(rule.allowed_purposes)} "
        f"may still be sent, not {_purpose(attempt.purpose)}.",
    )


def _purpose(name: str) -> str:
    return name.replace("_", " ")


def _purposes(names: frozenset[str]) -> str:
    return " or ".join(_purpose(n) for n in sorted(names)) or "nothing"


def _dispute(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.dispute
    assert rule is not None
    if attempt.debt_id not in state.disputed_debts or attempt.purpose in rule.allowed_purposes:
        return None
    return Violation(
        pack.rule_id(DISPUTE),
        f"Debt {attempt.debt_id} is disputed: contact about it is paused until the dispute "
        f"is answered; only {_purposes(rule.allowed_purposes)} may be sent meanwhile, not "
        f"{_purpose(attempt.purpose)}.",
    )


def _opt_out(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.opt_out
    assert rule is not None
    if attempt.channel in state.opted_out_channels:
        return Violation(
            pack.rule_id(OPT_OUT),
            f"The borrower opted out of {attempt.channel}; that channel may not be used.",
        )
    if attempt.channel in rule.required_on and not attempt.carries_opt_out:
        return Violation(
            pack.rule_id(OPT_OUT),
            f"Every {attempt.channel} message must offer a simple way to opt out; this one "
            f"does not.",
        )
    return None


def _third_party(
    attempt: ContactAttempt, ledger: ContactLedger, state: ConsumerState, pack: RulePack
) -> Violation | None:
    rule = pack.third_party
    assert rule is not None
    if attempt.party != "third_party":
        return None
    reasons = []
    if attempt.contact_id is None or attempt.contact_id not in state.listed_contacts:
        reasons.append("only contacts the borrower listed may be contacted")
    if rule.requires_lost_contact and not state.lost_contact:
        reasons.append("the borrower is reachable, so collect from the borrower only")
    if rule.forbids_disclosure and attempt.discloses_debt is not False:
        reasons.append("the contact must be told nothing about the debt (declare no disclosure)")
    if not reasons:
        return None
    return Violation(
        pack.rule_id(THIRD_PARTY),
        f"A third party may not be contacted here: {'; '.join(reasons)}.",
    )


_RULES: dict[str, Rule] = {
    QUIET_HOURS: _quiet_hours,
    INCONVENIENT_TIME: _inconvenient_time,
    CALLS_PER_DAY: _calls_per_day,
    CALLS_IN_WINDOW: _calls_in_window,
    AFTER_CONVERSATION: _after_conversation,
    CEASE: _cease,
    DISPUTE: _dispute,
    OPT_OUT: _opt_out,
    THIRD_PARTY: _third_party,
}
