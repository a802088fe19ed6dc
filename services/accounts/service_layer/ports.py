"""What the accounts service layer needs of storage: the ports its repositories implement.

`services.accounts.adapters.repository` implements them on SQL; the tests' in-memory
fakes implement them too, and one contract suite per port runs against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from typing import Protocol

from services.accounts.domain.book import BookClose, Outcome
from services.accounts.domain.model import Account
from shared.envelope import Envelope


class AccountRepository(Protocol):
    """Accounts loaded from their streams and saved as new events, and the index of
    opened accounts (who opened which, when)."""

    async def get(self, account_id: str) -> Account:
        """The account as its stream says; a never-opened account has no customer."""
        ...

    async def prefetch(self, account_ids: Sequence[str]) -> None:
        """Load several accounts at once, for `get` to return without a read."""
        ...

    async def add(self, account: Account, envelopes: Sequence[Envelope]) -> None:
        """Stage `envelopes` after the version `account` was loaded at, and apply them."""
        ...

    def committed(self) -> None:
        """This transaction committed: what it staged is durable now."""
        ...

    async def history(
        self, account_id: str, types: Sequence[str], offset: int, limit: int
    ) -> list[Envelope]:
        """A page of the account's events of the given types, in stream order."""
        ...

    async def opened_by(self, account_id: str) -> str | None:
        """Who opened the account (None: unknown account, or opened before owners were kept)."""
        ...

    async def index_entry(self, account_id: str) -> tuple[datetime, str | None] | None:
        """When the account was opened and by whom (None: not indexed)."""
        ...

    async def owners(self, account_ids: Sequence[str]) -> dict[str, str | None]:
        """Who opened each of these accounts (absent: unknown)."""
        ...

    def id_pages(self, size: int, opened_by: str | None = None) -> AsyncIterator[list[str]]:
        """Every open account id (of one opener, if given) in pages of `size`, in id order."""
        ...

    async def flush(self) -> None:
        """Write what is staged now (still inside the transaction)."""
        ...


class BookCloses(Protocol):
    """The business dates closes of every account closed, per scope."""

    async def record(self, scope: str, business_date: date, event: Envelope) -> bool:
        """Book `event` as the close of `business_date` for `scope`; False if booked already."""
        ...

    async def bounds(self) -> dict[str, tuple[date, date]]:
        """The first and the latest booked date of each scope."""
        ...

    async def span(
        self, scopes: Sequence[str], on_or_after: date, before: date | None = None
    ) -> tuple[BookClose, BookClose] | None:
        """The first and the last close booked for any of `scopes` in the range, or None."""
        ...


class SubmissionLog(Protocol):
    """Each integrator's submitted event ids and what became of them (latest outcome)."""

    async def record(self, submitter: str, outcomes: Sequence[Outcome]) -> None:
        """Store outcomes; a resubmission replaces the old one."""
        ...

    async def get(self, submitter: str, event_id: str) -> dict[str, object] | None:
        """One submission of this submitter, or None (another's looks like none)."""
        ...

    async def list(
        self, submitter: str, status: str | None, offset: int, limit: int
    ) -> list[dict[str, object]]:
        """This submitter's submissions, newest first, a page at a time."""
        ...
