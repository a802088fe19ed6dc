"""An account's state reconstructed from its trail as of a point in time. Pure: no I/O.

The caller picks the entries (what the system knew by a recorded time, or what had
happened by an occurred time); this folds them **in seq order**, the order the system
learned things. That matters on the occurred axis: a backdated payment occurred before
the day closes that were computed without it, and its corrections are recorded after
them, so only the recording order ends with the corrected bucket and balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from shared.delinquency import Pause, bill_days_past_due, paused_days

COMPONENTS = ("late_fee", "fees", "interest", "principal")
CONTACT_WINDOW = timedelta(days=7)
"""Regulation F counts call attempts in any 7 days; the state shows the trailing 7."""

PLAN_START = frozenset({"PlanActivated", "PlanAgreed"})
PLAN_END = {"PlanCompleted": "completed", "PlanBroken": "broken", "PlanCancelled": "cancelled"}


def _zeros() -> dict[str, int]:
    return dict.fromkeys(COMPONENTS, 0)


def _ref(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Which event a fact of the state comes from, so a reader can check it."""
    return {"seq": entry["seq"], "event_id": entry["event_id"], "type": entry["type"]}


def _when(value: Any, fallback: str) -> datetime:
    """An event's own time field if it has a usable one, else the envelope's occurred_at."""
    for candidate in (value, fallback):
        if isinstance(candidate, str):
            try:
                parsed = datetime.fromisoformat(candidate)
            except ValueError:
                continue
            if parsed.tzinfo is not None:
                return parsed
    raise ValueError(f"no timezone-aware time in {value!r} or {fallback!r}")


@dataclass
class AccountState:
    """What the trail says about an account at `as_of`."""

    as_of: datetime
    entries: int = 0
    through: dict[str, Any] | None = None
    currency: str | None = None
    balances: dict[str, int] | None = None
    balances_as_of: dict[str, Any] = field(default_factory=dict)
    overdue: dict[str, int] | None = None
    overdue_as_of: dict[str, Any] | None = None
    bucket: str | None = None
    days_past_due: int | None = None
    delinquency_as_of: dict[str, Any] | None = None
    charged_off_on: str | None = None
    active_plan: dict[str, Any] | None = None
    last_ended_plan: dict[str, Any] | None = None
    case: dict[str, Any] | None = None
    contact_attempts_7d: int = 0
    blocked_attempts_7d: int = 0
    contact_attempts_total: int = 0
    blocked_attempts_total: int = 0
    calls_7d_by_debt: dict[str, int] = field(default_factory=dict)
    """Call attempts per debt in the trailing 7 days: what Regulation F's 7-in-7 counts."""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The state as JSON-ready values."""
        return {
            "as_of": self.as_of.isoformat(),
            "entries": self.entries,
            "through": self.through,
            "currency": self.currency,
            "balances": self.balances,
            "outstanding": sum(self.balances.values()) if self.balances is not None else None,
            "balances_as_of": self.balances_as_of,
            "overdue": self.overdue,
            "overdue_as_of": self.overdue_as_of,
            "bucket": self.bucket,
            "days_past_due": self.days_past_due,
            "delinquency_as_of": self.delinquency_as_of,
            "charged_off_on": self.charged_off_on,
            "active_plan": self.active_plan,
            "last_ended_plan": self.last_ended_plan,
            "case": self.case,
            "contact": {
                "window_from": (self.as_of - CONTACT_WINDOW).isoformat(),
                "window_to": self.as_of.isoformat(),
                "attempts_7d": self.contact_attempts_7d,
                "blocked_7d": self.blocked_attempts_7d,
                "attempts_total": self.contact_attempts_total,
                "blocked_total": self.blocked_attempts_total,
                "calls_7d_by_debt": dict(sorted(self.calls_7d_by_debt.items())),
            },
            "notes": self.notes,
        }


def _components(allocations: Iterable[Mapping[str, Any]]) -> tuple[dict[str, int], bool]:
    """Summed components of allocations, and whether every one was itemised (v2)."""
    total, itemised = _zeros(), True
    for a in allocations:
        if a.get("principal") is None:
            itemised = False  # a v1 allocation: its split is decided by accounts on replay
            continue
        for c in COMPONENTS:
            total[c] += int(a.get(c) or 0)
    return total, itemised


class _Balances:
    """Balances per component: the latest day close's, plus what changed them since."""

    def __init__(self) -> None:
        self.values = _zeros()
        self.close: dict[str, Any] | None = None
        self.close_date: str | None = None  # the latest AccountDayClosed's, balances or not
        self.applied: dict[str, dict[str, int]] = {}  # payment id / credit:<bill> → parts
        self.unitemised: list[str] = []

    def add(self, parts: Mapping[str, int], sign: int) -> None:
        for c in COMPONENTS:
            self.values[c] += sign * int(parts.get(c, 0))

    def apply(self, type_: str, d: Mapping[str, Any], entry: Mapping[str, Any]) -> None:
        if type_ == "AccountDayClosed":
            self.close_date = str(d["business_date"])
        match type_:
            case "AccountDayClosed" if isinstance(d.get("balances"), dict):
                self.values = {c: int(d["balances"].get(c, 0)) for c in COMPONENTS}
                self.close = {"business_date": d["business_date"], **_ref(entry)}
                self.unitemised = []  # the close knew how accounts split them
            case "BillIssued":
                self.add(
                    {
                        "principal": d["principal"],
                        "interest": d.get("interest", 0),
                        "fees": d.get("fees", 0),
                    },
                    +1,
                )
            case "PaymentAllocated":
                parts, itemised = _components(d["allocations"])
                if not itemised:
                    self.unitemised.append(str(d["payment_id"]))
                self.applied[str(d["payment_id"])] = parts
                self.add(parts, -1)
            case "PaymentReallocated":
                # It replaces the earlier allocation of the same amount: undo that, apply this.
                source = str(d["source_id"])
                # Credit a backdated payment freed may go to a bill nothing paid before
                # (accounts then has no earlier allocation to undo either); a payment's
                # reallocation always replaces one, so a missing one is outside this view.
                if source not in self.applied and d.get("kind") != "credit":
                    raise ValueError(f"{source}'s earlier allocation is not in this view")
                parts, itemised = _components(d["allocations"])
                if not itemised:
                    self.unitemised.append(source)
                self.add(self.applied.get(source, _zeros()), +1)
                self.applied[source] = parts
                self.add(parts, -1)
            case "CreditApplied":
                parts, itemised = _components([d["allocation"]])
                if not itemised:
                    self.unitemised.append(f"credit:{d['bill_id']}")
                key = f"credit:{d['bill_id']}"
                before = self.applied.get(key, _zeros())
                self.applied[key] = {c: before[c] + parts[c] for c in COMPONENTS}
                self.add(parts, -1)
            case "LateFeeAccrued":
                self.values["late_fee"] += int(d["amount"])
            case "LateFeeReversed":
                self.values["late_fee"] -= int(d["amount"])
            case "FeesWaived":
                parts, _ = _components(d["waived"])
                self.add(parts, -1)
            case "BalanceReinstalled":
                parts, _ = _components(d["replaced"])
                self.add(parts, -1)
                for i in d["installments"]:
                    self.add(i, +1)
            case _:
                pass


class _Delinquency:
    """Each bill's due date and what is still owed on it, and the pauses: enough to
    compute the account's DPD at the latest close exactly as accounts does (that of its
    oldest unpaid bill), after payments that changed which bill is oldest without any
    bucket change to say so.

    Grace days are policy, on no event: each `BillBecameOverdue` pins them (its DPD is
    the business date less due date, grace and paused days).
    """

    def __init__(self) -> None:
        self.due: dict[str, date] = {}
        self.owed: dict[str, int] = {}
        self.sources: dict[str, dict[str, int]] = {}  # payment id / credit:<bill> → per bill
        self.pauses: list[Pause] = []
        self.plans: set[str] = set()
        self.grace: int | None = None
        self.close: date | None = None

    def _owe(self, bill_id: str, amount: int) -> None:
        self.owed[bill_id] = self.owed.get(bill_id, 0) + amount

    def _allocate(
        self, source: str, allocations: Iterable[Mapping[str, Any]], *, replaces: bool = False
    ) -> None:
        """Pay bills from a source; a reallocation first gives back what it paid before.
        (As accounts does: a source's record is its latest allocation.)"""
        if replaces:
            for bill_id, amount in self.sources.get(source, {}).items():
                self._owe(bill_id, amount)
        parts: dict[str, int] = {}
        for a in allocations:
            bill_id, amount = str(a["bill_id"]), int(a["amount"])
            parts[bill_id] = parts.get(bill_id, 0) + amount
            self._owe(bill_id, -amount)
        self.sources[source] = parts

    def bill_dpd(self, bill_id: str, on: date, grace: int) -> int:
        """The bill's DPD at the close of `on`, by accounts' rule."""
        return bill_days_past_due(
            self.due[bill_id], grace, self.owed.get(bill_id, 0), on, self.pauses
        )

    def days_past_due(self) -> int | None:
        """DPD at the latest close with what is owed now; None when the trail cannot say
        (no close, or no overdue report that pins the grace days)."""
        if self.close is None or self.grace is None:
            return None
        close, grace = self.close, self.grace
        return max((self.bill_dpd(b, close, grace) for b in self.due), default=0)

    def _pin_grace(self, d: Mapping[str, Any]) -> None:
        due, on = date.fromisoformat(d["due_date"]), date.fromisoformat(d["business_date"])
        dpd = int(d["days_past_due"])
        for grace in range(max(0, (on - due).days)):
            start = due + timedelta(days=grace)
            if (on - start).days - paused_days(self.pauses, start + timedelta(days=1), on) == dpd:
                self.grace = grace
                return

    def apply(self, type_: str, d: Mapping[str, Any]) -> None:
        match type_:
            case "BillIssued":
                bill_id = str(d["bill_id"])
                self.due[bill_id] = date.fromisoformat(d["due_date"])
                self._owe(bill_id, int(d["principal"]) + int(d.get("interest") or 0))
                self._owe(bill_id, int(d.get("fees") or 0))
            case "PaymentAllocated":
                self._allocate(str(d["payment_id"]), d["allocations"])
            case "PaymentReallocated":
                self._allocate(str(d["source_id"]), d["allocations"], replaces=True)
            case "CreditApplied":
                self._allocate(f"credit:{d['bill_id']}", [d["allocation"]])
            case "LateFeeAccrued":
                self._owe(str(d["bill_id"]), int(d["amount"]))
            case "LateFeeReversed":
                self._owe(str(d["bill_id"]), -int(d["amount"]))
            case "FeesWaived":
                for w in d["waived"]:
                    self._owe(str(w["bill_id"]), -int(w["amount"]))
            case "BalanceReinstalled":
                for r in d["replaced"]:
                    self._owe(str(r["bill_id"]), -int(r["amount"]))
                for i in d["installments"]:
                    self.due[str(i["bill_id"])] = date.fromisoformat(i["due_date"])
                    self._owe(str(i["bill_id"]), sum(int(i[c]) for c in COMPONENTS))
            case "DueDatesDeferred":
                for move in d["moves"]:
                    self.due[str(move["bill_id"])] = date.fromisoformat(move["to_date"])
            case "DelinquencyPaused":
                if not self.plans:
                    self.pauses.append((_date_or_min(d.get("business_date")), None))
                self.plans.add(str(d["plan_id"]))
            case "DelinquencyResumed":
                self.plans.discard(str(d["plan_id"]))
                if not self.plans and self.pauses and self.pauses[-1][1] is None:
                    self.pauses[-1] = (self.pauses[-1][0], _date_or_min(d.get("business_date")))
            case "BillBecameOverdue":
                self._pin_grace(d)
            case "AccountDayClosed":
                self.close = date.fromisoformat(d["business_date"])
            case _:
                pass


def _date_or_min(value: Any) -> date:
    """A pause's date; before the account's first close accounts has none (date.min)."""
    return date.fromisoformat(value) if value else date.min


def _corrects_a_later_close(type_: str, d: Mapping[str, Any], close_date: str | None) -> bool:
    """Whether a compensating event corrects a day close that the entries do not reach.

    On the occurred axis a backdated payment's corrections (occurred with the payment)
    come without the later closes they correct: folding "reverse the fees of 10-12 March"
    into a view that stops at the close of 9 March would take off fees never added.
    """
    if not (type_ == "LateFeeReversed" or d.get("correction")):
        return False
    corrected = str(d["business_date"])
    return close_date is None or corrected > close_date  # ISO dates compare as text


class _Fold:
    """The fold of one trail into a state, an entry at a time (so a series can be read off
    it after each entry without folding every prefix again)."""

    def __init__(self, as_of: datetime) -> None:
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        self.state = AccountState(as_of=as_of)
        self.window_from = as_of - CONTACT_WINDOW
        self.balances = _Balances()
        self.delinquency = _Delinquency()
        self.plans: dict[str, dict[str, Any]] = {}

    def step(self, entry: Mapping[str, Any]) -> None:
        """Fold one more entry (the next in seq order)."""
        state, balances = self.state, self.balances
        type_, d = str(entry["type"]), entry.get("data") or {}
        state.entries += 1
        state.through = {"seq": entry["seq"], "hash": entry["hash"]}
        if isinstance(d.get("currency"), str) and state.currency is None:
            state.currency = d["currency"]
        try:
            if _corrects_a_later_close(type_, d, balances.close_date):
                state.notes.append(
                    f"seq {entry['seq']} ({type_}) left out: it corrects the close of "
                    f"{d['business_date']}, which this view does not contain"
                )
                return
            balances.apply(type_, d, entry)
            self.delinquency.apply(type_, d)
            _apply(state, self.plans, type_, d, entry, self.window_from)
        except (KeyError, TypeError, ValueError) as exc:
            # An event of a schema this fold does not know: say so rather than guess.
            state.notes.append(f"seq {entry['seq']} ({type_}) not folded: {exc!r}")

    def days_past_due(self) -> int | None:
        """The DPD so far: from the bills when they can give it, else as the events said."""
        try:
            dpd = self.delinquency.days_past_due()
        except (KeyError, TypeError, ValueError):
            dpd = None
        return self.state.days_past_due if dpd is None else dpd

    def finish(self) -> AccountState:
        """The state after every entry folded so far."""
        state, balances = self.state, self.balances
        # The closes' DPD is that of the oldest bill unpaid then; a payment since may have
        # paid it, and only a bucket change would have said so.
        dpd = _computed(self.delinquency, state)
        if dpd is not None:
            state.days_past_due = dpd
        if state.entries:
            state.balances = balances.values
            close = balances.close
            state.balances_as_of = {
                "basis": (
                    "the latest AccountDayClosed's balances, plus the bills, allocations, "
                    "fees, waivers and re-installments recorded after it"
                    if close
                    else "every bill, allocation, fee and waiver on the trail (no day close yet)"
                ),
                "day_close": close,
                "through_seq": state.through["seq"] if state.through else None,
            }
            if balances.unitemised:
                state.notes.append(
                    "balances per component are approximate: allocations of "
                    f"{', '.join(balances.unitemised)} were not itemised by component"
                )
        active = [p for p in self.plans.values() if p["status"] == "active"]
        state.active_plan = max(active, key=lambda p: p["seq"]) if active else None
        if state.active_plan:
            state.active_plan = {k: v for k, v in state.active_plan.items() if k != "status"}
        return state


def reconstruct(entries: Iterable[Mapping[str, Any]], as_of: datetime) -> AccountState:
    """Fold the trail entries (already cut at the as-of point, in seq order) into a state."""
    fold = _Fold(as_of)
    for entry in entries:
        fold.step(entry)
    return fold.finish()


def _computed(delinquency: _Delinquency, state: AccountState) -> int | None:
    """The DPD the bills on the trail give at the latest close, if they can give one."""
    try:
        return delinquency.days_past_due()
    except (KeyError, TypeError, ValueError) as exc:
        state.notes.append(f"days past due as the latest event said: {exc!r}")
        return None


def _apply(
    state: AccountState,
    plans: dict[str, dict[str, Any]],
    type_: str,
    d: Mapping[str, Any],
    entry: Mapping[str, Any],
    window_from: datetime,
) -> None:
    occurred = str(entry["occurred_at"])
    match type_:
        case "AccountDayClosed":
            state.bucket, state.days_past_due = d["bucket"], int(d["days_past_due"])
            state.delinquency_as_of = {"business_date": d["business_date"], **_ref(entry)}
            if isinstance(d.get("overdue"), dict):
                state.overdue = {c: int(d["overdue"].get(c, 0)) for c in COMPONENTS}
                state.overdue_as_of = {"business_date": d["business_date"], **_ref(entry)}
        case "DelinquencyBucketChanged":
            state.bucket, state.days_past_due = d["to_bucket"], int(d["days_past_due"])
            state.delinquency_as_of = {"business_date": d["business_date"], **_ref(entry)}
        case "AccountCured":
            state.days_past_due = 0
            state.delinquency_as_of = {"business_date": d["business_date"], **_ref(entry)}
        case "AccountChargedOff":
            state.charged_off_on = d["business_date"]
        case t if t in PLAN_START:
            plan_id = str(d["plan_id"])
            since = d.get("activated_on") or occurred[:10]
            known = plans.get(plan_id)
            plans[plan_id] = {
                "plan_id": plan_id,
                "plan_type": d["plan_type"],
                # A PlanAgreed then PlanActivated of one plan: it took effect on activation.
                "since": since if t == "PlanActivated" or known is None else known["since"],
                "status": "active",
                **_ref(entry),
            }
        case t if t in PLAN_END:
            plan_id = str(d["plan_id"])
            if plan_id in plans:
                plans[plan_id]["status"] = PLAN_END[t]
            state.last_ended_plan = {"plan_id": plan_id, "how": PLAN_END[t], **_ref(entry)}
        case "CollectionCaseOpened":
            state.case = {
                "status": "open",
                "case_id": d["case_id"],
                "since": d["opened_on"],
                "escalated": False,
                **_ref(entry),
            }
        case "CollectionCaseClosed":
            state.case = {
                "status": "closed",
                "case_id": d["case_id"],
                "since": d.get("closed_on") or occurred[:10],
                "reason": d["reason"],
                **_ref(entry),
            }
        case "CollectionCaseEscalated" | "CaseEscalated":
            if state.case is not None and state.case["status"] == "open":
                state.case = {**state.case, "escalated": True}
        case "ContactAttemptRecorded":
            state.contact_attempts_total += 1
            if window_from < _when(d.get("at"), occurred) <= state.as_of:
                state.contact_attempts_7d += 1
                if d.get("channel") == "call" and d.get("debt_id"):
                    debt = str(d["debt_id"])
                    state.calls_7d_by_debt[debt] = state.calls_7d_by_debt.get(debt, 0) + 1
        case "ContactAttemptChecked" if d.get("decision") == "blocked":
            # Counted at the time the blocked contact would have been made.
            state.blocked_attempts_total += 1
            if window_from < _when(d.get("planned_at"), occurred) <= state.as_of:
                state.blocked_attempts_7d += 1
        case _:
            pass


@dataclass(frozen=True)
class Point:
    """The account at the close of one business date: what the chart of a report draws."""

    day: date
    owed: int
    """Everything owed, in fen: principal, interest, fees and late fees."""
    days_past_due: int
    late_fees: int
    """The late fees owed, in fen."""


def over_time(entries: Iterable[Mapping[str, Any]]) -> list[Point]:
    """The account at each of its day closes, folded once in seq order (one point a date;
    a close recorded again for a date, a catch-up, replaces that date's point)."""
    balances = _Balances()
    points: dict[date, Point] = {}
    for entry in entries:
        type_, d = str(entry["type"]), entry.get("data") or {}
        try:
            balances.apply(type_, d, entry)
            if type_ == "AccountDayClosed":
                day = date.fromisoformat(str(d["business_date"]))
                points[day] = Point(
                    day=day,
                    owed=sum(balances.values.values()),
                    days_past_due=int(d["days_past_due"]),
                    late_fees=balances.values["late_fee"],
                )
        except (KeyError, TypeError, ValueError):
            continue  # an event of a schema this fold does not know: the state view says so
    return [points[day] for day in sorted(points)]
