"""The accounts unit of work: the platform's, plus the account repository."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.accounts.adapters.tables import account_index
from services.accounts.domain.model import Account
from shared.envelope import Envelope
from shared.eventstore.store import EventStore
from shared.uow import SqlUnitOfWork


def stream_id(account_id: str) -> str:
    """The event stream of one account."""
    return f"account-{account_id}"


class AccountRepository:
    """Loads accounts from their streams; saves their new events."""

    def __init__(self, session: AsyncSession, events: EventStore) -> None:
        self._session = session
        self._events = events

    async def get(self, account_id: str) -> Account:
        """The account as its stream says; a never-opened account has no customer."""
        events, version = await self._events.load(stream_id(account_id))
        return Account.from_events(account_id, events, version)

    async def add_to_index(self, account_id: str, opened_at: datetime) -> None:
        """List a newly opened account (for day closes that cover every account)."""
        await self._session.execute(
            insert(account_index).values(account_id=account_id, opened_at=opened_at)
        )

    async def all_ids(self) -> list[str]:
        """Every open account id, in a stable order."""
        rows = await self._session.execute(
            select(account_index.c.account_id).order_by(account_index.c.account_id)
        )
        return [r[0] for r in rows]


class AccountsUnitOfWork(SqlUnitOfWork):
    """One transaction over the accounts database."""

    async def __aenter__(self) -> AccountsUnitOfWork:
        await super().__aenter__()
        self.accounts = AccountRepository(self.session, self.events)
        return self

    async def save(
        self, account: Account, facts: Sequence[Envelope], emitted: Sequence[Envelope], topic: str
    ) -> None:
        """Append received facts and emitted events to the stream; queue the emitted for `topic`."""
        new = [*facts, *emitted]
        await self.events.append(stream_id(account.account_id), account.version, new)
        for env in new:
            account.apply(env)
        account.version += len(new)
        await self.outbox.add(topic, emitted)
