"""The contact unit of work: the platform's transaction and stores, plus the contact
repositories (`service_layer.ports`, implemented in `adapters.repository`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

from services.contact.adapters.repository import SqlAccountFacts, SqlOpenCases, SqlReminders
from services.contact.domain.compliance import DEFAULT_PACKS, RulePacks
from services.contact.domain.model import CaseFile
from services.contact.domain.policy import DEFAULT_POLICY, ContactPolicy
from services.contact.domain.reminders import ReminderKey
from services.contact.service_layer.ports import AccountFacts, OpenCases, Reminders
from shared.envelope import Envelope
from shared.uow import SqlUnitOfWork

__all__ = ["ContactUnitOfWork", "ReminderKey", "contact_stream", "stream_id"]


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

    accounts: AccountFacts
    cases: OpenCases
    reminders: Reminders

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.accounts = SqlAccountFacts(self.session, self.now)
        self.cases = SqlOpenCases(self.session, self.now)
        self.reminders = SqlReminders(self.session, self.now)
        return self

    async def case_file(self, account_id: str) -> CaseFile:
        """An account's case file as its stream says."""
        events, version = await self.events.load(stream_id(account_id))
        return CaseFile.from_events(account_id, events, version)

    async def contact_log(self, account_id: str) -> tuple[list[Envelope], int]:
        """The account's contact events and the stream version."""
        return await self.events.load(contact_stream(account_id))

    async def record(
        self, stream_id: str, expected_version: int, envelopes: Sequence[Envelope], topic: str
    ) -> int:
        """Append and queue the events, and project them onto the open cases as recorded:
        the queues are a function of the events, which `arrears rebuild` re-applies."""
        version = await super().record(stream_id, expected_version, envelopes, topic)
        await self.cases.project(envelopes)
        return version
