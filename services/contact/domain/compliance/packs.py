"""Rule packs: which contact rules hold in a jurisdiction, with every window and count.

A pack is data (`RulePack`, validated on construction) read by code (`engine.check`).
A deployment may override the defaults per jurisdiction with `RulePacks.from_mapping`;
a bad value raises `RulePackError` naming the key, e.g. `US.calls_in_window.days`.
Setting a rule's section to null switches the rule off for that jurisdiction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any, get_args

from shared.events.contact import ContactChannel, ContactOutcome, ContactPurpose, Jurisdiction

CHANNELS: tuple[str, ...] = get_args(ContactChannel)
OUTCOMES: tuple[str, ...] = get_args(ContactOutcome)
PURPOSES: tuple[str, ...] = get_args(ContactPurpose)
JURISDICTIONS: tuple[str, ...] = get_args(Jurisdiction)

# Rule names; a rule id is "<jurisdiction>.<name>", e.g. "US.7_in_7". The names are
# stable identifiers (the numbers in them are the defaults, the settings may differ).
QUIET_HOURS = "quiet_hours"
INCONVENIENT_TIME = "inconvenient_time"
CALLS_PER_DAY = "3_calls_per_day"
CALLS_IN_WINDOW = "7_in_7"
AFTER_CONVERSATION = "7_days_after_conversation"
CEASE = "cease"
DISPUTE = "dispute"
OPT_OUT = "opt_out"
THIRD_PARTY = "third_party"
RULE_NAMES: tuple[str, ...] = (
    CEASE,
    DISPUTE,
    THIRD_PARTY,
    OPT_OUT,
    QUIET_HOURS,
    INCONVENIENT_TIME,
    CALLS_PER_DAY,
    CALLS_IN_WINDOW,
    AFTER_CONVERSATION,
)
"""Every rule, in the order the engine checks and explains them."""
OVERRIDABLE: tuple[str, ...] = (
    QUIET_HOURS,
    INCONVENIENT_TIME,
    CALLS_PER_DAY,
    CALLS_IN_WINDOW,
    AFTER_CONVERSATION,
)
"""The rules an agreed exception may ever lift: times and frequencies, never a cease
request, a dispute, an opt-out or the third-party rule."""


class RulePackError(ValueError):
    """Rule-pack settings that cannot be used; the message names the offending key."""


@dataclass(frozen=True)
class QuietHours:
    """No contact on `channels` from `start` (inclusive) to `end` (exclusive), local time.

    `start` after `end` means the window spans midnight (22:00 to 08:00).
    """

    start: time
    end: time
    channels: frozenset[str] = frozenset(CHANNELS) - {"letter"}

    def closed_at(self, local: time) -> bool:
        """Whether a local wall-clock time lies in the quiet window."""
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


@dataclass(frozen=True)
class InconvenientTime:
    """No contact on `channels` in the hours the borrower said are inconvenient (their
    local time); Regulation F makes a known inconvenient time binding, CN practice honours it.
    """

    channels: frozenset[str] = frozenset(CHANNELS) - {"letter"}


@dataclass(frozen=True)
class CallsPerDay:
    """At most `max_calls` voice calls per debtor per local calendar day, all debts/agencies."""

    max_calls: int = 3


@dataclass(frozen=True)
class CallsInWindow:
    """At most `max_calls` calls about one debt in any `days` consecutive local days."""

    max_calls: int = 7
    days: int = 7


DEFAULT_CONVERSATION_OUTCOMES = frozenset(
    {"reached", "refused", "promise_to_pay", "dispute", "callback_requested"}
)


@dataclass(frozen=True)
class AfterConversation:
    """No call about a debt for `days` local days after a telephone conversation about it.

    The day of the conversation is the first of the `days`; a call whose outcome is in
    `outcomes` was a conversation.
    """

    days: int = 7
    outcomes: frozenset[str] = DEFAULT_CONVERSATION_OUTCOMES


@dataclass(frozen=True)
class Cease:
    """After a cease request only contacts for `allowed_purposes` may happen (the notices
    the law still requires; the rule's explanation names them)."""

    allowed_purposes: frozenset[str] = frozenset({"termination_notice", "remedy_notice"})


@dataclass(frozen=True)
class Dispute:
    """While a debt is disputed only contacts for `allowed_purposes` may happen about it."""

    allowed_purposes: frozenset[str] = frozenset({"verification", "termination_notice"})


@dataclass(frozen=True)
class OptOut:
    """An opted-out channel is never used; messages on `required_on` carry an opt-out."""

    required_on: frozenset[str] = frozenset({"sms", "email"})


@dataclass(frozen=True)
class ThirdParty:
    """A listed contact may be contacted only as configured; unlisted people never."""

    requires_lost_contact: bool = True
    forbids_disclosure: bool = True


@dataclass(frozen=True)
class RulePack:
    """The contact rules of one jurisdiction; a None section is a rule switched off."""

    jurisdiction: Jurisdiction
    quiet_hours: QuietHours | None = None
    inconvenient_time: InconvenientTime | None = None
    calls_per_day: CallsPerDay | None = None
    calls_in_window: CallsInWindow | None = None
    after_conversation: AfterConversation | None = None
    cease: Cease | None = None
    dispute: Dispute | None = None
    opt_out: OptOut | None = None
    third_party: ThirdParty | None = None
    exception_slot_minutes: int = 15
    """How long after an agreed exception's slot start the one contact may happen."""
    exception_overrides: frozenset[str] = frozenset({QUIET_HOURS})
    """The rules an agreed exception may lift (by rule name)."""

    def __post_init__(self) -> None:
        _validate(self)

    def rule_id(self, name: str) -> str:
        """The full rule id of a rule name, e.g. `CN.quiet_hours`."""
        return f"{self.jurisdiction}.{name}"

    def enabled(self) -> tuple[str, ...]:
        """The names of the rules this pack checks, in checking order."""
        sections = {
            QUIET_HOURS: self.quiet_hours,
            INCONVENIENT_TIME: self.inconvenient_time,
            CALLS_PER_DAY: self.calls_per_day,
            CALLS_IN_WINDOW: self.calls_in_window,
            AFTER_CONVERSATION: self.after_conversation,
            CEASE: self.cease,
            DISPUTE: self.dispute,
            OPT_OUT: self.opt_out,
            THIRD_PARTY: self.third_party,
        }
        return tuple(n for n in RULE_NAMES if sections[n] is not None)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: RulePack) -> RulePack:
        """A pack from settings; keys absent keep `base`'s values, null switches a rule off."""
        if not isinstance(raw, Mapping):
            raise RulePackError("must be a mapping of rule settings")
        unknown = sorted(set(raw) - set(_SECTIONS) - {"exception_slot_minutes"} - {_OVR})
        if unknown:
            known = sorted([*_SECTIONS, "exception_slot_minutes", _OVR])
            raise RulePackError(f"{unknown[0]}: unknown rule-pack key (known: {known})")
        changes: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "exception_slot_minutes":
                changes[key] = _int(key, value)
            elif key == _OVR:
                changes[key] = _names(key, value, OVERRIDABLE)
            elif value is None:
                changes[key] = None
            else:
                current = getattr(base, key) or _SECTIONS[key][0]()
                changes[key] = _section(key, value, current)
        return replace(base, **changes)


_OVR = "exception_overrides"


def _section(key: str, value: Any, current: Any) -> Any:
    if not isinstance(value, Mapping):
        raise RulePackError(f"{key}: must be a mapping or null")
    _, parsers = _SECTIONS[key]
    unknown = sorted(set(value) - set(parsers))
    if unknown:
        raise RulePackError(f"{key}.{unknown[0]}: unknown key (known: {sorted(parsers)})")
    return replace(current, **{k: parsers[k](f"{key}.{k}", v) for k, v in value.items()})


def _int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RulePackError(f"{key}: must be an integer, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise RulePackError(f"{key}: must be true or false, got {value!r}")
    return value


def _time(key: str, value: Any) -> time:
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise RulePackError(f"{key}: must be a local time 'HH:MM', got {value!r}")
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise RulePackError(f"{key}: must be a local time 'HH:MM', got {value!r}") from None


def _names(key: str, value: Any, allowed: tuple[str, ...]) -> frozenset[str]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RulePackError(f"{key}: must be a list of names from {list(allowed)}")
    bad = [v for v in value if v not in allowed]
    if bad:
        raise RulePackError(f"{key}: unknown {bad[0]!r} (known: {list(allowed)})")
    return frozenset(value)


def _channels(key: str, value: Any) -> frozenset[str]:
    return _names(key, value, CHANNELS)


_SECTIONS: dict[str, tuple[Any, dict[str, Any]]] = {
    "quiet_hours": (
        lambda: QuietHours(time(22), time(8)),
        {"start": _time, "end": _time, "channels": _channels},
    ),
    "inconvenient_time": (InconvenientTime, {"channels": _channels}),
    "calls_per_day": (CallsPerDay, {"max_calls": _int}),
    "calls_in_window": (CallsInWindow, {"max_calls": _int, "days": _int}),
    "after_conversation": (
        AfterConversation,
        {"days": _int, "outcomes": lambda k, v: _names(k, v, OUTCOMES)},
    ),
    "cease": (Cease, {"allowed_purposes": lambda k, v: _names(k, v, PURPOSES)}),
    "dispute": (Dispute, {"allowed_purposes": lambda k, v: _names(k, v, PURPOSES)}),
    "opt_out": (OptOut, {"required_on": _channels}),
    "third_party": (
        ThirdParty,
        {"requires_lost_contact": _bool, "forbids_disclosure": _bool},
    ),
}


def _validate(p: RulePack) -> None:
    if p.jurisdiction not in JURISDICTIONS:
        raise RulePackError(f"jurisdiction: must be one of {list(JURISDICTIONS)}")
    if p.quiet_hours is not None and p.quiet_hours.start == p.quiet_hours.end:
        raise RulePackError("quiet_hours.end: must differ from quiet_hours.start")
    if p.calls_per_day is not None and p.calls_per_day.max_calls < 0:
        raise RulePackError("calls_per_day.max_calls: must not be negative")
    if p.calls_in_window is not None:
        if p.calls_in_window.max_calls < 0:
            raise RulePackError("calls_in_window.max_calls: must not be negative")
        if not 1 <= p.calls_in_window.days <= 366:
            raise RulePackError("calls_in_window.days: must be between 1 and 366")
    if p.after_conversation is not None and not 1 <= p.after_conversation.days <= 366:
        raise RulePackError("after_conversation.days: must be between 1 and 366")
    if not 1 <= p.exception_slot_minutes <= 240:
        raise RulePackError("exception_slot_minutes: must be between 1 and 240")
    bad = sorted(p.exception_overrides - set(OVERRIDABLE))
    if bad:
        raise RulePackError(f"exception_overrides: {bad[0]!r} is no rule an exception may lift")


CN_DEFAULT = RulePack(
    jurisdiction="CN",
    quiet_hours=QuietHours(start=time(22), end=time(8)),
    inconvenient_time=InconvenientTime(),
    calls_per_day=CallsPerDay(max_calls=3),
    # A borrower who asks collection to stop, or disputes a bill, still gets what the law
    # requires of the lender (a statutory notice); opted-out channels are never used, but
    # CN collection messages need no opt-out line of their own.
    cease=Cease(allowed_purposes=frozenset({"statutory_notice"})),
    dispute=Dispute(allowed_purposes=frozenset({"verification", "statutory_notice"})),
    opt_out=OptOut(required_on=frozenset()),
    third_party=ThirdParty(requires_lost_contact=True, forbids_disclosure=True),
    exception_overrides=frozenset({QUIET_HOURS, INCONVENIENT_TIME}),
)
"""GB/T 45251-2025 and the NIFA guideline as the notes report them, plus the borrower's own
opt-outs, cease request and disputes, which hold in CN as under Regulation F."""

US_DEFAULT = RulePack(
    jurisdiction="US",
    quiet_hours=QuietHours(start=time(21), end=time(8)),
    inconvenient_time=InconvenientTime(),
    calls_in_window=CallsInWindow(max_calls=7, days=7),
    after_conversation=AfterConversation(days=7),
    cease=Cease(),
    dispute=Dispute(),
    opt_out=OptOut(),
    third_party=ThirdParty(requires_lost_contact=True, forbids_disclosure=True),
    exception_overrides=frozenset(
        {QUIET_HOURS, INCONVENIENT_TIME, CALLS_IN_WINDOW, AFTER_CONVERSATION}
    ),
)
"""Regulation F (12 CFR 1006); third parties as FDCPA §804 (location information only)."""


@dataclass(frozen=True)
class RulePacks:
    """The pack of each jurisdiction."""

    by_jurisdiction: tuple[tuple[str, RulePack], ...] = field(
        default_factory=lambda: (("CN", CN_DEFAULT), ("US", US_DEFAULT))
    )

    def for_jurisdiction(self, jurisdiction: str) -> RulePack:
        """The pack of a jurisdiction; an unknown jurisdiction is an error, never no rules."""
        for name, pack in self.by_jurisdiction:
            if name == jurisdiction:
                return pack
        raise RulePackError(f"jurisdiction: no rule pack for {jurisdiction!r}")

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> RulePacks:
        """Packs from `{jurisdiction: {rule settings}}` over the defaults; errors name `J.key`."""
        if not isinstance(raw, Mapping):
            raise RulePackError("must be a mapping of jurisdictions")
        unknown = sorted(set(raw) - set(JURISDICTIONS))
        if unknown:
            raise RulePackError(f"{unknown[0]}: unknown jurisdiction (known: {JURISDICTIONS})")
        out = []
        for name, base in cls().by_jurisdiction:
            try:
                out.append((name, RulePack.from_mapping(raw.get(name, {}), base)))
            except RulePackError as exc:
                raise RulePackError(f"{name}.{exc}") from None
        return cls(tuple(out))


DEFAULT_PACKS = RulePacks()
