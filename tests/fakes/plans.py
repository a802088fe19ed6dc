"""The plans ports in memory: a store that outlives transactions, repositories that
stage into it, and a unit of work that commits them (or, left uncommitted, drops them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Self

from services.plans.adapters.repository import KEPT_ONCE_SET, plan_of, plan_steps
from services.plans.domain.plan import Evidence, Plan
from services.plans.service_layer.unit_of_work import PlansPorts
from shared.catalogue import Catalogue
from shared.clock import Clock
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.events import default_catalogue
from shared.eventstore.inbox import Fact
from tests.fakes.platform import FakeOutbox

Row = dict[str, Any]


@dataclass
class PlansStore:
    """What the plans database holds once committed."""

    streams: dict[str, list[Envelope]] = field(default_factory=dict)  # by plan id
    known: dict[str, Row] = field(default_factory=dict)
    standings: dict[str, Row] = field(default_factory=dict)
    plans: dict[str, Row] = field(default_factory=dict)
    bills: dict[str, list[str]] = field(default_factory=dict)
    inbox: list[Fact] = field(default_factory=list)
    evidence: dict[tuple[str, str], Row] = field(default_factory=dict)
    outbox: list[tuple[str, Envelope]] = field(default_factory=list)


class FakePlanRepository:
    """`PlanRepository` over a `PlansStore`: appends are staged per stream after the
    version the plan had and checked against the store at flush."""

    def __init__(self, store: PlansStore, catalogue: Catalogue) -> None:
        self._store = store
        self._catalogue = catalogue
        self._seen: dict[str, Plan | None] = {}
        self._appended: dict[str, tuple[int, list[Envelope]]] = {}  # base version, events

    def _events(self, plan_id: str) -> list[Envelope]:
        staged = self._appended.get(plan_id, (0, []))[1]
        return [*self._store.streams.get(plan_id, []), *staged]

    async def prefetch(self, plan_ids: Sequence[str]) -> None:
        """Load the plans not loaded in this transaction yet."""
        for plan_id in plan_ids:
            if plan_id not in self._seen:
                self._seen[plan_id] = plan_of(self._events(plan_id), self._catalogue)

    async def get(self, account_id: str, plan_id: str) -> Plan | None:
        """The account's plan as its stream says; None if the account has no such plan."""
        await self.prefetch([plan_id])
        plan = self._seen[plan_id]
        return plan if plan is not None and plan.account_id == account_id else None

    async def add(self, plan: Plan, envelopes: Sequence[Envelope]) -> None:
        """Stage the events `plan` has just applied after the version it had before them."""
        if not envelopes:
            return
        version = plan.version - len(envelopes)
        base, staged = self._appended.get(plan.plan_id, (version, []))
        if base + len(staged) != version:
            raise ConcurrencyError(f"stream of plan {plan.plan_id} is ahead of {version}")
        self._appended[plan.plan_id] = (base, [*staged, *envelopes])
        self._seen[plan.plan_id] = plan

    async def stream(self, plan_id: str) -> list[tuple[Envelope, Plan]]:
        """Each event of the plan's stream, in order, with the plan as that event left it."""
        return plan_steps(self._events(plan_id), self._catalogue)

    async def flush(self) -> None:
        """Refuse what another transaction's commit made stale (as the unique key would)."""
        for plan_id, (base, _) in self._appended.items():
            if len(self._store.streams.get(plan_id, [])) != base:
                raise ConcurrencyError(f"stream of plan {plan_id} was appended to concurrently")

    def committed(self) -> None:
        """Write what this transaction staged into the store."""
        for plan_id, (_, events) in self._appended.items():
            self._store.streams.setdefault(plan_id, []).extend(events)
        self._appended.clear()
        self._seen.clear()


class FakeReadModels:
    """`ReadModels` over a `PlansStore`: changes kept beside the store until commit."""

    def __init__(self, store: PlansStore, now: datetime) -> None:
        self._store = store
        self._now = now
        self._known: dict[str, Row] = {}
        self._standings: dict[str, Row] = {}
        self._plans: dict[str, Row] = {}
        self._bills: dict[str, list[str]] = {}
        self._facts: list[Fact] = []

    def _all_plans(self) -> dict[str, Row]:
        return {**self._store.plans, **self._plans}

    def _inbox(self) -> list[Fact]:
        return [*self._store.inbox, *self._facts]

    async def prefetch(self, account_ids: Sequence[str], plan_ids: Sequence[str] = ()) -> None:
        """Nothing to load ahead in memory."""

    async def note(self, fact: Fact) -> None:
        """Keep a consumed fact in the inbox, in the order noted."""
        self._facts.append(fact)

    async def known_account(self, account_id: str) -> Row | None:
        """The account's currency and product, or None if plans never heard of it."""
        return self._known.get(account_id) or self._store.known.get(account_id)

    async def add_known_account(self, account_id: str, currency: str, product: str | None) -> None:
        """Remember an opened account (a known one is kept as it is)."""
        if await self.known_account(account_id) is None:
            row = {"account_id": account_id, "currency": currency, "product": product}
            self._known[account_id] = row

    async def standing(self, account_id: str) -> Row | None:
        """The account's standing at its latest close, or None."""
        return self._standings.get(account_id) or self._store.standings.get(account_id)

    async def put_standing(self, row: Row) -> None:
        """Replace the account's standing with `row`."""
        self._standings[row["account_id"]] = row

    async def plans(self, account_id: str) -> list[Row]:
        """Every plan row of the account."""
        return [r for r in self._all_plans().values() if r["account_id"] == account_id]

    async def plan(self, plan_id: str) -> Row | None:
        """One plan's row, or None."""
        return self._all_plans().get(plan_id)

    async def put_plan(self, row: Row) -> None:
        """Replace (or add) one plan's row."""
        self._plans[row["plan_id"]] = row

    async def bills(self, plan_id: str) -> list[str]:
        """The bills accounts issued for the plan's installments."""
        return [*self._store.bills.get(plan_id, []), *self._bills.get(plan_id, [])]

    async def add_bills(self, plan_id: str, bill_ids: Sequence[str]) -> None:
        """Remember more bills of the plan."""
        self._bills.setdefault(plan_id, []).extend(bill_ids)

    async def page(self, account_id: str, *, offset: int, limit: int) -> list[Row]:
        """A page of the account's plan rows, newest requests first."""
        rows = sorted(await self.plans(account_id), key=lambda r: r["plan_id"])
        rows.sort(key=lambda r: r["requested_on"], reverse=True)
        return rows[offset : offset + limit]

    async def close(self, event_id: str) -> Fact | None:
        """The day close in the inbox with this event id."""
        return next((f for f in self._closes() if f.event_id == event_id), None)

    async def first_close(self, account_id: str, business_date: date) -> Fact | None:
        """The account's first close of the date in the inbox that kept a standing."""
        return next(
            (
                f
                for f in self._closes()
                if f.account_id == account_id and f.business_date == business_date and f.data
            ),
            None,
        )

    def _closes(self) -> list[Fact]:
        return [f for f in self._inbox() if f.type == "AccountDayClosed"]

    async def facts(self, type_: str, account_id: str) -> list[Fact]:
        """The account's facts of one type in the inbox, in the order consumed."""
        return [f for f in self._inbox() if f.type == type_ and f.account_id == account_id]

    async def flush(self) -> None:
        """Nothing to write before commit."""

    def committed(self) -> None:
        """Write this transaction's rows and facts into the store."""
        s = self._store
        s.known.update(self._known)
        s.standings.update(self._standings)
        for plan_id, row in self._plans.items():
            stored = s.plans.get(plan_id, {})
            kept = {c: stored[c] for c in KEPT_ONCE_SET if row[c] is None and stored.get(c)}
            s.plans[plan_id] = {**row, **kept}
        for plan_id, bills in self._bills.items():
            s.bills.setdefault(plan_id, []).extend(bills)
        s.inbox.extend(self._facts)
        for staged in (self._known, self._standings, self._plans, self._bills):
            staged.clear()
        self._facts.clear()


class FakeEvidenceRecords:
    """`EvidenceRecords` over a `PlansStore`."""

    def __init__(self, store: PlansStore, now: datetime) -> None:
        self._store = store
        self._now = now
        self._new: dict[tuple[str, str], Row] = {}

    async def remember(self, account_id: str, doc: Evidence, received_by: str) -> bool:
        """Note a document received for the account; False if it was already noted."""
        if await self.get(account_id, doc.sha256) is not None:
            return False
        self._new[account_id, doc.sha256] = {
            "account_id": account_id,
            "sha256": doc.sha256,
            "kind": doc.kind,
            "media_type": doc.media_type,
            "size": doc.size,
            "received_by": received_by,
            "received_at": self._now,
        }
        return True

    async def get(self, account_id: str, sha256: str) -> Evidence | None:
        """A document received for this account (another account's is not found)."""
        row = {**self._store.evidence, **self._new}.get((account_id, sha256))
        if row is None:
            return None
        return Evidence(row["sha256"], row["media_type"], row["size"], row["kind"])

    async def list(self, account_id: str) -> list[Row]:
        """Every document received for the account, oldest first."""
        rows = [r for (a, _), r in {**self._store.evidence, **self._new}.items() if a == account_id]
        return sorted(rows, key=lambda r: (r["received_at"], r["sha256"]))

    def committed(self) -> None:
        """Write this transaction's documents into the store."""
        self._store.evidence.update(self._new)
        self._new.clear()


class FakePlansUnitOfWork(PlansPorts):
    """The plans unit of work over a `PlansStore`: what the service layer's handlers use of
    `PlansUnitOfWork`, with no database."""

    def __init__(self, store: PlansStore, clock: Clock) -> None:
        self.store = store
        self._clock = clock
        self._catalogue = default_catalogue()

    async def __aenter__(self) -> Self:
        self.now = self._clock.now()
        self.plans = self._plans = FakePlanRepository(self.store, self._catalogue)
        self.models = self._models = FakeReadModels(self.store, self.now)
        self.documents = self._documents = FakeEvidenceRecords(self.store, self.now)
        self.outbox = FakeOutbox()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Uncommitted work is dropped with the repositories that staged it."""

    async def flush(self) -> None:
        """Check what is staged against the store."""
        await self._plans.flush()

    async def commit(self) -> None:
        """Make everything staged durable at once, or nothing (ConcurrencyError)."""
        await self.flush()
        self._plans.committed()
        self._models.committed()
        self._documents.committed()
        self.store.outbox.extend(self.outbox.staged)
        self.outbox.staged = []
