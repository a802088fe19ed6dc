"""The plans unit of work: the platform's, plus the accounts it knows."""

from __future__ import annotations

from sqlalchemy import insert, select

from services.plans.adapters.tables import known_accounts
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

    async def remember_account(self, account_id: str, currency: str) -> None:
        """Note an account that was opened."""
        if await self.account_currency(account_id) is None:
            await self.session.execute(
                insert(known_accounts).values(account_id=account_id, currency=currency)
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
