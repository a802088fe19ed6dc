"""The accounts ports in memory: a store that outlives transactions, repositories that
stage into it, and a unit of work that commits them (or, left uncommitted, drops them)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Self

from services.accounts.adapters.tables import account_index
from services.accounts.domain.book import (
    BookClose,
    Outcome,
    submission_rows,
    submission_view,
)
from services.accounts.domain.model import Account
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies
from services.accounts.service_layer.projections import account_rows
from shared.clock import Clock
from shared.envelope import Envelope
from shared.errors import ConcurrencyError
from shared.metrics import ServiceMetrics
from tests.fakes.platform import FakeOutbox

Entry = tuple[datetime, str | None]


@dataclass
class AccountsStore:
    """What the accounts database holds once committed."""

    streams: dict[str, list[Envelope]] = field(default_factory=dict)
    index: dict[str, Entry] = field(default_factory=dict)
    book: dict[tuple[str, date], Envelope] = field(default_factory=dict)
    submissions: dict[tuple[str, str], dict[str, object]] = field(default_factory=dict)
    outbox: list[tuple[str, Envelope]] = field(default_factory=list)


class FakeAccountRepository:
    """`AccountRepository` over an `AccountsStore`: appends are staged per stream after
    the version the account was loaded at and checked against the store at flush."""

    def __init__(self, store: AccountsStore, policies: Policies = DEFAULT_POLICIES) -> None:
        self._store = store
        self._policies = policies
        self._seen: dict[str, Account] = {}
        self._appended: dict[str, tuple[int, list[Envelope]]] = {}  # base version, events
        self._index: dict[str, Entry] = {}

    def _events(self, account_id: str) -> list[Envelope]:
        staged = self._appended.get(account_id, (0, []))[1]
        return [*self._store.streams.get(account_id, []), *staged]

    def _entries(self) -> dict[str, Entry]:
        return {**self._store.index, **self._index}

    async def get(self, account_id: str) -> Account:
        """The account as its stream says; a never-opened account has no customer."""
        await self.prefetch([account_id])
        return self._seen[account_id]

    async def prefetch(self, account_ids: Sequence[str]) -> None:
        """Load the accounts not loaded in this transaction yet."""
        for account_id in account_ids:
            if account_id not in self._seen:
                events = self._events(account_id)
                self._seen[account_id] = Account.from_events(
                    account_id, events, len(events), self._policies
                )

    async def add(self, account: Account, envelopes: Sequence[Envelope]) -> None:
        """Stage `envelopes` after the version `account` was loaded at, and apply them."""
        if not envelopes:
            return
        account_id = account.account_id
        base, staged = self._appended.get(account_id, (account.version, []))
        if base + len(staged) != account.version:
            raise ConcurrencyError(f"stream of {account_id} is ahead of {account.version}")
        self._appended[account_id] = (base, [*staged, *envelopes])
        for env in envelopes:
            for table, row in account_rows(env):
                assert table is account_index
                self._index[str(row["account_id"])] = (row["opened_at"], row["opened_by"])
            account.apply(env)
        account.version += len(envelopes)

    async def flush(self) -> None:
        """Refuse what another transaction's commit made stale (as the unique key would)."""
        for account_id, (base, _) in self._appended.items():
            if len(self._store.streams.get(account_id, [])) != base:
                raise ConcurrencyError(f"stream of {account_id} was appended to concurrently")

    def committed(self) -> None:
        """Write what this transaction staged into the store."""
        for account_id, (_, events) in self._appended.items():
            self._store.streams.setdefault(account_id, []).extend(events)
        self._store.index.update(self._index)
        self._appended.clear()
        self._index.clear()
        self._seen.clear()

    async def history(
        self, account_id: str, types: Sequence[str], offset: int, limit: int
    ) -> list[Envelope]:
        """A page of the account's events of the given types, in stream order."""
        return [e for e in self._events(account_id) if e.type in types][offset : offset + limit]

    async def opened_by(self, account_id: str) -> str | None:
        """Who opened the account (None: unknown)."""
        entry = self._entries().get(account_id)
        return None if entry is None else entry[1]

    async def index_entry(self, account_id: str) -> Entry | None:
        """When the account was opened and by whom (None: not indexed)."""
        return self._entries().get(account_id)

    async def owners(self, account_ids: Sequence[str]) -> dict[str, str | None]:
        """Who opened each of these accounts (absent: unknown)."""
        entries = self._entries()
        return {a: entries[a][1] for a in account_ids if a in entries}

    async def id_pages(self, size: int, opened_by: str | None = None) -> AsyncIterator[list[str]]:
        """Every open account id (of one opener, if given) in pages of `size`, in id order."""
        ids = sorted(
            a for a, (_, by) in self._entries().items() if opened_by is None or by == opened_by
        )
        for i in range(0, len(ids), size):
            yield ids[i : i + size]


class FakeBookCloses:
    """`BookCloses` over an `AccountsStore`."""

    def __init__(self, store: AccountsStore) -> None:
        self._store = store
        self._booked: dict[tuple[str, date], Envelope] = {}

    def _all(self) -> dict[tuple[str, date], Envelope]:
        return {**self._store.book, **self._booked}

    async def record(self, scope: str, business_date: date, event: Envelope) -> bool:
        """Book `event` as the close of `business_date` for `scope`; False if booked already."""
        if (scope, business_date) in self._all():
            return False
        self._booked[scope, business_date] = event
        return True

    async def bounds(self) -> dict[str, tuple[date, date]]:
        """The first and the latest booked date of each scope."""
        out: dict[str, tuple[date, date]] = {}
        for scope, day in sorted(self._all()):
            out[scope] = (out[scope][0] if scope in out else day, day)
        return out

    async def span(
        self, scopes: Sequence[str], on_or_after: date, before: date | None = None
    ) -> tuple[BookClose, BookClose] | None:
        """The first and the last close booked for any of `scopes` in the range, or None."""
        found = [
            (day, scope, env)
            for (scope, day), env in self._all().items()
            if scope in scopes and day >= on_or_after and (before is None or day < before)
        ]
        if not found:
            return None
        first = min(found, key=lambda f: (f[0], f[1]))
        last = min(found, key=lambda f: (-f[0].toordinal(), f[1]))
        return BookClose(first[0], first[2]), BookClose(last[0], last[2])

    def committed(self) -> None:
        """Write what this transaction booked into the store."""
        self._store.book.update(self._booked)
        self._booked.clear()


class FakeSubmissionLog:
    """`SubmissionLog` over an `AccountsStore`."""

    def __init__(self, store: AccountsStore, now: datetime) -> None:
        self._store = store
        self._now = now
        self._written: dict[tuple[str, str], dict[str, object]] = {}

    def _all(self) -> dict[tuple[str, str], dict[str, object]]:
        return {**self._store.submissions, **self._written}

    async def record(self, submitter: str, outcomes: Sequence[Outcome]) -> None:
        """Store outcomes; a resubmission replaces the old one."""
        known = {event_id for who, event_id in self._all() if who == submitter}
        rows = submission_rows(submitter, outcomes, known, self._now)
        self._written.update({(submitter, event_id): row for event_id, row in rows.items()})

    async def get(self, submitter: str, event_id: str) -> dict[str, object] | None:
        """One submission of this submitter, or None."""
        row = self._all().get((submitter, event_id))
        return None if row is None else submission_view(row)

    async def list(
        self, submitter: str, status: str | None, offset: int, limit: int
    ) -> list[dict[str, object]]:
        """This submitter's submissions, newest first, a page at a time."""
        rows = [
            r
            for (who, _), r in self._all().items()
            if who == submitter and (status is None or r["status"] == status)
        ]
        rows.sort(key=lambda r: str(r["event_id"]))
        rows.sort(key=lambda r: r["submitted_at"], reverse=True)  # type: ignore[arg-type, return-value]
        return [submission_view(r) for r in rows[offset : offset + limit]]

    def committed(self) -> None:
        """Write this transaction's outcomes into the store."""
        self._store.submissions.update(self._written)
        self._written.clear()


class FakeAccountsUnitOfWork:
    """The accounts unit of work over an `AccountsStore`: what the service layer's
    handlers use of `AccountsUnitOfWork`, with no database."""

    metrics: ServiceMetrics | None = None
    """No metrics: the handlers count only through a runtime's unit of work."""

    def __init__(self, store: AccountsStore, clock: Clock, policies: Policies = DEFAULT_POLICIES):
        self.store = store
        self._clock = clock
        self._policies = policies

    async def __aenter__(self) -> Self:
        self.now = self._clock.now()
        self.accounts = FakeAccountRepository(self.store, self._policies)
        self.book = FakeBookCloses(self.store)
        self.submissions = FakeSubmissionLog(self.store, self.now)
        self.outbox = FakeOutbox()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Uncommitted work is dropped with the repositories that staged it."""

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """The accounts a run's events name."""
        await self.accounts.prefetch([e.account_id for e in envelopes if e.account_id != "*"])

    async def order_with_fan_outs(self, *, exclusive: bool) -> None:
        """One transaction at a time in memory: nothing to order."""

    async def save(
        self, account: Account, facts: Sequence[Envelope], emitted: Sequence[Envelope], topic: str
    ) -> None:
        """Append received facts and emitted events to the stream; queue the emitted."""
        await self.accounts.add(account, [*facts, *emitted])
        await self.outbox.add(topic, emitted)

    async def flush(self) -> None:
        """Check what is staged against the store."""
        await self.accounts.flush()

    async def commit(self) -> None:
        """Make everything staged durable at once, or nothing (ConcurrencyError)."""
        await self.flush()
        self.accounts.committed()
        self.book.committed()
        self.submissions.committed()
        self.store.outbox.extend(self.outbox.staged)
        self.outbox.staged = []
