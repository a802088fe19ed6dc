"""Contact's repositories on SQL: what contact knows of each account (fed by consumed
facts), the open cases agents pull from, and the reminders work queue.

They implement `services.contact.service_layer.ports`; the unit of work owns the session
and the transaction, these only read and write inside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.contact.adapters.projections import CASE_EVENTS, apply_case_event, apply_fact
from services.contact.adapters.tables import (
    borrowers,
    inbox,
    open_cases,
    payments,
    reminders,
    standings,
)
from services.contact.domain.model import Payment
from services.contact.domain.reminders import ReminderKey
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact, note
from shared.eventstore.rebuild import Target

# Rows predating the currency column: arrears' two jurisdictions have one currency each.
_CURRENCY_OF = {"CN": "CNY", "US": "USD"}


class SqlAccountFacts:
    """Borrowers, standings and payments, projected from the consumed-facts inbox."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def take_in(self, fact: Fact) -> bool:
        """Keep a consumed fact in the inbox and project it; True when the bucket changed."""
        await note(self._session, inbox, fact, self._now)
        return await apply_fact(Target(self._session), fact)

    async def borrower(self, account_id: str) -> tuple[str, str] | None:
        """(time zone, jurisdiction) of an account, or None if contact never heard of it."""
        row = (
            await self._session.execute(
                select(borrowers.c.time_zone, borrowers.c.jurisdiction).where(
                    borrowers.c.account_id == account_id
                )
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def currency(self, account_id: str) -> str:
        """The account's currency (by jurisdiction for accounts learnt before it was kept)."""
        row = (
            await self._session.execute(
                select(borrowers.c.currency, borrowers.c.jurisdiction).where(
                    borrowers.c.account_id == account_id
                )
            )
        ).first()
        if row is None:
            raise LookupError(f"no account {account_id}")
        return str(row[0] or _CURRENCY_OF[row[1]])

    async def standing(self, account_id: str) -> dict[str, Any] | None:
        """The account's latest bucket, DPD and the business date they are as of."""
        row = (
            await self._session.execute(
                select(standings).where(standings.c.account_id == account_id)
            )
        ).first()
        return dict(row._mapping) if row else None

    async def bucket(self, account_id: str) -> str | None:
        """The account's latest bucket, or None before accounts reported one."""
        return (
            await self._session.execute(
                select(standings.c.bucket).where(standings.c.account_id == account_id)
            )
        ).scalar_one_or_none()

    async def payments(self, account_id: str) -> list[Payment]:
        """Every payment of the account contact heard of."""
        rows = await self._session.execute(
            select(payments.c.business_date, payments.c.amount).where(
                payments.c.account_id == account_id
            )
        )
        return [Payment(r[0], r[1]) for r in rows]


class SqlOpenCases:
    """The open-cases read model: projected from contact's events, claimed by agents."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def project(self, envelopes: Sequence[Envelope]) -> None:
        """Apply recorded events to the rows, as `arrears rebuild contact` applies them."""
        target = Target(self._session)
        for env in envelopes:
            if env.type in CASE_EVENTS:
                await apply_case_event(target, env)

    async def row(self, account_id: str) -> dict[str, Any] | None:
        """The read-model row of an account's open case."""
        row = (
            await self._session.execute(
                select(open_cases).where(open_cases.c.account_id == account_id)
            )
        ).first()
        return dict(row._mapping) if row else None

    def _claimable(self, stale_before: datetime) -> Any:
        return and_(
            or_(open_cases.c.assigned_to.is_(None), open_cases.c.claimed_at < stale_before),
            or_(open_cases.c.next_action_at.is_(None), open_cases.c.next_action_at <= self._now),
        )

    async def claimable(
        self, queue: str, stale_before: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Cases of a queue nobody holds (or whose holder let them go stale), oldest first."""
        rows = await self._session.execute(
            select(open_cases)
            .where(open_cases.c.queue == queue, self._claimable(stale_before))
            .order_by(open_cases.c.opened_on, open_cases.c.account_id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def take(self, account_id: str, case_id: str, agent: str, stale_before: datetime) -> bool:
        """Assign a case to `agent` if it is still free; False when someone was quicker."""
        result = await self._session.execute(
            update(open_cases)
            .where(
                open_cases.c.account_id == account_id,
                open_cases.c.case_id == case_id,
                self._claimable(stale_before),
            )
            .values(assigned_to=agent, claimed_at=self._now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def held_by(self, agent: str, stale_before: datetime) -> int:
        """How many open cases an agent holds (claims gone stale do not count)."""
        return int(
            (
                await self._session.execute(
                    select(func.count()).where(
                        open_cases.c.assigned_to == agent, open_cases.c.claimed_at >= stale_before
                    )
                )
            ).scalar_one()
        )

    async def queue_counts(self, stale_before: datetime) -> dict[str, dict[str, int]]:
        """Per queue: open cases, those nobody holds, and those ready to claim now."""
        rows = await self._session.execute(select(open_cases))
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            counts = out.setdefault(r.queue, {"open": 0, "unassigned": 0, "ready": 0})
            counts["open"] += 1
            free = r.assigned_to is None or r.claimed_at < stale_before
            counts["unassigned"] += free
            counts["ready"] += free and (r.next_action_at is None or r.next_action_at <= self._now)
        return out

    async def agent_loads(self) -> dict[str, int]:
        """Open cases per agent holding any."""
        rows = await self._session.execute(
            select(open_cases.c.assigned_to, func.count())
            .where(open_cases.c.assigned_to.is_not(None))
            .group_by(open_cases.c.assigned_to)
        )
        return {r[0]: r[1] for r in rows}


class SqlReminders:
    """The reminders work queue the reminder worker polls by next try."""

    def __init__(self, session: AsyncSession, now: datetime) -> None:
        self._session = session
        self._now = now

    async def schedule(self, key: ReminderKey, *, amount_due: int, currency: str) -> bool:
        """A pending reminder, due now; False (and nothing changes) when it already exists,
        whatever became of it: a redelivered event never reminds twice."""
        account_id, bill_id, due_date, kind = key
        if await self.get(key) is not None:
            return False
        await self._session.execute(
            insert(reminders).values(
                account_id=account_id,
                bill_id=bill_id,
                due_date=due_date,
                kind=kind,
                amount_due=amount_due,
                currency=currency,
                status="pending",
                tries=0,
                next_try_at=self._now,
                last_reason=None,
            )
        )
        return True

    async def has_pending(self, account_id: str, bill_id: str) -> bool:
        """Whether a reminder about the bill still waits to go out."""
        row = (
            await self._session.execute(
                select(reminders.c.kind).where(
                    reminders.c.account_id == account_id,
                    reminders.c.bill_id == bill_id,
                    reminders.c.status == "pending",
                )
            )
        ).first()
        return row is not None

    async def skip_pending(self, account_id: str, bill_ids: list[str], reason: str) -> None:
        """Pending reminders about these bills will not go out, for `reason`."""
        if not bill_ids:
            return
        await self._session.execute(
            update(reminders)
            .where(
                reminders.c.account_id == account_id,
                reminders.c.bill_id.in_(bill_ids),
                reminders.c.status == "pending",
            )
            .values(status="skipped", last_reason=reason)
        )

    async def due(self, limit: int) -> list[ReminderKey]:
        """Pending reminders whose next try is due now, the longest waiting first."""
        rows = await self._session.execute(
            select(
                reminders.c.account_id, reminders.c.bill_id, reminders.c.due_date, reminders.c.kind
            )
            .where(reminders.c.status == "pending", reminders.c.next_try_at <= self._now)
            .order_by(reminders.c.next_try_at, reminders.c.account_id)
            .limit(limit)
        )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    def _reminder_is(self, key: ReminderKey) -> Any:
        account_id, bill_id, due_date, kind = key
        return and_(
            reminders.c.account_id == account_id,
            reminders.c.bill_id == bill_id,
            reminders.c.due_date == due_date,
            reminders.c.kind == kind,
        )

    async def get(self, key: ReminderKey) -> dict[str, Any] | None:
        """One reminder's row."""
        row = (await self._session.execute(select(reminders).where(self._reminder_is(key)))).first()
        return dict(row._mapping) if row else None

    async def of(self, account_id: str) -> list[dict[str, Any]]:
        """Every reminder of an account, by due date."""
        rows = await self._session.execute(
            select(reminders)
            .where(reminders.c.account_id == account_id)
            .order_by(reminders.c.due_date, reminders.c.bill_id, reminders.c.kind)
        )
        return [dict(r._mapping) for r in rows]

    async def update(self, key: ReminderKey, **values: Any) -> None:
        """Change a reminder's status, tries, next try or reason."""
        await self._session.execute(
            update(reminders).where(self._reminder_is(key)).values(**values)
        )
