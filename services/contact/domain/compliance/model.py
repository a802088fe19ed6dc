"""What the compliance engine reasons about: attempts, the ledger, the consumer's state.

Pure: no I/O. Every instant is a timezone-aware datetime; local days and times are
always taken in the borrower's time zone (`ConsumerState.time_zone`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.envelope import Envelope
from shared.events.contact import (
    ContactAttemptRecorded,
    ContactChannel,
    ContactOutcome,
    ContactParty,
    ContactPurpose,
    Jurisdiction,
)


def _wall(t: time) -> time:
    return t.replace(tzinfo=None)


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name}: must be timezone-aware, got {value!r}")


@dataclass(frozen=True)
class ContactAttempt:
    """A contact someone wants to make (scheduled or about to happen)."""

    attempt_id: str
    channel: ContactChannel
    planned_at: datetime
    debt_id: str
    agency: str = "lender"
    party: ContactParty = "debtor"
    contact_id: str | None = None
    """Which listed contact, when `party` is `third_party`."""
    discloses_debt: bool | None = None
    """Must be declared False for a third party: they are told nothing about the debt."""
    carries_opt_out: bool = False
    """Whether the message (SMS, e-mail) carries a simple way to opt out."""
    purpose: ContactPurpose = "collection"

    def __post_init__(self) -> None:
        _require_aware("planned_at", self.planned_at)


@dataclass(frozen=True)
class RecordedAttempt:
    """A contact that was made, as the ledger remembers it."""

    attempt_id: str
    channel: ContactChannel
    at: datetime
    outcome: ContactOutcome
    debt_id: str
    agency: str = "lender"
    party: ContactParty = "debtor"
    exception_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware("at", self.at)

    @classmethod
    def from_event(cls, data: ContactAttemptRecorded) -> RecordedAttempt:
        """The ledger entry of a `ContactAttemptRecorded`."""
        return cls(
            attempt_id=data.attempt_id,
            channel=data.channel,
            at=data.at,
            outcome=data.outcome,
            debt_id=data.debt_id,
            agency=data.agency,
            party=data.party,
            exception_id=data.exception_id,
        )


@dataclass(frozen=True)
class ContactLedger:
    """Every contact attempt made about one debtor, across debts, agencies and channels."""

    attempts: tuple[RecordedAttempt, ...] = ()

    @classmethod
    def from_events(cls, events: Iterable[Envelope]) -> ContactLedger:
        """The ledger of a debtor's stream; events other than attempts are ignored."""
        out = []
        for env in events:
            if env.type == ContactAttemptRecorded.event_type:
                data = ContactAttemptRecorded.model_validate(env.data)
                out.append(RecordedAttempt.from_event(data))
        return cls(tuple(out))

    def record(self, attempt: RecordedAttempt) -> ContactLedger:
        """A ledger with one more attempt (a recorded attempt id counts once)."""
        if any(a.attempt_id == attempt.attempt_id for a in self.attempts):
            return self
        return ContactLedger((*self.attempts, attempt))

    def for_debt(self, debt_id: str) -> tuple[RecordedAttempt, ...]:
        """The attempts about one debt."""
        return tuple(a for a in self.attempts if a.debt_id == debt_id)

    def used_exceptions(self) -> frozenset[str]:
        """The agreed exceptions some attempt already used."""
        return frozenset(a.exception_id for a in self.attempts if a.exception_id is not None)


@dataclass(frozen=True)
class AgreedException:
    """The borrower explicitly agreed to one contact at a time otherwise closed.

    E.g. "call me back at 22:30 on 3 March": `slot_start` 22:30 that day in the
    borrower's zone; the pack's `exception_slot_minutes` says how long the slot lasts.
    It allows one contact on `channel` (about `debt_id`, if set), once.
    """

    exception_id: str
    slot_start: datetime
    channel: ContactChannel = "call"
    debt_id: str | None = None

    def __post_init__(self) -> None:
        _require_aware("slot_start", self.slot_start)


@dataclass(frozen=True)
class ConsumerState:
    """What the engine must know about the borrower beyond past attempts."""

    time_zone: str
    cease_requested: bool = False
    disputed_debts: frozenset[str] = frozenset()
    opted_out_channels: frozenset[ContactChannel] = frozenset()
    lost_contact: bool = False
    """The debtor is unreachable (失联): listed contacts may be tried, carefully."""
    listed_contacts: frozenset[str] = frozenset()
    exceptions: tuple[AgreedException, ...] = field(default=())
    inconvenient_hours: tuple[tuple[time, time], ...] = ()
    """Local (start, end) windows the borrower said are inconvenient; start after end
    spans midnight. They are wall-clock readings in `time_zone`: an offset on one (the API
    once accepted "09:00:00Z") is dropped and the reading kept, so no stored window can
    make a check compare naive and aware times."""

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "inconvenient_hours",
            tuple((_wall(s), _wall(e)) for s, e in self.inconvenient_hours),
        )
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"time_zone: unknown time zone {self.time_zone!r}") from None

    @property
    def zone(self) -> ZoneInfo:
        """The borrower's time zone."""
        return ZoneInfo(self.time_zone)

    def local(self, instant: datetime) -> datetime:
        """An instant as the borrower's wall clock shows it."""
        return instant.astimezone(self.zone)

    def local_date(self, instant: datetime) -> date:
        """The borrower's calendar day at an instant."""
        return self.local(instant).date()


@dataclass(frozen=True)
class Violation:
    """One rule a contact would break, and why, in words."""

    rule_id: str
    reason: str
    next_allowed_at: datetime | None = None
    """When the rule would let the contact happen, where a rule can say (a time window)."""


@dataclass(frozen=True)
class Decision:
    """The engine's answer for one attempt."""

    attempt: ContactAttempt
    jurisdiction: Jurisdiction
    rules_checked: tuple[str, ...]
    violations: tuple[Violation, ...] = ()
    exception_id: str | None = None
    lifted: tuple[Violation, ...] = ()
    """Violations an agreed exception lifted (only when allowed with an exception)."""

    @property
    def allowed(self) -> bool:
        """Whether the contact may happen."""
        return not self.violations

    @property
    def next_allowed_at(self) -> datetime | None:
        """The latest time any blocking rule names, when every one names one; else None."""
        times = [v.next_allowed_at for v in self.violations]
        if not times or any(t is None for t in times):
            return None
        return max(t for t in times if t is not None)

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """The rules a blocked contact would break (empty when allowed)."""
        return tuple(v.rule_id for v in self.violations)

    @property
    def explanation(self) -> str:
        """One sentence per broken rule, or what was checked and which exception was used."""
        if self.violations:
            return " ".join(v.reason for v in self.violations)
        checked = ", ".join(self.rules_checked) or "no rules"
        text = f"Allowed under the {self.jurisdiction} rules; checked {checked}."
        if self.exception_id is not None:
            lifted = ", ".join(v.rule_id for v in self.lifted)
            text += f" Agreed exception {self.exception_id} used to lift {lifted}."
        return text
