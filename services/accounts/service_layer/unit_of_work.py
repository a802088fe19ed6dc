"""The accounts unit of work: the platform's transaction and stores, plus the accounts
repositories (`service_layer.ports`, implemented in `adapters.repository`)."""

from __future__ import annotations

from collections.abc import Sequence

from services.accounts.adapters.repository import (
    SqlAccountRepository,
    SqlBookCloses,
    SqlSubmissionLog,
    lock_book,
    stream_id,
)
from services.accounts.adapters.tables import snapshot_tables
from services.accounts.domain.book import ALL_ACCOUNTS, BookClose
from services.accounts.domain.model import Account
from services.accounts.domain.policy import DEFAULT_POLICIES, Policies
from services.accounts.service_layer.ports import AccountRepository, BookCloses, SubmissionLog
from services.accounts.service_layer.projections import account_rows
from shared.cache import AggregateCache
from shared.envelope import Envelope
from shared.events.inbound import PLATFORM_ACCOUNT, AccountOpened, BusinessDayClosed
from shared.eventstore.snapshots import SnapshotStore
from shared.uow import SqlUnitOfWork

__all__ = ["ALL_ACCOUNTS", "AccountsUnitOfWork", "BookClose", "stream_id"]


def _fans_out(env: Envelope) -> bool:
    """Whether handling `env` fans a close of every account out (and books its date)."""
    return env.type == BusinessDayClosed.event_type and env.account_id == PLATFORM_ACCOUNT


class AccountsUnitOfWork(SqlUnitOfWork):
    """One transaction over the accounts database."""

    # The servicing policy; bootstrap subclasses this with the deployment's policy file.
    policies: Policies = DEFAULT_POLICIES
    # Accounts kept across transactions; bootstrap gives each runtime its own.
    cache: AggregateCache[Account] | None = None
    # Snapshot an account each time its stream passes a multiple of this (0: never).
    snapshot_every: int = 0

    accounts: AccountRepository
    book: BookCloses
    submissions: SubmissionLog

    async def __aenter__(self) -> AccountsUnitOfWork:
        await super().__aenter__()
        self.snapshots = SnapshotStore(self.session, snapshot_tables, self._catalogue, self.now)
        self.accounts = SqlAccountRepository(
            self.session,
            self.events,
            self.snapshots,
            self.policies,
            self._catalogue,
            account_rows,
            cache=self.cache,
            snapshot_every=self.snapshot_every,
        )
        self.submissions = SqlSubmissionLog(self.session, self.now)
        self.book = SqlBookCloses(self.session, self.now)
        self._book_lock: bool | None = None  # None: not taken; else whether exclusively
        return self

    async def order_with_fan_outs(self, *, exclusive: bool) -> None:
        """Order this transaction against closes of every account: an opening that then
        reads the book, and a fan-out that books a close and then reads the index, never
        miss each other's write (one of them sees the other's commit).

        PostgreSQL: an advisory lock held to commit, shared by openings and exclusive for a
        fan-out. SQLite: its one writer at a time does it, once this transaction has
        written (pysqlite begins a transaction at the first write, not the first read);
        staged writes are flushed for that, once.
        """
        if self._book_lock is not None and (self._book_lock or not exclusive):
            return
        if not await lock_book(self.session, exclusive=exclusive) and self._book_lock is None:
            await self.flush()
        if self._book_lock is None:
            # Bounds read before the lock may predate a fan-out that committed since.
            self.book = SqlBookCloses(self.session, self.now)
        self._book_lock = exclusive or bool(self._book_lock)

    async def commit(self) -> None:
        """Commit, then keep the accounts this transaction loaded for the next one."""
        await super().commit()
        self.accounts.committed()

    async def flush(self) -> None:
        """The platform's staged rows, the account index's and the snapshots."""
        await super().flush()
        await self.accounts.flush()
        await self.snapshots.flush()

    async def prefetch(self, envelopes: Sequence[Envelope]) -> None:
        """The accounts a run's events name (a close of every account fans out later, so
        `*` is not one), after the book lock in the strongest mode the run will want."""
        if self.session.get_bind().dialect.name == "postgresql":
            # Taken before anything is written, in the run's strongest mode: a run of
            # openings and a `*` close that took it shared at an opening and then wanted
            # it exclusive deadlocked against another run doing the same, and waiting for
            # it while holding row locks could close a cycle with the exclusive holder.
            # (SQLite needs none of this: its one writer already orders them.)
            if any(_fans_out(e) for e in envelopes):
                await self.order_with_fan_outs(exclusive=True)
            elif any(e.type == AccountOpened.event_type for e in envelopes):
                await self.order_with_fan_outs(exclusive=False)
        await self.accounts.prefetch([e.account_id for e in envelopes if e.account_id != "*"])

    async def save(
        self, account: Account, facts: Sequence[Envelope], emitted: Sequence[Envelope], topic: str
    ) -> None:
        """Append received facts and emitted events to the stream; queue the emitted for `topic`."""
        await self.accounts.add(account, [*facts, *emitted])
        await self.outbox.add(topic, emitted)
