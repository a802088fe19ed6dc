"""The contact unit of work: the platform's, plus case files."""

from __future__ import annotations

from sqlalchemy import insert, select

from services.contact.adapters.tables import borrowers
from services.contact.domain.model import CaseFile
from shared.envelope import Envelope
from shared.uow import SqlUnitOfWork


def stream_id(account_id: str) -> str:
    """The event stream of one account's collection cases."""
    return f"cases-{account_id}"


def contact_stream(account_id: str) -> str:
    """The event stream of one account's contact attempts and compliance decisions."""
    return f"contact-{account_id}"


class ContactUnitOfWork(SqlUnitOfWork):
    """One transaction over the contact database."""

    async def case_file(self, account_id: str) -> CaseFile:
        """An account's case file as its stream says."""
        events, version = await self.events.load(stream_id(account_id))
        return CaseFile.from_events(account_id, events, version)

    async def remember_borrower(self, account_id: str, time_zone: str, jurisdiction: str) -> None:
        """Note where a newly opened account's borrower lives (first report wins)."""
        if await self.borrower(account_id) is None:
            await self.session.execute(
                insert(borrowers).values(
                    account_id=account_id, time_zone=time_zone, jurisdiction=jurisdiction
                )
            )

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

    async def contact_log(self, account_id: str) -> tuple[list[Envelope], int]:
        """The account's contact events and the stream version."""
        return await self.events.load(contact_stream(account_id))
