"""The contact unit of work: the platform's, plus case files and contact's read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import and_, func, insert, or_, select, update

from services.contact.adapters.tables import (
    borrowers,
    inbox,
    open_cases,
    payments,
    reminders,
    standings,
)
from services.contact.domain.compliance import DEFAULT_PACKS, RulePacks
from services.contact.domain.model import CaseFile, Payment
from services.contact.domain.policy import DEFAULT_POLICY, ContactPolicy
from services.contact.service_layer.projections import CASE_EVENTS, apply_case_event, apply_fact
from shared.envelope import Envelope
from shared.eventstore.inbox import Fact, note
from shared.eventstore.rebuild import Target
from shared.uow import SqlUnitOfWork

ReminderKey = tuple[str, str, date, str]
"""(account_id, bill_id, due_date, kind): one reminder."""

# Rows predating the currency column: arrears' two jurisdictions have one currency each.
_CURRENCY_OF = {"CN": "CNY", "US": "USD"}


def stream_id(account_id: str) -> str:
    """The event stream of one account's collection cases."""
    return f"cases-{account_id}"


def contact_stream(account_id: str) -> str:
    """The event stream of one account's contact attempts and compliance decisions."""
    return f"contact-{account_id}"


class ContactUnitOfWork(SqlUnitOfWork):
    """One transaction over the contact database."""

    policy: ClassVar[ContactPolicy] = DEFAULT_POLICY
    packs: ClassVar[RulePacks] = DEFAULT_PACKS

    async def case_file(self, account_id: str) -> CaseFile:
        """An account's case file as its stream says."""
        events, version = await self.events.load(stream_id(account_id))
        return CaseFile.from_events(account_id, events, version)

    async def contact_log(self, account_id: str) -> tuple[list[Envelope], int]:
        """The account's contact events and the stream version."""
        return await self.events.load(contact_stream(account_id))

    # -- borrowers ------------------------------------------------------------------------

    async def record(
        self, stream_id: str, expected_version: int, envelopes: Sequence[Envelope], topic: str
    ) -> int:
        """Append and queue the events, and project each onto the open cases as recorded:
        the queues are a function of the events, which `arrears rebuild` re-applies."""
        version = await super().record(stream_id, expected_version, envelopes, topic)
        target = Target(self.session)
        for env in envelopes:
            if env.type in CASE_EVENTS:
                await apply_case_event(target, env)
        return version

    async def take_in(self, fact: Fact) -> bool:
        """Keep a consumed fact in the inbox and project it; True when the bucket changed."""
        await note(self.session, inbox, fact, self.now)
        return await apply_fact(Target(self.session), fact)

    async def borrower(self, account_id: str) -> tuple[str, str] | None:
        """(time zone, jurisdiction) of an account, or None if contact never heard of it."""
        row = (
            await self.session.execute(
                select(borrowers.c.time_zone, borrowers.c.jurisdiction).where(
                    borrowers.c.account_id == account_id
                )
            )
        ).first()
        return (row[0], row[1]) if row else None

    async def currency(self, account_id: str) -> str:
        """The account's currency (by jurisdiction for accounts learnt before it was kept)."""
        row = (
            await self.session.execute(
                select(borrowers.c.currency, borrowers.c.jurisdiction).where(
                    borrowers.c.account_id == account_id
                )
            )
        ).first()
        if row is None:
            raise LookupError(f"no account {account_id}")
        return str(row[0] or _CURRENCY_OF[row[1]])

    # -- what accounts told us ---------------------------------------------------------------

    async def standing(self, account_id: str) -> dict[str, Any] | None:
        """The account's latest bucket, DPD and the business date they are as of."""
        row = (
            await self.session.execute(
                select(standings).where(standings.c.account_id == account_id)
            )
        ).first()
        return dict(row._mapping) if row else None

    async def bucket(self, account_id: str) -> str | None:
        """The account's latest bucket, or None before accounts reported one."""
        return (
            await self.session.execute(
                select(standings.c.bucket).where(standings.c.account_id == account_id)
            )
        ).scalar_one_or_none()

    async def payments(self, account_id: str) -> list[Payment]:
        """Every payment of the account contact heard of."""
        rows = await self.session.execute(
            select(payments.c.business_date, payments.c.amount).where(
                payments.c.account_id == account_id
            )
        )
        return [Payment(r[0], r[1]) for r in rows]

    # -- the open-cases read model -------------------------------------------------------------

    async def open_case_row(self, account_id: str) -> dict[str, Any] | None:
        """The read-model row of an account's open case."""
        row = (
            await self.session.execute(
                select(open_cases).where(open_cases.c.account_id == account_id)
            )
        ).first()
        return dict(row._mapping) if row else None

    def _claimable(self, stale_before: datetime) -> Any:
        return and_(
            or_(open_cases.c.assigned_to.is_(None), open_cases.c.claimed_at < stale_before),
            or_(open_cases.c.next_action_at.is_(None), open_cases.c.next_action_at <= self.now),
        )

    async def claimable(
        self, queue: str, stale_before: datetime, limit: int
    ) -> list[dict[str, Any]]:
        """Cases of a queue nobody holds (or whose holder let them go stale), oldest first."""
        rows = await self.session.execute(
            select(open_cases)
            .where(open_cases.c.queue == queue, self._claimable(stale_before))
            .order_by(open_cases.c.opened_on, open_cases.c.account_id)
            .limit(limit)
        )
        return [dict(r._mapping) for r in rows]

    async def take(self, account_id: str, case_id: str, agent: str, stale_before: datetime) -> bool:
        """Assign a case to `agent` if it is still free; False when someone was quicker."""
        result = await self.session.execute(
            update(open_cases)
            .where(
                open_cases.c.account_id == account_id,
                open_cases.c.case_id == case_id,
                self._claimable(stale_before),
            )
            .values(assigned_to=agent, claimed_at=self.now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def held_by(self, agent: str, stale_before: datetime) -> int:
        """How many open cases an agent holds (claims gone stale do not count)."""
        return int(
            (
                await self.session.execute(
                    select(func.count()).where(
                        open_cases.c.assigned_to == agent, open_cases.c.claimed_at >= stale_before
                    )
                )
            ).scalar_one()
        )

    async def queue_counts(self, stale_before: datetime) -> dict[str, dict[str, int]]:
        """Per queue: open cases, those nobody holds, and those ready to claim now."""
        rows = await self.session.execute(select(open_cases))
        out: dict[str, dict[str, int]] = {}
        for r in rows:
            counts = out.setdefault(r.queue, {"open": 0, "unassigned": 0, "ready": 0})
            counts["open"] += 1
            free = r.assigned_to is None or r.claimed_at < stale_before
            counts["unassigned"] += free
            counts["ready"] += free and (r.next_action_at is None or r.next_action_at <= self.now)
        return out

    async def agent_loads(self) -> dict[str, int]:
        """Open cases per agent holding any."""
        rows = await self.session.execute(
            select(open_cases.c.assigned_to, func.count())
            .where(open_cases.c.assigned_to.is_not(None))
            .group_by(open_cases.c.assigned_to)
        )
        return {r[0]: r[1] for r in rows}

    # -- the reminders work queue --------------------------------------------------------------

    async def schedule_reminder(self, key: ReminderKey, *, amount_due: int, currency: str) -> bool:
        """A pending reminder, due now; False (and nothing changes) when it already exists,
        whatever became of it: a redelivered event never reminds twice."""
        account_id, bill_id, due_date, kind = key
        if await self.reminder(key) is not None:
            return False
        await self.session.execute(
            insert(reminders).values(
                account_id=account_id,
                bill_id=bill_id,
                due_date=due_date,
                kind=kind,
                amount_due=amount_due,
                currency=currency,
                status="pending",
                tries=0,
                next_try_at=self.now,
                last_reason=None,
            )
        )
        return True

    async def has_pending_reminder(self, account_id: str, bill_id: str) -> bool:
        """Whether a reminder about the bill still waits to go out."""
        row = (
            await self.session.execute(
                select(reminders.c.kind).where(
                    reminders.c.account_id == account_id,
                    reminders.c.bill_id == bill_id,
                    reminders.c.status == "pending",
                )
            )
        ).first()
        return row is not None

    async def skip_pending_reminders(
        self, account_id: str, bill_ids: list[str], reason: str
    ) -> None:
        """Pending reminders about these bills will not go out, for `reason`."""
        if not bill_ids:
            return
        await self.session.execute(
            update(reminders)
            .where(
                reminders.c.account_id == account_id,
                reminders.c.bill_id.in_(bill_ids),
                reminders.c.status == "pending",
            )
            .values(status="skipped", last_reason=reason)
        )

    async def due_reminders(self, limit: int) -> list[ReminderKey]:
        """Pending reminders whose next try is due now, the longest waiting first."""
        rows = await self.session.execute(
            select(
                reminders.c.account_id, reminders.c.bill_id, reminders.c.due_date, reminders.c.kind
            )
            .where(reminders.c.status == "pending", reminders.c.next_try_at <= self.now)
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

    async def reminder(self, key: ReminderKey) -> dict[str, Any] | None:
        """One reminder's row."""
        row = (await self.session.execute(select(reminders).where(self._reminder_is(key)))).first()
        return dict(row._mapping) if row else None

    async def reminders_of(self, account_id: str) -> list[dict[str, Any]]:
        """Every reminder of an account, by due date."""
        rows = await self.session.execute(
            select(reminders)
            .where(reminders.c.account_id == account_id)
            .order_by(reminders.c.due_date, reminders.c.bill_id, reminders.c.kind)
        )
        return [dict(r._mapping) for r in rows]

    async def update_reminder(self, key: ReminderKey, **values: Any) -> None:
        """Change a reminder's status, tries, next try or reason."""
        await self.session.execute(update(reminders).where(self._reminder_is(key)).values(**values))
