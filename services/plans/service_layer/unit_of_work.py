"""The plans unit of work: the platform's, plus the accounts it knows."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sqlalchemy import delete, insert, select

from services.plans.adapters.tables import account_standings, known_accounts
from shared.envelope import Envelope, decode_envelope
from shared.uow import SqlUnitOfWork


def stream_id(plan_id: str) -> str:
    """The event stream of one plan."""
    return f"plan-{plan_id}"


class PlansUnitOfWork(SqlUnitOfWork):
    """One transaction over the plans database."""

    async def account_currency(self, account_id: str) -> str | None:
        """The currency of a known account, or None if plans never heard of it."""
        row = (
            await self.session.execute(
                select(known_accounts.c.currency).where(known_accounts.c.account_id == account_id)
            )
        ).first()
        return row[0] if row else None

    async def remember_account(self, account_id: str, currency: str, product: str) -> None:
        """Note an account that was opened."""
        if await self.account_currency(account_id) is None:
            await self.session.execute(
                insert(known_accounts).values(
                    account_id=account_id, currency=currency, product=product
                )
            )

    async def plans_of(self, account_id: str, *, offset: int, limit: int) -> list[Envelope]:
        """A page of an account's plan events, oldest first."""
        events = self._tables.events
        rows = await self.session.execute(
            select(events.c.envelope)
            .where(events.c.account_id == account_id)
            .order_by(events.c.position)
            .offset(offset)
            .limit(limit)
        )
        return [decode_envelope(r[0]) for r in rows]

    async def set_standing(self, account_id: str, data: dict[str, Any]) -> None:
        """Keep the account's standing at its latest close (an older close never wins)."""
        t = account_standings
        current = (
            await self.session.execute(
                select(t.c.business_date).where(t.c.account_id == account_id)
            )
        ).first()
        day = date.fromisoformat(str(data["business_date"]))
        if current is not None and current[0] >= day:
            return
        await self.session.execute(delete(t).where(t.c.account_id == account_id))
        await self.session.execute(
            insert(t).values(
                account_id=account_id,
                business_date=day,
                bucket=data["bucket"],
                days_past_due=data["days_past_due"],
                balances=json.dumps(data["balances"]),
                overdue=json.dumps(data["overdue"]),
                deferral_months_used=data.get("deferral_months_used") or 0,
            )
        )

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
