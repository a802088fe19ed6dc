"""Accounts handlers: apply one inbound event inside a unit of work (which the caller commits)."""

from __future__ import annotations

from datetime import UTC, datetime, time

from services.accounts.service_layer.unit_of_work import AccountsUnitOfWork
from shared.catalogue import Catalogue, EventData, new_envelope
from shared.envelope import Envelope
from shared.errors import Rejected
from shared.events.inbound import (
    PLATFORM_ACCOUNT,
    AccountOpened,
    BillIssued,
    BusinessDayClosed,
    PaymentReceived,
)
from shared.topics import Topics

SOURCE = "accounts"


class InboundHandler:
    """Applies integrators' events to accounts and emits what follows from them."""

    def __init__(self, catalogue: Catalogue, topics: Topics) -> None:
        self._catalogue = catalogue
        self._topics = topics

    async def __call__(self, uow: AccountsUnitOfWork, env: Envelope) -> None:
        # recorded_at is when arrears recorded the fact: ours to set, whatever came in.
        fact = env.recorded(uow.now)
        data = self._catalogue.parse(fact)
        match data:
            case AccountOpened():
                await self._open(uow, fact, data)
            case BillIssued():
                account = await uow.accounts.get(fact.account_id)
                account.issue_bill(data)
                await uow.save(account, [fact], [], self._topics.accounts)
            case PaymentReceived():
                account = await uow.accounts.get(fact.account_id)
                emitted = [
                    self._emit(uow, fact, event, data.paid_at)
                    for event in account.receive_payment(data)
                ]
                await uow.save(account, [fact], emitted, self._topics.accounts)
            case BusinessDayClosed():
                await self._close_day(uow, fact, data)
            case _:
                raise Rejected(f"accounts does not accept {fact.type} on the inbound topic")

    async def _open(self, uow: AccountsUnitOfWork, fact: Envelope, data: AccountOpened) -> None:
        if fact.account_id == PLATFORM_ACCOUNT:
            raise Rejected(f"account id {PLATFORM_ACCOUNT!r} is reserved")
        account = await uow.accounts.get(fact.account_id)
        account.open(data)
        await uow.save(account, [fact], [], self._topics.accounts)
        await uow.accounts.add_to_index(fact.account_id, fact.occurred_at)

    async def _close_day(
        self, uow: AccountsUnitOfWork, fact: Envelope, data: BusinessDayClosed
    ) -> None:
        ids = (
            await uow.accounts.all_ids()
            if fact.account_id == PLATFORM_ACCOUNT
            else [fact.account_id]
        )
        # The close happens at the end of the business date (UTC until issue 4 brings zones).
        closed_at = datetime.combine(data.business_date, time.max, tzinfo=UTC)
        for account_id in ids:
            account = await uow.accounts.get(account_id)
            if not account.opened:
                raise Rejected(f"unknown account {account_id}")
            emitted = [
                self._emit(uow, fact, overdue, closed_at, account_id)
                for overdue in account.close_day(data.business_date)
            ]
            await uow.save(account, [], emitted, self._topics.accounts)

    @staticmethod
    def _emit(
        uow: AccountsUnitOfWork,
        cause: Envelope,
        data: EventData,
        occurred_at: datetime,
        account_id: str | None = None,
    ) -> Envelope:
        return new_envelope(
            data,
            account_id=account_id or cause.account_id,
            occurred_at=occurred_at,
            recorded_at=uow.now,
            source=SOURCE,
            cause=cause,
        )
