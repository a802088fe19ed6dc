"""The contact unit of work: the platform's, plus case files."""

from __future__ import annotations

from services.contact.domain.model import CaseFile
from shared.uow import SqlUnitOfWork


def stream_id(account_id: str) -> str:
    """The event stream of one account's collection cases."""
    return f"cases-{account_id}"


class ContactUnitOfWork(SqlUnitOfWork):
    """One transaction over the contact database."""

    async def case_file(self, account_id: str) -> CaseFile:
        """An account's case file as its stream says."""
        events, version = await self.events.load(stream_id(account_id))
        return CaseFile.from_events(account_id, events, version)
