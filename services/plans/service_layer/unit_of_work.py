"""The plans unit of work: the platform's, plus accounts, plans and evidence it knows."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import insert, select

from services.plans.adapters.tables import (
    account_standings,
    evidence,
    inbox,
    known_accounts,
    plan_bills,
    plan_index,
)
from services.plans.domain.eligibility import AccountSnapshot
from services.plans.domain.plan import Evidence, Plan
from services.plans.domain.policy import DEFAULT_POLICY, PlansPolicy
from services.plans.service_layer.projections import (
    apply_fact,
    fact_of,
    index_plan,
    set_offer_basis,
    standing_basis,
    stream_id,
)
from shared.envelope import Envelope
from shared.eventstore.inbox import note
from shared.eventstore.rebuild import Target
from shared.uow import SqlUnitOfWork

__all__ = ["OPEN_STATES", "PlansUnitOfWork", "standing_basis", "stream_id"]

OPEN_STATES = ("requested", "offered", "accepted", "active")


class PlansUnitOfWork(SqlUnitOfWork):
    """One transaction over the plans database."""

    policy: PlansPolicy = DEFAULT_POLICY
    """The relief policy; bootstrap sets the configured one on a subclass."""

    async def account_currency(self, account_id: str) -> str | None:
        """The currency of a known account, or None if plans never heard of it."""
        row = (
            await self.session.execute(
                select(known_accounts.c.currency).where(known_accounts.c.account_id == account_id)
            )
        ).first()
        return row[0] if row else None

    async def standing(self, account_id: str) -> dict[str, Any] | None:
        """The account's standing at its latest close, or None before any close."""
        t, k = account_standings, known_accounts
        row = await self.session.execute(
            select(t, k.c.product, k.c.currency)
            .join(k, k.c.account_id == t.c.account_id)
            .where(t.c.account_id == account_id)
        )
        found = row.mappings().first()
        if found is None:
            return None
        return {
            **dict(found),
            "balances": json.loads(found["balances"]),
            "overdue": json.loads(found["overdue"]),
        }

    async def snapshot(self, account_id: str) -> AccountSnapshot | None:
        """The account as eligibility sees it: its last close plus its plan history."""
        standing = await self.standing(account_id)
        if standing is None:
            return None
        p = plan_index
        rows = (
            await self.session.execute(
                select(p.c.plan_id, p.c.plan_type, p.c.state, p.c.activated_on, p.c.ended_on).where(
                    p.c.account_id == account_id
                )
            )
        ).all()
        active = next((r.plan_id for r in rows if r.state == "active"), None)
        reinstalled = [
            r.activated_on
            for r in rows
            if r.plan_type in ("reinstallment", "personalised") and r.activated_on is not None
        ]
        broken = [r.ended_on for r in rows if r.state == "broken" and r.ended_on is not None]
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
        envelopes, _ = await self.events.load(stream_id(plan_id))
        if not envelopes or envelopes[0].account_id != account_id:
            return None
        return Plan.from_events(account_id, [self._catalogue.parse(e) for e in envelopes])

    async def take_in(self, env: Envelope) -> None:
        """Keep a consumed fact in the inbox and project it, if a read model reads it."""
        fact = fact_of(env)
        if fact is not None:
            await note(self.session, inbox, fact, self.now)
            await apply_fact(Target(self.session), fact)

    async def index(self, plan: Plan, on: date) -> None:
        """Keep the plan's row in step with its state (`on`: the business date of the change)."""
        await index_plan(Target(self.session), plan, on)

    async def set_offer_basis(self, plan_id: str, basis: str) -> None:
        """Remember which standing the plan's offer was priced from."""
        await set_offer_basis(Target(self.session), plan_id, basis)

    async def offer_basis(self, plan_id: str) -> str | None:
        """The standing fingerprint the plan's offer was priced from."""
        p = plan_index
        row = (
            await self.session.execute(select(p.c.offer_basis).where(p.c.plan_id == plan_id))
        ).first()
        return row[0] if row else None

    async def open_plans(self, account_id: str) -> list[tuple[str, str]]:
        """(plan id, state) of every plan of the account not yet ended, oldest first."""
        p = plan_index
        rows = await self.session.execute(
            select(p.c.plan_id, p.c.state)
            .where(p.c.account_id == account_id, p.c.state.in_(OPEN_STATES))
            .order_by(p.c.requested_on, p.c.plan_id)
        )
        return [(r.plan_id, r.state) for r in rows]

    async def plan_rows(self, account_id: str, *, offset: int, limit: int) -> list[dict[str, Any]]:
        """A page of the account's plans (newest requests first), as indexed."""
        p = plan_index
        rows = await self.session.execute(
            select(p)
            .where(p.c.account_id == account_id)
            .order_by(p.c.requested_on.desc(), p.c.plan_id)
            .offset(offset)
            .limit(limit)
        )
        return [dict(r) for r in rows.mappings()]

    async def remember_evidence(self, account_id: str, doc: Evidence, received_by: str) -> bool:
        """Note a document received for the account; False if it was already noted."""
        if await self.evidence(account_id, doc.sha256) is not None:
            return False
        await self.session.execute(
            insert(evidence).values(
                account_id=account_id,
                sha256=doc.sha256,
                kind=doc.kind,
                media_type=doc.media_type,
                size=doc.size,
                received_by=received_by,
                received_at=self.now,
            )
        )
        return True

    async def evidence(self, account_id: str, sha256: str) -> Evidence | None:
        """A document received for this account (another account's is not found)."""
        e = evidence
        row = (
            await self.session.execute(
                select(e.c.sha256, e.c.media_type, e.c.size, e.c.kind).where(
                    e.c.account_id == account_id, e.c.sha256 == sha256
                )
            )
        ).first()
        return Evidence(row.sha256, row.media_type, row.size, row.kind) if row else None

    async def evidence_list(self, account_id: str) -> list[dict[str, Any]]:
        """Every document received for the account, oldest first."""
        e = evidence
        rows = await self.session.execute(
            select(e).where(e.c.account_id == account_id).order_by(e.c.received_at, e.c.sha256)
        )
        return [dict(r) for r in rows.mappings()]

    async def plan_bills(self, plan_id: str) -> list[str]:
        """The bills accounts issued for the plan's installments (none for other measures)."""
        b = plan_bills
        rows = await self.session.execute(select(b.c.bill_id).where(b.c.plan_id == plan_id))
        return [r[0] for r in rows]
