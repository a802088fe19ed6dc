"""The contact ports in memory: a store that outlives transactions, repositories that work
on a copy of it, and a unit of work that writes the copy back at commit."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Self
from zoneinfo import ZoneInfo

from services.contact.adapters.projections import UNROUTED, start_of_day_after
from services.contact.domain.model import Payment
from services.contact.domain.reminders import ReminderKey
from shared.clock import Clock
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact

Row = dict[str, Any]
_CURRENCY_OF = {"CN": "CNY", "US": "USD"}


@dataclass
class ContactStore:
    """What the contact database's read models and work queue hold once committed."""

    facts: list[Fact] = field(default_factory=list)
    borrowers: dict[str, Row] = field(default_factory=dict)
    standings: dict[str, Row] = field(default_factory=dict)
    payments: dict[tuple[str, str], Payment] = field(default_factory=dict)
    open_cases: dict[str, Row] = field(default_factory=dict)
    reminders: dict[ReminderKey, Row] = field(default_factory=dict)


class FakeAccountFacts:
    """`AccountFacts` on a store."""

    def __init__(self, store: ContactStore) -> None:
        self._s = store

    async def take_in(self, fact: Fact) -> bool:
        """Keep the fact and project it; True when the bucket changed."""
        s, d, account = self._s, fact.data, fact.account_id
        s.facts.append(fact)
        if fact.type == "AccountOpened":
            s.borrowers.setdefault(account, dict(d))
            return False
        if fact.type == "PaymentAllocated":
            assert fact.business_date is not None
            payment = Payment(fact.business_date, d["amount"])
            s.payments.setdefault((account, d["payment_id"]), payment)
            return False
        before = s.standings.get(account, {}).get("bucket")
        s.standings[account] = {
            "account_id": account,
            "bucket": d["bucket"],
            "days_past_due": d["days_past_due"],
            "business_date": fact.business_date,
        }
        return bool(before != d["bucket"])

    async def borrower(self, account_id: str) -> tuple[str, str] | None:
        """(time zone, jurisdiction), or None."""
        b = self._s.borrowers.get(account_id)
        return (b["time_zone"], b["jurisdiction"]) if b else None

    async def currency(self, account_id: str) -> str:
        """The account's currency."""
        b = self._s.borrowers.get(account_id)
        if b is None:
            raise LookupError(f"no account {account_id}")
        return str(b.get("currency") or _CURRENCY_OF[b["jurisdiction"]])

    async def standing(self, account_id: str) -> Row | None:
        """The latest standing."""
        found = self._s.standings.get(account_id)
        return dict(found) if found else None

    async def bucket(self, account_id: str) -> str | None:
        """The latest bucket."""
        return self._s.standings.get(account_id, {}).get("bucket")

    async def payments(self, account_id: str) -> list[Payment]:
        """The account's payments."""
        return [p for (a, _), p in self._s.payments.items() if a == account_id]


class FakeOpenCases:
    """`OpenCases` on a store."""

    def __init__(self, store: ContactStore, now: datetime) -> None:
        self._rows = store.open_cases
        self._borrowers = store.borrowers
        self._now = now

    async def project(self, envelopes: Sequence[Envelope]) -> None:
        """Apply recorded events to the rows."""
        for env in envelopes:
            self._apply(env)

    def _apply(self, env: Envelope) -> None:
        d, account = env.data, env.account_id
        if env.type in ("CollectionCaseOpened", "CollectionCaseClosed"):
            self._rows.pop(account, None)
            if env.type == "CollectionCaseOpened":
                self._rows[account] = {
                    "account_id": account,
                    "case_id": d["case_id"],
                    **dict.fromkeys(("queue", "segment", "bucket"), UNROUTED),
                    "assigned_to": None,
                    "claimed_at": None,
                    "next_action_at": None,
                    "opened_on": date.fromisoformat(d["opened_on"]),
                }
            return
        row = self._rows.get(account)
        of_other_case = env.type.startswith("CollectionCase") and d["case_id"] != (row or {}).get(
            "case_id"
        )
        if row is None or of_other_case:
            return
        match env.type:
            case "CollectionCaseRouted":
                row.update(queue=d["queue"], segment=d["segment"], bucket=d["bucket"])
                row.update(assigned_to=None, claimed_at=None)
            case "CollectionCaseReclassified":
                row.update(segment=d["segment"], bucket=d["bucket"])
            case "CollectionCaseAssigned":
                row.update(assigned_to=d["agent"], claimed_at=env.recorded_at)
            case "ContactAttemptRecorded" if d.get("agent") and d["agent"] == row["assigned_to"]:
                row["claimed_at"] = env.recorded_at
            case "PromiseToPayMade" if account in self._borrowers:
                zone = ZoneInfo(self._borrowers[account]["time_zone"])
                row["next_action_at"] = start_of_day_after(date.fromisoformat(d["due_on"]), zone)
            case "PromiseToPayKept" | "PromiseToPayBroken":
                row["next_action_at"] = None
            case "CallbackAgreed":
                row["next_action_at"] = datetime.fromisoformat(d["slot_start"])

    async def row(self, account_id: str) -> Row | None:
        """The row of an account's open case."""
        found = self._rows.get(account_id)
        return dict(found) if found else None

    def _free(self, r: Row, stale_before: datetime) -> bool:
        return r["assigned_to"] is None or r["claimed_at"] < stale_before

    def _ready(self, r: Row) -> bool:
        return r["next_action_at"] is None or r["next_action_at"] <= self._now

    async def claimable(self, queue: str, stale_before: datetime, limit: int) -> list[Row]:
        """Free, due cases of the queue, oldest first."""
        rows = [
            dict(r)
            for r in self._rows.values()
            if r["queue"] == queue and self._free(r, stale_before) and self._ready(r)
        ]
        return sorted(rows, key=lambda r: (r["opened_on"], r["account_id"]))[:limit]

    async def take(self, account_id: str, case_id: str, agent: str, stale_before: datetime) -> bool:
        """Assign the case if it is still free."""
        r = self._rows.get(account_id)
        if r is None or r["case_id"] != case_id:
            return False
        if not (self._free(r, stale_before) and self._ready(r)):
            return False
        r.update(assigned_to=agent, claimed_at=self._now)
        return True

    async def held_by(self, agent: str, stale_before: datetime) -> int:
        """Cases the agent holds by a fresh claim."""
        return sum(
            r["assigned_to"] == agent and r["claimed_at"] >= stale_before
            for r in self._rows.values()
        )

    async def queue_counts(self, stale_before: datetime) -> dict[str, dict[str, int]]:
        """Open, unassigned and ready cases per queue."""
        out: dict[str, dict[str, int]] = {}
        for r in self._rows.values():
            counts = out.setdefault(r["queue"], {"open": 0, "unassigned": 0, "ready": 0})
            free = self._free(r, stale_before)
            counts["open"] += 1
            counts["unassigned"] += free
            counts["ready"] += free and self._ready(r)
        return out

    async def agent_loads(self) -> dict[str, int]:
        """Open cases per agent holding any."""
        out: dict[str, int] = {}
        for r in self._rows.values():
            if r["assigned_to"] is not None:
                out[r["assigned_to"]] = out.get(r["assigned_to"], 0) + 1
        return out


class FakeReminders:
    """`Reminders` on a store."""

    def __init__(self, store: ContactStore, now: datetime) -> None:
        self._rows = store.reminders
        self._now = now

    async def schedule(self, key: ReminderKey, *, amount_due: int, currency: str) -> bool:
        """A pending reminder due now, once per key."""
        if key in self._rows:
            return False
        account_id, bill_id, due_date, kind = key
        self._rows[key] = {
            "account_id": account_id,
            "bill_id": bill_id,
            "due_date": due_date,
            "kind": kind,
            "amount_due": amount_due,
            "currency": currency,
            "status": "pending",
            "tries": 0,
            "next_try_at": self._now,
            "last_reason": None,
        }
        return True

    async def has_pending(self, account_id: str, bill_id: str) -> bool:
        """Whether a reminder about the bill waits to go out."""
        return any(
            k[0] == account_id and k[1] == bill_id and r["status"] == "pending"
            for k, r in self._rows.items()
        )

    async def skip_pending(self, account_id: str, bill_ids: list[str], reason: str) -> None:
        """Skip the pending reminders of these bills."""
        for k, r in self._rows.items():
            if k[0] == account_id and k[1] in bill_ids and r["status"] == "pending":
                r.update(status="skipped", last_reason=reason)

    async def due(self, limit: int) -> list[ReminderKey]:
        """Pending reminders due now, the longest waiting first."""
        due = [
            (r["next_try_at"], k[0], k)
            for k, r in self._rows.items()
            if r["status"] == "pending" and r["next_try_at"] <= self._now
        ]
        return [k for _, _, k in sorted(due)][:limit]

    async def get(self, key: ReminderKey) -> Row | None:
        """One reminder."""
        found = self._rows.get(key)
        return dict(found) if found else None

    async def of(self, account_id: str) -> list[Row]:
        """An account's reminders, by due date."""
        rows = [dict(r) for k, r in self._rows.items() if k[0] == account_id]
        return sorted(rows, key=lambda r: (r["due_date"], r["bill_id"], r["kind"]))

    async def update(self, key: ReminderKey, **values: Any) -> None:
        """Change a reminder."""
        if key in self._rows:
            self._rows[key].update(values)


class FakeContactUnitOfWork:
    """The contact repositories over a `ContactStore`: a copy per transaction, written
    back at commit."""

    def __init__(self, store: ContactStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock

    async def __aenter__(self) -> Self:
        self.now = self._clock.now()
        self._work = copy.deepcopy(self.store)
        self.accounts = FakeAccountFacts(self._work)
        self.cases = FakeOpenCases(self._work, self.now)
        self.reminders = FakeReminders(self._work, self.now)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Uncommitted work is dropped with its copy."""

    async def commit(self) -> None:
        """Make this transaction's copy the store."""
        self.store.__dict__.update(copy.deepcopy(self._work).__dict__)
