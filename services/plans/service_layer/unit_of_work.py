"""The plans unit of work: the platform's transaction and stores, plus the plans
repositories (`service_layer.ports`, implemented in `adapters.repository`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from services.plans.adapters.repository import (
    SqlEvidenceRecords,
    SqlPlanRepository,
    SqlReadModels,
)
from services.plans.domain.eligibility import AccountSnapshot
from services.plans.domain.plan import Evidence, Plan
from services.plans.domain.policy import DEFAULT_POLICY, PlansPolicy
from services.plans.service_layer.ports import EvidenceRecords, PlanRepository, ReadModels
from services.plans.service_layer.projections import (
    apply_fact,
    fact_of,
    index_plan,
    set_offer_basis,
    standing_basis,
    stream_id,
)
from shared.envelope import Envelope
from shared.uow import SqlUnitOfWork

__all__ = ["OPEN_STATES", "PlansPorts", "PlansUnitOfWork", "standing_basis", "stream_id"]

OPEN_STATES = ("requested", "offered", "accepted", "active")
NAMES_A_PLAN = ("BalanceReinstalled", "PlanTermsRefused")
"""Consumed events whose data names the plan they are about."""


class PlansPorts:
    """What the plans handlers ask of a unit of work, answered through its ports alone: the
    SQL unit of work and the tests' in-memory one share it."""

    policy: PlansPolicy = DEFAULT_POLICY
    """The relief policy; bootstrap sets the configured one on a subclass."""

    now: datetime
    plans: PlanRepository
    models: ReadModels
    documents: EvidenceRecords
    outbox: Any
    """The platform's outbox (or a fake's): `add(topic, envelopes)` queues events."""

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """Load what handling a run of consumed events reads, a query per table: the read
        models of their accounts, and the streams of those accounts' open plans."""
        accounts = [e.account_id for e in envelopes]
        named = [e.data["plan_id"] for e in envelopes if e.type in NAMES_A_PLAN]
        await self.models.prefetch(accounts, named)
        open_plans = [
            r["plan_id"]
            for account_id in dict.fromkeys(accounts)
            for r in await self.models.plans(account_id)
            if r["state"] in OPEN_STATES
        ]
        await self.plans.prefetch([*open_plans, *named])

    async def account_currency(self, account_id: str) -> str | None:
        """The currency of a known account, or None if plans never heard of it."""
        known = await self.models.known_account(account_id)
        return None if known is None else str(known["currency"])

    async def standing(self, account_id: str) -> dict[str, Any] | None:
        """The account's standing at its latest close, or None before any close (or of an
        account plans never heard of)."""
        standing = await self.models.standing(account_id)
        known = await self.models.known_account(account_id)
        if standing is None or known is None:
            return None
        return {**standing, "product": known["product"], "currency": known["currency"]}

    async def snapshot(self, account_id: str) -> AccountSnapshot | None:
        """The account as eligibility sees it: its last close plus its plan history."""
        standing = await self.standing(account_id)
        if standing is None:
            return None
        rows = await self.models.plans(account_id)
        active = next((r["plan_id"] for r in rows if r["state"] == "active"), None)
        reinstalled = [
            r["activated_on"]
            for r in rows
            if r["plan_type"] in ("reinstallment", "personalised") and r["activated_on"]
        ]
        broken = [r["ended_on"] for r in rows if r["state"] == "broken" and r["ended_on"]]
        return AccountSnapshot(
            account_id=account_id,
            product=standing["product"] or "consumer_credit",
            currency=standing["currency"],
            bucket=standing["bucket"],
            dpd=standing["days_past_due"],
            today=standing["business_date"],
            balances=standing["balances"],
            overdue=standing["overdue"],
            deferral_months_used=standing["deferral_months_used"],
            last_reinstallment_on=max(reinstalled, default=None),
            last_broken_plan_on=max(broken, default=None),
            active_plan_id=active,
        )

    async def plan(self, account_id: str, plan_id: str) -> Plan | None:
        """One plan of the account, rebuilt from its stream; None if the account has none."""
        return await self.plans.get(account_id, plan_id)

    async def save(self, plan: Plan, envelopes: Sequence[Envelope], topic: str) -> None:
        """Append the events the plan just applied to its stream and queue them for `topic`."""
        await self.plans.add(plan, envelopes)
        await self.outbox.add(topic, envelopes)

    async def take_in(self, env: Envelope) -> None:
        """Keep a consumed fact in the inbox and project it, if a read model reads it."""
        fact = fact_of(env)
        if fact is not None:
            await self.models.note(fact)
            await apply_fact(self.models, fact)

    async def index(self, plan: Plan, on: date) -> None:
        """Keep the plan's row in step with its state (`on`: the business date of the change)."""
        await index_plan(self.models, plan, on)

    async def set_offer_basis(self, plan_id: str, basis: str) -> None:
        """Remember which standing the plan's offer was priced from."""
        await set_offer_basis(self.models, plan_id, basis)

    async def offer_basis(self, plan_id: str) -> str | None:
        """The standing fingerprint the plan's offer was priced from."""
        row = await self.models.plan(plan_id)
        return None if row is None else row["offer_basis"]

    async def open_plans(self, account_id: str) -> list[tuple[str, str]]:
        """(plan id, state) of every plan of the account not yet ended, oldest first."""
        rows = [r for r in await self.models.plans(account_id) if r["state"] in OPEN_STATES]
        rows.sort(key=lambda r: (r["requested_on"], r["plan_id"]))
        return [(r["plan_id"], r["state"]) for r in rows]

    async def plan_rows(self, account_id: str, *, offset: int, limit: int) -> list[dict[str, Any]]:
        """A page of the account's plans (newest requests first), as indexed."""
        return await self.models.page(account_id, offset=offset, limit=limit)

    async def remember_evidence(self, account_id: str, doc: Evidence, received_by: str) -> bool:
        """Note a document received for the account; False if it was already noted."""
        return await self.documents.remember(account_id, doc, received_by)

    async def evidence(self, account_id: str, sha256: str) -> Evidence | None:
        """A document received for this account (another account's is not found)."""
        return await self.documents.get(account_id, sha256)

    async def evidence_list(self, account_id: str) -> list[dict[str, Any]]:
        """Every document received for the account, oldest first."""
        return await self.documents.list(account_id)

    async def plan_bills(self, plan_id: str) -> list[str]:
        """The bills accounts issued for the plan's installments (none for other measures)."""
        return await self.models.bills(plan_id)


class PlansUnitOfWork(PlansPorts, SqlUnitOfWork):
    """One transaction over the plans database."""

    async def __aenter__(self) -> PlansUnitOfWork:
        await super().__aenter__()
        self.plans = SqlPlanRepository(self.events, self._catalogue)
        self.models = SqlReadModels(self.session, self.now)
        self.documents = SqlEvidenceRecords(self.session, self.now)
        return self

    async def flush(self) -> None:
        """The platform's staged rows, then the read models' and the inbox's."""
        await super().flush()
        await self.models.flush()
